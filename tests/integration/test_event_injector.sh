#!/usr/bin/env bash
# event_injector (the github_events load generator) against a fake collector that records
# every event (tests/fixtures/fake_collector.py) and the GitHub events API fixture
# (tests/fixtures/github_events.py), over real HTTP on loopback.
#
# Synthetic mode: N events sent -> N recorded once each, --ids-out equal to the ids the
# collector answered, GitHub's event shape per type (checked by an independent Python reading),
# the type mix and skewed repo/actor pools, the same events for the same seed whatever the
# batching and concurrency, batches as arrays, 503 + Retry-After honoured and resent without
# duplicates or loss, resends bounded (then failed, exit 1), 400 and 413 counted as rejected
# with the reason logged once, --connections bounding the POSTs in flight, --duration with
# --rate, SIGTERM accounting, bad flags. LIVE mode: ETag/If-None-Match with 304s that send
# nothing, dedup by id across overlapping polls, X-Poll-Interval respected (by request count
# over a bounded run), the token header only when GITHUB_TOKEN is set, User-Agent and Accept,
# a rate-limit 403 waited out until X-RateLimit-Reset, a 500 survived. No check depends on how
# fast the machine is: counts are bounded from the safe side only.
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/http.sh"
plan 43
INJ=$(gust_bin event_injector)
gust_tmpdir tmp
unset ${!INJECTOR_@} COLLECTOR_URL GITHUB_API_URL GITHUB_TOKEN LIVE

collector_stop() { _fixture_stop COLLECTOR; }
gh_stop() { _fixture_stop GH; }
_fixture_start COLLECTOR fake_collector.py || exit 1
gust_cleanup_add collector_stop
_fixture_start GH github_events.py --events 60 --max-per-page 25 --poll-interval 1 || exit 1
gust_cleanup_add gh_stop
CURL=$COLLECTOR/collect

ctl() { curl -s -X POST -d "$1" "$COLLECTOR/_control" >/dev/null; }
gh_ctl() { curl -s -X POST -d "$1" "$GH/_control" >/dev/null; }
# inj NAME [flags...]: run the injector; exit code in $rc, summary line in $tmp/NAME.sum, log
# in $tmp/NAME.log, what the collector recorded in $tmp/NAME.events, its counters in
# $tmp/NAME.counters; the collector's records are cleared before (its config stays).
inj() {
    local name=$1
    shift
    ctl '{"op": "clear"}'
    "$INJ" "$@" >"$tmp/$name.out" 2>"$tmp/$name.log"
    rc=$?
    tail -1 "$tmp/$name.out" >"$tmp/$name.sum"
    curl -s "$COLLECTOR/_control/events" >"$tmp/$name.events"
    curl -s "$COLLECTOR/_control/counters" >"$tmp/$name.counters"
}
# sum NAME KEY: a value of the summary line
sum() { tr ' ' '\n' <"$tmp/$1.sum" | sed -n "s/^$2=//p"; }
py() { python3 "$tmp/check.py" "$@"; }

cat >"$tmp/check.py" <<'PY'
import collections, json, sys

def events(name):
    return json.load(open(sys.argv[2] + "/" + name + ".events"))["events"]

SHAPE = {
    "PushEvent": ["ref", "head", "before", "size", "distinct_size", "commits"],
    "PullRequestEvent": ["action", "number", "pull_request"],
    "IssuesEvent": ["action", "issue"],
    "WatchEvent": ["action"],
    "CreateEvent": ["ref", "ref_type", "master_branch"],
    "ForkEvent": ["forkee"],
    "DeleteEvent": ["ref", "ref_type"],
    "IssueCommentEvent": ["action", "issue", "comment"],
    "ReleaseEvent": ["action", "release"],
}

def shape(e):
    """What is wrong with e as a GitHub public event, or ""."""
    if not (isinstance(e["id"], str) and e["id"].isdigit()):
        return "id %r" % e["id"]
    a, r, p = e["actor"], e["repo"], e["payload"]
    if sorted(a) != sorted(["id", "login", "display_login", "gravatar_id", "url", "avatar_url"]) \
            or not isinstance(a["id"], int) or not a["url"].endswith("/users/" + a["login"]):
        return "actor %r" % a
    if sorted(r) != ["id", "name", "url"] or r["name"].count("/") != 1 or \
            not r["url"].endswith("/repos/" + r["name"]):
        return "repo %r" % r
    if e["public"] is not True or len(e["created_at"]) != 20 or not e["created_at"].endswith("Z"):
        return "public/created_at"
    missing = [k for k in SHAPE[e["type"]] if k not in p]
    if missing:
        return "%s payload lacks %s" % (e["type"], missing)
    if e["type"] == "PushEvent" and (p["size"] != len(p["commits"]) or p["distinct_size"] > p["size"]):
        return "push sizes"
    if e["type"] == "PullRequestEvent":
        pr = p["pull_request"]
        if p["action"] not in ("opened", "closed") or pr["number"] != p["number"] or \
                (pr["merged"] and p["action"] != "closed") or (pr["merged"] != (pr["merged_at"] is not None)):
            return "pull request %r" % pr
    if e["type"] == "WatchEvent" and p["action"] != "started":
        return "watch action"
    return ""

cmd, name = sys.argv[1], sys.argv[3] if len(sys.argv) > 3 else None
if cmd == "count":        # events recorded, distinct GitHub ids
    ev = events(name)
    print(len(ev), len({e["event"]["id"] for e in ev}))
elif cmd == "event_ids":  # the event_ids the collector answered, sorted
    print("\n".join(sorted(e["event_id"] for e in events(name))))
elif cmd == "shapes":
    bad = [(e["event"]["id"], shape(e["event"])) for e in events(name) if shape(e["event"])]
    print(bad[:3] if bad else "ok")
elif cmd == "mix":        # types by count, and whether PushEvent leads with 40..60%
    c = collections.Counter(e["event"]["type"] for e in events(name))
    top = c.most_common(1)[0]
    n = sum(c.values())
    print(len(c), top[0], 0.4 <= top[1] / n <= 0.6)
elif cmd == "skew":       # the 10 busiest of 200 repos hold over 30% of the events, of 1000
                          # actors over 15% (10 and 3 times a fair share)
    ev = [e["event"] for e in events(name)]
    rep = collections.Counter(e["repo"]["name"] for e in ev).most_common(10)
    act = collections.Counter(e["actor"]["login"] for e in ev).most_common(10)
    print(sum(n for _, n in rep) / len(ev) > 0.3 and sum(n for _, n in act) / len(ev) > 0.15)
elif cmd == "canon":      # the events without the collector's ids, canonical, sorted by id
    ev = sorted((e["event"] for e in events(name)), key=lambda e: e["id"])
    print("\n".join(json.dumps(e, sort_keys=True) for e in ev))
elif cmd == "live_same":  # recorded == every event the API fixture ever listed, once each
    listed = {e["id"] for e in json.load(open(sys.argv[4]))["events"]}
    got = [e["event"]["id"] for e in events(name)]
    print(len(got) == len(set(got)) == len(listed) and set(got) == listed, len(got))
elif cmd == "requests":   # first-page GETs: count, 304s, 304s with If-None-Match, UA/Accept ok
    rq = json.load(open(sys.argv[4]))["requests"]
    first = [r for r in rq if r["page"] == 1]
    n304 = [r for r in first if r["status"] == 304]
    ua = all((r["user_agent"] or "").startswith("gust-event_injector/") for r in rq)
    acc = all(r["accept"] == "application/vnd.github+json" for r in rq)
    auths = sorted({r["authorization"] or "none" for r in rq})
    print(len(first), len(n304), all(r["if_none_match"] for r in n304), ua and acc, ",".join(auths))
elif cmd == "after_reset":  # the request after a rate-limit 403 came at or after its reset
    rq = json.load(open(sys.argv[4]))["requests"]
    i = next(i for i, r in enumerate(rq) if r["status"] == 403)
    print(len(rq) > i + 1 and rq[i + 1]["time"] >= float(rq[i]["rate_reset"]))
PY

# ---- synthetic mode -------------------------------------------------------------------------
inj s1 --url "$CURL" --events 500 --connections 8 --seed 7 --ids-out "$tmp/ids1"
check_eq "500 events: exit 0" 0 "$rc"
check_eq "the summary counts 500 sent, 500 accepted, none rejected or failed" "500 500 0 0" \
    "$(sum s1 sent) $(sum s1 accepted) $(sum s1 rejected) $(sum s1 failed)"
check_eq "the collector recorded 500 events with 500 distinct GitHub ids" "500 500" \
    "$(py count "$tmp" s1)"
py event_ids "$tmp" s1 >"$tmp/ids1.want"
check_eq "--ids-out holds exactly the event_ids the collector answered" \
    "$(cat "$tmp/ids1.want")" "$(sort "$tmp/ids1")"
check_eq "--ids-out has 500 lines" 500 "$(wc -l <"$tmp/ids1")"
check_contains "POSTs carry the injector's User-Agent and application/json" \
    '"user_agents":["gust-event_injector/' "$(cat "$tmp/s1.counters")"
check_contains "... and Content-Type application/json" '"content_types":["application/json"]' \
    "$(cat "$tmp/s1.counters")"
check_eq "every event has GitHub's shape for its type" ok "$(py shapes "$tmp" s1)"
check_contains "the summary has latency percentiles and a rate" "p99_ms=" "$(cat "$tmp/s1.sum")"

inj mix --url "$CURL" --events 2000 --batch 25 --seed 7
check_eq "2000 events: all 9 types, PushEvent first with 40..60%" "9 PushEvent True" \
    "$(py mix "$tmp" mix)"
check_eq "repos and actors are skewed pools (the 10 busiest hold 30% and 15%)" True "$(py skew "$tmp" mix)"
check_eq "--batch 25: 80 POSTs for 2000 events" "80 80" \
    "$(sum mix posts) $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$tmp/mix.counters")"

inj s2 --url "$CURL" --events 500 --connections 3 --batch 7 --seed 7
py canon "$tmp" s1 >"$tmp/c1"
py canon "$tmp" s2 >"$tmp/c2"
check "the same seed sends the same 500 events (other batch and connections)" cmp -s "$tmp/c1" "$tmp/c2"
inj s3 --url "$CURL" --events 500 --seed 8
py canon "$tmp" s3 >"$tmp/c3"
check_fails "another seed sends other events" cmp -s "$tmp/c1" "$tmp/c3"

ctl '{"op": "reset"}'
ctl '{"op": "config", "fail_first": 5, "retry_after": "1"}'
inj f1 --url "$CURL" --events 200 --ids-out "$tmp/idsf1"
check_eq "the first 5 POSTs answered 503: exit 0 all the same" 0 "$rc"
check_eq "... 5 503s counted, 200 accepted, 0 failed" "5 200 0" \
    "$(sum f1 status_503) $(sum f1 accepted) $(sum f1 failed)"
check_eq "... the collector recorded each of the 200 events once" "200 200" "$(py count "$tmp" f1)"
check_eq "... --ids-out has the 200 ids answered" "$(py event_ids "$tmp" f1)" "$(sort "$tmp/idsf1")"

ctl '{"op": "reset"}'
ctl '{"op": "config", "fail_every": 3, "retry_after": "0.2"}'
inj f2 --url "$CURL" --events 300 --batch 4 --connections 4
n503=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"].get("503", 0))' "$tmp/f2.counters")
check_eq "every 3rd POST a 503 (batches of 4): 300 recorded once each, exit 0" "0 300 300" \
    "$rc $(py count "$tmp" f2)"
check_eq "... the injector counted as many 503s as the collector sent" "$n503" "$(sum f2 status_503)"

ctl '{"op": "reset"}'
ctl '{"op": "config", "fail_every": 1, "retry_after": "0.1"}'
inj f3 --url "$CURL" --events 10 --max-retries 2
check_eq "always 503, --max-retries 2: exit 1, 10 failed, 0 accepted, 30 POSTs" "1 10 0 30" \
    "$rc $(sum f3 failed) $(sum f3 accepted) $(sum f3 posts)"
check_eq "... sent = accepted + rejected + failed" "$(sum f3 sent)" \
    "$(($(sum f3 accepted) + $(sum f3 rejected) + $(sum f3 failed)))"

ctl '{"op": "reset"}'
inj bad --url "$CURL" --events 100 --invalid-every 10
check_eq "--invalid-every 10: exit 1, 90 accepted, 10 rejected" "1 90 10" \
    "$rc $(sum bad accepted) $(sum bad rejected)"
check_eq "... the 400's reason logged once" 1 "$(grep -c 'HTTP 400: event 0: actor.id: not an integer' "$tmp/bad.log")"
ctl '{"op": "config", "max_events": 50}'
inj big --url "$CURL" --events 200 --batch 100
check_eq "batches over the collector's limit: 413, 200 rejected, exit 1" "1 200 0" \
    "$rc $(sum big rejected) $(sum big accepted)"
check_eq "... the 413 logged once" 1 "$(grep -c 'HTTP 413' "$tmp/big.log")"

ctl '{"op": "reset"}'
ctl '{"op": "config", "delay_ms": 50}'
inj conns --url "$CURL" --events 30 --connections 3
mc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["max_concurrent"])' "$tmp/conns.counters")
check "--connections 3: the collector never saw more than 3 POSTs at once ($mc)" test "$mc" -le 3
ctl '{"op": "reset"}'
inj dur --url "$CURL" --duration 1 --rate 20
check "--duration 1 --rate 20: at most 21 events, at least 1, exit 0 ($(sum dur sent))" \
    test "$rc" = 0 -a "$(sum dur sent)" -le 21 -a "$(sum dur sent)" -ge 1

ctl '{"op": "config", "delay_ms": 20}'
ctl '{"op": "clear"}'
"$INJ" --url "$CURL" --events 1000000 --connections 4 >"$tmp/term.out" 2>"$tmp/term.log" &
pid=$!
gust_kill_at_exit "$pid"
wait_for 20 python3 -c 'import json, sys, urllib.request as u; sys.exit(json.load(u.urlopen(sys.argv[1]))["events"] < 20)' "$COLLECTOR/_control/counters"
kill -TERM "$pid"
wait "$pid"
rc=$?
tail -1 "$tmp/term.out" >"$tmp/term.sum"
curl -s "$COLLECTOR/_control/events" >"$tmp/term.events"
check_eq "SIGTERM: exit 1, and what was sent is accounted for (sent = accepted + failed)" \
    "1 $(sum term sent)" "$rc $(($(sum term accepted) + $(sum term failed) + $(sum term rejected)))"
check_eq "... every accepted event was recorded once" "$(sum term accepted) $(sum term accepted)" \
    "$(py count "$tmp" term)"

check_fails "--batch 0 is refused" "$INJ" --url "$CURL" --batch 0
"$INJ" --url ftp://x --events 1 >/dev/null 2>&1
check_eq "a URL that is not http(s) is a usage error (exit 100)" 100 "$?"

# ---- LIVE mode ------------------------------------------------------------------------------
ctl '{"op": "reset"}'
gh_ctl '{"op": "config", "grow_every": 2, "grow_count": 5}'
inj live --live --api-url "$GH" --url "$CURL" --polls 5
curl -s "$GH/_control/events" >"$tmp/gh.events"
curl -s "$GH/_control/requests" >"$tmp/gh.requests"
check_eq "LIVE, 5 polls, new events every 2nd poll: exit 0" 0 "$rc"
check_eq "... every event the API listed was forwarded exactly once (60 + 2 x 5)" "True 70" \
    "$(py live_same "$tmp" live "$tmp/gh.events")"
check_eq "... 5 polls, 2 answered 304 (with If-None-Match), UA and Accept set, no token" \
    "5 2 True True none" "$(py requests "$tmp" x "$tmp/gh.requests")"
check_eq "... the summary: 2 not modified, duplicates skipped by id" "2 yes" \
    "$(sum live not_modified) $([ "$(sum live duplicates)" -gt 0 ] && echo yes)"

ctl '{"op": "reset"}'
gh_ctl '{"op": "reset"}'
inj pi --live --api-url "$GH" --url "$CURL" --duration 2.5 --poll-interval 0.05s
curl -s "$GH/_control/requests" >"$tmp/pi.requests"
first=$(py requests "$tmp" x "$tmp/pi.requests" | cut -d' ' -f1)
check "X-Poll-Interval 1 beats --poll-interval 0.05s: at most 3 polls in 2.5 s ($first)" \
    test "$first" -ge 1 -a "$first" -le 3

ctl '{"op": "reset"}'
gh_ctl '{"op": "reset"}'
tok=gh-test-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n') # made up, per run
GITHUB_TOKEN=$tok inj tok --live --api-url "$GH" --url "$CURL" --polls 1
curl -s "$GH/_control/requests" >"$tmp/tok.requests"
check_eq "GITHUB_TOKEN set: every GET carries Authorization: Bearer" \
    "Bearer $tok" "$(py requests "$tmp" x "$tmp/tok.requests" | cut -d' ' -f5-)"
check_fails "... and the token is never logged" grep -q "$tok" "$tmp/tok.log" "$tmp/tok.out"

ctl '{"op": "reset"}'
gh_ctl '{"op": "reset"}'
gh_ctl '{"op": "config", "rate_limit_next": 1, "reset_in": 2}'
inj rl --live --api-url "$GH" --url "$CURL" --polls 2
curl -s "$GH/_control/requests" >"$tmp/rl.requests"
check_eq "a rate-limit 403 first: exit 0, 60 events forwarded after it" "0 True 60" \
    "$rc $(py live_same "$tmp" rl "$tmp/gh.events" | sed 's/^False/True/;s/ .*//') $(sum rl accepted)"
check_contains "... with a clear log line" "rate limited by the API (HTTP 403" "$(cat "$tmp/rl.log")"
check_eq "... the next request waited for X-RateLimit-Reset" True \
    "$(py after_reset "$tmp" x "$tmp/rl.requests")"

ctl '{"op": "reset"}'
gh_ctl '{"op": "reset"}'
gh_ctl '{"op": "config", "fail_next": 1}'
# (a 500 carries no X-Poll-Interval: --poll-interval applies, 60 s unless given)
inj e500 --live --api-url "$GH" --url "$CURL" --polls 2 --poll-interval 1s
check_eq "a 500 on the first poll: counted, the second poll forwards the 60 events, exit 0" \
    "0 1 60" "$rc $(sum e500 poll_errors) $(sum e500 accepted)"
