#!/usr/bin/env bash
# bench/retry: a private devbroker and Postgres, migrations, sluice-retry, then
# bench-retry: N held-back events across SOURCES sources through the 1 s tier; prints
# retries/s and p50/p99 lateness.  RATE 0 (default): the wake-ups come as one burst;
# RATE > 0: paced at RATE per second.
# --broker kafka runs it on Apache Kafka itself instead of the devbroker.
# usage: bench/retry/run.sh [--broker devbroker|kafka] [N [SOURCES [RATE]]]
#        (defaults 100000, 1000, 0)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SLUICE_BUILD_DIR:-$root/build}
. "$root/bench/lib.sh"
bench_broker_args "$@"
set -- "${BENCH_ARGS[@]}"
n=${1:-100000}
sources=${2:-1000}
rate=${3:-0}
work=$(mktemp -d /tmp/sluice-bench-retry.XXXXXX)
chmod 755 "$work"
port=$((57000 + RANDOM % 1000))
retry_pid=

cleanup() {
        [ -n "$retry_pid" ] && kill "$retry_pid" 2>/dev/null && wait "$retry_pid" 2>/dev/null
        bench_stop_broker
        SLUICE_PG_DIR=$work/pg SLUICE_PG_PORT=$port "$root/scripts/pg.sh" stop >/dev/null 2>&1 || true
        [ -n "${BENCH_KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

[ -x "$build/bench/bench-retry" ] || { echo "build first: cmake --build $build" >&2; exit 1; }
SLUICE_PG_DIR=$work/pg SLUICE_PG_PORT=$port "$root/scripts/pg.sh" start >/dev/null
bench_start_broker "$work" "${SLUICE_TOPIC_PARTITIONS:-6}"
export SLUICE_PG_PORT=$port
echo "broker: $(bench_broker_desc)" >&2
"$build/sluicectl" migrate >/dev/null
# shellcheck disable=SC2086 # extra -X flags for experiments: BENCH_RETRY_ARGS
"$build/sluice-retry" -X http.port=0 -X log.level=warn ${BENCH_RETRY_ARGS:-} \
        >"$work/retry.log" 2>&1 &
retry_pid=$!
sleep 5 # the group's first assignment (the mock delays it ~3 s)
"$build/bench/bench-retry" "$n" "$sources" "$rate"
