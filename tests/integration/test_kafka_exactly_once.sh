#!/usr/bin/env bash
# test_kafka_exactly_once: sluice-ingress with exactly_once=true, killed with SIGKILL
# three times in the middle of a run and restarted each time (fidelity tier only: the
# mock cluster neither keeps transactional offsets nor writes abort markers).
#   1. N valid events over 500 sources are published, then ingress starts (admission
#      on: its changelog is in the transactions too) with small batches;
#   2. it is killed -9 when workflow_events holds 20%, 45% and 70% of them, and
#      started again with the same exactly_once.transactional.id (which fences the
#      killed one and aborts the transaction it left open);
#   3. a read_committed consumer of sluice.events.accepted sees each published id
#      exactly once (count = distinct = N, the ids those published); the same topic
#      read_uncommitted holds more records (the aborted transactions' outputs), which
#      is what the default mode's consumers would have seen; workflow_events holds
#      each id once.
SLUICE_TEST_BROKER=kafka
. "$(dirname "$0")/lib.sh"

GEN=$SRC/tests/integration/gen_events.py
READ=$SRC/tests/integration/read_committed.py
N=${SLUICE_EOS_EVENTS:-20000}
BATCH=${SLUICE_EOS_BATCH:-250}
# A stable transactional.id across restarts, as a deployment gives each instance; static
# membership lets the restarted process take the killed one's partitions at once
# instead of after its session timeout.
INGRESS_ARGS=(-X exactly_once=true -X exactly_once.transactional.id=it-eos-ingress
              -X ingress.batch.size="$BATCH" -X kafka.group.instance.id=it-eos-ingress
              -X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=500)

start_devbroker
start_pg
"$PY" "$GEN" order-schema >"$T/order.avsc"
"$SLUICECTL" types set order.created "$T/order.avsc" >"$T/types.log" 2>&1 ||
        fail "sluicectl types set: $(cat "$T/types.log")"
"$PY" "$GEN" valid "$N" --seed 41 --sources 500 >"$T/valid.jsonl"
"$PY" -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["id"])' <"$T/valid.jsonl" | sort >"$T/valid.ids"
"$SLUICECTL" publish --count-only "$T/valid.jsonl" >"$T/pub.log" 2>&1 ||
        fail "publish: $(tail -n 3 "$T/pub.log")"
log "published $N events"

rows() { psql_val 'select count(*) from workflow_events'; }
start_ingress "${INGRESS_ARGS[@]}"
grep -q 'exactly_once with transactional.id it-eos-ingress' "$INGRESS_LOG" ||
        fail "ingress does not say it runs exactly_once"
for pct in 20 45 70; do
        at=$((N * pct / 100))
        wait_until "[ \$(rows) -ge $at ]" 30 || fail "workflow_events never reached $at rows ($(rows))"
        kill -KILL "$INGRESS_PID"
        wait "$INGRESS_PID" 2>/dev/null || true
        untrack_pid "$INGRESS_PID"
        c=$(rows)
        [ "$c" -lt "$N" ] || fail "ingress was too quick: all $N rows before kill -9 at $pct%; lower SLUICE_EOS_BATCH"
        log "kill -9 at $c of $N rows"
        start_ingress "${INGRESS_ARGS[@]}"
done
wait_until "[ \$(rows) -ge $N ]" 40 || fail "after the restarts: $(rows) of $N rows"
ingress_sentinel end # a duplicate row would have landed by now
committed=$(curl -sf "http://127.0.0.1:$INGRESS_PORT/metrics" |
          awk '/^sluice_ingress_transactions_total\{outcome="committed"\}/ { print $NF }')
[ -n "$committed" ] || fail "no sluice_ingress_transactions_total on /metrics"
stop_pid "$INGRESS_PID" || fail "sluice-ingress did not exit 0 on SIGTERM"
log "the last ingress committed $committed transactions"

assert_eq "workflow_events rows" "$N" "$(rows)"
assert_eq "distinct ids in workflow_events" "$N" "$(psql_val 'select count(distinct id) from workflow_events')"

"$PY" "$READ" "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" sluice.events.accepted envelope 30 \
        >"$T/committed.txt" 2>"$T/read.err" || fail "read_committed: $(cat "$T/read.err")"
"$PY" "$READ" "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" sluice.events.accepted envelope 30 read_uncommitted \
        >"$T/uncommitted.txt" 2>>"$T/read.err" || fail "read_uncommitted: $(cat "$T/read.err")"
awk '{ print $3 }' "$T/committed.txt" | sort >"$T/committed.ids"
awk '{ print $3 }' "$T/uncommitted.txt" | sort >"$T/uncommitted.ids"
all=$(wc -l <"$T/uncommitted.ids")
dup_all=$(( all - $(uniq <"$T/uncommitted.ids" | wc -l) ))
log "sluice.events.accepted read_uncommitted: $all records, $dup_all of them repeats (aborted transactions' outputs: what consumers would see without transactions)"
assert_eq "events.accepted read_committed: records" "$N" "$(wc -l <"$T/committed.ids")"
assert_eq "events.accepted read_committed: distinct ids" "$N" "$(uniq <"$T/committed.ids" | wc -l)"
assert_eq "events.accepted read_committed: ids = ids published" "" "$(comm -3 "$T/valid.ids" "$T/committed.ids" | head -3)"
[ "$dup_all" -gt 0 ] ||
        log "note: no aborted output in the log this time (every kill fell between transactions)"
log "PASS"
