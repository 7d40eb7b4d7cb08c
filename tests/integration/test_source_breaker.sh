#!/usr/bin/env bash
# The source breaker (issue 11): a source whose dead-lettered share in one dlq window
# reaches dlq_rate over at least dlq_min events is auto-paused like a flood; a source
# with the same traffic and the breaker off is not.  A private devbroker + Postgres
# (lib.sh).
#
# Two sources, each sent (keyed by source, so on its owner partition, in this order)
# 10 valid events, 10 events whose ttl expired an hour ago (decoded, source readable,
# dead-lettered as ttl_expired) and 10 more valid events:
#   breaker-src  --dlq-rate 50 --dlq-min 20: the 20th event, the 10th dead letter, is
#                10 of 20 = 50%: paused until now + dlq_pause_ms; its last 10 events
#                are decided paused / auto_paused, each with a scheduled retry intent
#                no earlier than the pause's end (the flood's path to the retry tiers)
#   breaker-off  no breaker (the defaults): all 20 valid events accepted
# Checked with SQL (decisions per id, dead letters, retry intents, the scheduler_state
# mirror with its detail), /metrics (sluice_ingress_auto_pauses_total by cause) and the
# log.  Then ingress is restarted (SIGTERM): the pause comes back from the changelog, so
# 3 more events are still paused.  After paused_until, 5 valid and 3 expired events
# of breaker-src: the valid ones accepted (the breaker counts afresh after a pause: 3
# of 8 under dlq_min, no new pause).  The dlq window is chosen with >= 45 s left, so
# the test never straddles a window boundary.
. "$(dirname "$0")/lib.sh"

BRK=breaker-src
OFF=breaker-off
PAUSE_MS=20000
# A short session timeout, so the restarted worker gets its partitions in seconds.
INGRESS_ARGS=(-X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=1000
              -X admission.mirror.ms=500)

# gen TAG SOURCE KIND N: N "KEY<TAB>HEX" lines (key = source) of valid or expired
# events, and their ids in $T/TAG.ids.
gen() {
        "$PY" - "$SRC/tests/integration" "$@" "$T/$1.ids" <<'PY'
import json, sys, time, uuid
sys.path.insert(0, sys.argv[1])
import gen_events
tag, src, kind, n, ids = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
fp = gen_events.envelope_fingerprint()
now = int(time.time() * 1000)
with open(ids, "w") as f:
    for i in range(n):
        ev = {"id": str(uuid.uuid4()), "type": "breaker.test", "source": src,
              "occurred_at": now, "payload": json.dumps({"tag": tag, "n": i})}
        if kind == "expired":
            ev["occurred_at"] = now - 3600000
            ev["ttl_ms"] = 1000
        f.write(ev["id"] + "\n")
        print("%s\t%s" % (src, gen_events.encode(ev, fp).hex()))
PY
}
publish() { # FILE
        "$SLUICECTL" publish --raw "$1" >>"$T/pub.log" 2>&1 || fail "publish $1: $(tail -n 3 "$T/pub.log")"
}
metric() { # SERIES: its value on the ingress's /metrics (0 when absent)
        curl -sf "http://127.0.0.1:$INGRESS_PORT/metrics" |
                awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }'
}
# decisions IDS_FILE: "status:reason=count,..." of those events
decisions() {
        psql_run -c "create temp table i (id uuid primary key)" \
                -c "\\copy i from '$1'" \
                -c "select coalesce(string_agg(k, ',' order by k), '') from (
                      select status || ':' || coalesce(reason, '') || '=' || count(*) as k
                      from workflow_events join i using (id) group by status, reason) x"
}

start_devbroker
start_pg

# A dlq window whose current (epoch-aligned) window has >= 45 s left.
DLQ_WINDOW_MS=$("$PY" -c 'import time
now = int(time.time() * 1000)
for w in range(60000, 1200000, 1000):
    if w - now % w >= 45000:
        print(w); break')
log "dlq_window_ms $DLQ_WINDOW_MS"

"$SLUICECTL" sources set "$BRK" --limit 0 --window-ms 1000 --dlq-rate 50 --dlq-min 20 \
        --dlq-window-ms "$DLQ_WINDOW_MS" --dlq-pause-ms "$PAUSE_MS" >"$T/sources.log" 2>&1 ||
        fail "sluicectl sources set: $(cat "$T/sources.log")"
"$SLUICECTL" sources set "$OFF" --limit 0 --window-ms 1000 >>"$T/sources.log" 2>&1 ||
        fail "sluicectl sources set: $(cat "$T/sources.log")"
grep -q "source breaker: auto-pause for $PAUSE_MS ms when 50% of at least 20 events" "$T/sources.log" ||
        fail "sources set did not print the breaker: $(cat "$T/sources.log")"

start_ingress "${INGRESS_ARGS[@]}"

# --- the mix: 10 valid, 10 expired, 10 valid per source -------------------------------
: >"$T/mix.hex"
for s in "$BRK" "$OFF"; do
        gen "$s.v1" "$s" valid 10 >>"$T/mix.hex"
        gen "$s.bad" "$s" expired 10 >>"$T/mix.hex"
        gen "$s.v2" "$s" valid 10 >>"$T/mix.hex"
done
publish "$T/mix.hex"
wait_until "[ \$(psql_val \"select count(*) from workflow_events where source in ('$BRK', '$OFF')\") -ge 40 ] &&
            [ \$(psql_val \"select count(*) from dead_letters where source in ('$BRK', '$OFF')\") -ge 20 ]" 30 ||
        fail "only $(psql_val "select count(*) from workflow_events") events and $(psql_val "select count(*) from dead_letters") dead letters written"

assert_eq "$BRK: the first 10 valid events" "accepted:=10" "$(decisions "$T/$BRK.v1.ids")"
assert_eq "$BRK: the 10 valid events after the 10th dead letter" "paused:auto_paused=10" \
        "$(decisions "$T/$BRK.v2.ids")"
assert_eq "$OFF (breaker off): the first 10 valid events" "accepted:=10" "$(decisions "$T/$OFF.v1.ids")"
assert_eq "$OFF (breaker off): the last 10 valid events" "accepted:=10" "$(decisions "$T/$OFF.v2.ids")"
assert_eq "dead letters per source" "$OFF:ttl_expired=10,$BRK:ttl_expired=10" \
        "$(psql_val "select string_agg(k, ',' order by k) from (
                       select source || ':' || reason || '=' || count(*) as k from dead_letters
                       group by source, reason) x")"

# The mirror (every 500 ms) shows the pause and its cause; the breaker-off source has none.
wait_until "[ \"\$(psql_val \"select detail->>'pause_cause' from scheduler_state where key = '$BRK'\")\" = dlq_rate ]" 10 ||
        fail "scheduler_state of $BRK: $(psql_val "select paused_until, detail from scheduler_state where key = '$BRK'")"
assert_eq "$BRK: scheduler_state paused_until in the future, the breaker counting afresh" \
        "t|0|0" \
        "$(psql_val "select paused_until > now(), detail->>'dlq_seen', detail->>'dlq_dead'
                     from scheduler_state where stage = 'ingress' and key = '$BRK'")"
PAUSED_UNTIL_MS=$(psql_val "select (extract(epoch from paused_until) * 1000)::bigint
                            from scheduler_state where key = '$BRK'")
assert_eq "$BRK: the pause is dlq_pause_ms long from its decision" t \
        "$(psql_val "select abs($PAUSED_UNTIL_MS - $PAUSE_MS - (select max(extract(epoch from decided_at) * 1000)
                                   from workflow_events where source = '$BRK' and status = 'accepted')) < 3000")"
wait_until "[ -n \"\$(psql_val \"select 1 from scheduler_state where key = '$OFF'\")\" ]" 10 ||
        fail "no scheduler_state row for $OFF"
assert_eq "$OFF: not paused, no breaker state" "t|t" \
        "$(psql_val "select paused_until is null, detail is null from scheduler_state where key = '$OFF'")"

# Held back the flood's way: a retry intent per paused event, due after the pause.
assert_eq "$BRK: scheduled retry intents, reason auto_paused, due at or after paused_until" 10 \
        "$(psql_val "select count(*) from event_ingress_retries where source = '$BRK'
                     and state = 'scheduled' and reason = 'auto_paused' and attempt = 1
                     and (extract(epoch from next_attempt_at) * 1000)::bigint >= $PAUSED_UNTIL_MS - 1")"
assert_eq "$OFF: no retry intents" 0 "$(psql_val "select count(*) from event_ingress_retries where source = '$OFF'")"

assert_eq "auto-pauses by the breaker (metric)" 1 "$(metric 'sluice_ingress_auto_pauses_total{cause="dlq_rate"}')"
assert_eq "auto-pauses by floods (metric)" 0 "$(metric 'sluice_ingress_auto_pauses_total{cause="flood"}')"
grep -q "source $BRK auto-paused until $PAUSED_UNTIL_MS: 10 of 20 events dead-lettered in the $DLQ_WINDOW_MS ms window from [0-9]* (dlq_rate 50%, dlq_min 20)" "$INGRESS_LOG" ||
        fail "no breaker log line: $(grep -o '"msg":"[^"]*auto-paused[^"]*"' "$INGRESS_LOG")"
log "ok: $(grep -o 'source [^ ]* auto-paused until [^"]*' "$INGRESS_LOG")"

# --- the pause survives a restart (it is in the changelog) ----------------------------
stop_pid "$INGRESS_PID" || fail "sluice-ingress did not exit 0 on SIGTERM"
start_ingress "${INGRESS_ARGS[@]}"
wait_until "grep -q 'admission state of partition .* restored' '$INGRESS_LOG'" 20 ||
        fail "the restarted ingress restored no partition"
[ "$(date +%s%3N)" -lt "$((PAUSED_UNTIL_MS - 5000))" ] ||
        fail "the restart took (almost) longer than the pause"
gen "$BRK.v3" "$BRK" valid 3 >"$T/during.hex"
publish "$T/during.hex"
wait_until "[ \$(psql_val \"select count(*) from workflow_events where source = '$BRK'\") -ge 23 ]" 20 ||
        fail "the events published after the restart were not written"
assert_eq "$BRK: events after the restart, still in the pause" "paused:auto_paused=3" \
        "$(decisions "$T/$BRK.v3.ids")"

# --- after the pause: accepted again ----------------------------------------------------
wait_until "[ \$(date +%s%3N) -gt $((PAUSED_UNTIL_MS + 200)) ]" 30 || fail "the pause did not end"
: >"$T/after.hex"
gen "$BRK.v4" "$BRK" valid 5 >>"$T/after.hex"
gen "$BRK.bad2" "$BRK" expired 3 >>"$T/after.hex"
publish "$T/after.hex"
wait_until "[ \$(psql_val \"select count(*) from workflow_events where source = '$BRK'\") -ge 28 ] &&
            [ \$(psql_val \"select count(*) from dead_letters where source = '$BRK'\") -ge 13 ]" 20 ||
        fail "the events published after the pause were not written"
assert_eq "$BRK: valid events after the pause" "accepted:=5" "$(decisions "$T/$BRK.v4.ids")"
wait_until "[ \"\$(psql_val \"select detail->>'dlq_seen' || '/' || (detail->>'dlq_dead') from scheduler_state where key = '$BRK'\")\" = 8/3 ]" 10 ||
        fail "breaker counts after the pause: $(psql_val "select detail from scheduler_state where key = '$BRK'") (want 8 seen, 3 dead)"
log "ok: the breaker counts afresh after the pause: 3 of 8 dead-lettered, under dlq_min"
assert_eq "no auto-pause by the restarted worker (metric)" 0 "$(metric 'sluice_ingress_auto_pauses_total{cause="dlq_rate"}')"
assert_eq "$BRK: still paused_until the first pause's end" "$PAUSED_UNTIL_MS" \
        "$(psql_val "select (extract(epoch from paused_until) * 1000)::bigint from scheduler_state where key = '$BRK'")"

stop_pid "$INGRESS_PID" || fail "sluice-ingress did not exit 0 on SIGTERM"
log "PASS"
