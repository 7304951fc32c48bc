#!/usr/bin/env bash
# `gust pools set|get|list|delete|import|export` against a real PostgreSQL: Airflow's
# arguments, messages, exit codes and JSON; default_pool's 128 slots; the slots a pool holds
# now (running and queued task instances' pool_slots); the export byte for byte as Python's
# json.dumps(sort_keys=True, indent=4) writes it (Airflow's code, the oracle); an export ->
# import round trip; every error path with its message; an import that fails half-way in the
# database leaves nothing behind (one transaction).
set -u
source "$GUST_SRC/tests/lib/common.sh"
source "$GUST_SRC/tests/lib/pg.sh"
plan 86
gust_tmpdir T
pg_gust_db gust_pools_cli
G=$GUST
q() { psql -X -q -At -c "$1"; }
# run CMD...: its stdout and stderr together in $out, its exit code in $rc
run() {
    out=$("$@" 2>&1)
    rc=$?
}
# json_get EXPR: evaluate a Python expression over the JSON on stdin (j)
json_get() { python3 -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# --- a new database has Airflow's default_pool
run "$G" pools list -o json
check_eq "pools list exits 0" 0 "$rc"
check_eq "list -o json: Airflow's keys first, then what the pool holds" \
    "['pool', 'slots', 'description', 'include_deferred', 'running_slots', 'queued_slots', 'open_slots']" \
    "$(printf '%s' "$out" | json_get 'list(j[0].keys())')"
check_eq "default_pool: 128 slots, Airflow's description" "default_pool|128|Default pool|False" \
    "$(printf '%s' "$out" | json_get '"|".join(str(j[0][k]) for k in ("pool", "slots", "description", "include_deferred"))')"
check_eq "list -o json of a new database: default_pool only" 1 "$(printf '%s' "$out" | json_get 'len(j)')"

# --- set: create, then update
run "$G" pools set etl_db 4 "the warehouse: 4 connections"
check_eq "set exits 0" 0 "$rc"
check_eq "set says so, as Airflow" "Pool etl_db created" "$out"
check_eq "the row is written" "etl_db|4|the warehouse: 4 connections|f" \
    "$(q "select pool, slots, description, include_deferred from slot_pool where pool = 'etl_db'")"
run "$G" pools set etl_db 6 "six now" --include-deferred -o json -v
check_eq "set of an existing pool updates it (exit 0)" 0 "$rc"
check_eq "slots, description and include_deferred are updated, one row" "1|6|six now|t" \
    "$(q "select count(*), max(slots), max(description), bool_or(include_deferred) from slot_pool where pool = 'etl_db'")"
check_eq "the update says what Airflow says" "Pool etl_db created" "$out"
"$G" pools set etl_db 4 "the warehouse: 4 connections" >/dev/null

# --- what a pool holds now: running and queued task instances, by their pool_slots
q "insert into dag_run (dag_id, run_id, run_type, state) values ('d', 'r1', 'manual', 'running')"
q "insert into task_instance (dag_id, run_id, task_id, state, pool, pool_slots) values
   ('d', 'r1', 'a', 'running', 'etl_db', 1), ('d', 'r1', 'b', 'running', 'etl_db', 2),
   ('d', 'r1', 'c', 'queued', 'etl_db', 1), ('d', 'r1', 'e', 'queued', 'etl_db', 2),
   ('d', 'r1', 'f', 'success', 'etl_db', 1), ('d', 'r1', 'g', 'running', 'default_pool', 1),
   ('d', 'r1', 'h', 'scheduled', 'etl_db', 1)"
run "$G" pools get etl_db -o json
check_eq "get -o json exits 0" 0 "$rc"
check_eq "get -o json: running 1+2, queued 1+2, open = slots - running (pool_slots counted)" \
    "etl_db 4 3 3 1" \
    "$(printf '%s' "$out" | json_get '" ".join(str(j[0][k]) for k in ("pool", "slots", "running_slots", "queued_slots", "open_slots"))')"
run "$G" pools list
check_contains "the table has Airflow's columns, then the counts" \
    "pool         | slots | description                  | include_deferred | running_slots | queued_slots | open_slots" "$out"
check_contains "the table shows etl_db's counts" \
    "etl_db       | 4     | the warehouse: 4 connections | False            | 3             | 3            | 1" "$out"
check_contains "the table shows default_pool's running one" \
    "default_pool | 128   | Default pool                 | False            | 1             | 0            | 127" "$out"
run "$G" pools list -o plain
check_eq "-o plain: Airflow's four columns only, tab-separated, no header" \
    "$(printf 'default_pool\t128\tDefault pool\tFalse\netl_db\t4\tthe warehouse: 4 connections\tFalse')" "$out"
run "$G" pools get etl_db -o yaml
check_contains "-o yaml: a list of mappings" '- pool: "etl_db"' "$out"
check_contains "-o yaml has the counts" '  open_slots: 1' "$out"
"$G" pools set etl_db 2 "shrunk" >/dev/null
check_eq "a pool shrunk below what runs shows a negative open_slots" "-1" \
    "$("$G" pools get etl_db -o json | json_get 'j[0]["open_slots"]')"

# --- slots -1: unlimited
run "$G" pools set api -1 "no limit"
check_eq "set with slots -1 (unlimited) exits 0" 0 "$rc"
run "$G" pools get api
check_contains "the table says open_slots is unlimited" "unlimited" "$out"
check_eq "JSON: slots -1, open_slots null" "-1 None" \
    "$("$G" pools get api -o json | json_get 'str(j[0]["slots"]) + " " + str(j[0]["open_slots"])')"

# --- set: bad arguments
run "$G" pools set p1 abc "d"
check_eq "slots that is not an integer: usage error (exit 2), as argparse's type=int" 2 "$rc"
check_contains "it says argparse's message" "argument slots: invalid int value: 'abc'" "$out"
check_contains "and prints the usage" "usage: gust pools set NAME SLOTS DESCRIPTION" "$out"
run "$G" pools set p1 -2 "d"
check_eq "slots below -1 exits 1" 1 "$rc"
check_contains "and says why" "Invalid value for \`slots\`: -2: a pool has -1 (unlimited) or more slots" "$out"
run "$G" pools set "  " 3 "d"
check_eq "a blank name exits 1" 1 "$rc"
check_contains "with Airflow's message" "Pool name shouldn't be empty" "$out"
long=$(printf 'p%.0s' $(seq 257))
run "$G" pools set "$long" 3 "d"
check_eq "a 257-character name exits 1" 1 "$rc"
check_contains "with Airflow's message" "Pool name cannot be more than 256 characters" "$out"
wide=$(printf 'é%.0s' $(seq 256))
run "$G" pools set "$wide" 3 "d"
check_eq "256 characters of two bytes each fit (characters are counted, not bytes)" "0 256" \
    "$rc $(q "select length(pool) from slot_pool where pool like 'é%'")"
run "$G" pools set p1 3
check_eq "set without DESCRIPTION is a usage error" 2 "$rc"
run "$G" pools list -o xml
check_eq "an unknown -o is a usage error" 2 "$rc"
check_contains "naming the choices" "invalid choice: 'xml'" "$out"
evil="x'); drop table slot_pool; --"
run "$G" pools set "$evil" 1 "quote's"
check_eq "a name with quotes is stored as written (parameters, not SQL text)" "1|quote's" \
    "$(q "select slots, description from slot_pool where pool = \$\$${evil}\$\$")"
"$G" pools set ctl 1 "$(printf 'bell\a\033[31mred')" >/dev/null
run "$G" pools get ctl
check_contains "control characters of a description are escaped in a table" 'bell\x07\x1b[31mred' "$out"

# --- get and delete: errors
run "$G" pools get nope
check_eq "get of a missing pool exits 1" 1 "$rc"
check_eq "with Airflow's message" "gust: Pool nope does not exist" "$out"
run "$G" pools delete nope
check_eq "delete of a missing pool exits 1" 1 "$rc"
check_eq "with Airflow's message" "gust: Pool nope does not exist" "$out"
run "$G" pools delete default_pool
check_eq "delete default_pool exits 1" 1 "$rc"
check_contains "with Airflow's message" "default_pool cannot be deleted" "$out"
check_eq "default_pool is still there" 1 "$(q "select count(*) from slot_pool where pool = 'default_pool'")"
run "$G" pools delete ctl
check_eq "delete exits 0" 0 "$rc"
check_eq "and says so, as Airflow" "Pool ctl deleted" "$out"
check_eq "the row is gone" 0 "$(q "select count(*) from slot_pool where pool = 'ctl'")"

# --- export: Airflow's file, byte for byte
"$G" pools delete "$wide" >/dev/null
"$G" pools delete "$evil" >/dev/null
"$G" pools set report_api 3 "Überwachung, naïve “quotes” 🚀 and a \\ backslash \\uABCD" >/dev/null
q "update slot_pool set description = NULL where pool = 'api'"
run "$G" pools export "$T/pools.json"
check_eq "export exits 0" 0 "$rc"
check_eq "export says what Airflow says" "Exported 4 pools to $T/pools.json" "$out"
python3 - "$T/oracle.json" "$(q "select json_object_agg(pool, json_build_object('slots', slots, 'description', description, 'include_deferred', include_deferred)) from slot_pool")" <<'EOF'
import json, sys
open(sys.argv[1], "w").write(json.dumps(json.loads(sys.argv[2]), sort_keys=True, indent=4))
EOF
check "the file is what Airflow's json.dumps(sort_keys=True, indent=4) writes, byte for byte" \
    cmp "$T/pools.json" "$T/oracle.json"
check_contains "non-ASCII is escaped in lower case, as Python does" '\u00dcberwachung' "$(cat "$T/pools.json")"
check_eq "a pool without description exports null" "None" \
    "$(json_get 'j["api"]["description"]' <"$T/pools.json")"
check_eq "export - writes the JSON to stdout (and the message to stderr)" "3" \
    "$("$G" pools export - 2>/dev/null | json_get 'j["report_api"]["slots"]')"
run "$G" pools export "$T/no/such/dir/p.json"
check_eq "export to a folder that does not exist exits 1" 1 "$rc"
check_contains "naming the file" "cannot write $T/no/such/dir/p.json" "$out"

# --- round trip: export -> wipe and change -> import -> the same export
q "delete from task_instance"
"$G" pools delete etl_db >/dev/null
"$G" pools delete report_api >/dev/null
"$G" pools set default_pool 7 "changed" >/dev/null
"$G" pools set extra 1 "stays" >/dev/null
run "$G" pools import "$T/pools.json" -v
check_eq "import exits 0" 0 "$rc"
check_eq "import says what Airflow says" "Uploaded 4 pool(s)" "$out"
check_eq "import leaves the pools the file does not name" 1 "$(q "select count(*) from slot_pool where pool = 'extra'")"
"$G" pools delete extra >/dev/null
"$G" pools export "$T/again.json" >/dev/null
check "export -> import -> export gives the same file" cmp "$T/pools.json" "$T/again.json"
check_eq "default_pool's slots came back from the file" 128 "$(q "select slots from slot_pool where pool = 'default_pool'")"

# --- import: Airflow's optional include_deferred, and its slots read by int()
printf '{"s1": {"slots": "7", "description": ""}, "s2": {"slots": 2, "description": null, "include_deferred": true, "team_name": null}}' >"$T/ok.json"
run "$G" pools import "$T/ok.json"
check_eq "an import with include_deferred left out and slots as text exits 0" "0 Uploaded 2 pool(s)" "$rc $out"
check_eq "the pools are written as the file says" "s1|7||f s2|2||t" \
    "$(q "select pool, slots, description, include_deferred from slot_pool where pool in ('s1', 's2') order by pool" | tr '\n' ' ' | sed 's/ $//')"

# --- import: errors, and nothing written on any of them
before=$(q "select string_agg(pool || ':' || slots, ',' order by pool) from slot_pool")
run "$G" pools import "$T/missing.json"
check_eq "import of a missing file exits 1" 1 "$rc"
check_eq "with Airflow's message" "gust: Missing pools file $T/missing.json" "$out"
printf '{"a": {"slots": 1, "description": ""},\n "b": }' >"$T/bad.json"
run "$G" pools import "$T/bad.json"
check_eq "import of a file that is not JSON exits 1" 1 "$rc"
check_contains "with Airflow's message, and where" "Invalid json file: $T/bad.json:2:" "$out"
printf '[{"slots": 1, "description": ""}]' >"$T/array.json"
run "$G" pools import "$T/array.json"
check_eq "import of a JSON array exits 1" 1 "$rc"
check_contains "saying what the file should hold" "expected an object of pools" "$out"
cat >"$T/mixed.json" <<'EOF'
{"good": {"slots": 3, "description": "fine"},
 "no_desc": {"slots": 3},
 "not_obj": 5,
 "frac": {"slots": 1.5, "description": ""},
 "neg": {"slots": -3, "description": ""},
 "defer": {"slots": 1, "description": "", "include_deferred": "yes"},
 "   ": {"slots": 1, "description": ""}}
EOF
run "$G" pools import "$T/mixed.json"
check_eq "import with bad entries exits 1" 1 "$rc"
check_contains "naming every bad entry, as Airflow" "Failed to update pool(s): no_desc, not_obj, frac, neg, defer,    " "$out"
check_contains "a missing description is explained" "pool no_desc: expected an object with \"slots\" and \"description\"" "$out"
check_contains "a fractional slots is explained" "pool frac: \"slots\" is not an integer" "$out"
check_contains "slots below -1 is explained" "pool neg: \"slots\": a pool has -1 (unlimited) or more slots" "$out"
check_contains "a include_deferred that is not a boolean is explained" "pool defer: \"include_deferred\" is not true or false" "$out"
check_contains "a blank name is explained" "Pool name shouldn't be empty" "$out"
check_eq "and the good entry was not written either" 0 "$(q "select count(*) from slot_pool where pool = 'good'")"
# a failure inside the database half-way through: the first pool must not stay
q "create function boom() returns trigger language plpgsql as \$\$ begin raise exception 'refused by a test trigger'; end \$\$"
q "create trigger boom before insert on slot_pool for each row when (new.pool = 'zz_boom') execute function boom()"
printf '{"aa_first": {"slots": 1, "description": ""}, "zz_boom": {"slots": 1, "description": ""}}' >"$T/boom.json"
run "$G" pools import "$T/boom.json"
check_eq "an import the database refuses half-way exits 1" 1 "$rc"
check_contains "with the database's reason, naming the pool" "set pool zz_boom" "$out"
check_eq "and the pool written before it was rolled back (one transaction)" 0 \
    "$(q "select count(*) from slot_pool where pool = 'aa_first'")"
check_eq "no failed import changed the table" "$before" \
    "$(q "select string_agg(pool || ':' || slots, ',' order by pool) from slot_pool")"

# --- help and wiring
run "$G" pools --help
check_contains "gust pools --help lists the six verbs" "pools export" "$out"
run "$G" pools import --help
check_contains "import --help shows Airflow's file format" '{"pool_1": {"slots": 5, "description": "", "include_deferred": false}}' "$out"
run "$G" pools get
check_eq "get without NAME is a usage error" 2 "$rc"
run "$G" pools list -x
check_eq "an unknown option is still a usage error (only negative numbers are arguments)" "2" "$rc"
check_contains "naming it" "unknown option '-x'" "$out"
