#!/usr/bin/env bash
# test_kafka_changelog_compaction: admission state restored from a changelog that Apache
# Kafka's log cleaner has really compacted (fidelity tier only: the mock cluster never
# compacts).
#   1. the admission changelog rolls a segment every 500 ms and is cleaned as soon as
#      anything is dirty (segment.ms, min.cleanable.dirty.ratio, min.compaction.lag.ms);
#   2. 12 rounds of events over 40 sources write many versions of each source's state;
#      beside them, straight into the changelog: five "ghost" sources, each a valid
#      state followed by a tombstone, and one "kept" source with a state only;
#   3. wait until the cleaner has compacted: fewer records are readable from the
#      beginning than were written (old versions gone, offsets with gaps);
#   4. with everything processed and the scheduler_state mirror settled, dump the 40
#      sources' state; kill -9 sluice-ingress, empty scheduler_state, restart it: the
#      mirror of the restored state equals the dump column for column (window, counts,
#      pause, state time), the kept source is there and no ghost is (tombstones
#      applied on restore).
SLUICE_TEST_BROKER=kafka
. "$(dirname "$0")/lib.sh"

CL=sluice.ingress.admission-changelog
SOURCES=40
ROUNDS=12
PER_ROUND=400
INGRESS_ARGS=(-X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=1000
              -X admission.mirror.ms=300 -X admission.default.limit=7
              -X admission.default.window.ms=1000 -X admission.default.pause.after=0)

start_devbroker
"$PY" - "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" "$CL" <<'PYEOF' || fail "could not set the changelog's cleaner configs"
import sys
from confluent_kafka.admin import AdminClient, ConfigResource
a = AdminClient({"bootstrap.servers": sys.argv[1]})
cfg = {"cleanup.policy": "compact", "segment.ms": "500", "min.cleanable.dirty.ratio": "0.01",
       "min.compaction.lag.ms": "0", "delete.retention.ms": "86400000"}
for f in a.alter_configs([ConfigResource("topic", sys.argv[2], set_config=cfg)]).values():
    f.result()
PYEOF
start_pg
start_ingress "${INGRESS_ARGS[@]}"

# changelog STEP: "written N readable M" (N: offsets written, M: records readable now).
changelog() {
        PYTHONPATH=$SRC/tests/integration "$PY" - "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" "$CL" "$@" <<'PYEOF'
import sys
from confluent_kafka import Consumer, Producer, TopicPartition
bs, topic = sys.argv[1], sys.argv[2]
if sys.argv[3:] == ["ghosts"]:
    from gen_events import zz_long as zz  # Avro long: zigzag varint
    def state(window_start, count, throttled, paused_until, updated_at):
        return b"".join(zz(v) for v in (window_start, count, throttled, paused_until, updated_at))
    p = Producer({"bootstrap.servers": bs})
    for k in range(5):
        p.produce(topic, key=f"s:ghost-{k}", value=state(1700000000000, 3, 1, 0, 1700000000001), partition=0)
        p.produce(topic, key=f"s:ghost-{k}", value=None, partition=0)
    p.produce(topic, key="s:kept", value=state(1700000000000, 2, 0, 0, 1700000000002), partition=0)
    sys.exit(0 if p.flush(20) == 0 else 1)
c = Consumer({"bootstrap.servers": bs, "group.id": "compaction-probe", "enable.auto.commit": False})
parts = c.list_topics(topic, timeout=10).topics[topic].partitions
written = readable = 0
for p in parts:
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
    written += hi
    if hi > lo:
        c.assign([TopicPartition(topic, p, lo)])
        while True:
            m = c.poll(5)
            if m is None:
                sys.exit("timed out reading the changelog")
            if not m.error():
                readable += 1
                if m.offset() >= hi - 1:
                    break
c.close()
print(f"written {written} readable {readable}")
PYEOF
}

total=0
for r in $(seq 1 $ROUNDS); do
        "$PY" - $r $PER_ROUND $SOURCES >"$T/round.jsonl" <<'PYEOF'
import json, sys, time, uuid
r, n, k = map(int, sys.argv[1:4])
now = int(time.time() * 1000)
for i in range(n):
    print(json.dumps({"id": str(uuid.uuid4()), "type": "compaction.test",
                      "source": f"cs-{i % k:02d}", "occurred_at": now,
                      "payload": {"round": r, "n": i}}, separators=(",", ":")))
PYEOF
        "$SLUICECTL" publish --count-only "$T/round.jsonl" >>"$T/pub.log" 2>&1 ||
                fail "publish round $r: $(tail -n 3 "$T/pub.log")"
        total=$((total + PER_ROUND))
        [ "$r" = 6 ] && { changelog ghosts || fail "could not write the ghosts"; }
        wait_until "[ \$(psql_val 'select count(*) from workflow_events') -ge $total ]" 30 ||
                fail "round $r: only $(psql_val 'select count(*) from workflow_events') of $total events decided"
        sleep 0.6 # let segment.ms pass, so the next round's records start a new segment
done
log "published $total events over $SOURCES sources in $ROUNDS rounds"

wait_until "changelog count >'$T/cl.txt' && awk '{exit !(\$4 * 10 < \$2 * 6)}' '$T/cl.txt'" 60 ||
        fail "the changelog was not compacted: $(cat "$T/cl.txt")"
log "compacted: $(cat "$T/cl.txt") records"

# The state before: everything decided, the mirror settled (two equal dumps in a row).
dump() {
        psql_val "select key, kafka_partition, window_start, window_count, throttled,
                         paused_until, updated_at
                  from scheduler_state where stage = 'ingress' order by key"
}
wait_until "dump >'$T/d1' && sleep 1 && dump >'$T/d2' && cmp -s '$T/d1' '$T/d2' &&
            [ \$(wc -l <'$T/d2') -eq $SOURCES ]" 30 ||
        fail "the mirror did not settle on $SOURCES sources: $(wc -l <"$T/d2")"
grep -v '^cs-' "$T/d2" && fail "the mirror shows a source that ingress never saw"
cp "$T/d2" "$T/before.txt"
assert_eq "sources throttled at least once (many versions each)" $SOURCES \
        "$(psql_val "select count(distinct source) from workflow_events where status = 'throttled'")"

kill -KILL "$INGRESS_PID"
wait "$INGRESS_PID" 2>/dev/null || true
untrack_pid "$INGRESS_PID"
psql_val "delete from scheduler_state" >/dev/null
log "ingress killed with SIGKILL; scheduler_state emptied"

start_ingress "${INGRESS_ARGS[@]}"
wait_until "[ \$(psql_val \"select count(*) from scheduler_state where stage = 'ingress'\") -ge $((SOURCES + 1)) ]" 30 ||
        fail "the restarted ingress mirrored $(psql_val "select count(*) from scheduler_state") rows, not $((SOURCES + 1))"
dump >"$T/after.txt"
assert_eq "ghost sources restored (tombstoned)" 0 "$(grep -c '^ghost-' "$T/after.txt" || true)"
assert_eq "kept source restored" 1 "$(grep -c '^kept|' "$T/after.txt" || true)"
grep -v '^kept|' "$T/after.txt" >"$T/after-cs.txt"
cmp -s "$T/before.txt" "$T/after-cs.txt" ||
        fail "restored state differs: $(diff "$T/before.txt" "$T/after-cs.txt" | head -n 6)"
log "ok: the state restored from the compacted changelog equals the state before ($SOURCES sources)"
log "PASS"
