#!/usr/bin/env bash
# test_trigger_launch_kill9: kill -9 sluice-trigger-launch twice during a run (once
# while it decides, once while it drains deferred queues) and restart it: every match
# has exactly one delivery, decided once (the launch ids are the reference computed
# here), no rate window ever holds more launches than its limit, a deferred queue
# still launches in match order, and every launched delivery reached
# sluice.workflow.launches (a launch repeated by the restart carries the same id; the
# test counts them and fails on a launch of a match that was not launched).
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/trigger_launch_lib.sh"
tl_setup 2000 # 14,000 matches

start_launch() {
        LPORT=$(free_port)
        "$BUILD/sluice-trigger-launch" -X http.port="$LPORT" -X trigger.launch.batch.size=500 \
                -X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=500 \
                >>"$T/launch.log" 2>&1 &
        LPID=$!
        track_pid "$LPID"
        wait_until "curl -sf http://127.0.0.1:$LPORT/healthz" 30 || fail "launch stage not healthy: $(tail -n 5 "$T/launch.log")"
}
decided() { psql_val "SELECT count(*) FROM trigger_deliveries"; }
kill9() {
        kill -KILL "$LPID"
        wait "$LPID" 2>/dev/null || true
        untrack_pid "$LPID"
}

# 1. kill -9 while it decides
start_launch
wait_until "[ \$(decided) -ge 4000 ]" 60 || fail "no progress: $(decided) decided"
kill9
at_kill=$(decided)
log "killed -9 after $at_kill of $TOTAL decisions"
start_launch
wait_until "[ \$(decided) = $TOTAL ]" 60 || fail "after the restart: $(decided) of $TOTAL decided"

# 2. kill -9 while the deferred queues drain
left=$(psql_val "SELECT count(*) FROM trigger_deliveries WHERE outcome = 'deferred'")
[ "$left" -gt 500 ] || fail "only $left deferred left to drain: the test needs more"
wait_until "[ \$(psql_val \"SELECT count(*) FROM trigger_deliveries WHERE outcome = 'deferred'\") -lt $((left - 300)) ]" 30 ||
        fail "the deferred queues do not drain"
kill9
log "killed -9 again with $(psql_val "SELECT count(*) FROM trigger_deliveries WHERE outcome = 'deferred'") deferred left"
start_launch
wait_until "[ \$(psql_val \"SELECT count(*) FROM trigger_deliveries WHERE outcome = 'deferred'\") = 0 ]" 60 ||
        fail "deferred left: $(psql_val "SELECT count(*) FROM trigger_deliveries WHERE outcome = 'deferred'")"

tl_check "the restarts"
grep -Eq 'state of partition [0-9]+ restored: [1-9][0-9]* changelog records' "$T/launch.log" ||
        fail "no restart restored trigger state from the changelog"
log "PASS"
