#!/usr/bin/env bash
# test_trigger_launch_scaleout: two sluice-trigger-launch workers share the triggers,
# a third joins mid-run (every partition moves: the eager range assignor), then one
# leaves: every match has exactly one delivery (the launch ids are the reference
# computed here), no rate window ever holds more launches than its limit, deferred
# queues launch in match order, and every launched delivery is on
# sluice.workflow.launches.  State moves with its partitions: the changelog, then
# Postgres for the deferred queues, the windows' launches and what awaits a result.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/trigger_launch_lib.sh"
tl_setup 2000 # 14,000 matches

LOGN=0
start_launch() { # sets LPID, LPORT
        LOGN=$((LOGN + 1))
        LPORT=$(free_port)
        "$BUILD/sluice-trigger-launch" -X http.port="$LPORT" -X trigger.launch.batch.size=300 \
                -X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=500 \
                >"$T/launch.$LOGN.log" 2>&1 &
        LPID=$!
        track_pid "$LPID"
        wait_until "curl -sf http://127.0.0.1:$LPORT/healthz" 30 || fail "launch worker $LOGN not healthy"
}
decided() { psql_val "SELECT count(*) FROM trigger_deliveries"; }
deferred() { psql_val "SELECT count(*) FROM trigger_deliveries WHERE outcome = 'deferred'"; }

start_launch; W1=$LPID
start_launch; W2=$LPID
wait_until "[ \$(decided) -ge 3000 ]" 60 || fail "no progress: $(decided) decided"
start_launch; W3=$LPID
log "worker 3 joined after $(decided) of $TOTAL decisions"
wait_until "grep -q 'assigned' '$T/launch.3.log'" 30 || fail "worker 3 got no partitions"
wait_until "[ \$(decided) = $TOTAL ]" 60 || fail "$(decided) of $TOTAL decided"
left=$(deferred)
stop_pid "$W1" || fail "worker 1 did not stop cleanly"
log "worker 1 left with $left deferred"
wait_until "[ \$(deferred) = 0 ]" 60 || fail "deferred left: $(deferred)"
for n in 1 2 3; do
        grep -q 'assigned' "$T/launch.$n.log" || fail "worker $n never got partitions"
done

tl_check "the rebalances"
cat "$T"/launch.*.log >"$T/launch.log"
grep -Eq 'state of partition [0-9]+ restored: [1-9][0-9]* changelog records' "$T/launch.log" ||
        fail "no rebalance restored trigger state from the changelog"
log "PASS"
