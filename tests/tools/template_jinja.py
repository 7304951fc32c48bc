#!/usr/bin/python3
"""Render every case of tests/unit/template_cases.json with real Jinja2 in an Airflow-like
context (StrictUndefined; Airflow's ds/ts filters; macros.datetime, timedelta and pendulum's
datetime_diff_for_humans; the same fixed run as tests/unit/test_template.c's case context)
and compare with the expected output written in the file, which the unit test compares
with our engine: so every expectation is Jinja's, not our own code's idea.

Usage: template_jinja.py CASES.json [--update]   (--update rewrites each "out" from Jinja)
Exit 0 when every case matches, 1 otherwise (each mismatch printed)."""
import datetime
import json
import sys
import types

import jinja2
import pendulum

UTC = datetime.timezone.utc
T0 = datetime.datetime(2024, 3, 10, 5, 6, 7, tzinfo=UTC)
DAY = datetime.timedelta(days=1)


def dt(t):
    return pendulum.instance(t)


def diff_for_humans(d, since=None):
    # as Airflow's macros module defines it
    return pendulum.instance(d).diff_for_humans(since)


FILTERS = {  # Airflow's template filters
    "ds": lambda v: v.strftime("%Y-%m-%d"),
    "ds_nodash": lambda v: v.strftime("%Y%m%d"),
    "ts": lambda v: v.isoformat(),
    "ts_nodash": lambda v: v.strftime("%Y%m%dT%H%M%S"),
    "ts_nodash_with_tz": lambda v: v.isoformat().replace("-", "").replace(":", ""),
}


def context(case):
    ns = types.SimpleNamespace
    logical = dt(T0)
    start = dt(T0 + datetime.timedelta(minutes=1))
    macros = ns(datetime=datetime.datetime, timedelta=datetime.timedelta,
                datetime_diff_for_humans=diff_for_humans)
    dag_run = ns(conf=case.get("conf", {}), run_type="scheduled", logical_date=logical,
                 run_id="scheduled__2024-03-10T05:06:07+00:00", dag_id="etl", start_date=start)
    ti = ns(hostname="worker-1", map_index=-1, max_tries=3, start_date=dt(T0 + datetime.timedelta(minutes=2)),
            try_number=2, task_id="load", dag_id="etl", run_id=dag_run.run_id)
    return {
        "ds": "2024-03-10", "ds_nodash": "20240310", "ts": logical.isoformat(),
        "logical_date": logical, "data_interval_start": dt(T0 - DAY), "data_interval_end": logical,
        "prev_ds": "2024-03-09", "prev_ds_nodash": "20240309",
        "prev_data_interval_start_success": dt(T0 - 2 * DAY),
        "prev_data_interval_end_success": dt(T0 - DAY),
        "prev_start_date_success": dt(T0 - DAY + datetime.timedelta(minutes=5)),
        "start_date": start, "task_instance_key_str": "etl__load__20240310",
        "run_id": dag_run.run_id, "dag_run": dag_run, "ti": ti, "task_instance": ti,
        "task": ns(task_id="load", owner="data", retries=3), "dag": ns(dag_id="etl"),
        "params": case.get("params", {}), "macros": macros,
    }


def finalize(v):
    # pendulum 3's str() (Airflow 2.8+ and 3): isoformat with a space; Debian has pendulum 2
    if isinstance(v, pendulum.DateTime):
        return v.isoformat(" ")
    return v


def render(case):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, finalize=finalize)
    env.filters.update(FILTERS)
    try:
        return env.from_string(case["t"]).render(**context(case))
    except Exception as e:  # an error case: the expectation is that both fail
        return {"error": type(e).__name__}


def main():
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    bad = 0
    for case in doc["cases"]:
        got = render(case)
        want = {"error": True} if case.get("error") else case.get("out")
        if "--update" in sys.argv:
            if isinstance(got, dict):
                case.pop("out", None)
                case["error"] = True
            else:
                case.pop("error", None)
                case["out"] = got
            continue
        if isinstance(got, dict) != isinstance(want, dict) or (
                not isinstance(got, dict) and got != want):
            bad += 1
            print(f"MISMATCH {case['t']!r}: jinja {got!r}, file {want!r}")
    if "--update" in sys.argv:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False)
            f.write("\n")
    print(f"{len(doc['cases'])} cases, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
