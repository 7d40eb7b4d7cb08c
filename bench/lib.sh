# Helpers the bench/*/run.sh scripts source: the broker a benchmark runs against.
#
#   bench_broker_args "$@"     takes a leading "--broker devbroker|kafka" off the
#                              arguments (sets BENCH_BROKER, BENCH_ARGS)
#   bench_start_broker WORK PARTITIONS
#                              sluice-devbroker (the default) or Apache Kafka itself
#                              (scripts/kafka.sh, one KRaft node in WORK/kafka, topics
#                              made by `sluicectl topics ensure`); exports
#                              SLUICE_KAFKA_BOOTSTRAP_SERVERS and SLUICE_TOPIC_PARTITIONS
#   bench_stop_broker          stops what bench_start_broker started
#
# Needs $root (the repository) and $build.

bench_broker_args() {
        BENCH_BROKER=devbroker
        BENCH_ARGS=("$@")
        if [ "${1:-}" = --broker ]; then
                BENCH_BROKER=${2:-}
                BENCH_ARGS=("${@:3}")
        fi
        case "$BENCH_BROKER" in
        devbroker | kafka) ;;
        *) echo "--broker takes devbroker or kafka, not '$BENCH_BROKER'" >&2; exit 2 ;;
        esac
}

# What the broker is, for the benchmark's first lines: the devbroker's broker count
# changes the figures (docs/benchmarks.md, bench/trigger's third pass).
bench_broker_desc() {
        if [ "$BENCH_BROKER" = kafka ]; then
                echo "kafka (Apache Kafka, one KRaft node)"
        else
                echo "devbroker (devbroker.brokers ${SLUICE_DEVBROKER_BROKERS:-3})"
        fi
}

bench_start_broker() {
        local work=$1 parts=$2
        export SLUICE_TOPIC_PARTITIONS=$parts
        _bench_work=$work
        if [ "$BENCH_BROKER" = kafka ]; then
                SLUICE_KAFKA_DIR=$work/kafka "$root/scripts/kafka.sh" start >"$work/kafka-start.log" 2>&1 ||
                        { cat "$work/kafka-start.log" >&2; exit 1; }
                SLUICE_KAFKA_BOOTSTRAP_SERVERS=$(cat "$work/kafka/bootstrap.txt")
                export SLUICE_KAFKA_BOOTSTRAP_SERVERS
                "$build/sluicectl" topics ensure >"$work/topics.log" 2>&1 ||
                        { cat "$work/topics.log" >&2; exit 1; }
                return
        fi
        "$build/sluice-devbroker" -X devbroker.bootstrap.file="$work/bootstrap.txt" \
                >"$work/devbroker.log" 2>&1 &
        _bench_broker_pid=$!
        for _ in $(seq 100); do [ -s "$work/bootstrap.txt" ] && break; sleep 0.1; done
        [ -s "$work/bootstrap.txt" ] || { cat "$work/devbroker.log" >&2; exit 1; }
        local bs
        bs=$(head -1 "$work/bootstrap.txt")
        export SLUICE_KAFKA_BOOTSTRAP_SERVERS=${bs#bootstrap.servers=}
}

bench_stop_broker() {
        if [ -n "${_bench_broker_pid:-}" ]; then
                kill "$_bench_broker_pid" 2>/dev/null && wait "$_bench_broker_pid" 2>/dev/null
        fi
        if [ -n "${_bench_work:-}" ] && [ -f "$_bench_work/kafka/kafka.pid" ]; then
                SLUICE_KAFKA_DIR=$_bench_work/kafka "$root/scripts/kafka.sh" stop
        fi
        return 0
}
