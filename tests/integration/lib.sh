# Helpers every integration test sources: a private stack per test.
#
# A test gets its own temp dir ($T), its own sluice-devbroker (own bootstrap file),
# its own Postgres (own data dir and a free port, SLUICE_PG_FAST=1 for pg.sh only) and its own
# processors on free HTTP ports, so it never touches the dev stack of scripts/up.sh
# on the default ports.  An EXIT trap stops everything it started (processors with
# SIGTERM then SIGKILL, the devbroker, Postgres) and removes $T, unless the test failed
# or SLUICE_KEEP_TMP=1, in which case $T stays and the last log lines are printed.
#
#   . "$(dirname "$0")/lib.sh"
#   start_devbroker; start_pg; start_ingress
#   psql_val "select count(*) from workflow_events"
#   wait_until "[ \$(psql_val 'select 1') = 1 ]" 30
#
# Environment: SLUICE_SOURCE_DIR, SLUICE_BUILD_DIR (set by CTest; default: the repo
# and its build/), SLUICE_KEEP_TMP.

set -euo pipefail

SRC=${SLUICE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${SLUICE_BUILD_DIR:-$SRC/build}
PY=/usr/bin/python3
SLUICECTL=$BUILD/sluicectl
TEST_NAME=$(basename "${0%.sh}")

# The broker tier (start_devbroker); not exported: SLUICE_* variables are config keys.
_SL_BROKER=${SLUICE_TEST_BROKER:-devbroker}
unset SLUICE_TEST_BROKER
# Clients must not pick up the dev stack or a user's config by accident.
unset SLUICE_CONFIG SLUICE_KAFKA_BOOTSTRAP_SERVERS SLUICE_PG_PORT SLUICE_PG_DIR \
      SLUICE_HTTP_PORT SLUICE_DEVBROKER_BOOTSTRAP_FILE 2>/dev/null || true

T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-it-$TEST_NAME.XXXXXX")
chmod 755 "$T" # Postgres runs as the postgres user and must reach $T/pg
_sl_pids=()
_sl_pg_started=0
_sl_t0=$(date +%s%N)

log() {
        local ms=$(( ($(date +%s%N) - _sl_t0) / 1000000 ))
        printf '[%s %3d.%03ds] %s\n' "$TEST_NAME" $((ms / 1000)) $((ms % 1000)) "$*" >&2
}
fail() { log "FAIL: $*"; exit 1; }

for bin in sluice-devbroker sluicectl; do
        [ -x "$BUILD/$bin" ] || { echo "$TEST_NAME: $BUILD/$bin not built" >&2; exit 1; }
done

_sl_cleanup() {
        local rc=$?
        set +e
        # Newest first: processors stop (and commit) while their broker is still up.
        local i pid
        for ((i = ${#_sl_pids[@]} - 1; i >= 0; i--)); do
                pid=${_sl_pids[i]}
                kill -TERM "$pid" 2>/dev/null
                for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
        done
        if [ "$_sl_kafka_started" = 1 ]; then
                kafka_sh stop --kill >/dev/null 2>&1 # throwaway: no controlled shutdown
                cp "$T/kafka/kafka.log" "$T/kafka-broker.log" 2>/dev/null
        fi
        if [ "$_sl_pg_started" = 1 ]; then
                pg_sh stop >/dev/null 2>&1
        fi
        # A sanitizer report in any process's log fails the test, even when the data
        # came out right (scripts/test.sh runs some tests on the ASan+UBSan build).
        local f
        for f in "$T"/*.log; do
                [ -f "$f" ] || continue
                if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"; then
                        echo "$TEST_NAME: sanitizer report in $f:" >&2
                        grep -m 1 -A 12 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f" >&2
                        [ "$rc" -ne 0 ] || rc=1
                fi
        done
        kill "$_sl_guard_pid" 2>/dev/null
        if [ "$rc" -ne 0 ] || [ "${SLUICE_KEEP_TMP:-0}" = 1 ]; then
                for f in "$T"/*.log; do
                        [ -f "$f" ] || continue
                        echo "---- last lines of $f" >&2
                        tail -n 15 "$f" >&2
                done
                echo "$TEST_NAME: exit $rc; files kept in $T" >&2
        else
                rm -rf "$T"
        fi
        exit "$rc"
}
trap _sl_cleanup EXIT
trap 'exit 130' INT TERM

# A guard for when this shell dies without running the trap (SIGKILL, e.g. a CTest
# timeout): it kills what the test started and stops its Postgres.  Its output goes to
# /dev/null so it never holds CTest's pipes open.
(
        trap - EXIT
        while kill -0 $$ 2>/dev/null; do sleep 1; done
        [ -f "$T/.pids" ] && while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$T/.pids"
        [ -d "$T/pg/data" ] && SLUICE_PG_DIR=$T/pg "$SRC/scripts/pg.sh" stop
        [ -f "$T/kafka/kafka.pid" ] && SLUICE_KAFKA_DIR=$T/kafka "$SRC/scripts/kafka.sh" stop
) </dev/null >/dev/null 2>&1 &
_sl_guard_pid=$!

# A TCP port nobody listens on right now.
free_port() {
        "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_until "SHELL CONDITION" TIMEOUT_SECONDS: poll every 0.1 s; 1 on timeout.
wait_until() {
        local cond=$1 timeout=${2:-30}
        local deadline=$(( $(date +%s%N) + timeout * 1000000000 ))
        while ! eval "$cond" >/dev/null 2>&1; do
                [ "$(date +%s%N)" -lt "$deadline" ] || return 1
                sleep 0.1
        done
}

# Remember a background process so the trap stops it.
track_pid() { _sl_pids+=("$1"); echo "$1" >>"$T/.pids"; }
untrack_pid() {
        local keep=() p
        for p in "${_sl_pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
        _sl_pids=("${keep[@]}")
}

# start_devbroker [extra -X args...]: the test's broker.  By default sluice-devbroker
# with its own bootstrap file (exports SLUICE_DEVBROKER_BOOTSTRAP_FILE); with
# SLUICE_TEST_BROKER=kafka (the fidelity tier) Apache Kafka itself, one KRaft node in
# $T/kafka (scripts/kafka.sh), its topics made by `sluicectl topics ensure` with the
# same -X args.  Either way exports SLUICE_KAFKA_BOOTSTRAP_SERVERS and sets
# DEVBROKER_PID, the broker's pid.
start_devbroker() {
        if [ "$_SL_BROKER" = kafka ]; then
                _sl_start_kafka "$@"
                return
        fi
        local bf=$T/bootstrap.txt
        "$BUILD/sluice-devbroker" -X devbroker.bootstrap.file="$bf" "$@" \
                >"$T/devbroker.log" 2>&1 &
        DEVBROKER_PID=$!
        track_pid "$DEVBROKER_PID"
        wait_until "[ -s '$bf' ]" 20 || fail "devbroker did not write $bf"
        export SLUICE_DEVBROKER_BOOTSTRAP_FILE=$bf
        SLUICE_KAFKA_BOOTSTRAP_SERVERS=$(head -n 1 "$bf")
        SLUICE_KAFKA_BOOTSTRAP_SERVERS=${SLUICE_KAFKA_BOOTSTRAP_SERVERS#bootstrap.servers=}
        export SLUICE_KAFKA_BOOTSTRAP_SERVERS
        log "devbroker $DEVBROKER_PID at $SLUICE_KAFKA_BOOTSTRAP_SERVERS"
}

_sl_kafka_started=0
kafka_sh() { SLUICE_KAFKA_DIR=$T/kafka SLUICE_KAFKA_HEAP=384m "$SRC/scripts/kafka.sh" "$@"; }
_sl_start_kafka() {
        _sl_kafka_started=1
        kafka_sh start >"$T/kafka-start.log" 2>&1 ||
                fail "scripts/kafka.sh start failed: $(tail -n 5 "$T/kafka-start.log")"
        DEVBROKER_PID=$(cat "$T/kafka/kafka.pid")
        echo "$DEVBROKER_PID" >>"$T/.pids" # for the guard; the trap stops it by kafka.sh
        SLUICE_KAFKA_BOOTSTRAP_SERVERS=$(cat "$T/kafka/bootstrap.txt")
        export SLUICE_KAFKA_BOOTSTRAP_SERVERS
        "$SLUICECTL" "$@" topics ensure >"$T/topics-ensure.log" 2>&1 ||
                fail "sluicectl topics ensure: $(tail -n 5 "$T/topics-ensure.log")"
        log "Apache Kafka $DEVBROKER_PID at $SLUICE_KAFKA_BOOTSTRAP_SERVERS, topics ensured"
}

# pg_sh ARGS...: scripts/pg.sh on this test's instance.  SLUICE_PG_DIR and
# SLUICE_PG_FAST are pg.sh's own variables and are passed to it alone: exported, the
# sluice executables would read them as configuration keys (pg.dir, pg.fast) and fail.
pg_sh() {
        SLUICE_PG_DIR=$T/pg SLUICE_PG_FAST=1 SLUICE_PG_PORT=$SLUICE_PG_PORT \
                SLUICE_PG_TEMPLATE=${_SL_PG_TEMPLATE:-} "$SRC/scripts/pg.sh" "$@"
}

# A stopped cluster, initialized and migrated once per set of migrations (and pg.sh),
# in $BUILD/pg-template/<hash>: each test's instance starts as a copy of it (0.4 s
# against 2 s or more for initdb and every migration).  start_pg still runs
# `sluicectl migrate` on the copy, which finds nothing to do.
_sl_pg_template() {
        local sum dir port
        sum=$(cat "$SRC"/migrations/*.sql "$SRC/scripts/pg.sh" | sha1sum | cut -c1-16)
        dir=$BUILD/pg-template/$sum
        mkdir -p "$BUILD/pg-template"
        (
                flock 9
                [ -f "$dir/ready" ] && exit 0
                rm -rf "$BUILD"/pg-template/*/ # older migrations' templates too
                port=$(free_port)
                SLUICE_PG_DIR=$dir SLUICE_PG_FAST=1 SLUICE_PG_PORT=$port \
                        "$SRC/scripts/pg.sh" start >"$T/pg-template.log" 2>&1 || exit 1
                SLUICE_PG_PORT=$port "$SLUICECTL" -X migrations.dir="$SRC/migrations" migrate \
                        >>"$T/pg-template.log" 2>&1
                rc=$?
                SLUICE_PG_DIR=$dir SLUICE_PG_PORT=$port "$SRC/scripts/pg.sh" stop \
                        >>"$T/pg-template.log" 2>&1 || rc=1
                [ $rc = 0 ] && touch "$dir/ready"
                exit $rc
        ) 9>"$BUILD/pg-template/.lock" || fail "making the Postgres template failed: $(tail -n 5 "$T/pg-template.log")"
        _SL_PG_TEMPLATE=$dir/data
}

# start_pg: a private Postgres in $T/pg on a free port, migrated; exports SLUICE_PG_PORT.
start_pg() {
        SLUICE_PG_PORT=$(free_port)
        export SLUICE_PG_PORT
        _sl_pg_started=1
        [ "${SLUICE_TEST_PG_TEMPLATE:-1}" = 1 ] && _sl_pg_template
        pg_sh start >"$T/pg-start.log" 2>&1 ||
                fail "scripts/pg.sh start failed (see $T/pg-start.log)"
        "$SLUICECTL" -X migrations.dir="$SRC/migrations" migrate >"$T/migrate.log" 2>&1 ||
                fail "sluicectl migrate failed: $(tail -n 3 "$T/migrate.log")"
        log "postgres on port $SLUICE_PG_PORT, migrated"
}

# psql_val "SQL": the single value the query returns (unaligned, no headers).
psql_val() {
        PGCONNECT_TIMEOUT=5 psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$SLUICE_PG_PORT" \
                -U sluice -d sluice -c "$1"
}
# psql_run [psql args...]: psql on the private database (for \copy, -f, etc.).
psql_run() {
        PGCONNECT_TIMEOUT=5 psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$SLUICE_PG_PORT" \
                -U sluice -d sluice "$@"
}

# start_ingress [extra args...]: sluice-ingress in the background on a free HTTP port,
# log in $T/ingress.N.log; waits for /healthz.  Sets INGRESS_PID and INGRESS_PORT.
_sl_ingress_n=0
start_ingress() {
        [ -x "$BUILD/sluice-ingress" ] || fail "$BUILD/sluice-ingress not built"
        _sl_ingress_n=$((_sl_ingress_n + 1))
        INGRESS_PORT=$(free_port)
        INGRESS_LOG=$T/ingress.$_sl_ingress_n.log
        "$BUILD/sluice-ingress" -X http.port="$INGRESS_PORT" "$@" >"$INGRESS_LOG" 2>&1 &
        INGRESS_PID=$!
        track_pid "$INGRESS_PID"
        wait_until "curl -sf http://127.0.0.1:$INGRESS_PORT/healthz" 30 ||
                fail "ingress did not become healthy: $(tail -n 5 "$INGRESS_LOG")"
        log "ingress $INGRESS_PID healthy on :$INGRESS_PORT"
}

# start_trigger_match [extra args...]: sluice-trigger-match in the background on a free
# HTTP port, log in $T/trigger-match.N.log; waits for /healthz.  Sets MATCH_PID,
# MATCH_PORT and MATCH_LOG.
_sl_match_n=0
start_trigger_match() {
        [ -x "$BUILD/sluice-trigger-match" ] || fail "$BUILD/sluice-trigger-match not built"
        _sl_match_n=$((_sl_match_n + 1))
        MATCH_PORT=$(free_port)
        MATCH_LOG=$T/trigger-match.$_sl_match_n.log
        "$BUILD/sluice-trigger-match" -X http.port="$MATCH_PORT" "$@" >"$MATCH_LOG" 2>&1 &
        MATCH_PID=$!
        track_pid "$MATCH_PID"
        wait_until "curl -sf http://127.0.0.1:$MATCH_PORT/healthz" 30 ||
                fail "trigger-match did not become healthy: $(tail -n 5 "$MATCH_LOG")"
        log "trigger-match $MATCH_PID healthy on :$MATCH_PORT"
}

# start_trigger_launch [extra args...]: sluice-trigger-launch in the background on a
# free HTTP port, log in $T/trigger-launch.N.log; waits for /healthz.  Sets LAUNCH_PID,
# LAUNCH_PORT and LAUNCH_LOG.
_sl_launch_n=0
start_trigger_launch() {
        [ -x "$BUILD/sluice-trigger-launch" ] || fail "$BUILD/sluice-trigger-launch not built"
        _sl_launch_n=$((_sl_launch_n + 1))
        LAUNCH_PORT=$(free_port)
        LAUNCH_LOG=$T/trigger-launch.$_sl_launch_n.log
        "$BUILD/sluice-trigger-launch" -X http.port="$LAUNCH_PORT" "$@" >"$LAUNCH_LOG" 2>&1 &
        LAUNCH_PID=$!
        track_pid "$LAUNCH_PID"
        wait_until "curl -sf http://127.0.0.1:$LAUNCH_PORT/healthz" 30 ||
                fail "trigger-launch did not become healthy: $(tail -n 5 "$LAUNCH_LOG")"
        log "trigger-launch $LAUNCH_PID healthy on :$LAUNCH_PORT"
}

# stop_pid PID: SIGTERM, wait (up to 20 s), return its exit status.
stop_pid() {
        local pid=$1 rc=0
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" || rc=$?
        untrack_pid "$pid"
        return $rc
}

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
        [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
        log "ok: $1 = $3"
}

# ingress_sentinel TAG: returns once sluice-ingress has taken in everything published to
# events.in before the call, so a test can check that something did NOT happen (a
# duplicate row, a second decision) without sleeping on it.  Publishes one malformed
# record per partition of events.in, keyed onto it (sentinel.py), and waits (30 s) for
# all of them in dead_letters, one per partition: ingress takes a partition in offset
# order and writes a batch to Postgres before it goes on, so what came before a
# sentinel on its partition, a re-read after a restart included, is in Postgres by
# then.  The sentinel rows are deleted from dead_letters again, so the test's counts
# stay its own (the records stay on sluice.events.dlq).
ingress_sentinel() {
        local tag=$1 parts like
        parts=$("$SLUICECTL" topics list 2>/dev/null | awk '$1 ~ /events\.in$/ { print $2 }')
        [ -n "$parts" ] || fail "ingress_sentinel: no partition count for events.in"
        "$PY" "$SRC/tests/integration/sentinel.py" "$tag" "$parts" >"$T/sentinel.$tag.hex"
        "$SLUICECTL" publish --raw "$T/sentinel.$tag.hex" >"$T/sentinel.$tag.log" 2>&1 ||
                fail "ingress_sentinel: publish: $(tail -n 2 "$T/sentinel.$tag.log")"
        like="encode(raw, 'escape') like 'sluice-sentinel:$tag:%'"
        wait_until "[ \$(psql_val \"select count(distinct kafka_partition) from dead_letters
                                    where $like\") -ge $parts ]" 30 ||
                fail "ingress_sentinel $tag: $(psql_val "select count(distinct kafka_partition) from dead_letters where $like") of $parts partitions"
        psql_val "delete from dead_letters where $like" >/dev/null
        log "sentinel $tag: ingress has taken in all $parts partitions of events.in"
}
