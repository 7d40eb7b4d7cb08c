#!/usr/bin/env bash
# kill -9 sluice-retry during a run of retries: none lost, none accepted twice.
# Source k9 admits 1000 per 1 s window and gets 5,000 events at once: 4,000+ retries
# spread over the next windows.  sluice-retry is killed with SIGKILL while they flow
# and restarted (short reconcile intervals, so a retry marked 'due' whose re-injection
# died with the process is re-driven within seconds).  Then every event is accepted
# exactly once (workflow_events), every retry row completed, no row left waiting.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/retry_lib.sh"

N=5000
start_devbroker
start_pg
COMMON=(-X retry.backoff.initial.ms=500 -X retry.backoff.max.ms=1000 -X retry.max.attempts=30)
RETRY_ARGS=(-X retry.reconcile.ms=1000 -X retry.reconcile.grace.ms=2000
            -X retry.reconcile.due.grace.ms=4000 -X kafka.session.timeout.ms=6000
            -X kafka.heartbeat.interval.ms=1000)
"$SLUICECTL" sources set k9 --limit 1000 --window-ms 1000 >/dev/null || fail "sources set"
start_ingress "${COMMON[@]}"
start_retry "${COMMON[@]}" "${RETRY_ARGS[@]}"

"$PY" - $N <<'PY' >"$T/k9.jsonl"
import json, sys, time, uuid
now = int(time.time() * 1000)
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": str(uuid.uuid4()), "type": "retry.test", "source": "k9",
                      "occurred_at": now, "payload": {"n": i}}, separators=(",", ":")))
PY
"$SLUICECTL" publish --count-only "$T/k9.jsonl" >"$T/pub.log" 2>&1 || fail "publish: $(cat "$T/pub.log")"
wait_until "[ \$(psql_val \"select count(*) from event_ingress_retries where state = 'completed'\") -ge 500 ]" 30 ||
        fail "no retries completing: $(tail -n 3 "$RETRY_LOG")"
kill -9 "$RETRY_PID"
wait "$RETRY_PID" 2>/dev/null || true
untrack_pid "$RETRY_PID"
log "killed sluice-retry with $(psql_val "select count(*) from event_ingress_retries where state = 'completed'") retries completed"
start_retry "${COMMON[@]}" "${RETRY_ARGS[@]}"

acc() { psql_val "select count(*) from workflow_events where status = 'accepted'"; }
wait_until "[ \$(acc) -ge $N ] && [ \$(psql_val \"select count(*) from event_ingress_retries where state in ('scheduled','rescheduled','due')\") -eq 0 ]" 50 ||
        fail "timed out: $(acc) accepted; $(psql_val "select state || '=' || count(*) from event_ingress_retries group by state" | tr '\n' ' ')"
sleep 2
assert_eq "workflow_events rows / distinct ids" "$N/$N" "$(psql_val "select count(*) || '/' || count(distinct id) from workflow_events")"
assert_eq "accepted" $N "$(acc)"
assert_eq "retries not completed" 0 "$(psql_val "select count(*) from event_ingress_retries where state <> 'completed'")"
log "retries: $(psql_val "select count(*) || ' rows, max attempt ' || max(attempt) || ', re-driven ' || sum(reconcile_count) from event_ingress_retries")"
log "PASS"
