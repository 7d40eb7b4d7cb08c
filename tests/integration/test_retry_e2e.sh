#!/usr/bin/env bash
# The retry lifecycle end to end: sluice-ingress + sluice-retry on a private devbroker
# and Postgres.
#   - throttled: source thr (10 per 1 s window) gets 25 events at once: 10 accepted at
#     once, 15 held back, and every one accepted once the windows clear;
#   - paused: source pau gets 5 events while paused: all accepted after the resume;
#   - cancelled: source can paused until resumed gets 3 events, one retry is
#     cancelled, the source resumed: 2 accepted, the cancelled one never;
#   - exhausted: source exh paused for good with retry.max.attempts=3: its 2 events end
#     'exhausted', in dead_letters with reason retries_exhausted.
# Every event has exactly one workflow_events row.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/retry_lib.sh"

gen() { # gen SOURCE N
        "$PY" - "$1" "$2" <<'PY'
import json, sys, time, uuid
src, n = sys.argv[1], int(sys.argv[2])
now = int(time.time() * 1000)
for i in range(n):
    print(json.dumps({"id": str(uuid.uuid4()), "type": "retry.test", "source": src,
                      "occurred_at": now, "payload": {"n": i}}, separators=(",", ":")))
PY
}
ids_of() { "$PY" -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["id"])' <"$1"; }

start_devbroker
start_pg
COMMON=(-X retry.backoff.initial.ms=500 -X retry.backoff.max.ms=1000 -X retry.max.attempts=3)
"$SLUICECTL" sources set thr --limit 10 --window-ms 1000 >/dev/null || fail "sources set thr"
"$SLUICECTL" pause source pau --reason test >/dev/null || fail "pause pau"
"$SLUICECTL" pause source can --reason test >/dev/null || fail "pause can"
"$SLUICECTL" pause source exh --reason test >/dev/null || fail "pause exh"
start_ingress "${COMMON[@]}"
start_retry "${COMMON[@]}"

gen thr 25 >"$T/thr.jsonl"
gen pau 5 >"$T/pau.jsonl"
gen can 3 >"$T/can.jsonl"
gen exh 2 >"$T/exh.jsonl"
cat "$T"/{thr,pau,can,exh}.jsonl | "$SLUICECTL" publish --count-only - >"$T/pub.log" 2>&1 ||
        fail "publish: $(cat "$T/pub.log")"
CANCEL_ID=$(ids_of "$T/can.jsonl" | sed -n 1p) # all of it read: no SIGPIPE under pipefail
wait_until "[ \"\$(psql_val \"select state from event_ingress_retries where event_id = '$CANCEL_ID'\")\" = scheduled ] ||
            [ \"\$(psql_val \"select state from event_ingress_retries where event_id = '$CANCEL_ID'\")\" = rescheduled ]" 20 ||
        fail "no retry row for $CANCEL_ID"
"$SLUICECTL" retries cancel "$CANCEL_ID" --by e2e --reason "not wanted" >"$T/cancel.log" 2>&1 ||
        fail "cancel: $(cat "$T/cancel.log")"
"$SLUICECTL" resume source can >/dev/null || fail "resume can"
wait_until "[ \$(psql_val \"select count(*) from event_ingress_retries where source = 'pau'\") -ge 5 ]" 20 ||
        fail "pau: no retry rows"
sleep 1 # a wake-up or two meets the pause: rescheduled
"$SLUICECTL" resume source pau >/dev/null || fail "resume pau"

acc() { psql_val "select count(*) from workflow_events where source = '$1' and status = 'accepted'"; }
wait_until "[ \$(acc thr) -ge 25 ] && [ \$(acc pau) -ge 5 ] && [ \$(acc can) -ge 2 ] &&
            [ \$(psql_val \"select count(*) from event_ingress_retries where source = 'exh' and state = 'exhausted'\") -ge 2 ]" 45 ||
        fail "timed out: thr $(acc thr)/25 pau $(acc pau)/5 can $(acc can)/2; $(psql_val "select source || ':' || state || '=' || count(*) from event_ingress_retries group by source, state order by 1" | tr '\n' ' ')"
ingress_sentinel end # re-injections still on events.in are decided (or dropped) by now

assert_eq "thr accepted" 25 "$(acc thr)"
assert_eq "pau accepted" 5 "$(acc pau)"
assert_eq "can accepted" 2 "$(acc can)"
assert_eq "cancelled event not accepted" 0 "$(psql_val "select count(*) from workflow_events where id = '$CANCEL_ID' and status = 'accepted'")"
assert_eq "cancelled row" "cancelled" "$(psql_val "select state from event_ingress_retries where event_id = '$CANCEL_ID'")"
assert_eq "one row per event" "35/35" "$(psql_val "select count(*) || '/' || count(distinct id) from workflow_events")"
assert_eq "thr retries completed" 15 "$(psql_val "select count(*) from event_ingress_retries where source = 'thr' and state = 'completed'")"
assert_eq "pau retries completed" 5 "$(psql_val "select count(*) from event_ingress_retries where source = 'pau' and state = 'completed'")"
assert_eq "exh dead letters" 2 "$(psql_val "select count(*) from dead_letters where reason = 'retries_exhausted'")"
assert_eq "exh dead letters saying why" 2 "$(psql_val "select count(*) from dead_letters where reason = 'retries_exhausted' and message like 'held back on _ attempts (retry.max.attempts _), last: %'")"
assert_eq "nothing left waiting" 0 "$(psql_val "select count(*) from event_ingress_retries where state in ('scheduled', 'rescheduled', 'due')")"
stop_pid "$RETRY_PID" || fail "sluice-retry did not stop cleanly"
log "PASS"
