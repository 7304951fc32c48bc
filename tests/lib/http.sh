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
