#!/usr/bin/env bash
# test_kafka_broker_restart: Apache Kafka stopped and started again (the JVM, with its
# data) in the middle of a run; sluice-ingress recovers by itself (the same process, no
# restart) and nothing is lost or doubled (fidelity tier only).
#   1. 3,000 events, all decided;
#   2. 3,000 more published while the broker is stopped (controlled shutdown) and,
#      a few seconds later, started again on the same port and data;
#   3. the publisher finishes without a failure; workflow_events holds each of the
#      6,000 ids exactly once, all accepted; sluice.events.accepted holds each at least
#      once (repeats, allowed by at-least-once delivery, are counted and printed); the
#      ingress that started first is still the one running and answering /metrics.
SLUICE_TEST_BROKER=kafka
. "$(dirname "$0")/lib.sh"

N=3000
start_devbroker
start_pg
start_ingress -X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=1000

gen() { "$PY" "$SRC/tests/integration/gen_events.py" valid $N --seed "$1" --sources 100; }
gen 31 >"$T/a.jsonl"
gen 32 >"$T/b.jsonl"
"$SLUICECTL" publish --count-only "$T/a.jsonl" >"$T/pub-a.log" 2>&1 ||
        fail "publish a: $(tail -n 3 "$T/pub-a.log")"
wait_until "[ \$(psql_val 'select count(*) from workflow_events') -ge $N ]" 30 ||
        fail "only $(psql_val 'select count(*) from workflow_events') of $N before the restart"
log "first $N decided"

# The second half goes out while the broker stops and starts again.
"$SLUICECTL" publish --count-only "$T/b.jsonl" >"$T/pub-b.log" 2>&1 &
pub=$!
sleep 0.3
kafka_sh stop >"$T/kafka-stop.log" 2>&1 || fail "kafka.sh stop: $(cat "$T/kafka-stop.log")"
log "broker stopped"
sleep 3
kafka_sh start >"$T/kafka-start2.log" 2>&1 || fail "kafka.sh start again: $(tail -n 5 "$T/kafka-start2.log")"
DEVBROKER_PID=$(cat "$T/kafka/kafka.pid")
echo "$DEVBROKER_PID" >>"$T/.pids"
log "broker started again ($DEVBROKER_PID)"

wait $pub || fail "publish during the restart failed: $(tail -n 3 "$T/pub-b.log")"
wait_until "[ \$(psql_val 'select count(*) from workflow_events') -ge $((2 * N)) ]" 60 ||
        fail "only $(psql_val 'select count(*) from workflow_events') of $((2 * N)) after the restart"
kill -0 "$INGRESS_PID" || fail "sluice-ingress exited during the broker restart"

cat "$T/a.jsonl" "$T/b.jsonl" | "$PY" -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["id"])' | sort >"$T/sent.ids"
psql_val "select id from workflow_events" | sort >"$T/rows.ids"
assert_eq "rows" $((2 * N)) "$(wc -l <"$T/rows.ids")"
assert_eq "ids in Postgres = ids published" "" "$(comm -3 "$T/sent.ids" "$T/rows.ids" | head -3)"
assert_eq "rows not accepted" 0 "$(psql_val "select count(*) from workflow_events where status <> 'accepted'")"

"$SLUICECTL" tail sluice.events.accepted --from-beginning --timeout-ms 5000 >"$T/accepted.jsonl" 2>"$T/tail.err" || true
"$PY" - "$T/accepted.jsonl" "$T/sent.ids" <<'PYEOF' >"$T/accepted.txt" || fail "events.accepted: $(cat "$T/accepted.txt")"
import collections, json, sys
seen = collections.Counter(json.loads(l)["id"] for l in open(sys.argv[1]) if l.strip())
sent = [l.strip() for l in open(sys.argv[2])]
missing = [i for i in sent if seen[i] == 0]
print(f"missing={len(missing)} repeated={sum(1 for i in sent if seen[i] > 1)}")
sys.exit(1 if missing else 0)
PYEOF
log "ok: sluice.events.accepted $(cat "$T/accepted.txt")"
wait_until "curl -sf http://127.0.0.1:$INGRESS_PORT/metrics | grep -q '^sluice_ingress_'" 5 ||
        fail "ingress /metrics does not answer after the restart"
log "PASS"
