#!/usr/bin/env bash
# The metrics files of docker/ (docs/operations.md, "Metrics"), checked without a Docker engine:
#   - tests/integration/metrics_files.py: the statsd-exporter mapping parses and is valid for
#     statsd_exporter, every StatsD name gust sends (every format in the code) maps to a rule
#     and every rule maps one, with the expected labels; the Grafana dashboard parses and
#     queries only series the mapping makes;
#   - docker-compose.yml: the statsd-exporter service reads that mapping on the UDP port the
#     gust services send to (Airflow's AIRFLOW__METRICS__STATSD_* settings), the gust
#     services start after it, Prometheus scrapes it and Grafana loads the dashboard, both
#     behind the profile "metrics".
# Needs docker-compose and python3-yaml (make deps installs them).
set -u
source "$GUST_SRC/tests/lib/common.sh"
plan 32
cd "$GUST_SRC" || exit 1
tmp=
gust_tmpdir tmp
PY=/usr/bin/python3

"$PY" tests/integration/metrics_files.py

clean_env=(env -u POSTGRES_PASSWORD -u GUST_DATABASE_URL -u GUST_IMAGE -u GUST_STATSD_ON)
"${clean_env[@]}" docker-compose -f docker/docker-compose.yml --env-file docker/.env.example \
    --profile metrics config >"$tmp/config.yml" 2>"$tmp/config.err"
check_eq "docker-compose config validates with the metrics profile" 0 $?
[ -s "$tmp/config.err" ] && sed 's/^/#   /' "$tmp/config.err"

cat >"$tmp/compose.py" <<'PYEOF'
import json
import sys

import yaml

def ok(cond, what):
    print(("ok - " if cond else "not ok - ") + what)

s = yaml.safe_load(open(sys.argv[1]))["services"]
ex = s.get("statsd-exporter", {})
ok(ex.get("image", "").startswith("prom/statsd-exporter:v"), "a statsd-exporter service, pinned image")
cmd = " ".join(ex.get("command", []))
mount = [v for v in ex.get("volumes", []) if "statsd-mapping.yml" in str(v)]
target = mount[0]["target"] if mount and isinstance(mount[0], dict) else str(mount[0]).split(":")[1] if mount else None
ok(target and f"--statsd.mapping-config={target}" in cmd, "it reads docker/statsd/statsd-mapping.yml")
udp = cmd.split("--statsd.listen-udp=:")[1].split()[0] if "--statsd.listen-udp=:" in cmd else "9125"
web = cmd.split("--web.listen-address=:")[1].split()[0] if "--web.listen-address=:" in cmd else "9102"
for name in ("scheduler", "worker"):
    env = s[name]["environment"]
    ok(str(env.get("AIRFLOW__METRICS__STATSD_ON")).lower() == "true"
       and env.get("AIRFLOW__METRICS__STATSD_HOST") == "statsd-exporter"
       and str(env.get("AIRFLOW__METRICS__STATSD_PORT")) == udp,
       f"{name} sends its metrics to statsd-exporter:{udp} (AIRFLOW__METRICS__STATSD_*)")
    ok("statsd-exporter" in s[name].get("depends_on", {}),
       f"{name} starts after statsd-exporter (the host is resolved once, at start)")
gust = [n for n in s if s[n].get("build")]
ok(all(s[n]["environment"].get("AIRFLOW__METRICS__STATSD_PREFIX") == "airflow" for n in gust),
   "every gust service uses the prefix the mapping expects (airflow)")
for name in ("prometheus", "grafana"):
    ok(s.get(name, {}).get("profiles") == ["metrics"], f"{name} runs only with --profile metrics")
prom = yaml.safe_load(open("docker/prometheus/prometheus.yml"))
targets = [t for j in prom["scrape_configs"] for c in j["static_configs"] for t in c["targets"]]
ok(f"statsd-exporter:{web}" in targets, f"Prometheus scrapes statsd-exporter:{web}")
pmount = [v for v in s["prometheus"].get("volumes", []) if "prometheus.yml" in str(v)]
ok(pmount and "--config.file=" + (pmount[0]["target"] if isinstance(pmount[0], dict) else "")
   in " ".join(s["prometheus"]["command"]), "Prometheus reads docker/prometheus/prometheus.yml")
gvols = s["grafana"].get("volumes", [])
def tgt(v):
    return v["target"] if isinstance(v, dict) else str(v).split(":")[1]
def src(v):
    return v["source"] if isinstance(v, dict) else str(v).split(":")[0]
dash = [tgt(v) for v in gvols if src(v).endswith("grafana/gust-dashboard.json")]
prov = yaml.safe_load(open("docker/grafana/provisioning/dashboards/gust.yml"))
path = prov["providers"][0]["options"]["path"]
ok(dash and dash[0].startswith(path.rstrip("/") + "/"), "Grafana's provider loads the dashboard from where it is mounted")
ok(any(tgt(v) == "/etc/grafana/provisioning" and src(v).endswith("grafana/provisioning") for v in gvols),
   "Grafana gets the provisioning folder")
dsy = yaml.safe_load(open("docker/grafana/provisioning/datasources/prometheus.yml"))
ok(dsy["datasources"][0]["type"] == "prometheus" and dsy["datasources"][0]["url"].startswith("http://prometheus:"),
   "Grafana's datasource is the compose Prometheus")
ok(not any("GF_SECURITY_ADMIN_PASSWORD" in k for k in s["grafana"].get("environment", {})),
   "no Grafana password in the compose file")
PYEOF
"$PY" "$tmp/compose.py" "$tmp/config.yml"

# Without the profile the stack still validates and has no Prometheus/Grafana to start.
"${clean_env[@]}" docker-compose -f docker/docker-compose.yml --env-file docker/.env.example \
    config --services >"$tmp/services" 2>/dev/null
check "docker-compose config lists statsd-exporter without the profile" grep -qx statsd-exporter "$tmp/services"
