#!/usr/bin/env bash
# test_kafka_exactly_once_launch: sluice-trigger-launch with exactly_once=true, killed
# with SIGKILL twice while it decides and restarted with the same
# exactly_once.transactional.id (fidelity tier only).  Afterwards a read_committed
# consumer of sluice.workflow.launches sees every launched delivery exactly once and no
# other launch; read_uncommitted, the log holds the aborted transactions' launches too.
# One trigger defers over its limit: its queue is released after every match is
# decided, and the stage is killed a third time while it releases; the changelog's
# released_next (committed with the launches) keeps the next worker from producing
# a committed release again.
SLUICE_TEST_BROKER=kafka
. "$(dirname "$0")/lib.sh"

REC=$SRC/tests/integration/trigger_records.py
READ=$SRC/tests/integration/read_committed.py
ctl() { USER=tester "$SLUICECTL" -X log.level=warn "$@"; }
create() { printf '%s' "$1" | ctl triggers create - >/dev/null || fail "create failed: $1"; }

start_devbroker
start_pg
create '{"name": "u1", "event_type": "e", "workflow": "w"}'
create '{"name": "u2", "event_type": "e", "workflow": "w"}'
create '{"name": "u3", "event_type": "e", "workflow": "w"}'
create '{"name": "s1", "event_type": "e", "workflow": "w", "rate_limit": 300, "window_ms": 1000}'
create '{"name": "d1", "event_type": "e", "workflow": "w", "rate_limit": 300, "window_ms": 1000, "on_limit": "defer"}'
psql_val "SELECT name || ' ' || id FROM triggers ORDER BY name" >"$T/triggers"
N=${SLUICE_EOS_MATCHES:-2500} # per trigger
TOTAL=$((N * 5))
"$PY" - "$T/triggers" "$N" >"$T/matches.jsonl" <<'EOF'
import json, sys, time, uuid
now = int(time.time() * 1000)
trigs = [l.split() for l in open(sys.argv[1])]
for i in range(int(sys.argv[2])):
    for name, tid in trigs:
        print(json.dumps({
            "trigger_id": tid, "trigger_name": name, "event_id": str(uuid.uuid4()),
            "event_type": "e", "source": "s", "correlation_id": None, "traceparent": None,
            "workflow": "w", "params": '{"i":%d}' % i,
            "occurred_at": now, "accepted_at": now, "matched_at": now}))
EOF
"$PY" "$REC" feed "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" sluice.trigger.matches <"$T/matches.jsonl" >/dev/null ||
        fail "feeding the matches"
log "fed $TOTAL matches"

start_launch() {
        LPORT=$(free_port)
        "$BUILD/sluice-trigger-launch" -X http.port="$LPORT" -X trigger.launch.batch.size=200 \
                -X exactly_once=true -X exactly_once.transactional.id=it-eos-launch \
                -X kafka.group.instance.id=it-eos-launch \
                -X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=500 \
                >>"$T/launch.log" 2>&1 &
        LPID=$!
        track_pid "$LPID"
        wait_until "curl -sf http://127.0.0.1:$LPORT/healthz" 30 || fail "launch stage not healthy: $(tail -n 5 "$T/launch.log")"
}
decided() { psql_val "SELECT count(*) FROM trigger_deliveries"; }
deferred() { psql_val "SELECT count(*) FROM trigger_deliveries WHERE outcome = 'deferred'"; }
kill_restart() {
        kill -KILL "$LPID"
        wait "$LPID" 2>/dev/null || true
        untrack_pid "$LPID"
        start_launch
}

start_launch
for at in $((TOTAL / 4)) $((TOTAL / 2)); do
        wait_until "[ \$(decided) -ge $at ]" 30 || fail "no progress: $(decided) decided"
        c=$(decided)
        [ "$c" -lt "$TOTAL" ] || fail "the stage was too quick: all decided before kill -9"
        kill_restart
        log "kill -9 at $c of $TOTAL decisions"
done
wait_until "[ \$(decided) = $TOTAL ]" 40 || fail "after the restarts: $(decided) of $TOTAL decided"
# d1's queue drains at 300 a second: kill -9 once more while it does.
q=$(deferred)
[ "$q" -gt 100 ] || fail "d1's deferred queue is too short to kill the stage in it: $q"
wait_until "[ \$(deferred) -lt $((q / 2)) ]" 30 || fail "d1's queue does not drain: $(deferred)"
kill_restart
log "kill -9 with $(deferred) of d1's matches still deferred (of $q)"
wait_until "[ \$(deferred) = 0 ]" 30 || fail "d1's queue is not drained: $(deferred) deferred"
# Every batch is committed before the next is read: once all are decided and the
# stage idles, nothing is left in a transaction.
sleep 1
stop_pid "$LPID" || fail "sluice-trigger-launch did not exit 0 on SIGTERM"

byname() { psql_val "SELECT count(*) FROM trigger_deliveries WHERE trigger_name = '$1' AND $2"; }
for t in u1 u2 u3 d1; do assert_eq "$t launched" "$N" "$(byname $t "outcome = 'launched'")"; done
assert_eq "d1: matches launched from its queue" "$(byname d1 "first_outcome = 'deferred'")" \
        "$(byname d1 "first_outcome = 'deferred' AND outcome = 'launched'")"
[ "$(byname d1 "first_outcome = 'deferred'")" -ge "$q" ] || fail "d1 deferred too few matches"
grep -q 'already committed with the restored state' "$T/launch.log" ||
        fail "no restart found committed releases to leave alone"
grep 'produced again after the assignment' "$T/launch.log" | sed 's/^/    /' | cut -c1-300
psql_val "SELECT launch_id FROM trigger_deliveries WHERE outcome = 'launched'" | sort >"$T/launched"
nl=$(wc -l <"$T/launched")

"$PY" "$READ" "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" sluice.workflow.launches launch 30 \
        >"$T/committed.txt" 2>"$T/read.err" || fail "read_committed: $(cat "$T/read.err")"
"$PY" "$READ" "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" sluice.workflow.launches launch 30 read_uncommitted \
        >"$T/uncommitted.txt" 2>>"$T/read.err" || fail "read_uncommitted: $(cat "$T/read.err")"
awk '{ print $3 }' "$T/committed.txt" | sort >"$T/on_kafka"
all=$(wc -l <"$T/uncommitted.txt")
log "sluice.workflow.launches read_uncommitted: $all records for $nl launches ($((all - nl)) in aborted transactions)"
assert_eq "workflow.launches read_committed: records" "$nl" "$(wc -l <"$T/on_kafka")"
assert_eq "workflow.launches read_committed: distinct launch ids" "$nl" "$(uniq <"$T/on_kafka" | wc -l)"
assert_eq "launched deliveries missing on Kafka" 0 "$(comm -23 "$T/launched" "$T/on_kafka" | wc -l)"
assert_eq "launches on Kafka of matches not launched" 0 "$(comm -13 "$T/launched" "$T/on_kafka" | wc -l)"
log "PASS"
