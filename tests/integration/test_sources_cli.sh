#!/usr/bin/env bash
# test_sources_cli: `sluicectl sources`, `pause` and `resume` against a private
# Postgres (own temp dir, free port, SLUICE_PG_FAST=1).
#
# Checks: migration 0004's tables and NOTIFY trigger; sources set (insert, update
# keeping unspecified values) / get / list / rm; pause (open-ended, --for, --until,
# replacing a pause records the old one) / pause list / resume (moves the row to
# pause_history in one go; resuming an unpaused source exits 1); bad input exits
# non-zero naming the flag and changes nothing; quotes and SQL in values are stored
# verbatim (parameterised statements).  Needs only sluicectl.
set -euo pipefail

SRC=${SLUICE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SLUICE_BUILD_DIR:-$SRC/build}
SLUICECTL=$BUILD/sluicectl
PY=/usr/bin/python3
TEST_NAME=test_sources_cli
[ -x "$SLUICECTL" ] || { echo "$TEST_NAME: $SLUICECTL not built" >&2; exit 1; }

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
ctl() { SLUICE_PG_PORT=$PORT USER=tester "$SLUICECTL" -X log.level=warn "$@"; }
sql() { PGCONNECT_TIMEOUT=5 psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U sluice -d sluice -c "$1"; }

# expect_fail WHAT WANT_RC NEEDLE CMD...: CMD exits WANT_RC and says NEEDLE on stderr.
expect_fail() {
        local what=$1 want=$2 needle=$3 rc=0 err
        shift 3
        err=$("$@" 2>&1 >/dev/null) || rc=$?
        [ "$rc" = "$want" ] || fail "$what: exit $rc, expected $want ($err)"
        assert_contains "$what (exit $want)" "$needle" "$err"
}

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

pgsh start 2>"$T/start.log" || fail "pg.sh start: $(cat "$T/start.log")"
ctl migrate --dir "$SRC/migrations" >/dev/null || fail "migrate failed"

# --- schema ------------------------------------------------------------------------
assert_eq "admission tables" "event_ingress_retries pause_history pauses scheduler_state sources" \
        "$(sql "select string_agg(table_name, ' ' order by table_name) from information_schema.tables
                where table_name in ('sources','pauses','pause_history','event_ingress_retries','scheduler_state')")"
assert_eq "workflow_events decision columns" "attempt decided_at reason" \
        "$(sql "select string_agg(column_name, ' ' order by column_name) from information_schema.columns
                where table_name = 'workflow_events' and column_name in ('reason','decided_at','attempt')")"
expect_fail "CHECK: window_ms > 0" 1 "sources_window_ms_check" \
        psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U sluice -d sluice \
        -c "insert into sources (id, window_ms, updated_by) values ('bad', 0, 'x')"
expect_fail "CHECK: retry state" 1 "event_ingress_retries_state_check" \
        psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U sluice -d sluice \
        -c "insert into event_ingress_retries values (gen_random_uuid(), 's', now(), 1, now(), 'r', 'bogus')"

# The trigger notifies sluice_config with 'sources:<id>' and 'pauses:<source>'.
notes=$(psql -X -h 127.0.0.1 -p "$PORT" -U sluice -d sluice 2>&1 <<'EOF'
LISTEN sluice_config;
INSERT INTO sources (id, updated_by) VALUES ('n1', 'x');
INSERT INTO pauses (source, reason, paused_by) VALUES ('n1', 'r', 'x');
DELETE FROM pauses WHERE source = 'n1';
DELETE FROM sources WHERE id = 'n1';
EOF
)
assert_eq "NOTIFY payloads" "sources:n1 pauses:n1 pauses:n1 sources:n1" \
        "$(grep -o 'payload "[^"]*"' <<<"$notes" | cut -d'"' -f2 | xargs)"

# --- sources set / get / list / rm ---------------------------------------------------
out=$(ctl sources set billing --limit 100 --window-ms 1000 --pause-after 50 --description "Billing service")
assert_contains "set prints the limits" "limit 100 per 1000 ms" "$out"
assert_eq "stored row" "100|1000|50|60000|Billing service|tester" \
        "$(sql "select rate_limit, window_ms, pause_after, pause_ms, description, updated_by from sources where id = 'billing'")"
ctl sources set billing --limit 10 --window-ms=2000 --pause-ms 5000 --by ops >/dev/null
assert_eq "update keeps unspecified values" "10|2000|50|5000|Billing service|ops" \
        "$(sql "select rate_limit, window_ms, pause_after, pause_ms, description, updated_by from sources where id = 'billing'")"
ctl sources set "it's; drop table sources; --" --limit 0 --window-ms 1 --description "a'b\"c" >/dev/null
assert_eq "odd id and description stored verbatim" "a'b\"c" \
        "$(sql "select description from sources where id = 'it''s; drop table sources; --'")"

get=$(ctl sources get billing)
assert_contains "get: rate_limit" $'rate_limit\t10' "$get"
assert_contains "get: window_ms" $'window_ms\t2000' "$get"
assert_contains "get: not paused" $'paused\tno' "$get"
expect_fail "get of an unknown source" 1 "no source 'nope'" ctl sources get nope

list=$(ctl sources list)
assert_eq "list header" $'ID\tLIMIT\tWINDOW_MS\tPAUSE_AFTER\tPAUSE_MS\tDLQ_RATE\tDLQ_MIN\tDLQ_WINDOW_MS\tDLQ_PAUSE_MS\tPAUSED\tUPDATED_AT\tUPDATED_BY\tDESCRIPTION' \
        "$(head -n 1 <<<"$list")"
assert_eq "list rows" "3" "$(wc -l <<<"$list")"
assert_contains "list: billing line" $'billing\t10\t2000\t50\t5000\t0\t20\t60000\t60000\tno\t' "$list"

# The source breaker (migration 0010): off by default, set, kept, printed.
assert_contains "set prints the breaker off" "source breaker off" "$out"
out=$(ctl sources set billing --limit 10 --window-ms 2000 --dlq-rate 50 --dlq-min 40 --dlq-window-ms 30000 --dlq-pause-ms 120000)
assert_contains "set prints the breaker" "source breaker: auto-pause for 120000 ms when 50% of at least 40 events in a 30000 ms window are dead-lettered" "$out"
assert_eq "stored breaker" "10|2000|50|5000|50|40|30000|120000" \
        "$(sql "select rate_limit, window_ms, pause_after, pause_ms, dlq_rate, dlq_min, dlq_window_ms, dlq_pause_ms from sources where id = 'billing'")"
ctl sources set billing --limit 10 --window-ms 2000 --dlq-min=30 >/dev/null
assert_eq "update keeps the unspecified breaker values" "50|30|30000|120000" \
        "$(sql "select dlq_rate, dlq_min, dlq_window_ms, dlq_pause_ms from sources where id = 'billing'")"
get=$(ctl sources get billing)
assert_contains "get: dlq_rate" $'dlq_rate\t50' "$get"
assert_contains "get: dlq_min" $'dlq_min\t30' "$get"
assert_contains "get: dlq_window_ms" $'dlq_window_ms\t30000' "$get"
assert_contains "get: dlq_pause_ms" $'dlq_pause_ms\t120000' "$get"
assert_contains "list: billing breaker" $'billing\t10\t2000\t50\t5000\t50\t30\t30000\t120000\tno\t' "$(ctl sources list)"
expect_fail "dlq-rate over 100" 2 "--dlq-rate: 101 is out of range (must be 0..100)" \
        ctl sources set billing --limit 1 --window-ms 10 --dlq-rate 101
expect_fail "zero dlq window" 2 "--dlq-window-ms: 0 is out of range" \
        ctl sources set billing --limit 1 --window-ms 10 --dlq-window-ms 0
expect_fail "CHECK: dlq_rate 0..100" 1 "sources_dlq_rate_check" \
        psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U sluice -d sluice \
        -c "update sources set dlq_rate = 150 where id = 'billing'"
ctl sources set billing --limit 10 --window-ms 2000 --dlq-rate 0 --dlq-min 20 --dlq-window-ms 60000 --dlq-pause-ms 60000 >/dev/null

ctl sources rm "it's; drop table sources; --" >/dev/null
assert_eq "rm removed the row" "1" "$(sql "select count(*) from sources")"
expect_fail "rm of an unknown source" 1 "no source 'nope'" ctl sources rm nope

# Bad input: non-zero, names the flag, changes nothing.
expect_fail "limit not a number" 2 "--limit: 'abc' is not a whole number" ctl sources set x --limit abc --window-ms 10
expect_fail "negative limit" 2 "--limit: -1 is out of range" ctl sources set x --limit -1 --window-ms 10
expect_fail "zero window" 2 "--window-ms: 0 is out of range" ctl sources set x --limit 1 --window-ms 0
expect_fail "window with a unit" 2 "--window-ms: '1s' is not a whole number" ctl sources set x --limit 1 --window-ms 1s
expect_fail "huge pause-after" 2 "--pause-after: '99999999999999999999' is too large" \
        ctl sources set x --limit 1 --window-ms 10 --pause-after 99999999999999999999
expect_fail "negative pause-ms" 2 "--pause-ms: -5 is out of range" ctl sources set x --limit 1 --window-ms 10 --pause-ms -5
expect_fail "missing --limit" 2 "set needs --limit" ctl sources set x --window-ms 10
expect_fail "missing --window-ms" 2 "set needs --window-ms" ctl sources set x --limit 1
expect_fail "flag without value" 2 "--limit needs a value" ctl sources set x --window-ms 10 --limit
expect_fail "unknown flag" 2 "unknown option '--rate'" ctl sources set x --rate 1
expect_fail "empty id" 2 "source ID must be 1..255" ctl sources set "" --limit 1 --window-ms 10
assert_eq "bad input stored nothing" "billing" "$(sql "select string_agg(id, ',') from sources")"

# --- pause / resume ----------------------------------------------------------------
out=$(ctl pause source billing --reason "flood from deploy 42")
assert_contains "open-ended pause" "paused until resumed (by tester: flood from deploy 42)" "$out"
assert_eq "pauses row" "billing|t|flood from deploy 42|tester" \
        "$(sql "select source, until is null, reason, paused_by from pauses")"
assert_contains "get shows the pause" $'paused\tyes' "$(ctl sources get billing)"
assert_contains "list shows the pause" $'\tyes\t' "$(ctl sources list | grep '^billing')"

# A new pause replaces the current one; the old one goes to the history.
ctl pause source billing --for 90m --reason "smaller window" --by alice >/dev/null
assert_eq "replacing pause: until = now + 90 min" "t" \
        "$(sql "select abs(extract(epoch from until - now()) - 5400) < 60 from pauses where source = 'billing'")"
assert_eq "replaced pause recorded" "flood from deploy 42|tester|replaced by alice|t" \
        "$(sql "select reason, paused_by, resumed_by, resumed_at is not null from pause_history")"

ctl pause source crm --until 2031-02-03T04:05:06+02:00 --reason "maintenance" >/dev/null
assert_eq "--until with an offset" "2031-02-03 02:05:06+00" \
        "$(sql "set timezone = 'UTC'; select until from pauses where source = 'crm'")"
plist=$(ctl pause list)
assert_eq "pause list header" $'SOURCE\tACTIVE\tPAUSED_AT\tUNTIL\tPAUSED_BY\tREASON' "$(head -n 1 <<<"$plist")"
assert_contains "pause list: crm" $'crm\tyes\t' "$plist"
assert_contains "pause list: crm until" $'2031-02-03T02:05:06Z\ttester\tmaintenance' "$plist"
assert_eq "pause list rows" "3" "$(wc -l <<<"$plist")"

# An expired pause is listed as such (admission ignores it; resume still clears it).
sql "update pauses set until = now() - interval '1 minute' where source = 'crm'"
assert_contains "expired pause" $'crm\texpired\t' "$(ctl pause list)"

out=$(ctl resume source billing --by bob)
assert_contains "resume says who" "source billing resumed by bob (was paused by alice: smaller window)" "$out"
assert_eq "resumed row left pauses" "crm" "$(sql "select string_agg(source, ',') from pauses")"
assert_eq "resumed row in history" "smaller window|alice|bob|t" \
        "$(sql "select reason, paused_by, resumed_by, resumed_at is not null from pause_history where resumed_by = 'bob'")"
expect_fail "resume of an unpaused source" 1 "source 'billing' is not paused" ctl resume source billing
hist=$(ctl pause history billing)
assert_eq "history rows for billing" "3" "$(wc -l <<<"$hist")"
assert_contains "history newest first" $'\tbob' "$(sed -n 2p <<<"$hist")"

# Bad pause input: non-zero, names the flag, changes nothing.
before=$(sql "select count(*) from pauses")/$(sql "select count(*) from pause_history")
expect_fail "--reason required" 2 "--reason TEXT is required" ctl pause source x
expect_fail "empty --reason" 2 "--reason must be 1.." ctl pause source x --reason ""
expect_fail "bad --for" 2 "--for: '5x' is not a duration" ctl pause source x --for 5x --reason r
expect_fail "zero --for" 2 "--for: '0s' is not a duration" ctl pause source x --for 0s --reason r
expect_fail "--for without unit" 2 "--for: '30' is not a duration" ctl pause source x --for 30 --reason r
expect_fail "bad --until" 2 "--until: 'tomorrow' is not an RFC 3339 time" ctl pause source x --until tomorrow --reason r
expect_fail "impossible --until" 2 "--until: '2031-02-30T00:00:00Z' is not an RFC 3339 time" \
        ctl pause source x --until 2031-02-30T00:00:00Z --reason r
expect_fail "past --until" 2 "--until: 2020-01-01T00:00:00Z is in the past" \
        ctl pause source x --until 2020-01-01T00:00:00Z --reason r
expect_fail "--until with --for" 2 "--until and --for exclude each other" \
        ctl pause source x --until 2031-01-01T00:00:00Z --for 1m --reason r
expect_fail "pause without 'source'" 2 "unknown command 'x'" ctl pause x
expect_fail "resume without 'source'" 2 "expected 'source ID'" ctl resume billing
expect_fail "resume bad flag" 2 "unknown option '--reason'" ctl resume source crm --reason r
assert_eq "bad pause input changed nothing" "$before" \
        "$(sql "select count(*) from pauses")/$(sql "select count(*) from pause_history")"

# Connection errors: words, exit 1.
expect_fail "no server" 1 "sluicectl sources:" env SLUICE_PG_PORT=1 "$SLUICECTL" -X log.level=warn sources list
log "PASS"
