#!/usr/bin/env bash
# make image-test: the built image (make image), exercised without a Docker engine. Each
# command runs in a container of the image with `buildah run --isolation chroot --network
# host` as uid 10001, so the container reaches the services this script starts on the
# host's loopback: a throwaway PostgreSQL (tests/lib/pg.sh), the Kafka-protocol mock broker
# (tests/lib/kafka.sh) and the drug registry fixture portal (tests/lib/http.sh).
#
#   1. the image's configuration: user, entrypoint, HEALTHCHECK, environment;
#   2. every task executable the image ships starts and prints its usage, and every program
#      built from tasks/*.c is shipped;
#   3. the KubernetesPodOperator contract: each KPO task of dags/dvc_flow.yaml, then of
#      dags/upsert_dag.yaml, runs in a fresh container (a pod) with the task's cmds +
#      arguments + env_vars as read from the YAML, plus the endpoints a deployment gives;
#      the rows land in PostgreSQL and /airflow/xcom/return.json holds the result the
#      xcom sidecar reads;
#   4. exit codes 0, 99, 100, 111 come out of the container unchanged;
#   5. `gust jobs check`, the HEALTHCHECK command, fails with no scheduler and passes once a
#      scheduler in the image heartbeat;
#   6. the services of docker/docker-compose.yml and docker/k8s built from the image start
#      their commands;
#   7. no compiler, no test binary, no secret in the image; its size.
#
# Prints "ok - ..." / "not ok - ..." lines and a summary; exits 1 on any failure. Not part of
# `make test` (it needs the image, a few minutes on a cold cache): .ci/run runs it.
# Environment: GUST_IMAGE (gust:latest), BUILDAH_STORAGE_DRIVER (vfs), GUST_TOOLS (build/tools,
# for kafka_mock), DVC_RECORDS (1500). Needs root (buildah chroot isolation).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
export GUST_SRC=$PWD
export GUST_TOOLS=${GUST_TOOLS:-$PWD/build/tools}
IMAGE=${GUST_IMAGE:-gust:latest}
DRIVER=${BUILDAH_STORAGE_DRIVER:-vfs}
RECORDS=${DVC_RECORDS:-1500}
B=(buildah --storage-driver "$DRIVER")
source tests/lib/common.sh
source tests/lib/pg.sh
source tests/lib/kafka.sh
source tests/lib/http.sh

passed=0
failed=0
t_ok() {
    passed=$((passed + 1))
    echo "ok - $1"
}
t_fail() {
    failed=$((failed + 1))
    echo "not ok - $1"
    shift
    local line
    for line in "$@"; do printf '%s\n' "$line" | sed 's/^/#   /'; done
}
t_eq() { # what expected actual [file with details]
    if [ "$2" = "$3" ]; then t_ok "$1"; else t_fail "$1" "expected: $2" "actual:   $3" "${4:+$(tail -15 "$4")}"; fi
}
t_true() { # what command...
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then t_ok "$what"; else t_fail "$what" "failed: $*"; fi
}
section() { echo "# --- $* (at ${SECONDS} s)"; }

gust_tmpdir TMP
CTRS=()
remove_containers() {
    [ ${#CTRS[@]} -eq 0 ] || "${B[@]}" rm "${CTRS[@]}" >/dev/null 2>&1
    CTRS=()
}
gust_cleanup_add remove_containers

# new_ctr NAME: a fresh container of the image (a new pod), its name in $CTR.
new_ctr() {
    CTR=gust-image-test-$$-$1
    "${B[@]}" rm "$CTR" >/dev/null 2>&1
    "${B[@]}" from --pull=never --name "$CTR" "$IMAGE" >/dev/null || return 1
    CTRS+=("$CTR")
}

# crun CTR [buildah run options...] -- CMD...: run CMD in the container as uid 10001 on the
# host's network, stdin closed; exit code in $rc, stdout+stderr in $TMP/out.
crun() {
    local ctr=$1 opts=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        opts+=("$1")
        shift
    done
    "${B[@]}" run --isolation chroot --network host --user 10001:10001 "${opts[@]}" "$ctr" \
        "$@" </dev/null >"$TMP/out" 2>&1
    rc=$?
    # buildah's own lines about the exit status are not the program's output.
    sed -i -e '/^subprocess exited with status [0-9]*$/d' -e '/^Error: exit status [0-9]*$/d' \
        "$TMP/out"
}
run_in() { # CTR CMD...: crun with no extra option
    local ctr=$1
    shift
    crun "$ctr" -- "$@"
}

# ---------------------------------------------------------------------------------------
section "the image $IMAGE"
if ! "${B[@]}" inspect --type image "$IMAGE" >"$TMP/inspect.json" 2>"$TMP/inspect.err"; then
    t_fail "$IMAGE is in the local storage (make image builds it)" "$(cat "$TMP/inspect.err")"
    echo "# 0 passed, 1 failed"
    exit 1
fi
t_ok "$IMAGE is in the local storage"
size=$("${B[@]}" images --format '{{.Size}}' "$IMAGE" | head -1)
echo "# image size: $size"
python3 - "$TMP/inspect.json" >"$TMP/config.txt" <<'PY'
import json, sys
i = json.load(open(sys.argv[1]))
c = (i.get("Docker") or {}).get("config") or {}
print("user=" + str(c.get("User")))
print("entrypoint=" + json.dumps(c.get("Entrypoint")))
print("cmd=" + json.dumps(c.get("Cmd")))
print("stopsignal=" + str(c.get("StopSignal")))
print("healthcheck=" + json.dumps((c.get("Healthcheck") or {}).get("Test")))
for e in c.get("Env") or []:
    print("env=" + e)
PY
cfg() { sed -n "s/^$1=//p" "$TMP/config.txt"; }
t_eq "USER is 10001:10001" "10001:10001" "$(cfg user)"
t_eq "ENTRYPOINT is gust" '["gust"]' "$(cfg entrypoint)"
t_eq "CMD is scheduler" '["scheduler"]' "$(cfg cmd)"
t_eq "STOPSIGNAL is SIGTERM" SIGTERM "$(cfg stopsignal)"
t_eq "the HEALTHCHECK was kept (docker format)" '["CMD", "gust", "jobs", "check", "--job-type", "scheduler"]' "$(cfg healthcheck)"
t_true "GUST_DAGS_FOLDER is set" grep -qx 'env=GUST_DAGS_FOLDER=/opt/gust/dags' "$TMP/config.txt"
if grep -Ei '^env=[^=]*(PASSWORD|SECRET|TOKEN|PGPASS|KEY)[^=]*=' "$TMP/config.txt" >"$TMP/bad"; then
    t_fail "no secret in the image's environment" "$(cat "$TMP/bad")"
else
    t_ok "no secret in the image's environment"
fi

new_ctr main || {
    t_fail "create a container of $IMAGE"
    exit 1
}
main=$CTR
run_in "$main" id -u
t_eq "commands run as uid 10001" "0 10001" "$rc $(cat "$TMP/out")"
crun "$main" --user 10001:10001 -- sh -c 'touch /airflow/xcom/probe && rm /airflow/xcom/probe'
t_eq "/airflow/xcom is writable by uid 10001" 0 "$rc"
"${B[@]}" run --isolation chroot --network host "$main" -- id -u </dev/null >"$TMP/out" 2>&1
t_eq "with no --user the image's USER applies (as in a pod)" 10001 "$(cat "$TMP/out")"
run_in "$main" gust version
t_eq "gust version" 0 "$rc" "$TMP/out"
echo "#   $(cat "$TMP/out")"

# ---------------------------------------------------------------------------------------
section "every executable the image ships prints its usage"
run_in "$main" sh -c 'ls /opt/gust/bin'
shipped=$(sort "$TMP/out")
if [ -n "$shipped" ]; then
    t_ok "/opt/gust/bin lists $(echo "$shipped" | wc -l) programs"
else
    t_fail "/opt/gust/bin lists programs" "$(cat "$TMP/out")"
fi
for exe in $shipped; do
    run_in "$main" "$exe" --help
    if [ "$rc" = 0 ] && grep -qi '^usage:' "$TMP/out"; then
        t_ok "$exe --help: exit 0, usage"
    else
        t_fail "$exe --help: exit 0, usage (exit $rc)" "$(head -5 "$TMP/out")"
    fi
done
for src in tasks/*.c; do
    name=$(basename "$src" .c)
    if grep -qx "$name" <<<"$shipped"; then
        t_ok "$src is shipped as $name"
    else
        t_fail "$src is shipped as /opt/gust/bin/$name"
    fi
done

# ---------------------------------------------------------------------------------------
section "KubernetesPodOperator contract: dvc_flow then pharmaceutical_upsert_dag in pods"
pg_start || {
    t_fail "start the throwaway PostgreSQL"
    exit 1
}
gust_cleanup_add pg_stop
pg_createdb gust_image >/dev/null || t_fail "create the database gust_image"
export PGDATABASE=gust_image
DB_URL="postgresql://$PGUSER@127.0.0.1:$PGPORT/gust_image"
q() { psql -X -q -At -c "$1"; }
dvc_portal_start --records "$RECORDS" --seed 11 || t_fail "start the fixture portal"
kafka_start -t all_data:4 || t_fail "start the Kafka-protocol mock broker"
# What the deployment gives every pod (Airflow: env_vars or env_from a ConfigMap/Secret).
DEPLOY_ENV=(-e "GUST_DATABASE_URL=$DB_URL" -e "KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS"
    -e "DVC_API_URL=$DVC_API_URL")

# The migration as docker-compose's `migrate` service and the k8s Job run it: in the image.
crun "$main" -e "GUST_DATABASE_URL=$DB_URL" -- gust db migrate
t_eq "gust db migrate in the image, against the host's PostgreSQL" 0 "$rc" "$TMP/out"

# kpo_tasks DAG_FILE: one line per KubernetesPodOperator task, in file order: task_id, then
# $TMP/kpo/<task_id>.argv (cmds + arguments) and .env (env_vars as K=V), NUL-separated.
kpo_tasks() {
    mkdir -p "$TMP/kpo"
    python3 - "$1" "$TMP/kpo" <<'PY'
import os, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
out = sys.argv[2]
for dag_id, dag in doc.items():
    if dag_id == "default" or not isinstance(dag, dict):
        continue
    tasks = dag.get("tasks") or []
    if isinstance(tasks, dict):
        tasks = [dict(v, task_id=k) for k, v in tasks.items()]
    for t in tasks:
        if not str(t.get("operator", "")).endswith("KubernetesPodOperator"):
            continue
        argv = [str(a) for a in (t.get("cmds") or []) + (t.get("arguments") or [])]
        env = t.get("env_vars") or {}
        if isinstance(env, list):  # [{name: K, value: V}] (V1EnvVar form)
            env = {e["name"]: e.get("value", "") for e in env}
        for a in argv + [str(v) for v in env.values()]:
            if "{{" in a:
                sys.exit(f"{sys.argv[1]}: task {t['task_id']}: templated value {a!r}: render it first")
        with open(os.path.join(out, t["task_id"] + ".argv"), "w") as f:
            f.write("".join(a + "\0" for a in argv))
        with open(os.path.join(out, t["task_id"] + ".env"), "w") as f:
            f.write("".join(f"{k}={v}\0" for k, v in env.items()))
        print(t["task_id"], t.get("image", ""))
PY
}

# xcom_of CTR: the file the xcom sidecar reads, printed; its owner in $xowner.
xcom_of() {
    crun "$1" -- sh -c 'stat -c %u /airflow/xcom/return.json && cat /airflow/xcom/return.json'
    xowner=$(head -1 "$TMP/out")
    sed 1d "$TMP/out"
}
xget() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1" 2>/dev/null; }

# run_pod TASK_ID: the task as a pod: fresh container, cmds + arguments, env_vars + the
# deployment's environment; output in $TMP/pod-TASK_ID.log, XCom in $TMP/xcom-TASK_ID.json.
run_pod() {
    local id=$1 ctr argv=() env=() envopts=() e
    mapfile -d '' argv <"$TMP/kpo/$id.argv"
    mapfile -d '' env <"$TMP/kpo/$id.env"
    for e in "${env[@]}"; do envopts+=(-e "$e"); done
    new_ctr "$id" || return 1
    ctr=$CTR
    echo "#   pod $id: ${argv[*]}"
    crun "$ctr" "${DEPLOY_ENV[@]}" "${envopts[@]}" -- "${argv[@]}"
    cp "$TMP/out" "$TMP/pod-$id.log"
    t_eq "$id: exit 0 in its pod" 0 "$rc" "$TMP/pod-$id.log"
    xcom_of "$ctr" >"$TMP/xcom-$id.json"
    t_eq "$id: /airflow/xcom/return.json written by uid 10001" 10001 "$xowner"
    if python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$TMP/xcom-$id.json" 2>/dev/null; then
        t_ok "$id: return.json is one JSON document: $(tr -d '\n' <"$TMP/xcom-$id.json" | cut -c1-150)"
    else
        t_fail "$id: return.json is one JSON document" "$(cat "$TMP/xcom-$id.json")"
    fi
    crun "$ctr" -- sh -c 'ls -A /airflow/xcom'
    t_eq "$id: nothing but return.json in /airflow/xcom (no temp file left)" return.json "$(cat "$TMP/out")"
}

kpo_tasks dags/dvc_flow.yaml >"$TMP/dvc_tasks" 2>"$TMP/kpo.err" ||
    t_fail "read the KPO tasks of dags/dvc_flow.yaml" "$(cat "$TMP/kpo.err")"
ids=$(cut -d' ' -f1 "$TMP/dvc_tasks" | tr '\n' ' ')
t_eq "dvc_flow's KPO tasks are the crawl and the load" "extract_data_from_DVC load_pharmaceutical_data_staging " "$ids"
t_eq "dvc_flow's KPO tasks name the image gust:latest" "gust:latest gust:latest" \
    "$(cut -d' ' -f2 "$TMP/dvc_tasks" | tr '\n' ' ' | sed 's/ $//')"
for id in $ids; do run_pod "$id"; done
crawl=$TMP/xcom-extract_data_from_DVC.json
load=$TMP/xcom-load_pharmaceutical_data_staging.json
t_eq "crawl XCom: records_sent = the portal's $RECORDS records" "$RECORDS" "$(xget records_sent <"$crawl")"
t_true "crawl XCom: watermark_after is set" test -n "$(xget watermark_after <"$crawl")"
t_eq "the crawl's watermark is stored in crawl_state (job dvc_flow)" 1 \
    "$(q "select count(*) from crawl_state where job_name = 'dvc_flow' and last_crawl_time is not null")"
t_eq "load XCom: records_loaded = $RECORDS" "$RECORDS" "$(xget records_loaded <"$load")"
t_eq "load XCom: no dead letters" 0 "$(xget dead_letters <"$load")"
t_eq "the rows landed in pharmaceutical_data_staging" "$RECORDS" \
    "$(q "select count(distinct sodangky) from pharmaceutical_data_staging")"
t_eq "load XCom: messages = the crawl's messages_sent" "$(xget messages_sent <"$crawl")" \
    "$(xget messages <"$load")"
t_eq "the loader's offsets are stored with the rows (group dvc_staging)" "$(xget messages <"$load")" \
    "$(q "select coalesce(sum(next_offset), 0) from stream_offsets where consumer_group = 'dvc_staging'" 2>&1)"

kpo_tasks dags/upsert_dag.yaml >"$TMP/upsert_tasks" 2>"$TMP/kpo.err" ||
    t_fail "read the KPO tasks of dags/upsert_dag.yaml" "$(cat "$TMP/kpo.err")"
while read -r id _; do run_pod "$id"; done <"$TMP/upsert_tasks"
t_eq "upsert: one pharmaceutical_data row per record" "$RECORDS" "$(q "select count(*) from pharmaceutical_data")"
t_eq "upsert: staging is empty" 0 "$(q "select count(*) from pharmaceutical_data_staging")"
t_eq "upsert XCom: inserted = $RECORDS" "$RECORDS" \
    "$(xget inserted <"$TMP/xcom-upsert_pharmaceutical_data.json")"

# A second crawl pod finds nothing new beyond the overlap window and still exits 0.
mapfile -d '' argv <"$TMP/kpo/extract_data_from_DVC.argv"
new_ctr crawl2
crun "$CTR" "${DEPLOY_ENV[@]}" -- "${argv[@]}"
t_eq "a second crawl pod (incremental) exits 0" 0 "$rc" "$TMP/out"

# ---------------------------------------------------------------------------------------
section "exit codes come out of the container unchanged"
closed=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_in "$main" stream_loader --pipeline dvc --topic all_data --group g --available-now \
    --database-url "postgresql://nobody:hunter2@127.0.0.1:$closed/nope"
t_eq "111: stream_loader with the database unreachable" 111 "$rc" "$TMP/out"
if grep -q hunter2 "$TMP/out"; then
    t_fail "111: the password is not in the output" "$(cat "$TMP/out")"
else
    t_ok "111: the password is not in the output"
fi
crun "$main" -e "GUST_DATABASE_URL=$DB_URL" -e "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$closed" -- \
    stream_loader --pipeline dvc --topic all_data --group g --available-now
t_eq "111: stream_loader with the broker unreachable" 111 "$rc" "$TMP/out"
run_in "$main" stream_loader --pipeline nope
t_eq "100: stream_loader --pipeline nope" 100 "$rc" "$TMP/out"
run_in "$main" dvc_crawl --overlap soon
t_eq "100: dvc_crawl --overlap soon" 100 "$rc" "$TMP/out"
# No task executable exits 99 today; BashOperator tasks skip with it, and a gust worker in
# this image runs them with the image's bash.
run_in "$main" bash -c 'exit 99'
t_eq "99: a BashOperator command that skips (bash -c 'exit 99')" 99 "$rc"
crun "$main" "${DEPLOY_ENV[@]}" -- stream_loader --pipeline dvc --topic all_data --group dvc_staging --available-now
t_eq "0: stream_loader with nothing new" 0 "$rc" "$TMP/out"

# ---------------------------------------------------------------------------------------
section "the HEALTHCHECK: gust jobs check"
mapfile -t hc < <(python3 -c 'import json, sys; print("\n".join(json.loads(sys.argv[1])[1:]))' "$(cfg healthcheck)")
crun "$main" -e "GUST_DATABASE_URL=$DB_URL" -- "${hc[@]}"
t_eq "${hc[*]}: exit 1 before any scheduler ran" 1 "$rc" "$TMP/out"
# A scheduler in the image, in the background (no executor: the DAGs' runs are created, not
# run). buildah does not pass SIGTERM on to the program (it kills it), so the stop signal goes
# to the scheduler's own process, as the container runtime would send it to PID 1.
"${B[@]}" run --isolation chroot --network host -e "GUST_DATABASE_URL=$DB_URL" "$main" \
    gust scheduler --no-executor </dev/null >"$TMP/scheduler.log" 2>&1 &
bgpid=$!
gust_kill_at_exit "$bgpid"
healthy() { crun "$main" -e "GUST_DATABASE_URL=$DB_URL" -- "${hc[@]}" && [ "$rc" = 0 ]; }
if wait_for 60 healthy; then
    t_ok "${hc[*]}: exit 0 while a scheduler runs in the image"
else
    t_fail "${hc[*]}: exit 0 while a scheduler runs in the image" "$(tail -5 "$TMP/out")" \
        "scheduler: $(tail -5 "$TMP/scheduler.log")"
fi
# descendant PID COMM: the process named COMM under PID (the program buildah runs).
descendant() {
    ps -e -o pid=,ppid=,comm= | awk -v root="$1" -v name="$2" '{ up[$1] = $2; comm[$1] = $3 }
        END { for (p in up) { q = p; while ((q in up) && q != root) q = up[q]
              if (q == root && comm[p] == name) print p } }'
}
spid=$(descendant "$bgpid" gust | head -1)
if [ -n "$spid" ]; then
    kill -TERM "$spid"
    wait "$bgpid"
    t_eq "the scheduler stops on SIGTERM with exit 0" 0 $? "$TMP/scheduler.log"
else
    t_fail "find the scheduler's process under buildah ($bgpid)"
fi
crun "$main" -e "GUST_DATABASE_URL=$DB_URL" -- "${hc[@]}"
t_eq "${hc[*]}: exit 1 once the scheduler stopped" 1 "$rc" "$TMP/out"
crun "$main" -e "GUST_DATABASE_URL=$DB_URL" -- gust jobs check --job-type worker
t_eq "gust jobs check --job-type worker: exit 1 (no worker ran)" 1 "$rc" "$TMP/out"
crun "$main" -e "GUST_DATABASE_URL=postgresql://x@127.0.0.1:$closed/x" -- "${hc[@]}"
if [ "$rc" != 0 ]; then t_ok "the healthcheck fails when the database is unreachable (exit $rc)"; else
    t_fail "the healthcheck fails when the database is unreachable"; fi

# ---------------------------------------------------------------------------------------
section "the services that run the image (docker-compose, Kubernetes)"
if env -u POSTGRES_PASSWORD -u GUST_DATABASE_URL docker-compose -f docker/docker-compose.yml \
    --env-file docker/.env.example config >"$TMP/compose.yml" 2>"$TMP/compose.err"; then
    t_ok "docker-compose config validates"
else
    t_fail "docker-compose config validates" "$(cat "$TMP/compose.err")"
fi
# Each service or container that runs this image: its entrypoint + command with --help
# appended must start (the program exists, the arguments parse).
python3 - "$TMP/compose.yml" docker/k8s >"$TMP/services" <<'PY'
import glob, os, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
for name, s in cfg["services"].items():
    if (s.get("build") or {}).get("dockerfile", "").endswith("docker/Dockerfile") or \
       str(s.get("image", "")).startswith("gust:"):
        argv = (s.get("entrypoint") or ["gust"]) + (s.get("command") or ["scheduler"])
        print("compose:" + name + "\t" + "\x1f".join(argv))
for f in sorted(glob.glob(os.path.join(sys.argv[2], "*.yaml"))):
    for d in yaml.safe_load_all(open(f)):
        if not d or d.get("kind") not in ("Deployment", "Job", "CronJob", "StatefulSet"):
            continue
        spec = d["spec"]["template"]["spec"] if "template" in d["spec"] else \
            d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        for c in spec.get("initContainers", []) + spec.get("containers", []):
            if "gust" not in c.get("image", ""):
                continue
            argv = (c.get("command") or ["gust"]) + (c.get("args") or ["scheduler"])
            print("k8s:" + d["metadata"]["name"] + "/" + c["name"] + "\t" + "\x1f".join(argv))
PY
nsvc=0
while IFS=$'\t' read -r svc cmd; do
    nsvc=$((nsvc + 1))
    IFS=$'\x1f' read -r -a argv <<<"$cmd"
    run_in "$main" "${argv[@]}" --help
    t_eq "$svc: ${argv[*]} starts in the image" 0 "$rc" "$TMP/out"
done <"$TMP/services"
if [ "$nsvc" -ge 6 ]; then
    t_ok "$nsvc services and containers run the image"
else
    t_fail "at least 6 services and containers run the image (found $nsvc)"
fi
other=$(grep -l '^FROM ' docker/Dockerfile* docker/*/Dockerfile* 2>/dev/null | grep -vx docker/Dockerfile)
t_eq "docker/Dockerfile is the only image the project builds" "" "$other"

# ---------------------------------------------------------------------------------------
section "what the image holds"
root=$("${B[@]}" mount "$main")
if [ -z "$root" ] || [ ! -d "$root/opt/gust" ]; then
    t_fail "mount the image's file system"
else
    t_ok "mount the image's file system"
    found=$(cd "$root" && for c in cc gcc g++ c++ cpp clang tcc ld as make; do
        for d in usr/bin usr/local/bin bin usr/sbin; do [ -e "$d/$c" ] && echo "/$d/$c"; done
    done; ls -d usr/lib/gcc/*/*/cc1 2>/dev/null)
    t_eq "no compiler, assembler, linker or make" "" "$found"
    t_eq "no C headers of the build libraries" "" "$(ls "$root"/usr/include/libpq-fe.h "$root"/usr/include/librdkafka 2>/dev/null)"
    found=$(cd "$root" && find . -xdev -type f \( -name 'test_*' -o -name 'fuzz_*' -o -name kafka_mock \
        -o -name schedule_next -o -name '*.o' -o -name '*.a' \) -perm -u+x -print 2>/dev/null)
    t_eq "no test, fuzz or tool binary" "" "$found"
    t_true "no source tree (/src)" test ! -e "$root/src"
    found=$(cd "$root" && find . -xdev \( -name '.env' -o -name '.pgpass' -o -name 'id_rsa*' \
        -o -name 'id_ed25519*' -o -name '*.key' -o -name 'credentials*' -o -name '.netrc' \) -print 2>/dev/null)
    t_eq "no secret file (.env, .pgpass, ssh or TLS keys, credentials)" "" "$found"
    found=$(grep -rlIs --exclude-dir=proc -e '-----BEGIN [A-Z ]*PRIVATE KEY-----' \
        "$root/etc" "$root/opt" "$root/root" "$root/home" "$root/airflow" "$root/var" "$root/tmp" 2>/dev/null)
    t_eq "no private key in any file" "" "${found//$root/}"
    found=$(awk -F: '$2 != "*" && $2 != "!" && $2 !~ /^!/ {print $1}' "$root/etc/shadow")
    t_eq "no account has a password" "" "$found"
    found=$(grep -rlIs -e 'hunter2' -e 'POSTGRES_PASSWORD=[^C$]' "$root/opt" "$root/etc" 2>/dev/null)
    t_eq "no password in /opt/gust or /etc" "" "${found//$root/}"
    echo "# file system: $(du -sh "$root" | cut -f1), /opt/gust: $(du -sh "$root/opt/gust" | cut -f1)"
    "${B[@]}" umount "$main" >/dev/null
fi
"${B[@]}" inspect --type image --format '{{range .Docker.History}}{{.CreatedBy}}{{"\n"}}{{end}}' \
    "$IMAGE" >"$TMP/history" 2>/dev/null
if grep -Eiq '(password|secret|token)=[^ $]' "$TMP/history"; then
    t_fail "no secret in the image history" "$(grep -Ei '(password|secret|token)=' "$TMP/history")"
else
    t_ok "no secret in the image history"
fi

echo "# image $IMAGE: $size"
echo "# $passed passed, $failed failed, ${SECONDS} s"
[ "$failed" -eq 0 ]
