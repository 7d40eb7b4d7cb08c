#!/usr/bin/env bash
# test_pg: scripts/pg.sh, the migrations, `sluicectl migrate` and `sluicectl types`
# against a private Postgres (own temp dir, free port, SLUICE_PG_FAST=1).
#
# Checks: pg.sh start/status/url/stop (idempotent); migrate twice (the second applies
# nothing); tables and today's daily partitions exist; a row far outside the daily
# range lands in the default partition and sluice_ensure_event_partitions moves it
# into the new day's partition; a failing migration names its file and line and
# records nothing; two concurrent migrators agree; types set/get/list/rm round trip;
# a bad schema is refused with words; connection errors never print the password.
# Needs only sluicectl (no devbroker).  Stops its Postgres and removes its dir on exit.
set -euo pipefail

SRC=${SLUICE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SLUICE_BUILD_DIR:-$SRC/build}
SLUICECTL=$BUILD/sluicectl
PY=/usr/bin/python3
TEST_NAME=test_pg
[ -x "$SLUICECTL" ] || { echo "$TEST_NAME: $SLUICECTL not built" >&2; exit 1; }

# Clients must not pick up the dev stack or a user's config (nor this harness's own
# SLUICE_KEEP_TMP, which sluice's config would take for an unknown key).
KEEP_TMP=${SLUICE_KEEP_TMP:-0}
unset SLUICE_KEEP_TMP SLUICE_CONFIG SLUICE_PG_DIR SLUICE_PG_PORT SLUICE_PG_FAST SLUICE_KAFKA_BOOTSTRAP_SERVERS \
      2>/dev/null || true

T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-it-$TEST_NAME.XXXXXX")
chmod 755 "$T"
PGDIR=$T/pg
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

log() { echo "[$TEST_NAME] $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
assert_eq() { [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"; log "ok: $1 = $3"; }
assert_contains() { # WHAT NEEDLE HAYSTACK
        case "$3" in *"$2"*) log "ok: $1" ;; *) fail "$1: '$2' not in: $3" ;; esac
}

pgsh() { SLUICE_PG_DIR=$PGDIR SLUICE_PG_PORT=$PORT SLUICE_PG_FAST=1 "$SRC/scripts/pg.sh" "$@"; }
ctl() { SLUICE_PG_PORT=$PORT "$SLUICECTL" -X log.level=warn "$@"; }
sql() { PGCONNECT_TIMEOUT=5 psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U sluice -d sluice -c "$1"; }

cleanup() {
        local rc=$?
        set +e
        pgsh stop >/dev/null 2>&1
        if [ "$rc" -ne 0 ] || [ "$KEEP_TMP" = 1 ]; then
                [ -f "$PGDIR/postgres.log" ] && tail -n 20 "$PGDIR/postgres.log" >&2
                echo "$TEST_NAME: exit $rc; files kept in $T" >&2
        else
                rm -rf "$T"
        fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- pg.sh -------------------------------------------------------------------------
if pgsh status >/dev/null; then fail "status says running before start"; fi
pgsh start 2>"$T/start.log" || fail "pg.sh start: $(cat "$T/start.log")"
pgsh status >/dev/null || fail "pg.sh status after start"
pgsh start 2>&1 | grep -q "already running" || fail "second start is not idempotent"
assert_eq "pg.sh url" "postgresql://sluice@127.0.0.1:$PORT/sluice" "$(pgsh url)"
assert_eq "psql via pg.sh" "sluice" "$(pgsh psql -Atc 'select current_user')"
assert_eq "fast mode (tests only)" "off" "$(sql 'show fsync')"
assert_eq "listens on loopback only" "127.0.0.1" "$(sql 'show listen_addresses')"

# --- migrate -----------------------------------------------------------------------
nmig=$(ls "$SRC"/migrations/[0-9]*_*.sql | wc -l)
out=$(ctl -X migrations.dir="$SRC/migrations" migrate)
assert_eq "first migrate" "applied $nmig migrations (0 already applied)" "$out"
out=$(ctl migrate --dir "$SRC/migrations")
assert_eq "second migrate" "applied 0 migrations ($nmig already applied)" "$out"
assert_eq "schema_migrations rows" "$nmig" "$(sql 'select count(*) from schema_migrations')"
for t in workflow_events workflow_events_default dead_letters event_types schema_migrations; do
        assert_eq "table $t exists" "$t" "$(sql "select to_regclass('$t')")"
done
assert_eq "workflow_events column order" \
        "id,type,source,occurred_at,received_at,payload,correlation_id,ttl_ms,metadata,kafka_partition,kafka_offset,status,reason,decided_at,attempt" \
        "$(sql "select string_agg(attname, ',' order by attnum) from pg_attribute
                where attrelid = 'workflow_events'::regclass and attnum > 0 and not attisdropped")"
for d in 0 -7 14; do
        p=workflow_events_p$(date -u -d "$d days" +%Y%m%d)
        assert_eq "partition $p" "1" "$(sql "select count(*) from pg_inherits
                where inhparent = 'workflow_events'::regclass and inhrelid = to_regclass('$p')")"
done

# --- partitions: default partition, then moved by sluice_ensure_event_partitions -----
old=$(date -u -d '-60 days' +%Y-%m-%d)
sql "insert into workflow_events (id, type, source, occurred_at, payload, kafka_partition, kafka_offset)
     values ('00000000-0000-4000-8000-000000000001', 'order.created', 'shop', '$old 13:00:00Z', '{}', 0, 1)"
assert_eq "far-past row lands in" "workflow_events_default" \
        "$(sql "select tableoid::regclass from workflow_events where id = '00000000-0000-4000-8000-000000000001'")"
sql "insert into workflow_events (id, type, source, occurred_at, payload, kafka_partition, kafka_offset)
     values ('00000000-0000-4000-8000-000000000001', 'order.created', 'shop', '$old 13:00:00Z', '{}', 0, 1)
     on conflict do nothing"
created=$(sql "select sluice_ensure_event_partitions(60, 0)")
assert_eq "partitions created for days 60..8 back" "53" "$created"
newp=workflow_events_p${old//-/}
assert_eq "row moved into $newp" "1" "$(sql "select count(*) from $newp")"
assert_eq "default partition emptied" "0" "$(sql 'select count(*) from workflow_events_default')"
assert_eq "ensure is idempotent" "0" "$(sql 'select sluice_ensure_event_partitions(60, 14)')"
out=$(sql "select sluice_ensure_event_partitions(-1, 0)" 2>&1 || true)
assert_contains "negative days refused" "must be >= 0" "$out"

sql "insert into dead_letters (topic, kafka_partition, kafka_offset, raw, reason, message)
     values ('sluice.events.in', 0, 7, '\\x00'::bytea, 'bad_framing', 'too short')"
out=$(sql "insert into dead_letters (topic, kafka_partition, kafka_offset, raw, reason, message)
           values ('sluice.events.in', 0, 7, '\\x00'::bytea, 'bad_framing', 'again')" 2>&1 || true)
assert_contains "dead_letters unique per Kafka position" "duplicate key" "$out"

# --- a failing migration names file and line, records nothing -----------------------
mkdir "$T/mig"
cp "$SRC"/migrations/*.sql "$T/mig/"
printf 'CREATE TABLE ok_before (a int);\n\nSELECT no_such_column\n  FROM ok_before;\n' \
        >"$T/mig/9990_broken.sql"
rc=0
out=$(ctl migrate --dir "$T/mig" 2>&1) || rc=$?
assert_eq "broken migration exit code" "1" "$rc"
assert_contains "error names file and line" "9990_broken.sql line 3" "$out"
assert_contains "error has the server's words" 'column "no_such_column" does not exist' "$out"
assert_eq "broken migration rolled back" "" "$(sql "select to_regclass('ok_before')")"
assert_eq "broken migration not recorded" "0" \
        "$(sql 'select count(*) from schema_migrations where version = 9990')"
printf 'CREATE TABLE committed_early (a int);\nCOMMIT;\n' >"$T/mig/9990_broken.sql"
rc=0
out=$(ctl migrate --dir "$T/mig" 2>&1) || rc=$?
assert_eq "migration with COMMIT exit code" "1" "$rc"
assert_contains "COMMIT inside a migration refused" "must not contain BEGIN/COMMIT" "$out"
rm "$T/mig/9990_broken.sql"
cp "$T/mig/0001_workflow_events.sql" "$T/mig/0001_again.sql"
rc=0
out=$(ctl migrate --dir "$T/mig" 2>&1) || rc=$?
assert_eq "duplicate version exit code" "1" "$rc"
assert_contains "duplicate version named" "have the same number 1" "$out"

# Two migrators at once on a fresh database: the advisory lock serialises them.
sql "create database sluice_race"
SLUICE_PG_PORT=$PORT "$SLUICECTL" -X log.level=warn -X pg.dbname=sluice_race migrate \
        --dir "$SRC/migrations" >"$T/race1.out" 2>&1 &
p1=$!
SLUICE_PG_PORT=$PORT "$SLUICECTL" -X log.level=warn -X pg.dbname=sluice_race migrate \
        --dir "$SRC/migrations" >"$T/race2.out" 2>&1 &
p2=$!
wait $p1 || fail "concurrent migrate 1: $(cat "$T/race1.out")"
wait $p2 || fail "concurrent migrate 2: $(cat "$T/race2.out")"
n1=$(sed -n 's/^applied \([0-9]*\) migrations.*/\1/p' "$T/race1.out")
n2=$(sed -n 's/^applied \([0-9]*\) migrations.*/\1/p' "$T/race2.out")
assert_eq "concurrent migrators applied each file once" "$nmig" "$((n1 + n2))"

# --- sluicectl types -----------------------------------------------------------------
cat >"$T/order.avsc" <<'EOF'
{"type": "record", "name": "OrderCreated",
 "fields": [{"name": "order_id", "type": "string"}, {"name": "amount", "type": "double"}]}
EOF
out=$(ctl types set order.created "$T/order.avsc" --description "An order was placed")
assert_contains "types set" "order.created" "$out"
ctl types get order.created >"$T/got.avsc"
diff -q "$T/order.avsc" "$T/got.avsc" >/dev/null || fail "types get differs from the file set"
log "ok: types get returns the schema as set"
expect_by=${USER:-sluicectl}
[ -n "$expect_by" ] || expect_by=sluicectl
list=$(ctl types list)
assert_eq "types list header" "TYPE	SCHEMA	UPDATED_AT	UPDATED_BY	DESCRIPTION" "$(head -n 1 <<<"$list")"
assert_eq "types list row" "order.created	yes	$expect_by	An order was placed" \
        "$(sed -n 2p <<<"$list" | cut -f1,2,4,5)"
ctl types set order.created "$T/order.avsc" >/dev/null
assert_eq "description kept on re-set" "An order was placed" \
        "$(sql "select description from event_types where type = 'order.created'")"

printf '{"type": "record", "name": "Bad", "fields": [{"name": "x", "type": "nosuchtype"}]}\n' \
        >"$T/bad.avsc"
rc=0
out=$(ctl types set bad.type "$T/bad.avsc" 2>&1) || rc=$?
assert_eq "bad schema exit code" "1" "$rc"
assert_contains "bad schema error names the file" "$T/bad.avsc is not a usable payload schema" "$out"
assert_contains "bad schema error says why" "nosuchtype" "$out"
echo 'this is not json' >"$T/notjson.avsc"
rc=0
out=$(ctl types set bad.type "$T/notjson.avsc" 2>&1) || rc=$?
assert_eq "non-JSON schema exit code" "1" "$rc"
assert_eq "bad schemas never stored" "0" "$(sql "select count(*) from event_types where type = 'bad.type'")"
rc=0
out=$(ctl types set bad.type "$T/missing.avsc" 2>&1) || rc=$?
assert_contains "missing file named" "$T/missing.avsc: No such file or directory" "$out"
rc=0
out=$(ctl types set only-type 2>&1) || rc=$?
assert_eq "types set without FILE is a usage error" "2" "$rc"

out=$(ctl types rm order.created)
assert_contains "types rm" "removed" "$out"
assert_eq "types list empty" "1" "$(ctl types list | wc -l)"
rc=0
out=$(ctl types get order.created 2>&1) || rc=$?
assert_eq "get of a removed type exit code" "1" "$rc"
assert_contains "get of a removed type says so" "no event type 'order.created'" "$out"
rc=0
out=$(ctl types rm order.created 2>&1) || rc=$?
assert_eq "rm of a missing type exit code" "1" "$rc"

# --- connection errors: clear, and never the password --------------------------------
pgsh stop 2>/dev/null
if pgsh status >/dev/null; then fail "status says running after stop"; fi
pgsh stop 2>&1 | grep -q "not running" || fail "second stop is not idempotent"
rc=0
out=$(SLUICE_PG_PORT=$PORT "$SLUICECTL" -X pg.password=s3cret-Pw0rd types list 2>&1) || rc=$?
assert_eq "types list with Postgres down exit code" "1" "$rc"
assert_contains "connection error is clear" "Postgres connect:" "$out"
case "$out" in *s3cret-Pw0rd*) fail "password leaked: $out" ;; esac
log "ok: password not in the error"
log "PASS"
