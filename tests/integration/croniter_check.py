#!/usr/bin/python3
"""Compare gust's schedule_next tool with Airflow's cron evaluation (croniter underneath).

Usage: croniter_check.py PATH/TO/schedule_next

Re-implements what Airflow 3's CronTriggerTimetable does (airflow/timetables/_cron.py):
  _get_next: naive local time -> croniter.get_next -> if the hour field is not '*',
             localize with make_aware (fold=1: ambiguous -> second occurrence, gap ->
             shifted forward, as pendulum 3's Timezone.convert does); else add the naive
             delta to the current instant (absolute arithmetic, as pendulum does).
  _get_prev: the mirror image.
  _align_to_next(start): start itself when it is on the schedule, else _get_next(start).
and checks the tool's output for many expressions x zones x start points (DST transitions
in spring and autumn, leap days, month and year ends). Prints one TAP-like line per
expression and zone: "ok - ..." or "not ok - ..." with the first mismatches.
"""
import datetime as dt
import multiprocessing
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

from croniter import croniter

UTC = dt.timezone.utc

# Airflow's airflow.utils.dates.cron_presets; croniter itself knows @midnight/@annually.
PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}

EXPRESSIONS = [
    "* * * * *", "*/15 * * * *", "*/7 * * * *", "5/10 * * * *", "10-20/5 * * * *",
    "0 * * * *", "30 * * * *", "15,45 * * * *", "*/30 * * * *", "0 0-23 * * *",
    "0 */1 * * *", "0 */2 * * *", "0 0-23/3 * * *", "0 1-3 * * *", "30 0-5 * * *",
    "0 0 * * *", "30 2 * * *", "0 2 * * *", "30 1 * * *", "0 1 * * *", "59 1 * * *",
    "15 3 * * *", "0 3 * * *", "0 4 * * *", "45 23 * * *", "0 12 * * *", "0 6,18 * * *",
    "*/5 2 * * *", "* 2 * * *", "0 0 1 * *", "0 0 15 * *", "0 0 30 * *", "0 0 31 * *",
    "0 0 29 2 *", "0 0 28-31 * *", "0 0 5/10 * *", "0 0 1 */3 *", "0 0 1 1 *",
    "0 0 31 12 *", "0 0 * jan,jul *", "0 0 1 feb-apr *", "0 0 * DEC *", "0 0 * * 0",
    "0 0 * * 7", "0 0 * * mon-fri", "0 9 * * 1-5", "0 0 * * fri-sun", "0 0 * * SAT,SUN",
    "0 0 * * */2", "0 0 * * 1/2", "0 22 * * 6", "0 2 * * SUN", "0 0 13 * 5",
    "0 12 1,15 * sun", "0 0 1-7 * 1", "0 0 29 2 1", "0 0 1 1 1", "20 2 * 3,10 0",
    "0 * 1 * *", "0 * * * 0", "0 0 1-31 * 1", "@hourly", "@daily", "@weekly", "@monthly",
    "@quarterly", "@yearly", "@midnight", "@annually",
]

ZONES = [
    "UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Ho_Chi_Minh",
    "America/St_Johns", "Pacific/Auckland", "Asia/Kolkata",
]

TRIGGERS = 6


def make_naive(t, tz):
    return t.astimezone(tz).replace(tzinfo=None, fold=0)


def make_aware(naive, tz):
    """Airflow's make_aware: fold=1, then pendulum 3 Timezone.convert."""
    d = naive.replace(fold=1)
    before = d.replace(fold=0, tzinfo=tz).utcoffset()
    after = d.replace(tzinfo=tz).utcoffset()
    if after > before:  # skipped time: shift forward by the gap
        d = d + (after - before)
    return d.replace(tzinfo=tz).astimezone(UTC)


def step(expr, tz, cur, forward):
    naive = make_naive(cur, tz)
    cron = croniter(expr, start_time=naive)
    sched = cron.get_next(dt.datetime) if forward else cron.get_prev(dt.datetime)
    if cron.expanded[1] != ["*"]:
        return make_aware(sched, tz)
    return cur + (sched - naive)  # cur is in UTC: absolute arithmetic


def align_to_next(expr, tz, start):
    nxt = step(expr, tz, start, True)
    return nxt if step(expr, tz, nxt, False) != start else start


def expected(expr, tz, start, after):
    """The tool's expected output lines, or None when croniter itself fails."""
    expr = PRESETS.get(expr, expr)
    out = []
    try:
        for _ in range(TRIGGERS):
            if start and after < start:
                t = align_to_next(expr, tz, start)
            else:
                t = step(expr, tz, after, True)
            if t <= after:
                out.append("NOT-AFTER:" + t.isoformat())
                break
            out.append(t.astimezone(tz).isoformat())
            after = t
    except ValueError:  # croniter.CroniterError
        return None  # e.g. croniter 1.3.5's get_prev for "0 0 29 2 *" (ignores leap years)
    return out


def transitions(tz, year):
    """Instants (UTC) where the zone's offset changes during year."""
    found = []
    t = dt.datetime(year, 1, 1, tzinfo=UTC)
    prev = t.astimezone(tz).utcoffset()
    while t.year == year:
        nt = t + dt.timedelta(hours=1)
        off = nt.astimezone(tz).utcoffset()
        if off != prev:
            lo, hi = t, nt  # bisect to the minute
            while hi - lo > dt.timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid.astimezone(tz).utcoffset() == prev:
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
            prev = off
        t = nt
    return found


def start_points(zone):
    tz = ZoneInfo(zone)
    pts = []
    for tr in transitions(tz, 2024):
        for mins in (-180, -61, -30, -1, 0, 29, 30, 60, 90):
            pts.append(tr + dt.timedelta(minutes=mins))
    for local in ("2024-02-28T22:00:00", "2024-02-29T23:59:30", "2023-12-31T23:30:00",
                  "2024-04-30T23:59:00", "2024-11-30T12:00:00", "2100-02-27T00:00:00",
                  "2024-01-01T00:00:00"):
        pts.append(make_aware(dt.datetime.fromisoformat(local), tz))
    return pts


def iso_utc(t):
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_batch(tool, queries):
    """Run the tool once in --batch mode; one list of output lines per query."""
    text = "".join("\t".join(q) + "\n" for q in queries)
    p = subprocess.run([tool, "--batch"], input=text, capture_output=True, text=True)
    answers, cur = [], []
    for line in p.stdout.splitlines():
        if line == "--":
            answers.append(cur)
            cur = []
        else:
            cur.append(line)
    if p.returncode != 0 or len(answers) != len(queries):
        answers += [["TOOL EXIT %d: %s" % (p.returncode, p.stderr.strip())]] * len(queries)
    return answers


def check_group(args):
    tool, expr, zone, points = args
    tz = ZoneInfo(zone)
    cases, queries = [], []
    for p in points:
        # Two ways in: chain from an arbitrary instant, and align a start_date.
        for start, after in ((None, p), (p, p - dt.timedelta(days=1))):
            want = expected(expr, tz, start, after)
            cases.append((start, after, want))
            queries.append((expr, zone, iso_utc(start) if start else "-", iso_utc(after),
                            str(TRIGGERS)))
    bad, skipped = [], 0
    for (start, after, want), got in zip(cases, run_batch(tool, queries)):
        if want is None:
            skipped += 1
        elif want != got:
            bad.append("start=%s after=%s\n#   want %s\n#   got  %s" % (
                iso_utc(start) if start else "-", iso_utc(after), " ".join(want), " ".join(got)))
    return expr, zone, len(cases), skipped, bad


def main():
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        print("not ok - croniter_check: usage: croniter_check.py PATH/TO/schedule_next")
        return 1
    tool = sys.argv[1]
    points = {z: start_points(z) for z in ZONES}
    groups = [(tool, e, z, points[z]) for e in EXPRESSIONS for z in ZONES]
    failed = 0
    with multiprocessing.Pool() as pool:
        for expr, zone, n, skipped, bad in pool.imap(check_group, groups):
            what = "'%s' in %s (%d cases" % (expr, zone, n)
            if skipped:
                what += ", %d not compared: croniter itself raised" % skipped
            what += ")"
            if bad:
                failed += 1
                print("not ok - %s: %d mismatches" % (what, len(bad)))
                for b in bad[:3]:
                    print("#   " + b)
            else:
                print("ok - " + what)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
