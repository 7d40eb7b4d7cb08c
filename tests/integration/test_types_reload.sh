#!/usr/bin/env bash
# test_types_reload: the event-type registry follows event_types through LISTEN/NOTIFY
# (src/pg/types_registry.c), survives a Postgres restart, and never blocks its caller.
#
# sluice-it-types_watch_probe polls a watch (periodic reload switched off:
# types.reload.ms = 1 h, so only notifications and reconnects can explain a change)
# and prints the registry size whenever it changes.  The test:
#   1. `types set` -> the probe sees 1 type (NOTIFY, not the timer: each wait is up to
#      10 s and prints how long it took; the latency is not asserted);
#   2. restarts Postgres (pg.sh stop/start), sets another type -> the probe
#      reconnects, reloads fully and sees 2;
#   3. `types rm` -> 1;
#   4. a row with a schema that does not compile (written with psql, bypassing
#      sluicectl's check) is skipped and logged once, however often it reloads;
#   5. no single poll took long while Postgres was down;
#   6. with notifications switched off (trigger disabled), a second probe with
#      types.reload.ms = 300 still catches up through the periodic reload.
set -euo pipefail

SRC=${SLUICE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SLUICE_BUILD_DIR:-$SRC/build}
SLUICECTL=$BUILD/sluicectl
PROBE=$BUILD/sluice-it-types_watch_probe
PY=/usr/bin/python3
TEST_NAME=test_types_reload
for b in "$SLUICECTL" "$PROBE"; do
        [ -x "$b" ] || { echo "$TEST_NAME: $b not built" >&2; exit 1; }
done

# Clients must not pick up the dev stack or a user's config (nor this harness's own
# SLUICE_KEEP_TMP, which sluice's config would take for an unknown key).
KEEP_TMP=${SLUICE_KEEP_TMP:-0}
unset SLUICE_KEEP_TMP SLUICE_CONFIG SLUICE_PG_DIR SLUICE_PG_PORT SLUICE_PG_FAST SLUICE_KAFKA_BOOTSTRAP_SERVERS \
      2>/dev/null || true

T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-it-$TEST_NAME.XXXXXX")
chmod 755 "$T"
PGDIR=$T/pg
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PROBE_PID=

log() { echo "[$TEST_NAME] $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
assert_eq() { [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"; log "ok: $1 = $3"; }

pgsh() { SLUICE_PG_DIR=$PGDIR SLUICE_PG_PORT=$PORT SLUICE_PG_FAST=1 "$SRC/scripts/pg.sh" "$@"; }
ctl() { SLUICE_PG_PORT=$PORT "$SLUICECTL" -X log.level=warn "$@"; }
sql() { PGCONNECT_TIMEOUT=5 psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U sluice -d sluice -c "$1"; }

cleanup() {
        local rc=$?
        set +e
        if [ -n "$PROBE_PID" ]; then
                kill -TERM "$PROBE_PID" 2>/dev/null
                wait "$PROBE_PID" 2>/dev/null
        fi
        pgsh stop >/dev/null 2>&1
        if [ "$rc" -ne 0 ] || [ "$KEEP_TMP" = 1 ]; then
                for f in "$T/probe.out" "$T/probe.log"; do
                        [ -f "$f" ] && { echo "---- $f" >&2; tail -n 20 "$f" >&2; }
                done
                echo "$TEST_NAME: exit $rc; files kept in $T" >&2
        else
                rm -rf "$T"
        fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_count N TIMEOUT_S: until the probe's last "types" line says N; prints the wait.
wait_count() {
        local want=$1 timeout=$2 t0 now
        t0=$(date +%s%N)
        while :; do
                if [ "$(grep '^types ' "$T/probe.out" | tail -n 1 | cut -d' ' -f2)" = "$want" ]; then
                        now=$(date +%s%N)
                        echo $(( (now - t0) / 1000000 ))
                        return 0
                fi
                kill -0 "$PROBE_PID" 2>/dev/null || fail "probe exited: $(tail -n 5 "$T/probe.log")"
                now=$(date +%s%N)
                [ $(( now - t0 )) -lt $(( timeout * 1000000000 )) ] || return 1
                sleep 0.02
        done
}

pgsh start 2>"$T/pg-start.log" || fail "pg.sh start: $(cat "$T/pg-start.log")"
ctl migrate --dir "$SRC/migrations" >/dev/null || fail "migrate failed"

cat >"$T/a.avsc" <<'EOF'
{"type": "record", "name": "A", "fields": [{"name": "id", "type": "string"}]}
EOF
cat >"$T/b.avsc" <<'EOF'
{"type": "record", "name": "B", "fields": [{"name": "n", "type": "long"}]}
EOF

SLUICE_PG_PORT=$PORT "$PROBE" -X types.reload.ms=3600000 -X log.level=info \
        >"$T/probe.out" 2>"$T/probe.log" &
PROBE_PID=$!
wait_count 0 10 >/dev/null || fail "probe did not load the (empty) registry"
log "probe $PROBE_PID running, 0 types"
assert_eq "application_name defaults to the executable" "sluice-it-types_watch_probe" \
        "$(sql "select string_agg(distinct application_name, ',') from pg_stat_activity
                where backend_type = 'client backend' and pid <> pg_backend_pid()")"

# 1. NOTIFY: seen, with the periodic reload off.
ctl types set a.created "$T/a.avsc" >/dev/null
ms=$(wait_count 1 10) || fail "probe did not see 'types set' within 10 s (periodic reload off: only NOTIFY can bring it)"
log "ok: probe saw the new type after ${ms} ms"

# 2. Restart Postgres; changes after it arrive through the new connection.
pgsh stop 2>/dev/null
sleep 1.5 # the probe notices and retries against a stopped server at least once
kill -0 "$PROBE_PID" 2>/dev/null || fail "probe died while Postgres was down"
grep -q 'connection lost' "$T/probe.log" || fail "probe did not notice the lost connection"
log "ok: probe noticed the lost connection and kept its registry"
pgsh start 2>/dev/null || fail "pg.sh start (restart) failed"
ctl types set b.created "$T/b.avsc" >/dev/null
ms=$(wait_count 2 15) || fail "probe did not see the type set after the restart"
log "ok: probe reconnected and saw the second type after ${ms} ms"
grep -q 'reconnected' "$T/probe.log" || fail "probe did not log its reconnect"

# 3. Removal is a change too.
ctl types rm a.created >/dev/null
ms=$(wait_count 1 10) || fail "probe did not see 'types rm' within 10 s (periodic reload off: only NOTIFY can bring it)"
log "ok: probe saw the removal after ${ms} ms"

# 4. A schema that does not compile: skipped, logged once across reloads.
sql "insert into event_types (type, payload_schema) values ('broken.type', '{\"type\": \"nosuchtype\"}')"
sql "update event_types set description = 'touch' where type = 'b.created'"
ctl types set a.created "$T/a.avsc" >/dev/null
ms=$(wait_count 2 10) || fail "probe did not reload after the broken row"
assert_eq "warnings for the broken row" "1" "$(grep -c "broken.type" "$T/probe.log")"

# 5. Polls stayed short, even while Postgres was down or restarting.
kill -TERM "$PROBE_PID"
wait "$PROBE_PID" || fail "probe exited non-zero"
PROBE_PID=
max=$(sed -n 's/^max_poll_ms //p' "$T/probe.out")
log "longest poll: ${max} ms"
"$PY" -c "import sys; sys.exit(0 if float('$max') < 250 else 1)" ||
        fail "a poll call blocked for ${max} ms"

# 6. The periodic reload is the backstop when a notification is missed.
SLUICE_PG_PORT=$PORT "$PROBE" -X types.reload.ms=300 -X log.level=info \
        >"$T/probe.out" 2>"$T/probe.log" &
PROBE_PID=$!
wait_count 2 10 >/dev/null || fail "second probe did not load 2 types"
sql "alter table event_types disable trigger event_types_notify"
sql "insert into event_types (type, payload_schema) values ('c.created', '$(tr -d '\n' <"$T/a.avsc")')"
ms=$(wait_count 3 3) || fail "periodic reload did not pick up an un-notified change"
log "ok: periodic reload saw the un-notified type after ${ms} ms"
sql "alter table event_types enable trigger event_types_notify"
log "PASS"
