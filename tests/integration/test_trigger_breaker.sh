#!/usr/bin/env bash
# test_trigger_breaker: the circuit breaker driven by a real workflow engine stand-in
# (sluice-runner, told what to do through its control file), matches fed at a steady
# rate onto sluice.trigger.matches (trigger_records.py):
#   1. deadend: the runner is silent.  Launches get no result; each one times out after
#      result_timeout_ms (500) and counts as a failure, and at failure_count (5) the
#      breaker opens: later matches are 'open', the timed-out launches say 'timed_out'.
#   2. flaky: the runner fails every launch; at failure_rate 50% over min_results 10 the
#      breaker opens.  The runner recovers; once open_ms (3 s) has passed the breaker
#      half-opens, lets exactly `probes` (2) launches through as probes, they succeed and
#      it closes: later matches are launched again, answered 'succeeded'.
# Checked in trigger_deliveries (outcomes, probe flags, results), scheduler_state's
# breaker detail, the transitions metric and the logged reasons.
. "$(dirname "$0")/lib.sh"

REC=$SRC/tests/integration/trigger_records.py
ctl() { USER=tester "$SLUICECTL" -X log.level=warn "$@"; }
create() { printf '%s' "$1" | ctl triggers create - >/dev/null || fail "create failed: $1"; }
[ -x "$BUILD/sluice-runner" ] || fail "$BUILD/sluice-runner not built"

start_devbroker
start_pg
create '{"name": "deadend", "event_type": "e", "workflow": "w.dead", "result_timeout_ms": 500,
         "failure_count": 5, "failure_rate": 0, "failure_window_ms": 20000, "open_ms": 60000,
         "open_max_ms": 60000, "probes": 1}'
create '{"name": "flaky", "event_type": "e", "workflow": "w.flaky", "failure_rate": 50,
         "min_results": 10, "failure_window_ms": 20000, "open_ms": 3000, "open_max_ms": 6000,
         "probes": 2, "result_timeout_ms": 60000}'
DEAD=$(psql_val "SELECT id FROM triggers WHERE name = 'deadend'")
FLAKY=$(psql_val "SELECT id FROM triggers WHERE name = 'flaky'")

control() { echo "$1" >"$T/control.tmp" && mv "$T/control.tmp" "$T/control"; }
control 'silent=1'
"$BUILD/sluice-runner" --control "$T/control" --record "$T/runner.jsonl" >"$T/runner.log" 2>&1 &
track_pid $!
start_trigger_launch -X trigger.launch.mirror.ms=200
# Both in their groups before the first match, so decisions follow the feed's pace.
wait_until "grep -q 'assigned' '$LAUNCH_LOG' && grep -q 'assigned' '$T/runner.log'" 30 ||
        fail "the launch stage or the runner got no partitions"
metric() { curl -sf "http://127.0.0.1:$LAUNCH_PORT/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
matches() { # TRIGGER_ID N: N matches as JSON lines
        "$PY" - "$1" "$2" <<'EOF'
import json, sys, uuid
for i in range(int(sys.argv[2])):
    print(json.dumps({"trigger_id": sys.argv[1], "trigger_name": "x", "event_id": str(uuid.uuid4()),
                      "event_type": "e", "source": "s", "correlation_id": None, "traceparent": None,
                      "workflow": "w", "params": '{"i":%d}' % i, "occurred_at": 0,
                      "accepted_at": 0, "matched_at": 0}))
EOF
}
feed() { # TRIGGER_ID N RATE
        matches "$1" "$2" | "$PY" "$REC" feed "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" sluice.trigger.matches "$3" >/dev/null
}
d() { psql_val "SELECT count(*) FROM trigger_deliveries WHERE trigger_id = '$1' AND $2"; }

# --- 1. a silent engine: result timeouts open the breaker ---------------------------
feed "$DEAD" 60 20 # 3 s
wait_until "[ \$(d $DEAD \"result = 'timed_out'\") -ge 5 ]" 20 || fail "no result timeouts: $(d $DEAD "result = 'timed_out'")"
wait_until "[ \$(d $DEAD \"outcome <> 'deferred'\") = 60 ]" 20 || fail "deadend matches not all decided"
launched=$(d "$DEAD" "outcome = 'launched'")
opened=$(d "$DEAD" "outcome = 'open'")
log "deadend: $launched launched, $opened refused while open"
[ "$launched" -ge 5 ] && [ "$opened" -ge 10 ] || fail "deadend: expected >= 5 launched then >= 10 open"
wait_until "[ \$(d $DEAD \"result = 'timed_out'\") = $launched ]" 20 || fail "not every deadend launch timed out"
assert_eq "deadend timed out with finished_at" "$launched" "$(d "$DEAD" "result = 'timed_out' AND finished_at IS NOT NULL")"
assert_eq "deadend open reason" "$opened" "$(d "$DEAD" "outcome = 'open' AND reason->>'breaker' = 'open'")"
grep -q '"trigger deadend: breaker closed -> open (failure_count' "$LAUNCH_LOG" ||
        grep -q 'trigger deadend: breaker closed -> open (failure_count' "$LAUNCH_LOG" ||
        fail "the open was not logged with its reason: $(grep breaker "$LAUNCH_LOG" | tail -n 3)"
wait_until "[ \"\$(psql_val \"SELECT detail->>'breaker' FROM scheduler_state WHERE stage = 'trigger' AND key = '$DEAD'\")\" = open ]" 10 ||
        fail "scheduler_state does not show deadend open"
log "ok: a silent engine opened deadend's breaker through $launched result timeouts"

# --- 2. a failing engine opens it, a recovered one closes it -------------------------
control 'fail_rate=1'
feed "$FLAKY" 40 20 # 2 s: it opens on the first results, and stays open past the feed
wait_until "[ \$(d $FLAKY \"outcome = 'open'\") -ge 5 ]" 20 ||
        fail "flaky did not open: $(psql_val "SELECT outcome || ':' || coalesce(result, '-') || ':' || count(*) FROM trigger_deliveries WHERE trigger_id = '$FLAKY' GROUP BY outcome, result")"
failed=$(d "$FLAKY" "result = 'failed'")
log "flaky opened after $failed failed results"
[ "$failed" -ge 10 ] || fail "flaky opened before min_results (10) results: $failed"
grep -q 'trigger flaky: breaker closed -> open (failure_rate' "$LAUNCH_LOG" || fail "flaky's open not logged with failure_rate"

control 'fail_rate=0'
t_recover=$(psql_val "SELECT (extract(epoch FROM now()) * 1000)::bigint")
feed "$FLAKY" 300 50 # 6 s: open_ms (3 s) passes while matches keep coming
wait_until "[ \$(d $FLAKY \"outcome <> 'deferred'\") = 340 ]" 20 || fail "flaky matches not all decided"
wait_until "[ \"\$(psql_val \"SELECT detail->>'breaker' FROM scheduler_state WHERE stage = 'trigger' AND key = '$FLAKY'\")\" = closed ]" 10 ||
        fail "flaky's breaker did not close: $(psql_val "SELECT detail FROM scheduler_state WHERE key = '$FLAKY'")"
assert_eq "flaky probes answered succeeded" 2 "$(d "$FLAKY" "probe AND result = 'succeeded'")"
probes=$(d "$FLAKY" "probe")
[ "$probes" -ge 2 ] || fail "flaky: $probes probes"
after=$(d "$FLAKY" "outcome = 'launched' AND NOT probe AND launched_at > (SELECT max(launched_at) FROM trigger_deliveries WHERE trigger_id = '$FLAKY' AND probe)")
[ "$after" -ge 10 ] || fail "flaky launched only $after after its probes"
assert_eq "flaky launched while open" 0 "$(d "$FLAKY" "outcome = 'launched' AND launched_at > (SELECT min(decided_at) FROM trigger_deliveries WHERE trigger_id = '$FLAKY' AND outcome = 'open') AND launched_at < (SELECT min(launched_at) FROM trigger_deliveries WHERE trigger_id = '$FLAKY' AND probe)")"
wait_until "[ \$(d $FLAKY \"outcome = 'launched' AND result = 'succeeded'\") -ge $((after + 2)) ]" 10 ||
        fail "the launches after the close were not answered"
for to in open half_open closed; do
        n=$(curl -sf "http://127.0.0.1:$LAUNCH_PORT/metrics" | awk -v k="sluice_trigger_breaker_transitions_total{to=\"$to\"}" '$1 == k {print $2}')
        [ "${n:-0}" -ge 1 ] || fail "no transition to $to in /metrics"
done
log "ok: flaky opened on failures, half-opened after open_ms, 2 probes succeeded, closed; $after launched since (recovered at $t_recover)"
log "PASS"
