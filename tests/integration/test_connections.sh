#!/usr/bin/env bash
# Airflow connections against a real PostgreSQL: `gust connections add|get|list|delete|
# import|export`, Fernet at rest checked both ways with Python's `cryptography` (the
# oracle: what Airflow uses), key rotation, masking (output, errors, argv, task logs),
# variables whose key looks secret, {{ conn.<id>.* }} templates, and --conn-id on the task
# executables (exit 100 for a missing or malformed connection, 111 for an unreachable one).
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 72
gust_tmpdir T
pg_gust_db gust_connections
unset AIRFLOW__CORE__FERNET_KEY GUST_FERNET_KEY GUST_CONN_ID
G=$GUST
BIN=$(dirname "$GUST")
PW='hunter2-Zq!'     # every password of this test contains "hunter2"
q() { psql -X -q -At -c "$1"; }
fernet_key() { python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'; }
py_decrypt() { # KEY TOKEN: what Python's Fernet makes of a token
    python3 -c 'import sys; from cryptography.fernet import Fernet; print(Fernet(sys.argv[1].encode()).decrypt(sys.argv[2].encode()).decode())' "$1" "$2"
}
py_encrypt() { # KEY VALUE
    python3 -c 'import sys; from cryptography.fernet import Fernet; print(Fernet(sys.argv[1].encode()).encrypt(sys.argv[2].encode()).decode())' "$1" "$2"
}
ALL_OUT=$T/all_output # every output of gust and the tasks, searched for passwords at the end
run() { "$@" 2>&1 | tee -a "$ALL_OUT"; return "${PIPESTATUS[0]}"; }

# --- add without a key: plain text, said loudly
out=$(run "$G" connections add pg_plain --conn-uri "postgresql://ann:${PW//!/%21}@db.example:5433/sales?sslmode=require")
check_eq "add --conn-uri exits 0" 0 $?
check_contains "add says the values are stored in plain text" "stored in plain text" "$out"
check_contains "add describes the connection without its password" "pg_plain (postgres://ann@db.example:5433/sales)" "$out"
check_eq "the row has Airflow's normalised fields" "postgres|db.example|5433|sales|ann|$PW|f|f" \
    "$(q "select conn_type, host, port, schema, login, password, is_encrypted, is_extra_encrypted from connection where conn_id = 'pg_plain'")"
check_eq "URI query parameters become extra" '{"sslmode": "require"}' "$(q "select extra from connection where conn_id = 'pg_plain'")"
out=$(run "$G" connections add pg_plain --conn-type postgres --conn-host other)
check_eq "adding an existing conn_id exits 1" 1 $?
check_contains "and says it exists" "already exists" "$out"
out=$(run "$G" connections add pg_x --conn-uri "postgres://h/db" --conn-host h2)
check_eq "--conn-uri with --conn-host is a usage error" 2 $?
out=$(run "$G" connections add pg_x)
check_eq "add without uri, json or type is a usage error" 2 $?
out=$(run "$G" connections add 'pg x;' --conn-type postgres)
check_eq "a conn_id outside Airflow's characters is a usage error" 2 $?
out=$(run "$G" connections add pg_bad --conn-uri "postgres://u:${PW}@h:notaport/db")
check_eq "a malformed URI exits 1" 1 $?
check_contains "its error names the connection and the fault" "connection 'pg_bad': the port of the URI" "$out"

# --- the password from stdin, and never in argv while gust runs
printf '%s\n' "$PW" | run "$G" connections add pg_stdin --conn-type postgres --conn-host h \
    --conn-login bob --conn-password - --conn-extra '{"api_key": "hunter2-key", "sslmode": "disable"}' >/dev/null
check_eq "--conn-password - reads the password from stdin" "$PW" "$(q "select password from connection where conn_id = 'pg_stdin'")"
pg_hold "lock table connection in exclusive mode"
"$G" connections add pg_argv --conn-type postgres --conn-host h --conn-password "$PW" >>"$ALL_OUT" 2>&1 &
addpid=$!
wait_for 10 test "$(q "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'")" = 1
check_eq "add waits on the held lock (so its argv can be read)" 1 "$(q "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'")"
cmdline=$(tr '\0' ' ' <"/proc/$addpid/cmdline")
check_contains "the running add is the one we started" "connections add pg_argv" "$cmdline"
case $cmdline in *hunter2*) echo "not ok - the password is not in /proc/PID/cmdline of add"; echo "#   $cmdline" ;;
*) echo "ok - the password is not in /proc/PID/cmdline of add" ;; esac
pg_release
wait "$addpid"
check_eq "that add succeeded after the lock was released" "$PW" "$(q "select password from connection where conn_id = 'pg_argv'")"

# --- get and list mask the password (and secret-looking extra keys)
out=$(run "$G" connections list)
check_contains "list shows the connections" "pg_stdin" "$out"
check_contains "list shows *** for passwords" "***" "$out"
check_contains "list masks an extra key that looks secret" '"api_key":"***"' "$out"
check_contains "list keeps other extra keys" '"sslmode":"disable"' "$out"
out=$(run "$G" connections get pg_plain -o json)
check_eq "get -o json prints the password as ***" '***' "$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["password"])')"
export AIRFLOW_CONN_PG_PLAIN="postgres://envuser:${PW}@envhost/envdb"
out=$(run "$G" connections get pg_plain -o plain)
check_contains "get looks at AIRFLOW_CONN_<ID> first, as Airflow" "envhost" "$out"
unset AIRFLOW_CONN_PG_PLAIN
out=$(run "$G" connections get nope)
check_eq "get of a missing connection exits 1" 1 $?
check_contains "and names it" "connection 'nope' not found" "$out"

# --- Fernet: ours decrypts with Python, Python's decrypts here
K1=$(fernet_key)
K2=$(fernet_key)
export AIRFLOW__CORE__FERNET_KEY=$K1
out=$(run "$G" connections add pg_enc --conn-json "{\"conn_type\": \"postgresql\", \"host\": \"eh\", \"login\": \"eve\", \"password\": \"$PW\", \"extra\": {\"role\": \"r1\"}}")
check_eq "add with a key exits 0" 0 $?
case $out in *"plain text"*) echo "not ok - no plain-text warning with a key" ;; *) echo "ok - no plain-text warning with a key" ;; esac
row=$(q "select password, extra, is_encrypted, is_extra_encrypted from connection where conn_id = 'pg_enc'")
IFS='|' read -r tok_pw tok_extra enc xenc <<<"$row"
check_eq "password and extra are flagged encrypted" "t t" "$enc $xenc"
check_contains "the stored password is a Fernet token" "gAAAAA" "$tok_pw"
check_eq "Python's cryptography decrypts our password token" "$PW" "$(py_decrypt "$K1" "$tok_pw")"
check_eq "Python's cryptography decrypts our extra token" '{"role": "r1"}' "$(py_decrypt "$K1" "$tok_extra")"
tok=$(py_encrypt "$K1" "py-hunter2-pw")
tokx=$(py_encrypt "$K1" '{"role": "from-python"}')
q "insert into connection (conn_id, conn_type, host, login, password, extra, is_encrypted, is_extra_encrypted)
   values ('pg_py', 'postgres', 'pyhost', 'py', '$tok', '$tokx', true, true)"
exp=$("$G" connections export - 2>>"$ALL_OUT") # a backup: passwords in clear, kept out of ALL_OUT
check_eq "a password Python encrypted decrypts here (export)" "py-hunter2-pw" \
    "$(printf '%s' "$exp" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pg_py"]["password"])')"
check_eq "an extra Python encrypted decrypts here" '{"role": "from-python"}' \
    "$(printf '%s' "$exp" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pg_py"]["extra"])')"
unset AIRFLOW__CORE__FERNET_KEY
out=$(run "$G" connections get pg_enc)
check_eq "an encrypted connection without the key: get exits 1" 1 $?
check_contains "saying the key is missing" "no Fernet key is set" "$out"
export GUST_FERNET_KEY=$K2
out=$(run "$G" connections get pg_enc)
check_contains "the wrong key: invalid token, naming the connection" "connection 'pg_enc': password: invalid Fernet token" "$out"
# rotation: new key first, old key after (Airflow's MultiFernet)
export GUST_FERNET_KEY="$K2,$K1"
out=$(run "$G" rotate-fernet-key)
check_contains "rotate-fernet-key re-encrypts both encrypted connections" "Re-encrypted 2 connection(s)" "$out"
tok_pw=$(q "select password from connection where conn_id = 'pg_enc'")
check_eq "after rotation the new key alone decrypts (Python)" "$PW" "$(py_decrypt "$K2" "$tok_pw")"
check_fails "after rotation the old key no longer decrypts (Python)" py_decrypt "$K1" "$tok_pw"
export GUST_FERNET_KEY=$K2
check_eq "and gust reads it with the new key alone" 0 "$("$G" connections get pg_py >/dev/null 2>&1; echo $?)"

# --- export / import round trip, in Airflow's JSON shape
run "$G" connections export "$T/conns.json" >/dev/null
check_eq "export exits 0 and writes a 0600 file" 600 "$(stat -c %a "$T/conns.json")"
check_eq "export's JSON is Airflow's {conn_id: {conn_type, description, login, password, host, port, schema, extra}}" \
    "conn_type,description,login,password,host,port,schema,extra" \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(",".join(d["pg_plain"].keys()))' "$T/conns.json")"
before=$(q "select conn_id, conn_type, host, port, schema, login from connection order by conn_id")
q "delete from connection where conn_id in ('pg_plain', 'pg_enc')"
q "update connection set host = 'changed' where conn_id = 'pg_stdin'"
out=$(run "$G" connections import "$T/conns.json")
check_contains "import adds the missing connections" "Imported connection pg_plain" "$out"
check_contains "import skips existing ones without --overwrite" "Could not import connection pg_stdin: connection already exists." "$out"
check_eq "pg_stdin was left alone" changed "$(q "select host from connection where conn_id = 'pg_stdin'")"
run "$G" connections import "$T/conns.json" --overwrite >/dev/null
check_eq "import --overwrite restores every row" "$before" "$(q "select conn_id, conn_type, host, port, schema, login from connection order by conn_id")"
check_eq "imported passwords decrypt to the originals" "$PW" \
    "$("$G" connections export - | python3 -c 'import json,sys; print(json.load(sys.stdin)["pg_enc"]["password"])')"
check_eq "imported passwords are encrypted with the key" t "$(q "select is_encrypted from connection where conn_id = 'pg_plain'")"
printf '# comment\npg_env_file=postgresql://u:%s@fh:7/fdb\n' "hunter2-f" >"$T/conns.env"
run "$G" connections import "$T/conns.env" >/dev/null
check_eq "import of a .env file (CONN_ID=URI)" "fh|7|fdb" "$(q "select host, port, schema from connection where conn_id = 'pg_env_file'")"
printf '{"pg_bad_imp": {"conn_type": "postgres", "port": "nope"}}' >"$T/bad.json"
out=$(run "$G" connections import "$T/bad.json")
check_eq "a bad entry makes import exit 1" 1 $?
check_contains "naming the connection" "Could not import connection pg_bad_imp" "$out"

# --- delete
out=$(run "$G" connections delete pg_env_file)
check_contains "delete says so" "Successfully deleted connection with \`conn_id\`=pg_env_file" "$out"
out=$(run "$G" connections delete pg_env_file)
check_eq "deleting a missing connection exits 1" 1 $?

# --- variables whose key looks secret
"$G" variables set db_password "hunter2-var" >/dev/null
"$G" variables set greeting hello >/dev/null
out=$(run "$G" variables list)
check_contains "variables list masks a secret-looking key" "***" "$out"
check_contains "variables list shows other values" "hello" "$out"
check_eq "variables get masks it too" '***' "$(run "$G" variables get db_password)"
check_eq "variables get --reveal prints it" "hunter2-var" "$("$G" variables get db_password --reveal)"

# --- templates: {{ conn.<id>.* }} (environment here: gust tasks test has no conn_get)
export GUST_DAGS_FOLDER=$GUST_SRC/tests/integration/conn_dags GUST_LOGS_FOLDER=$T/logs
export AIRFLOW_CONN_TMPL_PG="postgresql://tuser:${PW//!/%21}@tmpl.example:6543/tdb?role=reader"
out=$(run "$G" tasks test conn_tmpl show)
check_contains "conn.<id>.host/.port/.login/.schema/.extra_dejson render" "host=tmpl.example port=6543 login=tuser db=tdb role=reader" "$out"
run "$G" dags trigger conn_tmpl --local -r tmpl1 >/dev/null
log=$(cat "$T/logs/dag_id=conn_tmpl/run_id=tmpl1/task_id=show/attempt=1.log")
check_contains "a scheduled try renders them too (its log)" "host=tmpl.example port=6543" "$log"
case $log in *hunter2*) echo "not ok - the try's log holds no password" ;; *) echo "ok - the try's log holds no password" ;; esac
unset AIRFLOW_CONN_TMPL_PG
"$G" connections add tmpl_tab --conn-type postgres --conn-host tab.example --conn-password "$PW" \
    --conn-extra '{"sslmode": "verify-full"}' >/dev/null 2>&1
run "$G" dags trigger conn_tmpl_table --local -r tab1 >/dev/null
log=$(cat "$T/logs/dag_id=conn_tmpl_table/run_id=tab1/task_id=show/attempt=1.log")
check_contains "a connection of the table renders in a try" "table_host=tab.example sslmode=verify-full" "$log"
log=$(cat "$T/logs/dag_id=conn_tmpl_table/run_id=tab1/task_id=missing/attempt=1.log")
check_contains "a missing connection fails the try, naming it" "connection 'tmpl_missing' not found" "$log"

# --- --conn-id on the task executables
unset GUST_FERNET_KEY
export GUST_DATABASE_URL="dbname=gust_connections"
out=$(run "$BIN/pharma_upsert" --conn-id no_such)
check_eq "pharma_upsert --conn-id of a missing connection exits 100" 100 $?
check_contains "naming it" "connection 'no_such' not found" "$out"
out=$(AIRFLOW_CONN_BROKEN="postgres://u:${PW}@h:port/db" run "$BIN/pharma_upsert" --conn-id broken)
check_eq "a malformed connection exits 100" 100 $?
check_contains "naming it" "connection 'broken'" "$out"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out=$(AIRFLOW_CONN_DOWN="postgres://u:${PW//!/%21}@127.0.0.1:$port/db" run "$BIN/stream_loader" --conn-id down --available-now -X bootstrap.servers=127.0.0.1:1)
check_eq "stream_loader --conn-id of an unreachable host exits 111" 111 $?
check_contains "naming the connection" "connection down (postgres://u@127.0.0.1:$port/db)" "$out"
sock=$(printf '%s' "$PGHOST" | sed 's|/|%2F|g')
"$G" connections add pg_target --conn-uri "postgres://$PGUSER:${PW//!/%21}@$sock:$PGPORT/gust_connections" >/dev/null 2>&1
out=$(GUST_XCOM_FILE=$T/x.json run "$BIN/pharma_upsert" --conn-id pg_target)
check_eq "pharma_upsert --conn-id of a table connection runs (exit 0)" 0 $?
out=$(GUST_CONN_ID=pg_target GUST_XCOM_FILE=$T/x.json run "$BIN/pharma_upsert")
check_eq "GUST_CONN_ID is --conn-id's default" 0 $?

# --- no password anywhere in what gust and the tasks printed
check_eq "no password in any output or error of this test (export - aside)" "" "$(grep hunter2 "$ALL_OUT")"
