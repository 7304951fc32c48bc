#!/usr/bin/python3
"""Compare gust's timetables with a Python port of Airflow's, on fixed instants.

Usage: timetable_check.py PATH/TO/timetable_next WORKDIR

The port follows Airflow 3's airflow-core/src/airflow/timetables (the same logic as Airflow
2.10's airflow/timetables), with utcnow() replaced by a parameter:
  trigger.py   _TriggerTimetable.next_dagrun_info, CronTriggerTimetable._calc_first_run
               (run_immediately True / timedelta / False, which the code treats as None),
               MultipleCronTriggerTimetable.next_dagrun_info and its two sort keys;
  interval.py  _DataIntervalTimetable.next_dagrun_info, CronDataIntervalTimetable._skip_to_latest;
  events.py    EventsTimetable.next_dagrun_info;
  simple.py    ContinuousTimetable.next_dagrun_info, OnceTimetable;
  base.py      DagRunInfo.interval / exact (run_after = end, logical_date = interval start);
  _cron.py     CronMixin's _get_next / _get_prev / _align_to_* (croniter_check.step).
A DAG's TimeRestriction is (start_date, end_date, catchup). Each case is written as a DAG file
(dag-factory YAML with the timetable's __type__ form), run through gust's timetable_next tool
and through the port; every run of the chain (logical date, data interval, run_after) must
match. Delta timetables are compared with catchup and a start_date only: there Airflow's
DeltaMixin (no alignment) and gust's grid (start_date + k * delta) agree; without catchup gust
keeps the grid on purpose (docs/dag-files.md, "Schedules").
"""
import datetime as dt
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import croniter_check as cc  # noqa: E402

UTC = dt.timezone.utc
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def utc(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


# ---- the port -----------------------------------------------------------------------------

class Cron:
    """CronMixin."""

    def __init__(self, expr, tz):
        self.expr = cc.PRESETS.get(expr, expr)
        self.tz = ZoneInfo(tz)

    def get_next(self, t):
        return cc.step(self.expr, self.tz, t, True)

    def get_prev(self, t):
        return cc.step(self.expr, self.tz, t, False)

    def align_next(self, t):
        n = self.get_next(t)
        return n if self.get_prev(n) != t else t

    def align_prev(self, t):
        p = self.get_prev(t)
        return p if self.get_next(p) != t else t


class Delta:
    """DeltaMixin: no alignment."""

    def __init__(self, delta):
        self.delta = delta

    def get_next(self, t):
        return t + self.delta

    def get_prev(self, t):
        return t - self.delta

    def align_next(self, t):
        return t

    def align_prev(self, t):
        return t


def interval_info(start, end):  # DagRunInfo.interval
    return (start, start, end, end)


class Trigger:
    """_TriggerTimetable over a Cron or Delta; run_immediately False/True/timedelta."""

    def __init__(self, ticks, interval=dt.timedelta(), run_immediately=False):
        self.t, self.interval, self.run_immediately = ticks, interval, run_immediately

    def calc_first_run(self, now):
        if isinstance(self.t, Delta):  # DeltaTriggerTimetable._calc_first_run
            return self.t.align_prev(now)
        past, nxt = self.t.align_prev(now), self.t.align_next(now)
        if self.run_immediately is True:
            return past
        if isinstance(self.run_immediately, dt.timedelta):
            buffer = self.run_immediately
        else:
            buffer = max((nxt - past) / 10, dt.timedelta(minutes=5))
        return past if now - past <= buffer else nxt

    def next(self, last, r, now):
        earliest, latest, catchup = r
        if catchup:
            if last is not None:
                t = self.t.get_next(last[1])
            elif earliest is None:
                t = self.calc_first_run(now)
            else:
                t = self.t.align_next(earliest)
        else:
            c = [self.t.align_prev(now)]
            if last is not None:
                c.append(self.t.get_next(last[1]))
            elif earliest is None:
                c.append(self.calc_first_run(now))
            if earliest is not None:
                c.append(self.t.align_next(earliest))
            t = max(c)
        if latest is not None and latest < t:
            return None
        return interval_info(t - self.interval, t)


class DataInterval:
    """_DataIntervalTimetable with CronDataIntervalTimetable._skip_to_latest."""

    def __init__(self, ticks):
        self.t = ticks

    def skip_to_latest(self, earliest, now):
        last_start = self.t.get_prev(now)
        next_start = self.t.get_next(last_start)
        new_start = last_start if next_start == now else self.t.get_prev(last_start)
        return new_start if earliest is None else max(new_start, self.t.align_next(earliest))

    def next(self, last, r, now):
        earliest, latest, catchup = r
        if not catchup:
            earliest = self.skip_to_latest(earliest, now)
        elif earliest is not None:
            earliest = self.t.align_next(earliest)
        if last is None:
            if earliest is None:
                return None
            start = earliest
        else:
            aligned = self.t.align_prev(last[1])
            start = max(aligned, earliest) if earliest is not None else aligned
        if latest is not None and start > latest:
            return None
        return interval_info(start, self.t.get_next(start))


class Multi:
    """MultipleCronTriggerTimetable."""

    def __init__(self, crons, tz, **kw):
        self.tts = [Trigger(Cron(c, tz), **kw) for c in crons]

    def next(self, last, r, now):
        infos = [t.next(last, r, now) for t in self.tts]
        inf = float("inf")

        def key(i):
            if i is None:
                return inf
            ts = i[0].timestamp()
            if r[2]:
                return ts
            return -ts if ts <= now.timestamp() else ts

        return min(infos, key=key)


class Events:
    def __init__(self, dates):
        self.dates = sorted(dates)

    def next(self, last, r, now):
        earliest, latest, catchup = r
        if not catchup and (earliest is None or now > earliest):
            earliest = now
        for ev in self.dates:
            if earliest and ev < earliest:
                continue
            if last and ev <= last[1]:
                continue
            break
        else:
            return None
        if latest is not None and ev > latest:
            return None
        return (ev, ev, ev, ev)


class Continuous:
    def next(self, last, r, now):
        earliest, latest, _ = r
        start_date = earliest or now
        if last is not None:
            if last[1] > now:
                start, end = start_date, start_date + (last[1] - last[0])
            else:
                start, end = last[1], now
        else:
            start, end = start_date, max(start_date, now)
        if latest is not None and end > latest:
            return None
        return interval_info(start, end)


def chain(tt, r, now, last, n):
    out = []
    for _ in range(n):
        info = tt.next(last, r, now)
        if info is None:
            out.append("none")
            break
        out.append(" ".join(t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for t in info))
        last = (info[1], info[2])
    return out


# ---- the cases ----------------------------------------------------------------------------

TD = "{__type__: datetime.timedelta, %s}"
TRIG = "airflow.timetables.trigger."


def yaml_td(d):
    return TD % ("seconds: %d" % d.total_seconds())


def cron_trigger(cron, tz, interval=None, run_immediately=None, path=TRIG):
    y = "{__type__: %sCronTriggerTimetable, cron: '%s', timezone: %s" % (path, cron, tz)
    kw = {}
    if interval is not None:
        y += ", interval: " + yaml_td(interval)
        kw["interval"] = interval
    if run_immediately is not None:
        y += ", run_immediately: " + (yaml_td(run_immediately) if isinstance(
            run_immediately, dt.timedelta) else str(run_immediately).lower())
        kw["run_immediately"] = run_immediately
    return y + "}", Trigger(Cron(cron, tz), **kw)


def timetables():
    """(name, yaml of the schedule, port, delta?)"""
    t = []
    for cron, tz in (("0 6 * * *", "UTC"), ("30 2 * * *", "Europe/Berlin"),
                     ("*/15 * * * *", "America/New_York"), ("0 0 * * 1-5", "Asia/Kolkata"),
                     ("@hourly", "UTC"), ("0 1 * * 3", "UTC")):
        t.append(("ct",) + cron_trigger(cron, tz) + (False,))
        t.append(("cti",) + cron_trigger(cron, tz, interval=2 * HOUR) + (False,))
        t.append(("ctr",) + cron_trigger(cron, tz, run_immediately=True) + (False,))
        t.append(("ctd",) + cron_trigger(cron, tz, run_immediately=3 * HOUR) + (False,))
        t.append(("cdi", "{__type__: airflow.timetables.interval.CronDataIntervalTimetable, "
                  "__args__: ['%s', %s]}" % (cron, tz), DataInterval(Cron(cron, tz)), False))
    t.append(("sdk",) + cron_trigger("0 6 * * *", "UTC", path="airflow.sdk.") + (False,))
    for crons, tz in ((["0 6 * * *", "30 18 * * 1-5"], "Europe/Berlin"),
                      (["0 * * * *", "30 */2 * * *"], "UTC")):
        t.append(("mc", "{__type__: %sMultipleCronTriggerTimetable, __args__: [%s], timezone: %s}"
                  % (TRIG, ", ".join("'%s'" % c for c in crons), tz), Multi(crons, tz), False))
    t.append(("mci", "{__type__: %sMultipleCronTriggerTimetable, __args__: ['0 6 * * *', "
              "'0 18 * * *'], timezone: UTC, interval: %s}" % (TRIG, yaml_td(HOUR)),
              Multi(["0 6 * * *", "0 18 * * *"], "UTC", interval=HOUR), False))
    for d in (6 * HOUR, DAY, dt.timedelta(minutes=90)):
        t.append(("dt", "{__type__: %sDeltaTriggerTimetable, delta: %s}" % (TRIG, yaml_td(d)),
                  Trigger(Delta(d)), True))
        t.append(("dti", "{__type__: %sDeltaTriggerTimetable, delta: %s, interval: %s}"
                  % (TRIG, yaml_td(d), yaml_td(HOUR)), Trigger(Delta(d), interval=HOUR), True))
        t.append(("ddi", "{__type__: airflow.timetables.interval.DeltaDataIntervalTimetable, "
                  "__args__: [%s]}" % yaml_td(d), DataInterval(Delta(d)), True))
    ev = ["2024-03-10T10:00:00Z", "2024-01-15T00:00:00Z", "2024-06-01T12:30:00Z",
          "2024-03-10T07:00:00Z", "2025-01-01T00:00:00Z"]
    t.append(("ev", "{__type__: airflow.timetables.events.EventsTimetable, event_dates: [%s], "
              "restrict_to_events: false, description: five}" % ", ".join("'%s'" % e for e in ev),
              Events([utc(e) for e in ev]), False))
    t.append(("co", "'@continuous'", Continuous(), False))
    t.append(("cot", "{__type__: airflow.timetables.simple.ContinuousTimetable}", Continuous(),
              False))
    return t


STARTS = [None, "2024-01-01T00:00:00Z", "2024-03-09T05:07:00Z", "2030-01-01T00:00:00Z"]
ENDS = [None, "2024-03-20T00:00:00Z"]
NOWS = ["2024-03-10T06:02:00Z", "2024-03-10T05:30:00Z", "2024-03-31T00:59:00Z",
        "2024-11-03T05:45:00Z", "2024-06-01T12:30:00Z"]


def cases():
    for name, y, port, delta in timetables():
        for si, start in enumerate(STARTS):
            for ei, end in enumerate(ENDS):
                for catchup in (True, False):
                    if delta and (not catchup or start is None):
                        continue  # gust's grid differs from Airflow's DeltaMixin on purpose
                    if end and start and utc(end) < utc(start):
                        continue
                    if isinstance(port, DataInterval) and catchup and start is None:
                        continue  # Airflow never runs it; gust runs it as catchup=False
                    dag_id = "%s_%d_%d_%d_%d" % (name, len(cases.seen), si, ei, int(catchup))
                    cases.seen.append(dag_id)
                    r = (utc(start) if start else None, utc(end) if end else None, catchup)
                    yield dag_id, y, start, end, catchup, port, r


cases.seen = []


def dag_yaml(dag_id, sched, start, end, catchup):
    lines = ["%s:" % dag_id, "  schedule: %s" % sched, "  catchup: %s" % str(catchup).lower(),
             "  max_active_runs: 1"]
    if start:
        lines.append("  start_date: '%s'" % start)
    if end:
        lines.append("  end_date: '%s'" % end)
    lines += ["  tasks:", "    - task_id: t", "      operator: airflow.operators.bash.BashOperator",
              "      bash_command: 'true'"]
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) != 3:
        print("not ok - timetable_check: usage: timetable_check.py TOOL WORKDIR")
        return 1
    tool, work = sys.argv[1], sys.argv[2]
    path = os.path.join(work, "timetables.yaml")
    all_cases = list(cases())
    with open(path, "w") as f:
        for dag_id, y, start, end, catchup, _, _ in all_cases:
            f.write(dag_yaml(dag_id, y, start, end, catchup))
    queries, want = [], []
    for dag_id, y, start, end, catchup, port, r in all_cases:
        for now in NOWS:
            queries.append("\t".join([path, dag_id, now, "-", "-", "4"]))
            want.append((dag_id, now, chain(port, r, utc(now), None, 4)))
    p = subprocess.run([tool, "--batch"], input="\n".join(queries) + "\n", capture_output=True,
                       text=True)
    answers, cur = [], []
    for line in p.stdout.splitlines():
        if line == "--":
            answers.append(cur)
            cur = []
        else:
            cur.append(line)
    if p.returncode != 0 or len(answers) != len(queries):
        print("not ok - timetable_next answered %d of %d queries (exit %d): %s"
              % (len(answers), len(queries), p.returncode, p.stderr.strip()[:300]))
        return 1
    bad = {}
    for (dag_id, now, exp), got in zip(want, answers):
        kind = dag_id.split("_")[0]
        if exp != got:
            bad.setdefault(kind, []).append("%s now=%s\n#   want %s\n#   got  %s"
                                            % (dag_id, now, " | ".join(exp), " | ".join(got)))
    kinds = sorted({d.split("_")[0] for d, *_ in want})
    for k in kinds:
        n = sum(1 for d, *_ in want if d.split("_")[0] == k)
        if k in bad:
            print("not ok - %s: %d of %d cases differ from Airflow" % (k, len(bad[k]), n))
            for b in bad[k][:3]:
                print("#   " + b)
        else:
            print("ok - %s: %d cases (chains of 4 runs) as Airflow" % (k, n))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
