#!/usr/bin/env bash
# docker/: what can be checked without a Docker engine or a Kubernetes cluster.
#   - docker-compose.yml validates with Debian's docker-compose (`config`) given
#     .env.example, and fails with a clear message when no .env is there;
#   - the stack has its services, dependencies, health checks and --follow loaders;
#   - shellcheck on every shell script in docker/ (base-images.sh, build-image.sh, ...);
#   - every YAML file in docker/ parses; the Kubernetes manifests have the right kinds,
#     apiVersions, required fields, non-root read-only containers, probes, and the
#     kustomization lists them all;
#   - the Dockerfile is multi-stage, runs as a non-root user, has a HEALTHCHECK using
#     `gust jobs check`, carries no secret, and its build stage's COPY list is enough to build
#     (the build is replayed here on a copy of exactly those folders);
#   - no secret is committed: .env is ignored, .env.example and the Secret hold placeholders.
# Needs docker-compose, shellcheck and python3-yaml (make deps installs them).
set -u
source "$GUST_SRC/tests/lib/common.sh"
plan 255
cd "$GUST_SRC" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PY=/usr/bin/python3
compose=docker/docker-compose.yml

for tool in docker-compose shellcheck; do
    command -v "$tool" >/dev/null && echo "ok - $tool is installed" ||
        echo "not ok - $tool is installed (make deps installs it)"
done
"$PY" -c 'import yaml' 2>/dev/null && echo "ok - python3-yaml is installed" ||
    echo "not ok - python3-yaml is installed (make deps installs it)"

# --- docker-compose ---------------------------------------------------------------------
# Interpolation must come from the env file only, never from this shell.
clean_env=(env -u POSTGRES_PASSWORD -u GUST_DATABASE_URL -u GUST_IMAGE -u KAFKA_TOPICS)
"${clean_env[@]}" docker-compose -f "$compose" --env-file docker/.env.example config \
    >"$tmp/config.yml" 2>"$tmp/config.err"
check_eq "docker-compose config validates with .env.example" 0 $?
[ -s "$tmp/config.err" ] && sed 's/^/#   /' "$tmp/config.err"

# Without a .env, compose must stop and say what to do (the secrets are required variables).
mkdir -p "$tmp/noenv"
cp "$compose" docker/kafka-create-topics.sh "$tmp/noenv/"
(cd "$tmp/noenv" && "${clean_env[@]}" docker-compose -f docker-compose.yml config) \
    >/dev/null 2>"$tmp/noenv.err"
check_eq "docker-compose config fails without a .env" 1 $?
check_contains "and says where the password goes" "set it in docker/.env" "$(cat "$tmp/noenv.err")"

cat >"$tmp/stack.py" <<'PYEOF'
import sys
import yaml

cfg = yaml.safe_load(open(sys.argv[1]))
s = cfg["services"]
def ok(cond, what):
    print(("ok - " if cond else "not ok - ") + what)
want = {"postgres", "kafka", "kafka-init", "migrate", "scheduler", "worker",
        "loader-dvc", "loader-users", "loader-wiki", "event-collector", "loader-github-events"}
ok(want <= set(s), "the stack has " + ", ".join(sorted(want)))
ok(s["postgres"]["image"].startswith("postgres:15"), "PostgreSQL 15, official image")
ok("pg_isready" in " ".join(s["postgres"]["healthcheck"]["test"]), "postgres healthcheck uses pg_isready")
k = s["kafka"]
ok(k["image"].startswith("apache/kafka:"), "Kafka is the official apache/kafka image")
ok(k["environment"].get("KAFKA_PROCESS_ROLES") == "broker,controller", "Kafka runs in KRaft mode")
init = s["kafka-init"]
ok(init["image"] == k["image"], "the topics are created with the broker's own image")
ok(init["depends_on"]["kafka"]["condition"] == "service_healthy", "topic creation waits for a healthy broker")
topics = init["environment"]["TOPICS"]
ok(all(t in topics for t in ("all_data:", "users_created:", "recent_changes:", "raw_metrics_avro:")),
   "all four topics are created")
ok(s["migrate"]["command"] == ["db", "migrate"], "a one-shot gust db migrate")
sd = s["scheduler"]["depends_on"]
ok(sd.get("migrate", {}).get("condition") == "service_completed_successfully", "scheduler waits for the migration")
ok(sd.get("kafka", {}).get("condition") == "service_healthy", "scheduler waits for a healthy Kafka")
for name, jt in (("scheduler", "scheduler"), ("worker", "worker")):
    t = s[name]["healthcheck"]["test"]
    ok(t[:4] == ["CMD", "gust", "jobs", "check"] and jt in t, f"{name} healthcheck is gust jobs check --job-type {jt}")
for p in ("dvc", "users", "wiki", "github_events"):
    l = s["loader-" + p.replace("_", "-")]
    ok(l["entrypoint"] == ["stream_loader"] and l["command"] == ["--pipeline", p, "--follow"],
       f"loader-{p} runs stream_loader --pipeline {p} --follow")
    ok(l["depends_on"]["migrate"]["condition"] == "service_completed_successfully", f"loader-{p} waits for the migration")
gust = [n for n in s if s[n].get("build")]
ok(len(gust) >= 6 and all(s[n]["build"]["dockerfile"] == "docker/Dockerfile" for n in gust),
   "gust services build docker/Dockerfile")
for n in gust:
    env = s[n]["environment"]
    bad = [key for key in env if key.startswith("KAFKA_") and key != "KAFKA_BOOTSTRAP_SERVERS"]
    ok(not bad, f"{n}: no KAFKA_* variable that is not a librdkafka property {bad}")
    ok(env.get("PGPASSWORD") == "CHANGE_ME", f"{n}: the password comes from the env file")
ok(s["postgres"]["environment"]["POSTGRES_PASSWORD"] == "CHANGE_ME", "postgres password comes from the env file")
ec = s["event-collector"]
ok(ec["entrypoint"] == ["event_collector"] and "--spill-dir" in ec["command"], "event-collector runs event_collector --spill-dir")
ok(any(":/var/lib/gust/spill" in str(v) or (isinstance(v, dict) and v.get("target") == "/var/lib/gust/spill")
       for v in ec.get("volumes", [])), "the collector's spill folder is a named volume")
ok("/health" in " ".join(ec["healthcheck"]["test"]), "event-collector healthcheck asks /health")
ok(ec.get("labels", {}).get("prometheus.io/scrape") == "true", "event-collector carries Prometheus scrape labels")
PYEOF
"$PY" "$tmp/stack.py" "$tmp/config.yml"

# --- secrets ----------------------------------------------------------------------------
check "docker/.env is ignored by git" git check-ignore -q docker/.env
check_eq "no docker/.env is tracked" "" "$(git ls-files docker/.env)"
check "the .env.example password is a placeholder" grep -qx 'POSTGRES_PASSWORD=CHANGE_ME' docker/.env.example
check_fails ".env.example puts no password in GUST_DATABASE_URL" \
    grep -Eiq '^GUST_DATABASE_URL=.*(password=|://[^/@]*:[^/@]*@)' docker/.env.example

# --- shell scripts ----------------------------------------------------------------------
n=0
while IFS= read -r f; do
    n=$((n + 1))
    check "shellcheck $f" shellcheck -x "$f"
done < <(find docker -type f \( -name '*.sh' -o -path '*/bin/*' \) | sort)
[ "$n" -gt 0 ] && echo "ok - docker/ has $n shell scripts checked" || echo "not ok - no shell script found in docker/"

# --- YAML and Kubernetes manifests ------------------------------------------------------
cat >"$tmp/k8s.py" <<'PYEOF'
import glob
import os
import sys
import yaml

def ok(cond, what):
    print(("ok - " if cond else "not ok - ") + what)

for f in sorted(glob.glob("docker/**/*.y*ml", recursive=True) + glob.glob("docker/**/.*.y*ml", recursive=True)):
    try:
        list(yaml.safe_load_all(open(f)))
        ok(True, f"{f} parses")
    except yaml.YAMLError as e:
        ok(False, f"{f} parses: {str(e).splitlines()[0]}")

API = {"Namespace": "v1", "ConfigMap": "v1", "Secret": "v1", "Service": "v1",
       "Deployment": "apps/v1", "StatefulSet": "apps/v1", "Job": "batch/v1",
       "CronJob": "batch/v1", "Kustomization": "kustomize.config.k8s.io/v1beta1"}
docs = {}
for f in sorted(glob.glob("docker/k8s/*.yaml")):
    docs[f] = [d for d in yaml.safe_load_all(open(f)) if d is not None]
kinds = [d.get("kind") for ds in docs.values() for d in ds]
for k in ("Namespace", "ConfigMap", "Secret", "Job", "Deployment", "Kustomization"):
    ok(k in kinds, f"docker/k8s has a {k}")

def containers(spec):
    return spec.get("initContainers", []) + spec.get("containers", [])

deployments = {}
for f, ds in docs.items():
    for d in ds:
        kind, name = d.get("kind"), (d.get("metadata") or {}).get("name")
        ok(d.get("apiVersion") == API.get(kind), f"{f}: {kind} {name} has apiVersion {API.get(kind)}")
        if kind == "Kustomization":
            res = d.get("resources", [])
            ok(all(os.path.exists(os.path.join("docker/k8s", r)) for r in res), "kustomization resources exist")
            others = {os.path.basename(x) for x in docs if x != f}
            ok(others <= set(res), f"kustomization lists every manifest ({sorted(others - set(res))} missing)")
            continue
        ok(bool(name), f"{f}: {kind} has metadata.name")
        if kind != "Namespace":
            ok((d.get("metadata") or {}).get("namespace") == "gust", f"{f}: {kind} {name} is in namespace gust")
        if kind == "Secret":
            vals = list((d.get("stringData") or {}).values()) + list((d.get("data") or {}).values())
            ok(vals and all(v == "CHANGE_ME" for v in vals), f"{f}: the Secret holds placeholders only")
        if kind == "ConfigMap":
            data = d.get("data") or {}
            ok(not any("password" in str(v).lower() for v in data.values()), f"{f}: no password in the ConfigMap")
            bad = [k for k in data if k.startswith("KAFKA_") and k != "KAFKA_BOOTSTRAP_SERVERS"
                   and not k.startswith(("KAFKA_SASL_", "KAFKA_SECURITY_", "KAFKA_SSL_"))]
            ok(not bad, f"{f}: no KAFKA_* key that is not a librdkafka property {bad}")
        if kind in ("Deployment", "StatefulSet", "Job"):
            spec = d["spec"]
            pod = spec["template"]["spec"]
            if kind in ("Deployment", "StatefulSet"):
                deployments[name] = d
                sel = spec["selector"]["matchLabels"]
                labels = spec["template"]["metadata"]["labels"]
                ok(all(labels.get(k) == v for k, v in sel.items()), f"{name}: selector matches the pod labels")
            psc = pod.get("securityContext", {})
            ok(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, f"{name}: pod runs as non-root")
            for c in containers(pod):
                csc = c.get("securityContext", {})
                ok(bool(c.get("image")) and bool(c.get("name")), f"{name}/{c.get('name')}: has name and image")
                ok(csc.get("readOnlyRootFilesystem") is True and csc.get("allowPrivilegeEscalation") is False,
                   f"{name}/{c['name']}: read-only root, no privilege escalation")
                ok("ALL" in (csc.get("capabilities") or {}).get("drop", []), f"{name}/{c['name']}: drops all capabilities")
                r = c.get("resources", {})
                ok("requests" in r and "limits" in r, f"{name}/{c['name']}: resources set")
                refs = [e.get("configMapRef", e.get("secretRef", {})).get("name") for e in c.get("envFrom", [])]
                ok("gust-config" in refs and "gust-db" in refs, f"{name}/{c['name']}: env from the ConfigMap and the Secret")

def main_container(name):
    return deployments[name]["spec"]["template"]["spec"]["containers"][0]

ok("gust-scheduler" in deployments, "a scheduler Deployment")
if "gust-scheduler" in deployments:
    c = main_container("gust-scheduler")
    probe = (c.get("livenessProbe") or {}).get("exec", {}).get("command", [])
    ok(probe[:3] == ["gust", "jobs", "check"] and "scheduler" in probe, "scheduler liveness probe is gust jobs check --job-type scheduler")
    mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in deployments["gust-scheduler"]["spec"]["template"]["spec"].get("volumes", [])}
    ok("/var/log/gust" in mounts and all("emptyDir" in v for v in vols.values()), "scheduler logs go to an emptyDir")
ok(deployments.get("gust-worker", {}).get("spec", {}).get("replicas") == 2, "a worker Deployment with 2 replicas")
for p in ("dvc", "users", "wiki", "github_events"):
    n = "gust-loader-" + p.replace("_", "-")
    ok(n in deployments and main_container(n).get("args") == ["--pipeline", p, "--follow"]
       and main_container(n).get("command") == ["stream_loader"], f"{n} runs stream_loader --pipeline {p} --follow")
col = deployments.get("gust-event-collector")
ok(col is not None and col["kind"] == "StatefulSet", "the event collector is a StatefulSet (a volume per pod)")
if col is not None:
    c = main_container("gust-event-collector")
    ok(c.get("command") == ["event_collector"] and "--spill-dir" in c.get("args", []), "it runs event_collector --spill-dir")
    ok((c.get("livenessProbe") or {}).get("httpGet", {}).get("path") == "/health", "collector liveness probe on /health")
    ok(col["spec"]["template"]["metadata"].get("annotations", {}).get("prometheus.io/scrape") == "true",
       "collector pods carry Prometheus scrape annotations")
    spill = [m for m in c.get("volumeMounts", []) if m["name"] == "spill"]
    ok(spill and any(t["metadata"]["name"] == "spill" for t in col["spec"].get("volumeClaimTemplates", [])),
       "the spill folder is a persistent volume claim")
job = [d for ds in docs.values() for d in ds if d.get("kind") == "Job"]
ok(job and job[0]["spec"]["template"]["spec"]["containers"][0].get("args") == ["db", "migrate"], "the Job runs gust db migrate")
PYEOF
"$PY" "$tmp/k8s.py"

# --- Airflow files ----------------------------------------------------------------------
stub=docker/airflow/dags/load_gust_dags.py
check "the dag-factory loader stub is valid Python" "$PY" -c \
    'import ast, sys; ast.parse(open(sys.argv[1]).read())' "$stub"
check "the stub loads with load_yaml_dags(globals_dict=...)" grep -q 'load_yaml_dags(globals_dict=globals()' "$stub"
check "an example DAG triggers gust with --wait" grep -q -- '- --wait' docker/airflow/dags/gust_trigger_example.yaml
check "docker/airflow has a README" test -s docker/airflow/README.md

# --- Dockerfile -------------------------------------------------------------------------
df=docker/Dockerfile
check_eq "the Dockerfile is multi-stage (two FROM)" 2 "$(grep -c '^FROM ' "$df")"
check "the build stage is Debian 12" grep -Eq '^FROM debian:\$\{DEBIAN_RELEASE\} AS build|^FROM debian:(12|bookworm) AS build' "$df"
check "the runtime stage is debian slim" grep -Eq '^FROM debian:[^ ]*-slim' "$df"
check "the build runs make install PREFIX=/opt/gust" grep -q 'make .*install PREFIX=/opt/gust' "$df"
last_user=$(sed -n 's/^USER[[:space:]]\+//p' "$df" | tail -1)
case "$last_user" in
"" | root | 0 | 0:* | root:*) echo "not ok - the image runs as a non-root user (USER $last_user)" ;;
*) echo "ok - the image runs as a non-root user (USER $last_user)" ;;
esac
check "a HEALTHCHECK using gust jobs check" grep -Eq '^\s*CMD \["gust", "jobs", "check"' "$df"
check "HEALTHCHECK instruction present" grep -q '^HEALTHCHECK' "$df"
check "dags/ and migrations/ are in the image" grep -q '^COPY dags/ /opt/gust/dags/' "$df"
check "migrations/ are in the image" grep -q '^COPY migrations/ /opt/gust/migrations/' "$df"
check "GUST_DAGS_FOLDER points at them" grep -q 'GUST_DAGS_FOLDER=/opt/gust/dags' "$df"
check "/airflow/xcom exists for KubernetesPodOperator XCom" grep -q '/airflow/xcom' "$df"
check_fails "no secret in the Dockerfile" grep -Eiq '^(ENV|ARG)\b.*(PASSWORD|SECRET|TOKEN|PGPASS)' "$df"
check_fails "no secret file copied in" grep -Eiq '^COPY .*(\.env|pgpass|id_rsa|\.pem)' "$df"

# Replay the build stage: copy exactly what its COPY lines name, then make all + install.
mkdir -p "$tmp/ctx"
srcs=$(awk '/^FROM .* AS build/{b=1; next} /^FROM /{b=0} b && /^COPY /{for (i = 2; i < NF; i++) print $i}' "$df")
for s in $srcs; do cp -r "$s" "$tmp/ctx/$s"; done
if (cd "$tmp/ctx" && make -j2 CI=1 all >"$tmp/build.log" 2>&1 &&
    make CI=1 install PREFIX="$tmp/opt" >>"$tmp/build.log" 2>&1); then
    echo "ok - the build stage's COPY list (${srcs//$'\n'/ }) is enough to build"
else
    echo "not ok - the build stage's COPY list (${srcs//$'\n'/ }) is enough to build"
    tail -20 "$tmp/build.log" | sed 's/^/#   /'
fi
for b in gust dvc_crawl stream_loader pharma_upsert randomuser_fetch randomuser_stream wiki_stream; do
    check "make install puts $b in /opt/gust/bin" test -x "$tmp/opt/bin/$b"
done
# The runtime stage installs these libraries; every library the binaries link must come
# from one of them or their dependencies (checked by name here: the Debian sonames).
libs=$(for b in "$tmp"/opt/bin/*; do ldd "$b"; done | awk '/=>/{print $1}' | sort -u)
for so in libpq.so.5 librdkafka.so.1 libcurl.so.4 libjansson.so.4 libyaml-0.so.2 libssl.so.3 libcrypto.so.3 \
    libpcre2-8.so.0 libGeoIP.so.1 libmaxminddb.so.0; do
    case "$libs" in *"$so"*) ;; *) continue ;; esac
    path=$(readlink -f "$(ldconfig -p | awk -v s="$so" '$1 == s {print $NF; exit}')")
    pkg=$(dpkg -S "$path" 2>/dev/null | cut -d: -f1 | head -1)
    if [ -z "$pkg" ]; then
        echo "not ok - find the Debian package of $so ($path)"
        continue
    fi
    check "runtime stage installs $pkg (for $so)" grep -Eq -- "[[:space:]]$pkg([[:space:]]|\$)" "$df"
done
