#!/usr/bin/env bash
# test_pg_session: src/pg/session.c against a private Postgres (own temp dir, free
# port, SLUICE_PG_FAST=1), through sluice-it-pg_session_probe: a terminated backend is
# reconnected and set up again, a failure for good is SL_ERR_PG at once, a deadlock
# victim's transaction is run again and commits, and a server gone for good is
# SL_ERR_PG_TRANSIENT.  Needs no Kafka.  Stops its Postgres and removes its dir on exit.
set -euo pipefail

SRC=${SLUICE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SLUICE_BUILD_DIR:-$SRC/build}
PROBE=$BUILD/sluice-it-pg_session_probe
PY=/usr/bin/python3
TEST_NAME=test_pg_session
[ -x "$PROBE" ] || { echo "$TEST_NAME: $PROBE not built" >&2; exit 1; }

KEEP_TMP=${SLUICE_KEEP_TMP:-0}
unset SLUICE_KEEP_TMP SLUICE_CONFIG SLUICE_PG_DIR SLUICE_PG_PORT SLUICE_PG_FAST SLUICE_KAFKA_BOOTSTRAP_SERVERS \
      2>/dev/null || true

T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-it-$TEST_NAME.XXXXXX")
chmod 755 "$T"
PGDIR=$T/pg
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

log() { echo "[$TEST_NAME] $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
pgsh() { SLUICE_PG_DIR=$PGDIR SLUICE_PG_PORT=$PORT SLUICE_PG_FAST=1 "$SRC/scripts/pg.sh" "$@"; }

cleanup() {
        local rc=$?
        set +e
        [ -n "${PROBE_PID:-}" ] && kill "$PROBE_PID" 2>/dev/null
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

coproc PROBE_CO { "$PROBE" "$PORT" 2>"$T/probe.err"; }
PROBE_PID=$PROBE_CO_PID
# bash unsets PROBE_CO once the probe exits: read and write through copies of its fds.
exec {PROBE_OUT}<&"${PROBE_CO[0]}" {PROBE_IN}>&"${PROBE_CO[1]}"
checks=0
while IFS= read -r -t 60 line <&"$PROBE_OUT"; do
        case "$line" in
        ok:*) log "$line"; checks=$((checks + 1)) ;;
        "stop postgres")
                pgsh stop >/dev/null 2>&1 || fail "pg.sh stop"
                echo go >&"$PROBE_IN" ;;
        *) log "probe: $line" ;;
        esac
done
wait "$PROBE_PID" && rc=0 || rc=$?
PROBE_PID=
[ "$rc" = 0 ] || fail "probe exit $rc: $(cat "$T/probe.err")"
[ "$checks" = 7 ] || fail "expected 7 checks, got $checks: $(cat "$T/probe.err")"
log "PASS"
