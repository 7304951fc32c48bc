# Throwaway PostgreSQL cluster for the tests (sourced). tests/run.sh calls pg_start once per
# run and pg_stop at exit; each test script makes its own database with pg_createdb.
#
#   pg_start          initdb a cluster in a fresh temp folder, listening on a Unix socket in
#                     that folder and a free loopback port, trust auth, fsync off (on, with
#                     PostgreSQL's durable defaults, when GUST_PG_DURABLE=1); waits for
#                     readiness with a deadline; exports PGHOST (the socket folder), PGPORT,
#                     PGUSER (the cluster superuser), PGDATABASE=postgres, GUST_TEST_PGDIR
#   pg_stop           stop it (immediate) and remove the folder; idempotent
#   pg_createdb NAME [OPTION...]
#                     drop NAME if it exists and create it empty (OPTIONs go to createdb)
#   pg_gust_db NAME [OPTION...]
#                     the same, then PGDATABASE=NAME, GUST_DATABASE_URL unset, and
#                     `gust db migrate` run on it as a check; exits the script when it fails
#                     (needs common.sh)
#   pg_hold SQL       a session that runs "begin; SQL" and keeps the transaction open, holding
#                     SQL's row locks (select ... for update), until pg_release; returns once
#                     the session is idle in transaction. One at a time; fd 7 feeds it
#   pg_release [SQL]  run SQL in the held transaction, commit, end the session
#   pg_down           stop the server (fast) for an outage, keeping the cluster; pg_up starts
#                     it again with the same options and waits until a query works
#
# PostgreSQL refuses to run as root: as root (CI), initdb/pg_ctl run as the `postgres` system
# user, created when missing. Binaries: $GUST_PG_BINDIR, else the newest
# /usr/lib/postgresql/*/bin with initdb, else whatever initdb is on PATH.

_pg_bindir() {
    local d
    if [ -n "${GUST_PG_BINDIR:-}" ] && [ -x "$GUST_PG_BINDIR/initdb" ]; then
        echo "$GUST_PG_BINDIR"
        return 0
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4nr); do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
    done
    d=$(command -v initdb 2>/dev/null) && { dirname "$d"; return 0; }
    return 1
}

# Run a server-side command as the cluster owner.
_pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A loopback TCP port nobody listens on right now (the kernel picks it).
_pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_pg_fail() {
    echo "pg.sh: $*" >&2
    if [ -n "${GUST_TEST_PGDIR:-}" ] && [ -f "$GUST_TEST_PGDIR/server.log" ]; then
        echo "pg.sh: last lines of the server log:" >&2
        tail -n 30 "$GUST_TEST_PGDIR/server.log" >&2
    fi
    pg_stop
    return 1
}

pg_start() {
    local bindir port deadline delay superuser opts
    bindir=$(_pg_bindir) || { echo "pg.sh: no PostgreSQL server binaries (initdb) found" >&2; return 1; }
    if [ "$(id -u)" -eq 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin postgres || { echo "pg.sh: cannot create user postgres" >&2; return 1; }
        fi
        superuser=postgres
    else
        superuser=$(id -un)
    fi
    GUST_TEST_PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/gust-pg.XXXXXX") || return 1
    export GUST_TEST_PGDIR
    chmod 755 "$GUST_TEST_PGDIR"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$GUST_TEST_PGDIR"

    if ! _pg_as_owner "$bindir/initdb" -D "$GUST_TEST_PGDIR/data" -U "$superuser" -A trust \
        -E UTF8 --locale=C --no-sync </dev/null >"$GUST_TEST_PGDIR/initdb.log" 2>&1; then
        cat "$GUST_TEST_PGDIR/initdb.log" >&2
        _pg_fail "initdb failed"
        return 1
    fi
    port=$(_pg_free_port) || { _pg_fail "no free port"; return 1; }
    # The socket and the log live in the temp folder; listen on loopback only.
    opts="-k $GUST_TEST_PGDIR -h 127.0.0.1 -p $port -c max_connections=200"
    [ "${GUST_PG_DURABLE:-0}" = 1 ] ||
        opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    export GUST_TEST_PGOPTS=$opts # for pg_up
    if ! _pg_as_owner "$bindir/pg_ctl" -D "$GUST_TEST_PGDIR/data" -l "$GUST_TEST_PGDIR/server.log" \
        -W -o "$opts" start </dev/null >/dev/null 2>&1; then
        _pg_fail "pg_ctl start failed"
        return 1
    fi
    export PGHOST=$GUST_TEST_PGDIR PGPORT=$port PGUSER=$superuser PGDATABASE=postgres
    unset PGPASSWORD PGSERVICE PGHOSTADDR
    deadline=$((SECONDS + 30))
    delay=0.02
    until "$bindir/pg_isready" -q -h "$PGHOST" -p "$PGPORT" -d postgres; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            _pg_fail "the server did not become ready within 30 s"
            return 1
        fi
        sleep "$delay"
        delay=$(awk -v d="$delay" 'BEGIN { d *= 2; if (d > 0.3) d = 0.3; print d }')
    done
    # pg_isready answers once the postmaster accepts connections; prove a query works.
    psql -X -q -At -c 'select 1' >/dev/null 2>&1 || { _pg_fail "the server does not answer"; return 1; }
}

pg_stop() {
    local dir=${GUST_TEST_PGDIR:-} bindir
    [ -n "$dir" ] || return 0
    unset GUST_TEST_PGDIR
    if [ -f "$dir/data/postmaster.pid" ]; then
        bindir=$(_pg_bindir)
        _pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop </dev/null \
            >/dev/null 2>&1 || kill -9 "$(head -1 "$dir/data/postmaster.pid")" 2>/dev/null
    fi
    rm -rf "$dir"
    return 0
}

pg_createdb() {
    local name=${1:-}
    [ -n "$name" ] || { echo "pg_createdb: NAME missing" >&2; return 2; }
    shift
    local bindir
    bindir=$(_pg_bindir) || return 1
    PGOPTIONS="-c client_min_messages=warning" "$bindir/dropdb" --if-exists -- "$name" >/dev/null &&
        "$bindir/createdb" "$@" -- "$name"
}

pg_gust_db() {
    local out
    pg_createdb "$@" >/dev/null || { echo "not ok - create the database $1"; exit 1; }
    export PGDATABASE=$1
    unset GUST_DATABASE_URL
    if out=$("$GUST" db migrate 2>&1); then
        echo "ok - gust db migrate"
    else
        echo "not ok - gust db migrate"
        printf '%s\n' "$out" | sed 's/^/#   /'
        exit 1
    fi
}

pg_hold() {
    _PG_HOLD_DIR=$(mktemp -d) || return 1
    mkfifo "$_PG_HOLD_DIR/in"
    psql -X -q -v ON_ERROR_STOP=1 <"$_PG_HOLD_DIR/in" >"$_PG_HOLD_DIR/out" 2>&1 &
    _PG_HOLD_PID=$!
    exec 7>"$_PG_HOLD_DIR/in"
    [ -n "${_PG_HOLD_ADDED:-}" ] || { _PG_HOLD_ADDED=1; gust_cleanup_add _pg_hold_stop; }
    echo "begin; $1;" >&7
    wait_for 10 _pg_hold_idle
}

_pg_hold_idle() {
    test "$(psql -X -q -At -c "select count(*) from pg_stat_activity
        where state = 'idle in transaction' and datname = current_database()")" = 1
}

pg_release() {
    echo "${1:-} commit;" >&7
    exec 7>&-
    wait "$_PG_HOLD_PID"
    _PG_HOLD_PID=
    rm -rf "$_PG_HOLD_DIR"
}

# At exit: end a session still held (a script that stopped between pg_hold and pg_release).
_pg_hold_stop() {
    exec 7>&- 2>/dev/null
    [ -z "${_PG_HOLD_PID:-}" ] || kill "$_PG_HOLD_PID" 2>/dev/null
    [ -z "${_PG_HOLD_DIR:-}" ] || rm -rf "$_PG_HOLD_DIR"
}

pg_down() {
    _pg_as_owner "$(_pg_bindir)/pg_ctl" -D "$GUST_TEST_PGDIR/data" -m fast -w stop \
        </dev/null >/dev/null 2>&1
}

pg_up() {
    _pg_as_owner "$(_pg_bindir)/pg_ctl" -D "$GUST_TEST_PGDIR/data" -l "$GUST_TEST_PGDIR/server.log" \
        -W -o "$GUST_TEST_PGOPTS" start </dev/null >/dev/null 2>&1
    wait_for 30 psql -X -q -c "select 1"
}
