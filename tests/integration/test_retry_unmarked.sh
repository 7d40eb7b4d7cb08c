#!/usr/bin/env bash
# sluice-retry writes the 'due' mark behind the re-injection, so ingress may meet a
# re-injected attempt whose row is still 'scheduled'.  Here the re-injections come with
# its mark not landed (sluice-it-retry_wakeups reinject, sluice-retry not running yet):
#   - 20 events of a paused source are held back (rows 'scheduled', attempt 1) and the
#     source is resumed;
#   - sluice-retry's mark statement runs while 5 of the rows are locked (as ingress
#     deciding them would lock them): it does not wait, marks the 15 others 'due' and
#     leaves the 5 'scheduled' (SKIP LOCKED: the two can never deadlock);
#   - each is re-injected twice for attempt 1, and 5 once more for attempt 2, which
#     their rows do not wait for;
#   - ingress decides attempt 1 of each exactly once (accepted, row 'completed'),
#     from 'due' and from 'scheduled' alike, and drops the copies for attempt 2;
#   - then sluice-retry starts and reads ingress's original wake-ups: their rows are
#     decided, so all 20 are dropped and none comes back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/retry_lib.sh"

WAKE=$BUILD/sluice-it-retry_wakeups
[ -x "$WAKE" ] || fail "$WAKE not built"
N=20
COMMON=(-X retry.backoff.initial.ms=1500 -X retry.backoff.max.ms=2000 -X retry.backoff.jitter=0)

start_devbroker
start_pg
"$SLUICECTL" pause source unm --reason test >/dev/null || fail "pause unm"
start_ingress "${COMMON[@]}"

"$PY" - $N >"$T/events.jsonl" <<'PY'
import json, sys, time, uuid
now = int(time.time() * 1000)
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": str(uuid.uuid4()), "type": "retry.test", "source": "unm",
                      "occurred_at": now, "payload": {"n": i}}, separators=(",", ":")))
PY
"$SLUICECTL" publish --count-only "$T/events.jsonl" >"$T/pub.log" 2>&1 ||
        fail "publish: $(cat "$T/pub.log")"
waiting() { psql_val "select count(*) from event_ingress_retries where state = 'scheduled' and attempt = 1"; }
wait_until "[ \$(waiting) -eq $N ]" 20 || fail "only $(waiting) of $N held back"
"$SLUICECTL" resume source unm >/dev/null || fail "resume unm"

psql_val "select event_id, source, attempt, encode(envelope, 'hex') from event_ingress_retries
          order by event_id" | tr '|' '\t' >"$T/rows.tsv"
head -n 5 "$T/rows.tsv" | awk -F'\t' -v OFS='\t' '{ $3 = 2; print }' >"$T/wrong.tsv"

# The mark, with 5 rows locked by another transaction for 4 s.
LOCKED="'$(cut -f1 "$T/rows.tsv" | tail -n 5 | paste -sd, | sed "s/,/','/g")'"
psql_val "begin; select event_id from event_ingress_retries where event_id in ($LOCKED)
          for update; select pg_sleep(4); commit" >"$T/lock.out" 2>&1 &
LOCK_PID=$!
wait_until "[ \$(psql_val \"select count(*) from pg_locks l join pg_class c on c.oid = l.relation
        where c.relname = 'event_ingress_retries' and l.mode = 'RowShareLock'\") -ge 1 ]" 10 ||
        fail "the locking transaction did not start"
T0=$(date +%s%N)
"$WAKE" mark "$T/rows.tsv" >"$T/mark.log" 2>&1 || fail "mark: $(cat "$T/mark.log")"
MARK_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
# Had the mark waited on the locked rows, it would have marked all 20 once the lock
# went (4 s): "marked 15" and 5 rows left 'scheduled' are the proof, not its duration.
assert_eq "mark beside 5 locked rows" "marked 15" "$(cat "$T/mark.log")"
assert_eq "locked rows left scheduled" 5 "$(psql_val "select count(*) from event_ingress_retries
        where event_id in ($LOCKED) and state = 'scheduled'")"
log "the mark took $MARK_MS ms with 5 rows locked"
"$WAKE" reinject "$T/wrong.tsv" 1 >"$T/wrong.log" 2>&1 || fail "reinject: $(cat "$T/wrong.log")"
"$WAKE" reinject "$T/rows.tsv" 2 >"$T/reinject.log" 2>&1 || fail "reinject: $(cat "$T/reinject.log")"
log "$(cat "$T/reinject.log") copies for attempt 1 (15 rows 'due', 5 'scheduled'), $(cat "$T/wrong.log") for attempt 2"

done_count() { psql_val "select count(*) from event_ingress_retries where state = 'completed'"; }
wait_until "[ \$(done_count) -eq $N ]" 20 ||
        fail "only $(done_count) of $N completed; $(psql_val "select state || '=' || count(*) from event_ingress_retries group by state" | tr '\n' ' ')"
ingress_sentinel copies # the last copies are decided (or dropped) by now
imetric() {
        curl -sf "http://127.0.0.1:$INGRESS_PORT/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}
assert_eq "decisions of attempt 1" $N "$(imetric 'sluice_ingress_retried_total{outcome="completed"}')"
assert_eq "rescheduled" 0 "$(imetric 'sluice_ingress_retried_total{outcome="rescheduled"}')"
STALE=$(imetric 'sluice_ingress_retried_total{outcome="stale"}')
[ "$STALE" -ge 5 ] || fail "copies for attempt 2 not dropped: stale $STALE"
log "ok: stale copies dropped = $STALE (>= 5: the attempt-2 copies, and second copies met in the same batch)"
wait "$LOCK_PID" || fail "locking transaction: $(cat "$T/lock.out")"
assert_eq "events accepted once, attempt 1" $N "$(psql_val "select count(*) from workflow_events
        where source = 'unm' and status = 'accepted' and attempt = 1")"

start_retry "${COMMON[@]}"
wait_until "[ \"\$(metric sluice_retry_stale_total)\" = $N ]" 20 ||
        fail "sluice-retry dropped $(metric sluice_retry_stale_total) of $N decided wake-ups"
# All N wake-ups are accounted for as dropped: none can still be re-injected.
assert_eq "wake-ups of decided retries re-injected" 0 "$(metric sluice_retry_due_total)"
assert_eq "rows still completed" $N "$(done_count)"
assert_eq "marked due" 0 "$(metric sluice_retry_marked_total)"
stop_pid "$RETRY_PID" || fail "sluice-retry did not stop cleanly"
log "PASS"
