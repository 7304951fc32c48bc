"""Checks gust's metrics files against each other and against the code
(tests/integration/test_metrics_files.sh runs it from the source folder).

- docker/statsd/statsd-mapping.yml parses and is a mapping statsd_exporter accepts (its
  rules for glob matches, metric and label names, regexes that compile);
- the StatsD names gust sends: every statsd_count/gauge/timing format in scheduler/ and
  tasks/ has a sample in tests/integration/metrics_names.txt of its type, and every sample is
  a name some format makes (the loader's samples may wait for the loader's code);
- every sample maps to a rule (as statsd_exporter picks it: glob rules first, in order, then
  regex rules in order), with the labels expected of a few; every rule maps a sample;
- docker/grafana/gust-dashboard.json parses, and every metric name its queries and variables
  use is a series the mapping makes (a timer's histogram: _bucket, _sum, _count);
- with --received FILE (the names a real run sent, one per line) only this: every name
  received maps to a rule.

Prints one TAP line per check: "ok - ..." or "not ok - ...", always the same number (15;
1 with --received)."""
import glob
import json
import re
import sys

import yaml

MAPPING = "docker/statsd/statsd-mapping.yml"
DASHBOARD = "docker/grafana/gust-dashboard.json"
NAMES = "tests/integration/metrics_names.txt"
PREFIX = "airflow."
LABELS = {"dag_id", "task_id", "state", "pool", "group", "topic", "partition", "operator",
          "job_name"}

# statsd_exporter's own rules (pkg/mapper/mapper.go)
STATSD_FIELD = r"[a-zA-Z_](-?[a-zA-Z0-9_])*"
GLOB_RE = re.compile(r"^(\*\.|" + STATSD_FIELD + r"\.)+(\*|" + STATSD_FIELD + r")$")
NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]+$")


def ok(cond, what, detail=None):
    print(("ok - " if cond else "not ok - ") + what)
    if not cond and detail:
        for line in str(detail).splitlines()[:20]:
            print("#   " + line)


def load_mapping():
    try:
        doc = yaml.safe_load(open(MAPPING))
    except (OSError, yaml.YAMLError) as e:
        return None, str(e)
    return doc, None


def check_rules(rules):
    bad = []
    for i, r in enumerate(rules):
        where = f"rule {i} ({r.get('match')})"
        kind = r.get("match_type", "glob")
        if kind == "glob" and not GLOB_RE.match(str(r.get("match", ""))):
            bad.append(f"{where}: not a glob statsd_exporter accepts")
        if kind == "regex":
            try:
                rx = re.compile(r["match"])
                if not (r["match"].startswith("^") and r["match"].endswith("$")):
                    bad.append(f"{where}: a regex rule must be anchored (^...$)")
                for v in (r.get("labels") or {}).values():
                    for g in re.findall(r"\$\{(\d+)\}", v):
                        if int(g) > rx.groups:
                            bad.append(f"{where}: label uses group {g} of {rx.groups}")
            except re.error as e:
                bad.append(f"{where}: {e}")
        if kind not in ("glob", "regex"):
            bad.append(f"{where}: match_type {kind}")
        if not NAME_RE.match(str(r.get("name", ""))):
            bad.append(f"{where}: metric name {r.get('name')!r}")
        for k in r.get("labels") or {}:
            if not LABEL_RE.match(k) or k not in LABELS:
                bad.append(f"{where}: label {k!r}")
    return bad


def glob_match(pattern, name):
    """statsd_exporter's glob: one dot-separated field per '*', the others equal."""
    p, n = pattern.split("."), name.split(".")
    if len(p) != len(n):
        return None
    caps = []
    for a, b in zip(p, n):
        if a == "*":
            caps.append(b)
        elif a != b:
            return None
    return caps


def expand(template, caps):
    def one(m):
        i = int(m.group(1) or m.group(2))
        return caps[i - 1] if 0 < i <= len(caps) else ""
    return re.sub(r"\$\{(\d+)\}|\$(\d+)", one, template)


def map_name(rules, name):
    """(rule, labels) as statsd_exporter maps name: glob rules first, then regex rules."""
    for r in rules:
        if r.get("match_type", "glob") == "glob":
            caps = glob_match(r["match"], name)
            if caps is not None:
                return r, {k: expand(v, caps) for k, v in (r.get("labels") or {}).items()}
    for r in rules:
        if r.get("match_type") == "regex":
            m = re.search(r["match"], name)
            if m:
                caps = list(m.groups())
                return r, {k: expand(v, caps) for k, v in (r.get("labels") or {}).items()}
    return None, None


def code_formats():
    """(format, type) of every statsd_count/gauge/timing call in scheduler/ and tasks/."""
    kinds = {"count": "c", "gauge": "g", "timing": "ms"}
    out = []
    for f in sorted(glob.glob("scheduler/**/*.c", recursive=True) +
                    glob.glob("tasks/**/*.c", recursive=True)):
        text = open(f, errors="replace").read()
        for m in re.finditer(r'\bstatsd_(count|gauge|timing)\s*\([^";{}]*?"((?:[^"\\]|\\.)*)"',
                             text):
            out.append((m.group(2), kinds[m.group(1)], f))
    return out


def format_re(fmt):
    rx = ""
    for part in re.split(r"(%(?:ll|l)?[sdu])", fmt):
        if part.startswith("%") and len(part) > 1:
            rx += r".+" if part.endswith("s") else r"-?\d+"
        else:
            rx += re.escape(part)
    return re.compile("^" + rx + "$")


def load_samples():
    samples = []
    for line in open(NAMES):
        line = line.strip()
        if line and not line.startswith("#"):
            name, kind = line.split()
            samples.append((name, kind))
    return samples


PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "and", "or", "unless", "offset", "rate", "irate", "increase", "delta", "idelta",
    "histogram_quantile", "label_values", "label_replace", "abs", "ceil", "floor", "round",
    "clamp_min", "clamp_max", "vector", "scalar", "time", "absent", "changes", "resets",
    "avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "count_over_time",
    "last_over_time", "deriv", "predict_linear", "sort", "sort_desc", "le", "inf", "nan",
    "query_result", "metrics"}


def promql_metrics(expr):
    """The metric names a PromQL query (or a Grafana label_values() variable) reads."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings
    e = re.sub(r"\{[^}]*\}", "", e)                        # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                       # ranges
    e = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", e)
    e = re.sub(r"label_values\(([^,)]*),[^)]*\)", r"(\1)", e)
    e = re.sub(r"\$\w+", "", e)                            # Grafana variables
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        w = m.group(0)
        nxt = e[m.end():].lstrip()[:1]
        if w.lower() in PROMQL_WORDS or nxt == "(":
            continue
        names.add(w)
    return names


def dashboard_queries(dash):
    qs = []
    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    qs.append((p.get("title"), t["expr"]))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v.get("type") == "query" and q:
            qs.append(("variable " + v["name"], q))
    return qs


def check_received(path):
    rules = (load_mapping()[0] or {}).get("mappings") or []
    names = sorted({line.strip() for line in open(path) if line.strip()})
    bad = [n for n in names if not n.startswith(PREFIX) or map_name(rules, n)[0] is None]
    ok(names and not bad, f"every name received in the run ({len(names)}) maps to a rule",
       "\n".join(bad))


def main():
    if sys.argv[1:2] == ["--received"]:
        check_received(sys.argv[2])
        return
    doc, err = load_mapping()
    ok(doc is not None and isinstance(doc.get("mappings"), list), f"{MAPPING} parses", err)
    rules = (doc or {}).get("mappings") or []
    ok(len(rules) > 0 and not check_rules(rules), "its rules are ones statsd_exporter accepts",
       "\n".join(check_rules(rules)))
    ok((doc or {}).get("defaults", {}).get("observer_type") == "histogram",
       "timers become histograms (dashboards take quantiles across processes)")

    formats = code_formats()
    samples = load_samples()
    ok(len(formats) >= 15, f"the code sends metrics ({len(formats)} formats found)")
    missing = [f"{fmt} ({kind}, {src})" for fmt, kind, src in formats
               if not any(k == kind and format_re(fmt).match(n) for n, k in samples)]
    ok(not missing, f"every metric format in the code has a sample in {NAMES}",
       "\n".join(missing))
    loader_sent = any(src.startswith("tasks/") for _, _, src in formats)
    stray = [f"{n} ({k})" for n, k in samples
             if not any(k == kind and format_re(fmt).match(n) for fmt, kind, _ in formats)
             and (loader_sent or not n.startswith("stream_loader."))]
    ok(not stray, "every sample is a name the code sends" +
       ("" if loader_sent else " (the loader's wait for its code)"), "\n".join(stray))

    unmapped = [n for n, _ in samples if map_name(rules, PREFIX + n)[0] is None]
    ok(not unmapped, "every name gust sends maps to a rule", "\n".join(unmapped))
    used = {id(map_name(rules, PREFIX + n)[0]) for n, _ in samples}
    unused = [r.get("match") for r in rules if id(r) not in used]
    ok(not unused, "every rule maps a name gust sends", "\n".join(map(str, unused)))

    expect = {
        "ti.finish.etl.grp.load.failed": ("airflow_ti_finish_total",
                                          {"dag_id": "etl", "task_id": "grp.load",
                                           "state": "failed"}),
        "ti.finish.etl.extract.up_for_retry": ("airflow_ti_finish_total",
                                               {"dag_id": "etl", "task_id": "extract",
                                                "state": "up_for_retry"}),
        "dagrun.duration.failed.etl": ("airflow_dagrun_duration_seconds",
                                       {"dag_id": "etl", "state": "failed"}),
        "pool.queued_slots.default_pool": ("airflow_pool_queued_slots",
                                           {"pool": "default_pool"}),
        "stream_loader.lag.github_events_bronze.raw.metrics.avro.11": (
            "airflow_stream_loader_lag",
            {"group": "github_events_bronze", "topic": "raw.metrics.avro", "partition": "11"}),
        "operator_failures_KubernetesPodOperator": ("airflow_operator_failures_total",
                                                    {"operator": "KubernetesPodOperator"}),
        "SchedulerJob_start": ("airflow_job_start_total", {"job_name": "SchedulerJob"}),
    }
    wrong = []
    for n, (want_name, want_labels) in expect.items():
        r, labels = map_name(rules, PREFIX + n)
        got = (r.get("name") if r else None, labels)
        if got != (want_name, want_labels):
            wrong.append(f"{n}: {got} (want {want_name} {want_labels})")
    ok(not wrong, "names map to the expected series and labels", "\n".join(wrong))

    kinds_wrong = []
    for n, k in samples:
        r, _ = map_name(rules, PREFIX + n)
        if r is None:
            continue
        suffix = {"c": "_total", "ms": "_seconds"}.get(k)
        if (suffix and not r["name"].endswith(suffix)) or \
                (k == "g" and r["name"].endswith(("_total", "_seconds"))):
            kinds_wrong.append(f"{n} ({k}) -> {r['name']}")
    ok(not kinds_wrong, "counters end in _total, timers in _seconds, gauges in neither",
       "\n".join(kinds_wrong))

    series = set()
    for n, k in samples:
        r, _ = map_name(rules, PREFIX + n)
        if r is None:
            continue
        if k == "ms":
            series |= {r["name"] + s for s in ("_bucket", "_sum", "_count")}
        else:
            series.add(r["name"])

    try:
        dash = json.load(open(DASHBOARD))
        err = None
    except (OSError, ValueError) as e:
        dash, err = {}, str(e)
    ok(bool(dash.get("panels")) and bool(dash.get("uid")) and bool(dash.get("title")),
       f"{DASHBOARD} parses and has a uid, a title and panels", err)
    queries = dashboard_queries(dash)
    ok(len(queries) >= 20, f"the dashboard has queries ({len(queries)})")
    unknown = sorted({f"{name} (in {title})" for title, q in queries for name in promql_metrics(q)
                      if name not in series})
    ok(not unknown, "every metric the dashboard reads is one the mapping makes",
       "\n".join(unknown))
    names_used = {name for _, q in queries for name in promql_metrics(q)}
    want = {"airflow_scheduler_heartbeat_total", "airflow_ti_finish_total",
            "airflow_dagrun_duration_seconds_bucket", "airflow_dagrun_schedule_delay_seconds_bucket",
            "airflow_executor_open_slots", "airflow_pool_running_slots",
            "airflow_dag_processing_import_errors", "airflow_stream_loader_records_total",
            "airflow_stream_loader_lag", "airflow_stream_loader_batch_duration_seconds_bucket",
            "airflow_stream_loader_dead_letters_total"}
    ok(want <= names_used, "the dashboard shows the scheduler, tasks, runs, pools and loaders",
       ", ".join(sorted(want - names_used)))
    ds_bad = []
    def walk(panels):
        for p in panels:
            if p.get("type") != "row" and (p.get("datasource") or {}).get("uid") != "${datasource}":
                ds_bad.append(p.get("title"))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    ok(not ds_bad and any(v.get("type") == "datasource"
                          for v in dash.get("templating", {}).get("list", [])),
       "every panel reads the dashboard's Prometheus variable (importable anywhere)",
       "\n".join(map(str, ds_bad)))


if __name__ == "__main__":
    main()
