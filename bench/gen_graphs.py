#!/usr/bin/env python3
"""Generate the benchmark task graphs as a Makefile, a Snakefile and a gust DAG file.

    gen_graphs.py OUTDIR chain N | wide N | layers LxW [--seed S]
        OUTDIR/Makefile       phony targets, recipe `@true` (make runs it without a shell)
        OUTDIR/Snakefile      one rule per task, touch() outputs under out/, shell "true"
        OUTDIR/dags/NAME.yaml one dag-factory DAG, BashOperator `true` tasks
    gen_graphs.py OUTDIR mapped N
        OUTDIR/dags/bench_mapped_N.yaml only: the wide N graph with its N middle tasks as one
        mapped task (start -> `fan`, expand over N literal `true` commands -> end), for the
        dispatch bench's mapped against static fan-out
    gen_graphs.py OUTDIR mapped_xcom N
        OUTDIR/dags/bench_mapped_xcom_N.yaml only: the same, the list being start's XCom (its
        last stdout line, a JSON list of N commands), as a mapping over an upstream's output
    gen_graphs.py OUTDIR bigchain N
        OUTDIR/dags/bench_bigchain_N.yaml only: a chain of N EmptyOperator tasks (8 YAML nodes
        a task, so 25,000 fit under the loader's 250,000-node limit), for the DAG size bench
    gen_graphs.py OUTDIR fan N [--dags D]
        OUTDIR/dags/bench_fan_N.yaml, or with D > 1 OUTDIR/dags/bench_fan_N_KKK.yaml: D DAGs of
        exactly N tasks each (start -> N-2 parallel -> end: the wide graph of N-2), for the
        growth and workers benches (1,000 to 20,000 tasks fit under the loader's node limit)
    gen_graphs.py OUTDIR many N --tasks T
        OUTDIR/dags/many_NNNN.yaml: N DAG files of T tasks each (a chain with a fan-out),
        daily schedules starting in 2099 (nothing is due: an idle scheduler), for the DAG
        loading and idle scheduler benchmarks

chain N: t0 -> t1 -> ... -> tN-1. wide N: start -> N parallel -> end. layers LxW: L layers
of W tasks, each task after layer 0 depends on two distinct random tasks of the previous
layer (random.Random(seed)); a final `end` task depends on the last layer. Every task is a
no-op, so the graphs measure dispatch alone. Output is deterministic for given arguments.
"""
import os
import random
import sys


def graph(shape, size, seed):
    """Ordered list of (task, [upstream tasks])."""
    if shape == "chain":
        n = int(size)
        return [(f"t{i:04d}", [f"t{i - 1:04d}"] if i else []) for i in range(n)]
    if shape == "wide":
        n = int(size)
        mid = [(f"t{i:04d}", ["start"]) for i in range(n)]
        return [("start", [])] + mid + [("end", [t for t, _ in mid])]
    if shape == "layers":
        layers, width = (int(x) for x in size.split("x"))
        rnd = random.Random(seed)
        tasks, prev = [], []
        for l in range(layers):
            cur = [f"l{l:02d}_{i:03d}" for i in range(width)]
            for t in cur:
                tasks.append((t, sorted(rnd.sample(prev, 2)) if prev else []))
            prev = cur
        return tasks + [("end", prev)]
    raise SystemExit(f"gen_graphs.py: unknown shape {shape!r} (chain, wide, layers, many)")


def write_make(path, tasks):
    leaves = {t for t, _ in tasks} - {u for _, ups in tasks for u in ups}
    with open(path, "w") as f:
        f.write(".PHONY: all " + " ".join(t for t, _ in tasks) + "\n")
        f.write("all: " + " ".join(sorted(leaves)) + "\n")
        for t, ups in tasks:
            f.write(f"{t}: {' '.join(ups)}\n\t@true\n")


def write_snake(path, tasks):
    leaves = {t for t, _ in tasks} - {u for _, ups in tasks for u in ups}
    with open(path, "w") as f:
        f.write("rule all:\n    input: " + ", ".join(f'"out/{t}"' for t in sorted(leaves)) + "\n\n")
        for t, ups in tasks:
            f.write(f"rule {t}:\n")
            if ups:
                f.write("    input: " + ", ".join(f'"out/{u}"' for u in ups) + "\n")
            f.write(f'    output: touch("out/{t}")\n    shell: "true"\n\n')


def write_dag(path, dag_id, tasks, schedule="None", start="2024-01-01"):
    with open(path, "w") as f:
        f.write(f"{dag_id}:\n  schedule: {schedule}\n  start_date: {start}\n"
                "  catchup: false\n  max_active_tasks: 1000\n  tags: [bench]\n"
                "  default_args:\n    owner: bench\n    retries: 0\n  tasks:\n")
        for t, ups in tasks:
            f.write(f"    - task_id: {t}\n      operator: airflow.operators.bash.BashOperator\n"
                    "      bash_command: 'true'\n")
            if ups:
                f.write(f"      dependencies: [{', '.join(ups)}]\n")


def write_mapped_dag(path, dag_id, n, from_xcom=False):
    """start -> fan (one mapped task of n instances, each `true`) -> end; the DAG keys are
    write_dag's, so that it differs from the wide graph in the mapping alone. from_xcom: the
    list is start's XCom (its last stdout line, a JSON list), not a literal."""
    with open(path, "w") as f:
        f.write(f"{dag_id}:\n  schedule: None\n  start_date: 2024-01-01\n"
                "  catchup: false\n  max_active_tasks: 1000\n  tags: [bench]\n"
                "  default_args:\n    owner: bench\n    retries: 0\n  tasks:\n")
        f.write("    - task_id: start\n      operator: airflow.operators.bash.BashOperator\n")
        if from_xcom:
            f.write(f"      bash_command: 'echo \"[$(yes ''\"true\"'' | head -n {n} | paste -sd,)]\"'\n")
        else:
            f.write("      bash_command: 'true'\n")
        f.write("    - task_id: fan\n      operator: airflow.operators.bash.BashOperator\n"
                "      dependencies: [start]\n      expand:\n")
        if from_xcom:
            f.write("        bash_command: start.output\n")
        else:
            f.write("        bash_command: [" + ", ".join(["'true'"] * n) + "]\n")
        f.write("    - task_id: end\n      operator: airflow.operators.bash.BashOperator\n"
                "      bash_command: 'true'\n      dependencies: [fan]\n")


def main(argv):
    if len(argv) < 4:
        raise SystemExit(__doc__)
    out, shape, size = argv[1], argv[2], argv[3]
    opts = dict(zip(argv[4::2], argv[5::2]))
    seed = int(opts.get("--seed", "42"))
    os.makedirs(os.path.join(out, "dags"), exist_ok=True)
    if shape == "many":
        n, per = int(size), int(opts.get("--tasks", "20"))
        for i in range(n):
            # a chain of per/2 tasks with the rest fanned out from its middle
            half = per // 2
            tasks = [(f"step_{k:02d}", [f"step_{k - 1:02d}"] if k else []) for k in range(half)]
            tasks += [(f"fan_{k:02d}", [f"step_{half // 2:02d}"]) for k in range(per - half)]
            write_dag(os.path.join(out, "dags", f"many_{i:04d}.yaml"), f"many_{i:04d}", tasks,
                      schedule=f"'{i % 60} {i % 24} * * *'", start="2099-01-01")
        return
    if shape == "fan":
        n, dags = int(size), int(opts.get("--dags", "1"))
        if n < 3:
            raise SystemExit("gen_graphs.py: fan needs at least 3 tasks")
        tasks = graph("wide", n - 2, seed)
        for k in range(dags):
            name = f"bench_fan_{n}" if dags == 1 else f"bench_fan_{n}_{k:03d}"
            write_dag(os.path.join(out, "dags", f"{name}.yaml"), name, tasks)
        return
    if shape in ("mapped", "mapped_xcom"):
        n = int(size)
        name = f"bench_{shape}_{n}"
        write_mapped_dag(os.path.join(out, "dags", f"{name}.yaml"), name, n, shape == "mapped_xcom")
        return
    if shape == "bigchain":
        n = int(size)
        with open(os.path.join(out, "dags", f"bench_bigchain_{n}.yaml"), "w") as f:
            f.write(f"bench_bigchain_{n}:\n  tasks:\n")
            for i in range(n):
                f.write(f"    - task_id: t{i}\n      operator: airflow.operators.empty.EmptyOperator\n")
                if i:
                    f.write(f"      dependencies: [t{i - 1}]\n")
        return
    tasks = graph(shape, size, seed)
    name = f"bench_{shape}_{size}"
    write_make(os.path.join(out, "Makefile"), tasks)
    write_snake(os.path.join(out, "Snakefile"), tasks)
    write_dag(os.path.join(out, "dags", f"{name}.yaml"), name, tasks)


if __name__ == "__main__":
    main(sys.argv)
