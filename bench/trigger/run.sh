#!/usr/bin/env bash
# bench/trigger: a private broker (the devbroker, or with --broker kafka Apache Kafka
# itself) and a private Postgres, migrations, then bench-trigger: 1,000 triggers and
# 200,000 accepted events through sluice-trigger-match and sluice-trigger-launch (each
# its own process), next to a raw consume -> produce pass-through over the same
# records, then a paced run for accepted -> launch latency.  Prints a table of figure,
# value, baseline, ratio, target.
# usage: bench/trigger/run.sh [--broker devbroker|kafka] [N_EVENTS [TRIGGERS]]
#        (defaults 200000, 1000)
# Env: BENCH_RATE, BENCH_SECS (the paced run, default 5000/s for 20 s; BENCH_RATE may
#      list rates, e.g. 1000,2000,5000: one paced phase each, in that order);
#      SLUICE_BENCH_PARTITIONS (events topics, 16 here), SLUICE_TRIGGER_PARTITIONS
#      (trigger topics, 32 here): the devbroker keeps ~5 MiB a partition and drops
#      older data, and trigger.matches and workflow.launches hold a whole burst
#      before anything reads them; other SLUICE_* keys reach the stages (e.g.
#      SLUICE_TRIGGER_LAUNCH_BATCH_MS); SLUICE_DEVBROKER_BROKERS=1 runs the devbroker
#      with one broker instead of three (the ratio to the pass-through depends on it:
#      docs/benchmarks.md, third pass); BENCH_KEEP=1 keeps the work folder (the
#      stages' logs, paced-RATE.tsv).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SLUICE_BUILD_DIR:-$root/build}
. "$root/bench/lib.sh"
bench_broker_args "$@"
set -- "${BENCH_ARGS[@]}"
n=${1:-200000}
triggers=${2:-1000}
parts=${SLUICE_BENCH_PARTITIONS:-16}
export SLUICE_TRIGGER_PARTITIONS=${SLUICE_TRIGGER_PARTITIONS:-32}
work=$(mktemp -d /tmp/sluice-bench-trigger.XXXXXX)
chmod 755 "$work"
port=$((58000 + RANDOM % 1000))

cleanup() {
        bench_stop_broker
        SLUICE_PG_DIR=$work/pg SLUICE_PG_PORT=$port "$root/scripts/pg.sh" stop >/dev/null 2>&1 || true
        [ -n "${BENCH_KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

[ -x "$build/bench/bench-trigger" ] || { echo "build first: cmake --build $build" >&2; exit 1; }
SLUICE_PG_DIR=$work/pg SLUICE_PG_PORT=$port "$root/scripts/pg.sh" start >/dev/null
bench_start_broker "$work" "$parts"
export SLUICE_PG_PORT=$port
echo "broker: $(bench_broker_desc)" >&2
"$build/sluicectl" -X log.level=warn migrate >/dev/null
broker_pid=${_bench_broker_pid:-$(cat "$work/kafka/kafka.pid" 2>/dev/null || true)}
BENCH_WORK=$work BENCH_PG_DATA=$work/pg/data BENCH_BROKER_PID=$broker_pid \
        "$build/bench/bench-trigger" "$n" "$triggers" \
        "$build/sluice-trigger-match" "$build/sluice-trigger-launch" ||
        { rc=$?; tail -n 5 "$work"/trigger-*.log >&2 2>/dev/null; exit $rc; }
