# Helpers for integration scripts (sourced). Each check prints one TAP-like line,
# "ok - what" or "not ok - what", which tests/run.sh counts.
#
#   check "what" command args...          the command must exit 0
#   check_fails "what" command args...    the command must exit non-zero
#   check_eq "what" expected actual
#   check_contains "what" needle haystack
#   wait_for SECONDS command args...      retry the command until it succeeds or the
#                                         deadline passes (returns 1 then); never a bare sleep

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
