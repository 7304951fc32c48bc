#!/usr/bin/env python3
"""Write a DAG file for the scheduler tests: N tasks in layers, each task holding a lock
file while it runs, so that two tries of one task running at the same time are caught
(the second cannot take the lock and records an overlap).

usage: gen_dag.py DAG_ID N_TASKS WIDTH SLEEP OUT.yaml [extra DAG keys as key=value ...]
"""
import sys

dag_id, n, width, sleep, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
extra = [kv.split("=", 1) for kv in sys.argv[6:]]
cmd = (
    'exec 9>"$GUST_TEST_TMP/lock.{{ run_id }}.{{ task.task_id }}"; '
    'if ! flock -n 9; then echo "{{ task.task_id }} try {{ ti.try_number }}" >> "$GUST_TEST_TMP/overlaps"; exit 1; fi; '
    'echo "{{ task.task_id }} {{ ti.try_number }} $$" >> "$GUST_TEST_TMP/ran"; '
    f"sleep {sleep}"
)
lines = [f"{dag_id}:"]
for k, v in extra:
    lines.append(f"  {k}: {v}")
lines += ["  default_args: {retries: 5, retry_delay: 0}", "  tasks:"]
for i in range(n):
    deps = []
    if i >= width:
        layer_start = (i // width - 1) * width
        deps = [f"t{layer_start + (i % width)}", f"t{layer_start + ((i + 1) % width)}"]
    lines.append(f"    - task_id: t{i}")
    lines.append("      operator: airflow.operators.bash.BashOperator")
    lines.append(f"      bash_command: '{cmd}'")
    if deps:
        lines.append(f"      dependencies: [{', '.join(sorted(set(deps)))}]")
open(out, "w").write("\n".join(lines) + "\n")
