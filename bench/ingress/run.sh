#!/usr/bin/env bash
# bench/ingress: start a private devbroker (32 partitions, so the preload stays under
# the mock's ~5 MiB per partition) and a private Postgres, apply migrations, and run
# bench-ingress, which prints events/s next to its raw-consume and raw-COPY baselines.
# usage: bench/ingress/run.sh [N_EVENTS [SOURCES]]   (defaults 300000, 10000)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SLUICE_BUILD_DIR:-$root/build}
n=${1:-300000}
sources=${2:-10000}
parts=${SLUICE_BENCH_PARTITIONS:-32}
work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
chmod 755 "$work"
port=$((56000 + RANDOM % 1000))
broker_pid=

cleanup() {
        [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
        SLUICE_PG_DIR=$work/pg SLUICE_PG_PORT=$port "$root/scripts/pg.sh" stop >/dev/null 2>&1 || true
        rm -rf "$work"
}
trap cleanup EXIT

[ -x "$build/bench/bench-ingress" ] || { echo "build first: cmake --build $build" >&2; exit 1; }
SLUICE_PG_DIR=$work/pg SLUICE_PG_PORT=$port "$root/scripts/pg.sh" start >/dev/null
"$build/sluice-devbroker" -X devbroker.bootstrap.file="$work/bootstrap.txt" \
        -X topic.partitions="$parts" >"$work/devbroker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do [ -s "$work/bootstrap.txt" ] && break; sleep 0.1; done
[ -s "$work/bootstrap.txt" ] || { cat "$work/devbroker.log" >&2; exit 1; }

export SLUICE_KAFKA_BOOTSTRAP_SERVERS=$(head -1 "$work/bootstrap.txt")
export SLUICE_PG_PORT=$port SLUICE_TOPIC_PARTITIONS=$parts
"$build/sluicectl" migrate >/dev/null
"$build/bench/bench-ingress" "$n" "$sources" "$build/sluice-ingress" 2> >(grep -v '"level":"info"' >&2)
