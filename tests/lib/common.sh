# Helpers for integration scripts (sourced). Each check prints one TAP-like line,
# "ok - what" or "not ok - what", which tests/run.sh counts.
#
#   plan N                                the script runs exactly N checks (TAP's "1..N"):
#                                         tests/run.sh fails it when it runs fewer or more
#   check "what" command args...          the command must exit 0
#   check_fails "what" command args...    the command must exit non-zero
#   check_eq "what" expected actual
#   check_contains "what" needle haystack
#   wait_for SECONDS command args...      retry the command until it succeeds or the
#                                         deadline passes (returns 1 then); never a bare sleep

plan() { echo "1..$1"; }

check() {
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then echo "ok - $what"; else echo "not ok - $what"; fi
}

check_fails() {
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then echo "not ok - $what (unexpected success)"; else echo "ok - $what"; fi
}

check_eq() {
    if [ "$2" = "$3" ]; then
        echo "ok - $1"
    else
        echo "not ok - $1"
        echo "#   expected: $2"
        echo "#   actual:   $3"
    fi
}

check_contains() {
    case "$3" in
    *"$2"*) echo "ok - $1" ;;
    *)
        echo "not ok - $1"
        echo "#   expected to contain: $2"
        echo "#   actual: $3"
        ;;
    esac
}

wait_for() {
    local secs=$1
    shift
    local deadline=$((SECONDS + secs))
    local delay=0.01
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        # Backoff between attempts of a condition, capped; the deadline bounds the wait.
        sleep "$delay"
        delay=$(awk -v d="$delay" 'BEGIN { d *= 2; if (d > 0.2) d = 0.2; print d }')
    done
}

# Cleanup at exit, shared by the helper libraries (kafka.sh, http.sh). Guarded so that
# sourcing this file twice keeps the list.
if ! declare -F gust_cleanup_add >/dev/null; then
    _GUST_CLEANUP=()
    _GUST_TMPDIRS=()
    _GUST_KILL=()
    # Run "$1" at exit (kafka_stop, http_stop...), the last added first, so that what was set
    # up first (a temp folder) goes last. Uses the EXIT trap: a script that sets its own EXIT
    # trap must call gust_cleanup_run from it.
    gust_cleanup_add() {
        _GUST_CLEANUP+=("$1")
        trap gust_cleanup_run EXIT
    }
    gust_cleanup_run() {
        local i
        for ((i = ${#_GUST_CLEANUP[@]} - 1; i >= 0; i--)); do "${_GUST_CLEANUP[i]}"; done
    }
fi

# gust_bin [NAME]: the path of the built program NAME, or of the folder of built programs
# (GUST_BIN_DIR is absolute or relative to the source folder).
gust_bin() {
    local dir=$GUST_BIN_DIR
    [ "${dir#/}" != "$dir" ] || dir=$GUST_SRC/$dir
    echo "$dir${1:+/$1}"
}

# gust_tmpdir VAR: make a temporary folder, store its path in VAR and remove it at exit (after
# every later cleanup: gust_cleanup_run goes backwards).
gust_tmpdir() {
    local dir
    dir=$(mktemp -d) || exit 1
    printf -v "$1" '%s' "$dir"
    _GUST_TMPDIRS+=("$dir")
    [ ${#_GUST_TMPDIRS[@]} -gt 1 ] || gust_cleanup_add _gust_tmpdirs_remove
}
_gust_tmpdirs_remove() { rm -rf "${_GUST_TMPDIRS[@]}"; }

# gust_kill_at_exit PID...: kill -9 these background processes at exit, should a check leave
# them running.
gust_kill_at_exit() {
    [ ${#_GUST_KILL[@]} -gt 0 ] || gust_cleanup_add _gust_kill
    _GUST_KILL+=("$@")
}
_gust_kill() { kill -9 "${_GUST_KILL[@]}" 2>/dev/null; }

# start_bg NAME COMMAND...: start COMMAND in the background, its pid in $LAST, its output
# appended to $GUST_TEST_TMP/NAME.log, killed at exit should a check leave it running.
start_bg() {
    local name=$1
    shift
    "$@" >>"$GUST_TEST_TMP/$name.log" 2>&1 &
    LAST=$!
    gust_kill_at_exit "$LAST"
}
