#!/usr/bin/env bash
# bench/ingress: start a private broker (the devbroker with 32 partitions, so the
# preload stays under the mock's ~5 MiB per partition; or, with --broker kafka, Apache
# Kafka itself) and a private Postgres, apply migrations, and run bench-ingress, which
# prints events/s next to its raw-consume and raw-COPY baselines (and, among its runs,
# one with the rollup job running beside ingress: the cost of rollups, issue 15).
# With --exactly-once, ingress also runs with exactly_once=true on the same records and
# both figures are printed side by side (meant for --broker kafka: the devbroker's mock
# cluster runs transactions but keeps no transactional offsets).
# usage: bench/ingress/run.sh [--broker devbroker|kafka] [--exactly-once] [-X key=value]...
#                             [N_EVENTS [SOURCES]]
#        (defaults 300000, 10000)
# BENCH_INGRESS_ONLY=N: only N runs of sluice-ingress at its defaults (for trying -X
# settings); BENCH_INGRESS_BIN: what to run as sluice-ingress (a profiler's wrapper).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SLUICE_BUILD_DIR:-$root/build}
. "$root/bench/lib.sh"
bench_broker_args "$@"
set -- "${BENCH_ARGS[@]}"
eos=()
if [ "${1:-}" = --exactly-once ]; then
        eos=(--exactly-once)
        shift
fi
xs=() # -X key=value: configuration for every client of the run (ingress included)
while [ "${1:-}" = -X ] && [ $# -ge 2 ]; do
        xs+=(-X "$2")
        shift 2
done
n=${1:-300000}
sources=${2:-10000}
parts=${SLUICE_BENCH_PARTITIONS:-32}
work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
chmod 755 "$work"
port=$((56000 + RANDOM % 1000))

cleanup() {
        bench_stop_broker
        SLUICE_PG_DIR=$work/pg SLUICE_PG_PORT=$port "$root/scripts/pg.sh" stop >/dev/null 2>&1 || true
        rm -rf "$work"
}
trap cleanup EXIT

[ -x "$build/bench/bench-ingress" ] || { echo "build first: cmake --build $build" >&2; exit 1; }
SLUICE_PG_DIR=$work/pg SLUICE_PG_PORT=$port "$root/scripts/pg.sh" start >/dev/null
bench_start_broker "$work" "$parts"
export SLUICE_PG_PORT=$port
# whose CPU the benchmark accounts per row (read from /proc at each run's ends only)
BENCH_PG_PID=$(head -1 "$work/pg/data/postmaster.pid")
BENCH_BROKER_PID=${_bench_broker_pid:-$(cat "$work/kafka/kafka.pid" 2>/dev/null || echo 0)}
export BENCH_PG_PID BENCH_BROKER_PID
echo "broker: $(bench_broker_desc)" >&2
"$build/sluicectl" -X log.level=warn migrate >/dev/null
"$build/bench/bench-ingress" "${eos[@]}" "${xs[@]}" "$n" "$sources" "${BENCH_INGRESS_BIN:-$build/sluice-ingress}" 2> >(grep -v '"level":"info"' >&2)
