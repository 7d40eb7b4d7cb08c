#!/usr/bin/env bash
# bench/retry: a private devbroker and Postgres, migrations, sluice-retry, then
# bench-retry: N held-back events across SOURCES sources through the 1 s tier; prints
# retries/s and p50/p99 lateness.  RATE 0 (default): the wake-ups come as one burst;
# RATE > 0: paced at RATE per second.
# usage: bench/retry/run.sh [N [SOURCES [RATE]]]   (defaults 100000, 1000, 0)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SLUICE_BUILD_DIR:-$root/build}
n=${1:-100000}
sources=${2:-1000}
rate=${3:-0}
work=$(mktemp -d /tmp/sluice-bench-retry.XXXXXX)
chmod 755 "$work"
port=$((57000 + RANDOM % 1000))
broker_pid= retry_pid=

cleanup() {
        [ -n "$retry_pid" ] && kill "$retry_pid" 2>/dev/null && wait "$retry_pid" 2>/dev/null
        [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
        SLUICE_PG_DIR=$work/pg SLUICE_PG_PORT=$port "$root/scripts/pg.sh" stop >/dev/null 2>&1 || true
        [ -n "${BENCH_KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

[ -x "$build/bench/bench-retry" ] || { echo "build first: cmake --build $build" >&2; exit 1; }
SLUICE_PG_DIR=$work/pg SLUICE_PG_PORT=$port "$root/scripts/pg.sh" start >/dev/null
"$build/sluice-devbroker" -X devbroker.bootstrap.file="$work/bootstrap.txt" \
        >"$work/devbroker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do [ -s "$work/bootstrap.txt" ] && break; sleep 0.1; done
[ -s "$work/bootstrap.txt" ] || { cat "$work/devbroker.log" >&2; exit 1; }

bs=$(head -1 "$work/bootstrap.txt")
export SLUICE_KAFKA_BOOTSTRAP_SERVERS=${bs#bootstrap.servers=}
export SLUICE_PG_PORT=$port
"$build/sluicectl" migrate >/dev/null
# shellcheck disable=SC2086 # extra -X flags for experiments: BENCH_RETRY_ARGS
"$build/sluice-retry" -X http.port=0 -X log.level=warn ${BENCH_RETRY_ARGS:-} \
        >"$work/retry.log" 2>&1 &
retry_pid=$!
sleep 5 # the group's first assignment (the mock delays it ~3 s)
"$build/bench/bench-retry" "$n" "$sources" "$rate"
