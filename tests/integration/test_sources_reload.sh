#!/usr/bin/env bash
# test_sources_reload: the sources / pauses snapshot follows its tables through
# LISTEN sluice_config (src/limits/sources.c on src/pg/watch.c), reloads fully after a
# Postgres restart, and never blocks its caller.
#
# sluice-it-sources_watch_probe polls a watch (periodic reload switched off:
# sources.reload.ms = 1 h, so only notifications and reconnects can explain a change)
# and prints what it sees of source "billing" whenever that changes.  The test:
#   1. `sources set` -> the probe sees the new limit (through NOTIFY: each wait is up to
#      10 s and prints how long it took; the latency is not asserted);
#   2. `pause source` -> paused; `resume source` -> unpaused;
#      a pause --for shows its until;
#   3. with the notify trigger disabled, a change is NOT seen (the timer is off);
#      then Postgres restarts (pg.sh stop/start): the probe reconnects, reloads fully
#      and sees it;
#   4. `sources rm` -> back to the defaults (admission.default.* of the probe);
#   5. no single poll took long, even while Postgres was down.
set -euo pipefail

SRC=${SLUICE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SLUICE_BUILD_DIR:-$SRC/build}
SLUICECTL=$BUILD/sluicectl
PROBE=$BUILD/sluice-it-sources_watch_probe
PY=/usr/bin/python3
TEST_NAME=test_sources_reload
for b in "$SLUICECTL" "$PROBE"; do
        [ -x "$b" ] || { echo "$TEST_NAME: $b not built" >&2; exit 1; }
done

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

# The probe's last line without its timestamp: "COUNT PAUSED LIMIT WINDOW_MS PAUSE".
seen() { grep '^sources ' "$T/probe.out" | tail -n 1 | cut -d' ' -f2-6; }

# wait_seen PATTERN TIMEOUT_S: until seen() matches the extended regex; prints the wait.
wait_seen() {
        local want=$1 timeout=$2 t0 now
        t0=$(date +%s%N)
        while :; do
                if [[ "$(seen)" =~ ^$want$ ]]; then
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

SLUICE_PG_PORT=$PORT "$PROBE" -X sources.reload.ms=3600000 -X log.level=info \
        -X admission.default.limit=7 -X admission.default.window.ms=500 \
        --source billing >"$T/probe.out" 2>"$T/probe.log" &
PROBE_PID=$!
wait_seen "0 0 7 500 none" 10 >/dev/null || fail "probe did not load the empty tables (saw '$(seen)')"
log "ok: probe $PROBE_PID running, billing has the defaults (7 per 500 ms)"

# 1. A new limit arrives through NOTIFY.
ctl sources set billing --limit 100 --window-ms 1000 >/dev/null
ms=$(wait_seen "1 0 100 1000 none" 10) || fail "probe did not see 'sources set' within 10 s (saw '$(seen)')"
log "ok: probe saw the new limit after ${ms} ms"
ctl sources set billing --limit 5 --window-ms 2000 >/dev/null
ms=$(wait_seen "1 0 5 2000 none" 10) || fail "probe did not see the lowered limit within 10 s (periodic reload off: only NOTIFY can bring it)"
log "ok: probe saw the lowered limit after ${ms} ms"

# 2. Pauses and resumes.
ctl pause source billing --reason "flood test" >/dev/null
ms=$(wait_seen "1 1 5 2000 open" 10) || fail "probe did not see 'pause source' within 10 s (saw '$(seen)')"
log "ok: probe saw the open-ended pause after ${ms} ms"
ctl resume source billing >/dev/null
ms=$(wait_seen "1 0 5 2000 none" 10) || fail "probe did not see 'resume source' within 10 s (saw '$(seen)')"
log "ok: probe saw the resume after ${ms} ms"
before=$(( $(date +%s) * 1000 ))
ctl pause source billing --for 1h --reason "timed" >/dev/null
ms=$(wait_seen "1 1 5 2000 [0-9]+" 10) || fail "probe did not see the timed pause within 10 s (saw '$(seen)')"
until_ms=$(seen | cut -d' ' -f5)
[ "$until_ms" -ge $(( before + 3600000 - 5000 )) ] && [ "$until_ms" -le $(( before + 3600000 + 5000 )) ] ||
        fail "pause --for 1h: until $until_ms is not an hour after $before"
log "ok: probe saw the 1 h pause (until $until_ms) after ${ms} ms"
ctl resume source billing >/dev/null
wait_seen "1 0 5 2000 none" 1 >/dev/null || fail "probe did not see the second resume"

# 3. A change nobody is notified of, then a restart: only the full reload after the
# reconnect can show it.
sql "alter table sources disable trigger sources_notify"
sql "update sources set rate_limit = 42 where id = 'billing'"
sql "alter table sources enable trigger sources_notify"
sleep 1
assert_eq "un-notified change not seen before the restart" "1 0 5 2000 none" "$(seen)"
pgsh stop 2>/dev/null
sleep 1.5 # the probe notices and retries against a stopped server at least once
kill -0 "$PROBE_PID" 2>/dev/null || fail "probe died while Postgres was down"
grep -q 'connection lost' "$T/probe.log" || fail "probe did not notice the lost connection"
assert_eq "snapshot kept while Postgres is down" "1 0 5 2000 none" "$(seen)"
pgsh start 2>/dev/null || fail "pg.sh start (restart) failed"
ms=$(wait_seen "1 0 42 2000 none" 15) || fail "probe did not reload fully after the restart (saw '$(seen)')"
log "ok: probe reconnected and reloaded fully (limit 42) after ${ms} ms"
grep -q 'reconnected' "$T/probe.log" || fail "probe did not log its reconnect"

# 4. Removing the row: back to the defaults.
ctl sources rm billing >/dev/null
ms=$(wait_seen "0 0 7 500 none" 10) || fail "probe did not see 'sources rm' within 10 s (saw '$(seen)')"
log "ok: probe saw the removal (defaults again) after ${ms} ms"

# 5. Polls stayed short, even while Postgres was down or restarting.
kill -TERM "$PROBE_PID"
wait "$PROBE_PID" || fail "probe exited non-zero"
PROBE_PID=
max=$(sed -n 's/^max_poll_ms //p' "$T/probe.out")
log "longest poll: ${max} ms"
"$PY" -c "import sys; sys.exit(0 if float('$max') < 250 else 1)" ||
        fail "a poll call blocked for ${max} ms"
log "PASS"
