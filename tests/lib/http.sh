# HTTP fixture servers for integration tests (sourced): tests/lib/http_fixture.py answers
# from a scenario folder (routes.json; see the format at the top of http_fixture.py) and
# records every request.
#
#   http_start SCENARIO_DIR
#       start a server in the background, wait (with a deadline) for its URL, export
#       HTTP_FIXTURE_URL ("http://127.0.0.1:PORT") and HTTP_FIXTURE_REQUESTS (the JSONL file
#       of recorded requests); may be called several times (one server per source API):
#       the variables name the last one started
#   http_stop     stop every server started by this shell
#
# Each server's stdin is a FIFO held open by this shell, so it exits when the test dies.

# gust_cleanup_add comes from common.sh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

_HTTP_PIDS=()
_HTTP_FDS=()
_HTTP_DIRS=()

http_start() {
    local scenario=$1 dir pid fd deadline
    [ -f "$scenario/routes.json" ] || { echo "http.sh: $scenario/routes.json missing" >&2; return 1; }
    dir=$(mktemp -d "${TMPDIR:-/tmp}/gust-http.XXXXXX") || return 1
    mkfifo "$dir/stdin" || return 1
    python3 "${GUST_SRC:-.}/tests/lib/http_fixture.py" "$scenario" --record "$dir/requests.jsonl" \
        --stdin <"$dir/stdin" >"$dir/out" 2>"$dir/log" &
    pid=$!
    exec {fd}>"$dir/stdin"
    _HTTP_PIDS+=("$pid")
    _HTTP_FDS+=("$fd")
    _HTTP_DIRS+=("$dir")
    [ ${#_HTTP_PIDS[@]} -eq 1 ] && gust_cleanup_add http_stop
    deadline=$((SECONDS + 15))
    until grep -q '^http://' "$dir/out" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            echo "http.sh: http_fixture did not start; its log:" >&2
            cat "$dir/log" >&2
            return 1
        fi
        sleep 0.02
    done
    : >>"$dir/requests.jsonl"
    HTTP_FIXTURE_URL=$(head -1 "$dir/out")
    HTTP_FIXTURE_REQUESTS=$dir/requests.jsonl
    export HTTP_FIXTURE_URL HTTP_FIXTURE_REQUESTS
}

http_stop() {
    local i fd
    for i in "${!_HTTP_PIDS[@]}"; do
        kill -TERM "${_HTTP_PIDS[$i]}" 2>/dev/null
        wait "${_HTTP_PIDS[$i]}" 2>/dev/null
        fd=${_HTTP_FDS[$i]}
        exec {fd}>&-
        rm -rf "${_HTTP_DIRS[$i]}"
    done
    _HTTP_PIDS=() _HTTP_FDS=() _HTTP_DIRS=()
    unset HTTP_FIXTURE_URL HTTP_FIXTURE_REQUESTS
    return 0
}

# dvc_portal_start [ARGS...]: the drug registry fixture portal (tests/fixtures/dvc_portal.py,
# e.g. --records 5000 --seed 1). Exports DVC_API_URL; stopped at exit (its stdin is a FIFO
# this shell holds open, so it also dies with the test).
dvc_portal_start() {
    local dir
    dir=$(mktemp -d)
    mkfifo "$dir/stdin"
    python3 "$GUST_SRC/tests/fixtures/dvc_portal.py" --stdin "$@" <"$dir/stdin" >"$dir/out" 2>"$dir/log" &
    _DVC_PORTAL_PID=$!
    exec 7>"$dir/stdin"
    _DVC_PORTAL_DIR=$dir
    if ! wait_for 20 grep -q '^http://127.0.0.1:' "$dir/out"; then
        echo "dvc_portal_start: the portal did not start:" >&2
        cat "$dir/log" >&2
        return 1
    fi
    DVC_API_URL=$(head -1 "$dir/out")
    export DVC_API_URL
    gust_cleanup_add dvc_portal_stop
}

dvc_portal_stop() {
    [ -n "${_DVC_PORTAL_PID:-}" ] || return 0
    exec 7>&-
    kill "$_DVC_PORTAL_PID" 2>/dev/null
    wait "$_DVC_PORTAL_PID" 2>/dev/null
    rm -rf "$_DVC_PORTAL_DIR"
    _DVC_PORTAL_PID=
}

# dvc_control JSON: the portal's control API (see tests/fixtures/dvc_portal.py).
dvc_control() { curl -s -X POST -d "$1" "$DVC_API_URL/_control"; }

# _fixture_start VAR SCRIPT [ARGS...]: start tests/fixtures/SCRIPT with stdin on a FIFO this
# shell holds open (so it dies with the test), wait (with a deadline) for its URL and put the
# URL in VAR. Pid, fd and folder in _FIX_<VAR>_{PID,FD,DIR}; stopped by _fixture_stop VAR.
_fixture_start() {
    local var=$1 script=$2 dir fd pid
    shift 2
    dir=$(mktemp -d "${TMPDIR:-/tmp}/gust-fixture.XXXXXX") || return 1
    mkfifo "$dir/stdin" || return 1
    python3 "$GUST_SRC/tests/fixtures/$script" --stdin "$@" <"$dir/stdin" >"$dir/out" 2>"$dir/log" &
    pid=$!
    exec {fd}>"$dir/stdin"
    printf -v "_FIX_${var}_PID" '%s' "$pid"
    printf -v "_FIX_${var}_FD" '%s' "$fd"
    printf -v "_FIX_${var}_DIR" '%s' "$dir"
    if ! wait_for 20 grep -q '^http://127.0.0.1:' "$dir/out"; then
        echo "http.sh: $script did not start:" >&2
        cat "$dir/log" >&2
        return 1
    fi
    printf -v "$var" '%s' "$(head -1 "$dir/out")"
    export "${var?}"
}

_fixture_stop() {
    local pid_var=_FIX_$1_PID fd_var=_FIX_$1_FD dir_var=_FIX_$1_DIR fd
    [ -n "${!pid_var:-}" ] || return 0
    fd=${!fd_var}
    exec {fd}>&-
    kill "${!pid_var}" 2>/dev/null
    wait "${!pid_var}" 2>/dev/null
    rm -rf "${!dir_var}"
    printf -v "$pid_var" '%s' ""
}

# randomuser_start [ARGS...]: the randomuser.me fixture (tests/fixtures/randomuser.py, e.g.
# --seed 1 --dirty 0.15). Exports RANDOMUSER_API_URL; stopped at exit.
randomuser_start() {
    _fixture_start RANDOMUSER_API_URL randomuser.py "$@" || return 1
    gust_cleanup_add randomuser_stop
}

randomuser_stop() { _fixture_stop RANDOMUSER_API_URL; }

# randomuser_control JSON: the fixture's control API (see tests/fixtures/randomuser.py).
randomuser_control() { curl -s -X POST -d "$1" "$RANDOMUSER_API_URL/_control"; }

# wiki_start [ARGS...]: the MediaWiki recentchanges fixture (tests/fixtures/wiki_api.py, e.g.
# --changes 1500 --seed 1). Exports WIKI_FIXTURE_URL (the server) and WIKI_API_URL (its
# api.php); stopped at exit.
wiki_start() {
    _fixture_start WIKI_FIXTURE_URL wiki_api.py "$@" || return 1
    WIKI_API_URL=$WIKI_FIXTURE_URL/w/api.php
    export WIKI_API_URL
    gust_cleanup_add wiki_stop
}

wiki_stop() { _fixture_stop WIKI_FIXTURE_URL; }

# wiki_control JSON: the fixture's control API (see tests/fixtures/wiki_api.py).
wiki_control() { curl -s -X POST -d "$1" "$WIKI_FIXTURE_URL/_control"; }
