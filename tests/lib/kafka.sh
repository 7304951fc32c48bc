# Kafka-protocol broker for integration tests (sourced): librdkafka's mock cluster run by
# $GUST_TOOLS/kafka_mock (tests/tools/kafka_mock.c).
#
#   kafka_start [-b BROKERS] [-t TOPIC:PARTITIONS]...
#       start the broker in the background, wait (with a deadline) for its bootstrap line,
#       export KAFKA_BOOTSTRAP_SERVERS; stopped at exit or by kafka_stop
#   kafka_stop
#   kafka_down / kafka_up
#       take every broker down (connections closed and refused) or back up on the same ports:
#       a broker outage that clients configured with the old bootstrap list survive
#
# The broker's stdin is a FIFO held open by this shell: when the test script dies for any
# reason, the broker sees EOF and exits, so no broker outlives its test. The mock keeps only
# about 5 MiB (100,000 messages) per partition: size topics for what a test sends.

# gust_cleanup_add comes from common.sh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

_KAFKA_DIR=
_KAFKA_PID=
_KAFKA_FD=

kafka_start() {
    local bin=${GUST_TOOLS:-build/tools}/kafka_mock deadline
    [ -x "$bin" ] || { echo "kafka.sh: $bin not built" >&2; return 1; }
    [ -z "$_KAFKA_PID" ] || { echo "kafka.sh: already started" >&2; return 1; }
    _KAFKA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gust-kafka.XXXXXX") || return 1
    mkfifo "$_KAFKA_DIR/stdin" || return 1
    "$bin" --stdin "$@" <"$_KAFKA_DIR/stdin" >"$_KAFKA_DIR/out" 2>"$_KAFKA_DIR/log" &
    _KAFKA_PID=$!
    exec {_KAFKA_FD}>"$_KAFKA_DIR/stdin"
    gust_cleanup_add kafka_stop
    deadline=$((SECONDS + 15))
    until [ -s "$_KAFKA_DIR/out" ] && grep -q . "$_KAFKA_DIR/out"; do
        if ! kill -0 "$_KAFKA_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            echo "kafka.sh: kafka_mock did not start; its log:" >&2
            cat "$_KAFKA_DIR/log" >&2
            kafka_stop
            return 1
        fi
        sleep 0.02
    done
    KAFKA_BOOTSTRAP_SERVERS=$(head -1 "$_KAFKA_DIR/out")
    export KAFKA_BOOTSTRAP_SERVERS
    # Loaders join consumer groups: with the default 45 s session the mock makes a member
    # that joins after another left wait about 44 s (it waits out the session minus 1 s);
    # below about 2.5 s it never settles a group.
    export STREAM_LOADER_SESSION_TIMEOUT=${STREAM_LOADER_SESSION_TIMEOUT:-3s}
}

kafka_down() { [ -n "$_KAFKA_FD" ] && echo down >&"$_KAFKA_FD"; }
kafka_up() { [ -n "$_KAFKA_FD" ] && echo up >&"$_KAFKA_FD"; }

kafka_stop() {
    [ -n "$_KAFKA_PID" ] || return 0
    kill -TERM "$_KAFKA_PID" 2>/dev/null
    wait "$_KAFKA_PID" 2>/dev/null
    [ -n "$_KAFKA_FD" ] && exec {_KAFKA_FD}>&-
    rm -rf "$_KAFKA_DIR"
    _KAFKA_PID= _KAFKA_FD= _KAFKA_DIR=
    unset KAFKA_BOOTSTRAP_SERVERS STREAM_LOADER_SESSION_TIMEOUT
    return 0
}
