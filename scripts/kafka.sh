#!/usr/bin/env bash
# scripts/kafka.sh: Apache Kafka itself (one KRaft broker+controller) for the fidelity
# tier of the tests and for trying sluice against the real thing.
#
#   scripts/kafka.sh fetch      fetch the broker's jars from Maven Central (mvn; the
#                               local Maven cache makes the second run offline), and
#                               make their class-data archive once (starts twice as fast)
#   scripts/kafka.sh start      fetch if needed, format KRaft storage, start, wait until
#                               it answers metadata requests; prints bootstrap.servers
#   scripts/kafka.sh stop [--kill]  SIGTERM by pid (controlled shutdown), SIGKILL after 30 s;
#                              --kill: SIGKILL at once (a throwaway test broker)
#   scripts/kafka.sh status     exit 0 when running, 3 when not
#   scripts/kafka.sh bootstrap  print host:port of the running broker
#
# Environment:
#   SLUICE_KAFKA_DIR      instance folder (default <repo>/.sluice/kafka): data/,
#                         server.properties, kafka.log, kafka.pid, bootstrap.txt
#   SLUICE_KAFKA_PORT     client port on 127.0.0.1 (default: a free port, chosen at
#                         the first start and kept in the folder)
#   SLUICE_KAFKA_LIB      where the jars go (default <repo>/.sluice/kafka-lib-VERSION)
#   SLUICE_KAFKA_HEAP     JVM heap (default 512m)
#
# The Kafka version is the one in scripts/kafka/pom.xml.  Nothing downloaded is
# committed: the jars live under .sluice/ (ignored by git) and in ~/.m2.  Runs as root
# or not; listens on 127.0.0.1 only.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
POM=$root/scripts/kafka/pom.xml
VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")
DIR=${SLUICE_KAFKA_DIR:-$root/.sluice/kafka}
LIB=${SLUICE_KAFKA_LIB:-$root/.sluice/kafka-lib-$VERSION}
HEAP=${SLUICE_KAFKA_HEAP:-512m}
PY=/usr/bin/python3

die() { echo "kafka.sh: $*" >&2; exit 1; }

case "$DIR" in /*) ;; *) DIR=$(pwd)/$DIR ;; esac
[ -n "$VERSION" ] || die "no <kafka.version> in $POM"

free_port() {
        "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

running() {
        [ -f "$DIR/kafka.pid" ] && kill -0 "$(cat "$DIR/kafka.pid")" 2>/dev/null
}

fetch() {
        fetch_jars
        make_cds
}

fetch_jars() {
        [ -f "$LIB/.complete" ] && return 0
        command -v mvn >/dev/null || die "mvn not found (scripts/install-deps.sh installs maven)"
        command -v java >/dev/null || die "java not found (scripts/install-deps.sh installs a JDK 17)"
        echo "kafka.sh: fetching Apache Kafka $VERSION into $LIB" >&2
        rm -rf "$LIB.tmp"
        mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIB.tmp" >&2 ||
                die "mvn could not fetch Kafka $VERSION (see above)"
        touch "$LIB.tmp/.complete"
        rm -rf "$LIB"
        mv "$LIB.tmp" "$LIB"
}

# A class-data archive of the broker's classes (Java's AppCDS), made once beside the
# jars by `fetch`: the broker then starts in ~2.8 s instead of ~5.4 s on this machine,
# paid by every test of the fidelity tier.  Made by running a throwaway broker with
# -XX:ArchiveClassesAtExit and stopping it cleanly.  A stale or unusable archive is
# ignored by the JVM (-Xshare:auto), so it never stops a start.
CDS=$LIB.jsa
make_cds() {
        [ -f "$CDS" ] && return 0
        local tmp
        tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-kafka-cds.XXXXXX")
        if SLUICE_KAFKA_DIR=$tmp SLUICE_KAFKA_CDS_DUMP=$CDS.tmp.$$ "${BASH_SOURCE[0]}" start >/dev/null 2>&1; then
                SLUICE_KAFKA_DIR=$tmp "${BASH_SOURCE[0]}" stop >/dev/null 2>&1
        fi
        if [ -s "$CDS.tmp.$$" ]; then
                mv "$CDS.tmp.$$" "$CDS"
        else
                echo "kafka.sh: no class-data archive made (starts stay ~2.5 s slower)" >&2
                rm -f "$CDS.tmp.$$"
        fi
        rm -rf "$tmp"
}
cds_opts() {
        if [ -n "${SLUICE_KAFKA_CDS_DUMP:-}" ]; then
                echo "-XX:ArchiveClassesAtExit=$SLUICE_KAFKA_CDS_DUMP"
        elif [ -f "$CDS" ]; then
                echo "-XX:SharedArchiveFile=$CDS"
        fi
}

java_() { # java_ MAINCLASS ARGS...: the broker's classpath, small heap
        java -Xms128m -Xmx"$HEAP" -XX:+UseSerialGC -Djava.awt.headless=true \
                -Dlog4j2.configurationFile="$DIR/log4j2.properties" \
                -cp "$LIB/*" "$@"
}

configure() {
        local port cport
        mkdir -p "$DIR"
        if [ -f "$DIR/ports" ]; then
                read -r port cport <"$DIR/ports"
        else
                port=${SLUICE_KAFKA_PORT:-$(free_port)}
                cport=$(free_port)
                echo "$port $cport" >"$DIR/ports"
        fi
        [ -z "${SLUICE_KAFKA_PORT:-}" ] || [ "$SLUICE_KAFKA_PORT" = "$port" ] ||
                die "$DIR was set up on port $port, not SLUICE_KAFKA_PORT=$SLUICE_KAFKA_PORT (remove the folder to change it)"
        cat >"$DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.cleaner.backoff.ms=1000
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
EOF
        cat >"$DIR/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $DIR/kafka.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = INFO
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
        echo "127.0.0.1:$port" >"$DIR/bootstrap.txt"
}

# A metadata request answered: the broker is up (not just its port).
answers() {
        "$PY" - "$(cat "$DIR/bootstrap.txt")" <<'EOF' >/dev/null 2>&1
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(timeout=2)
sys.exit(0 if md.brokers else 1)
EOF
}

# KRaft storage for a new node.  Formatting takes two JVM starts (a cluster id, then
# the format), a few seconds that every test on this tier would pay: the storage is
# formatted once into a template beside the jars and copied.  It holds no port (the
# quorum is the static controller.quorum.voters), only the cluster, node and directory
# ids, so every copy is a valid single-node cluster of its own.
format_storage() {
        local tpl=$LIB.storage-template
        if [ ! -f "$tpl/.complete" ]; then
                local id tmp=$tpl.tmp.$$
                rm -rf "$tmp"
                mkdir -p "$tmp"
                sed "s|^log.dirs=.*|log.dirs=$tmp/data|" "$DIR/server.properties" >"$tmp/server.properties"
                id=$(java_ kafka.tools.StorageTool random-uuid 2>>"$DIR/kafka.log") ||
                        die "StorageTool random-uuid failed (see $DIR/kafka.log)"
                java_ kafka.tools.StorageTool format -t "$id" -c "$tmp/server.properties" \
                        >>"$DIR/kafka.log" 2>&1 || die "formatting KRaft storage failed (see $DIR/kafka.log)"
                touch "$tmp/.complete"
                rm -rf "$tpl"
                mv "$tmp" "$tpl" 2>/dev/null || rm -rf "$tmp" # another copy won the race
        fi
        mkdir -p "$DIR/data"
        cp -a "$tpl/data/." "$DIR/data/"
}

start() {
        if running; then
                cat "$DIR/bootstrap.txt"
                return 0
        fi
        fetch_jars # the class-data archive is fetch's (make_cds starts a broker)
        configure
        if [ ! -f "$DIR/data/meta.properties" ]; then
                format_storage
        fi
        # shellcheck disable=SC2046 # cds_opts prints zero or one option
        nohup java $(cds_opts) -Xms256m -Xmx"$HEAP" -XX:+UseSerialGC -Djava.awt.headless=true \
                -Dlog4j2.configurationFile="$DIR/log4j2.properties" \
                -cp "$LIB/*" kafka.Kafka "$DIR/server.properties" \
                </dev/null >>"$DIR/kafka.out" 2>&1 &
        echo $! >"$DIR/kafka.pid"
        local deadline=$(( $(date +%s) + 90 ))
        until answers; do
                running || die "the broker exited at start: $(tail -n 5 "$DIR/kafka.out" "$DIR/kafka.log" 2>/dev/null)"
                [ "$(date +%s)" -lt "$deadline" ] || { stop; die "the broker did not answer within 90 s (see $DIR/kafka.log)"; }
                sleep 0.5
        done
        cat "$DIR/bootstrap.txt"
}

stop() { # stop [--kill]: --kill skips the controlled shutdown (a throwaway broker)
        running || { rm -f "$DIR/kafka.pid"; return 0; }
        local pid
        pid=$(cat "$DIR/kafka.pid")
        [ "${1:-}" = --kill ] && kill -KILL "$pid" 2>/dev/null
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        rm -f "$DIR/kafka.pid"
}

case "${1:-}" in
fetch) fetch ;;
start) start ;;
stop) stop "${2:-}" ;;
status) running && { echo "kafka running (pid $(cat "$DIR/kafka.pid")) at $(cat "$DIR/bootstrap.txt")"; exit 0; }
        echo "kafka not running"; exit 3 ;;
bootstrap) running || die "not running"; cat "$DIR/bootstrap.txt" ;;
*) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
