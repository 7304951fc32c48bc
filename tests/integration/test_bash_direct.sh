#!/usr/bin/env bash
# BashOperator commands without shell syntax run directly, without bash (as make does; see
# docs/dag-files.md, "BashOperator"): their output reaches the try log, their exit code is
# the try's (skip_on_exit_code too), a missing program ends with 127 and bash's words in the
# log and is retried like any failure; a command with shell syntax after rendering, and any
# command under GUST_BASH_DIRECT=0, goes through bash, and so does one whose environment has no
# PATH. What tells the two apart: bash puts
# `_` (the path of the program it runs) into that program's environment; gust passes its own.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 20
gust_tmpdir tmp
pg_gust_db gust_bash_direct
export GUST_DAGS_FOLDER=$tmp/dags GUST_LOGS_FOLDER=$tmp/logs
unset GUST_BASH_DIRECT
q() { psql -X -q -At -c "$1"; }
state_of() { "$GUST" tasks state direct_flow "$1" "$2" 2>/dev/null; }
code_of() { q "select exit_code from task_instance where run_id = '$2' and task_id = '$1'"; }
log_of() { cat "$GUST_LOGS_FOLDER/dag_id=direct_flow/run_id=$2/task_id=$1/attempt=${3:-1}.log"; }

mkdir -p "$tmp/dags"
printf '#!/bin/sh\necho "three-ran $1"\nexit 3\n' >"$tmp/exit3"
chmod +x "$tmp/exit3"
cat >"$tmp/dags/direct.yaml" <<'YAML'
direct_flow:
  default_args: {retries: 0}
  params: {quoted: "'_'"}
  tasks:
    - {task_id: say, operator: airflow.operators.bash.BashOperator, bash_command: "echo direct   output {{ ds }}"}
    - {task_id: three, operator: airflow.operators.bash.BashOperator, bash_command: "{{ dag_run.conf['dir'] }}/exit3 arg"}
    - {task_id: skip3, operator: airflow.operators.bash.BashOperator, bash_command: "{{ dag_run.conf['dir'] }}/exit3", skip_on_exit_code: [3]}
    - {task_id: missing, operator: airflow.operators.bash.BashOperator, bash_command: "gust-no-such-program-x arg", retries: 1, retry_delay: 0}
    - {task_id: who, operator: airflow.operators.bash.BashOperator, bash_command: "printenv _"}
    - {task_id: quoted, operator: airflow.operators.bash.BashOperator, bash_command: "printenv {{ params.quoted }}"}
    - {task_id: nopath, operator: airflow.operators.bash.BashOperator, bash_command: "printenv _", env: {X: y}}
    - {task_id: pwd, operator: airflow.operators.bash.BashOperator, bash_command: "printenv PWD", cwd: /usr/../tmp}
YAML
conf="{\"dir\": \"$tmp\"}"

"$GUST" dags trigger direct_flow --local -r d1 -l 2026-01-02T00:00:00+00:00 -c "$conf" >"$tmp/out1" 2>&1
check_eq "a direct command succeeds" success "$(state_of say d1)"
check_contains "its output is in the try log, split on blanks as bash would" "direct output 2026-01-02" "$(log_of say d1)"
check_eq "exit 3 of a directly run program fails the try" failed "$(state_of three d1)"
check_eq "with exit code 3 recorded" 3 "$(code_of three d1)"
check_contains "and its output and argument in the log" "three-ran arg" "$(log_of three d1)"
check_eq "skip_on_exit_code applies to a direct command" skipped "$(state_of skip3 d1)"
check_eq "a missing program fails the task" failed "$(state_of missing d1)"
check_eq "with exit code 127, as bash gives" 127 "$(code_of missing d1)"
check_contains "and bash's words in the log" "gust-no-such-program-x: command not found" "$(log_of missing d1)"
check "it is retried like any failure (not a permanent exec failure)" test -f \
    "$GUST_LOGS_FOLDER/dag_id=direct_flow/run_id=d1/task_id=missing/attempt=2.log"
check_eq "the direct command ran without bash" success "$(state_of who d1)"
check_fails "no bash set its _" grep -q /printenv \
    "$GUST_LOGS_FOLDER/dag_id=direct_flow/run_id=d1/task_id=who/attempt=1.log"
check_eq "a command rendered with quotes succeeds" success "$(state_of quoted d1)"
check_contains "through bash (quotes are shell syntax after rendering)" "/printenv" "$(log_of quoted d1)"
check_contains "an env without PATH goes through bash (bash has a default PATH of its own)" "/printenv" "$(log_of nopath d1)"
check_eq "a direct command sees PWD as bash would set it: its cwd's physical path" /tmp "$(log_of pwd d1 | grep -v "^\[gust\]")"

GUST_BASH_DIRECT=0 "$GUST" dags trigger direct_flow --local -r d2 -c "$conf" >"$tmp/out2" 2>&1
check_contains "GUST_BASH_DIRECT=0: every command goes through bash" "/printenv" "$(log_of who d2)"
check_eq "the same exit code from bash" 3 "$(code_of three d2)"
check_eq "and the same 127 for a missing program" 127 "$(code_of missing d2)"
