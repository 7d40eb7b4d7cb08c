#!/usr/bin/env bash
# test_kafka_java_publisher: the Java example (examples/java: Apache Avro 1.12's own
# single-object encoding and kafka-clients' default partitioner) publishes 2,000 events
# over 200 sources; sluice-ingress accepts every one (the id set in workflow_events
# equals the published one, all 'accepted', nothing dead-lettered), and every record
# landed on the partition sluice owns its source on (sluice-it-owner, sluice's murmur2)
# — so Java's fingerprint and partitioner agree with sluice's.  Fidelity tier only:
# kafka-clients 4.x publishing to sluice-devbroker (librdkafka 2.0.2's mock cluster)
# never completed a send within the test's 120 s, so it runs on Apache Kafka.
SLUICE_TEST_BROKER=kafka
. "$(dirname "$0")/lib.sh"

JAVA_CP="$SRC/examples/java/target/classes:$SRC/examples/java/target/lib/*"
[ -d "$SRC/examples/java/target/lib" ] ||
        fail "examples/java is not built (scripts/test.sh builds it: mvn -f examples/java/pom.xml package)"
N=2000
PARTITIONS=6 # topic.partitions' default

start_devbroker
start_pg
start_ingress

"$PY" "$SRC/tests/integration/gen_events.py" valid $N --seed 21 --sources 200 >"$T/events.jsonl"
(cd "$SRC" && java -cp "$JAVA_CP" io.sluice.examples.Publish "$T/events.jsonl" \
        -report "$T/report.txt") >"$T/java.log" 2>&1 || fail "Java publisher: $(tail -n 5 "$T/java.log")"
assert_eq "Java publisher says" "published $N events (0 failed)" "$(tail -n 1 "$T/java.log")"

wait_until "[ \$(psql_val 'select count(*) from workflow_events') -ge $N ]" 40 ||
        fail "only $(psql_val 'select count(*) from workflow_events') of $N events reached Postgres"
cut -d' ' -f1 "$T/report.txt" | sort >"$T/sent.ids"
psql_val "select id from workflow_events where status = 'accepted'" | sort >"$T/accepted.ids"
assert_eq "accepted ids = published ids" "" "$(comm -3 "$T/sent.ids" "$T/accepted.ids" | head -3)"
assert_eq "accepted events" "$N" "$(wc -l <"$T/accepted.ids")"
assert_eq "dead letters" 0 "$(psql_val 'select count(*) from dead_letters')"

# Where each record landed (kafka-clients) against where sluice owns its source.
cut -d' ' -f2,3 "$T/report.txt" | sort -u >"$T/landed.txt"
cut -d' ' -f2 "$T/report.txt" | sort -u | "$BUILD/sluice-it-owner" $PARTITIONS | sort -u >"$T/owner.txt"
assert_eq "sources" 200 "$(wc -l <"$T/owner.txt")"
assert_eq "records off their murmur2 owner" "" "$(comm -3 "$T/landed.txt" "$T/owner.txt" | head -3)"
log "PASS"
