#!/usr/bin/env bash
# test_trigger_launch: sluice-trigger-launch decides every match once, by its trigger's
# rules, and launches with the launch id the spec names.  Matches are produced straight
# onto sluice.trigger.matches (trigger_records.py, an encoder written from the Avro
# schemas apart from the C codec), so this test covers the launch stage alone:
#   a  unlimited                        every match launched
#   b  10 per 1000 ms, on_limit skip    at most 10 launched per window, the rest throttled
#   c  20 per 500 ms, on_limit defer    every match launched eventually, at most 20 per
#                                       window, in match order
#   d  disabled                         every match 'paused'
# Then: the launch ids are UUIDv5(trigger id, event id) computed here; sluice.workflow.
# launches holds exactly one record per launched delivery, keyed by trigger id, with the
# match's params byte for byte; the match stage repeating 100 matches adds no delivery,
# no decision and no launch.  Last, `triggers replay-shed`: d's paused matches stay shed
# while d is disabled; once enabled and b unlimited, every shed match of both is
# launched once, under its own launch id, and a second replay finds nothing.
. "$(dirname "$0")/lib.sh"

REC=$SRC/tests/integration/trigger_records.py
ctl() { USER=tester "$SLUICECTL" -X log.level=warn "$@"; }
create() { printf '%s' "$1" | ctl triggers create - >/dev/null || fail "create failed: $1"; }

start_devbroker
start_pg
create '{"name": "a", "event_type": "order.created", "workflow": "wf.a"}'
create '{"name": "b", "event_type": "order.created", "workflow": "wf.b", "rate_limit": 10, "window_ms": 1000, "on_limit": "skip"}'
create '{"name": "c", "event_type": "order.created", "workflow": "wf.c", "rate_limit": 20, "window_ms": 500, "on_limit": "defer"}'
create '{"name": "d", "event_type": "order.created", "workflow": "wf.d", "enabled": false}'
declare -A TID
for t in a b c d; do TID[$t]=$(psql_val "SELECT id FROM triggers WHERE name = '$t'"); done

# 100 matches for a, b and c each, 20 for d; params name the trigger and the number.
"$PY" - "${TID[a]}" "${TID[b]}" "${TID[c]}" "${TID[d]}" >"$T/matches.jsonl" <<'EOF'
import json, sys, time, uuid
now = int(time.time() * 1000)
for name, tid, n in zip("abcd", sys.argv[1:], (100, 100, 100, 20)):
    for i in range(n):
        print(json.dumps({
            "trigger_id": tid, "trigger_name": name, "event_id": str(uuid.uuid4()),
            "event_type": "order.created", "source": "shop",
            "correlation_id": None if i % 2 else "corr-%s-%d" % (name, i),
            "traceparent": "00-%032x-%016x-01" % (i + 1, i + 1),
            "workflow": "wf." + name, "params": '{"t":"%s","i":%d}' % (name, i),
            "occurred_at": now - 1000, "accepted_at": now - 500, "matched_at": now - 100}))
EOF
"$PY" "$REC" feed "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" sluice.trigger.matches <"$T/matches.jsonl" >/dev/null ||
        fail "feeding the matches"

LPORT=$(free_port)
"$BUILD/sluice-trigger-launch" -X http.port="$LPORT" -X trigger.launch.mirror.ms=200 \
        >"$T/launch.log" 2>&1 &
track_pid $!
wait_until "curl -sf http://127.0.0.1:$LPORT/healthz" 30 || fail "launch stage not healthy: $(tail -n 5 "$T/launch.log")"

wait_until "[ \$(psql_val \"SELECT count(*) FROM trigger_deliveries WHERE outcome <> 'deferred'\") = 320 ]" 40 ||
        fail "not every match was decided: $(psql_val "SELECT outcome, count(*) FROM trigger_deliveries GROUP BY 1")"
count() { psql_val "SELECT count(*) FROM trigger_deliveries WHERE trigger_id = '${TID[$1]}' AND $2"; }
assert_eq "a launched" 100 "$(count a "outcome = 'launched'")"
assert_eq "d paused" 20 "$(count d "outcome = 'paused' AND reason = '{\"enabled\": false}'")"

# b: at most 10 launched in any window, the rest throttled with the window's numbers
assert_eq "b decided" 100 "$(count b "outcome IN ('launched', 'throttled')")"
assert_eq "b windows over 10" 0 "$(psql_val "SELECT count(*) FROM (SELECT floor(extract(epoch FROM launched_at) * 1000 / 1000) w
        FROM trigger_deliveries WHERE trigger_id = '${TID[b]}' AND outcome = 'launched' GROUP BY 1 HAVING count(*) > 10) x")"
assert_eq "b throttles with a full window" 0 "$(count b "outcome = 'throttled' AND (reason->>'count')::int < 10")"
nb=$(count b "outcome = 'launched'")
[ "$nb" -ge 10 ] || fail "b launched $nb, expected at least one full window"

# c: every match launched, at most 20 per 500 ms window, in match order
assert_eq "c launched" 100 "$(count c "outcome = 'launched'")"
assert_eq "c windows over 20" 0 "$(psql_val "SELECT count(*) FROM (SELECT floor(extract(epoch FROM launched_at) * 1000 / 500) w
        FROM trigger_deliveries WHERE trigger_id = '${TID[c]}' GROUP BY 1 HAVING count(*) > 20) x")"
assert_eq "c launched out of match order" 0 "$(psql_val "SELECT count(*) FROM (SELECT launched_at,
        lag(launched_at) OVER (ORDER BY match_offset) prev FROM trigger_deliveries WHERE trigger_id = '${TID[c]}') x
        WHERE launched_at < prev")"
nd=$(count c "first_outcome = 'deferred'")
[ "$nd" -ge 60 ] || fail "c deferred only $nd of 100"
log "ok: b launched $nb of 100, c deferred $nd of 100 and launched them all"

# Launch ids, as the spec names them, and the launches on Kafka: one per launched row.
"$PY" - "$T/matches.jsonl" >"$T/expected_ids" <<EOF
import json, sys
sys.path.insert(0, "$SRC/tests/integration")
from trigger_records import launch_id
for line in open(sys.argv[1]):
    m = json.loads(line)
    print(launch_id(m["trigger_id"], m["event_id"]))
EOF
psql_val "SELECT launch_id FROM trigger_deliveries" | sort >"$T/pg_ids"
sort "$T/expected_ids" | diff - "$T/pg_ids" >/dev/null || fail "launch ids differ from UUIDv5(trigger id, event id)"
log "ok: 320 launch ids = UUIDv5(trigger id, event id)"
nl=$(psql_val "SELECT count(*) FROM trigger_deliveries WHERE outcome = 'launched'")
"$PY" "$REC" dump "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" sluice.workflow.launches launch "$nl" 20 >"$T/launches.jsonl" ||
        fail "expected $nl launches on Kafka, got $(wc -l <"$T/launches.jsonl")"
"$PY" - "$T/matches.jsonl" "$T/launches.jsonl" <<EOF || fail "launch records differ from the matches"
import json, sys
sys.path.insert(0, "$SRC/tests/integration")
from trigger_records import launch_id
matches = {}
for line in open(sys.argv[1]):
    m = json.loads(line)
    matches[launch_id(m["trigger_id"], m["event_id"])] = m
seen = set()
for line in open(sys.argv[2]):
    l = json.loads(line)
    m = matches[l["launch_id"]]
    assert l["launch_id"] not in seen, "launch twice: " + l["launch_id"]
    seen.add(l["launch_id"])
    for k in ("trigger_id", "trigger_name", "workflow", "params", "event_id",
              "correlation_id", "traceparent", "accepted_at"):
        assert l[k] == m[k], (k, l[k], m[k])
    assert l["_key"] == m["trigger_id"], l
    assert l["_headers"].get("traceparent") == m["traceparent"], l
    assert l["launched_at"] >= m["accepted_at"]
EOF
log "ok: $nl launches on Kafka, one per launched delivery, fields as matched"

# The match stage repeats 100 matches (its at-least-once): nothing new; a fresh match
# behind them shows they were read.
before=$(curl -sf "http://127.0.0.1:$LPORT/metrics" | awk '/^sluice_trigger_launch_decisions_total/ {s += $2} END {print s}')
grep "\"trigger_name\": \"a\"" "$T/matches.jsonl" >"$T/repeat.jsonl"
"$PY" - "${TID[a]}" >>"$T/repeat.jsonl" <<'EOF'
import json, sys, time, uuid
print(json.dumps({"trigger_id": sys.argv[1], "trigger_name": "a", "event_id": str(uuid.uuid4()),
                  "event_type": "order.created", "source": "shop", "correlation_id": None,
                  "traceparent": None, "workflow": "wf.a", "params": "{}", "occurred_at": 1,
                  "accepted_at": 2, "matched_at": 3}))
EOF
"$PY" "$REC" feed "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" sluice.trigger.matches <"$T/repeat.jsonl" >/dev/null
wait_until "[ \$(psql_val 'SELECT count(*) FROM trigger_deliveries') = 321 ]" 20 || fail "the fresh match was not decided"
after=$(curl -sf "http://127.0.0.1:$LPORT/metrics" | awk '/^sluice_trigger_launch_decisions_total/ {s += $2} END {print s}')
assert_eq "decisions after 100 repeats and 1 new match" $((before + 1)) "$after"
# The fresh match's launch is on Kafka once nl + 1 records are; a repeat's launch would
# be before it (the same partition, produced in order).
"$PY" "$REC" dump "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" sluice.workflow.launches launch $((nl + 1)) 20 >/dev/null ||
        fail "the fresh match's launch is not on Kafka"
"$PY" "$REC" dump "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" sluice.workflow.launches launch all 20 >"$T/l.jsonl" ||
        fail "could not read sluice.workflow.launches to its end"
assert_eq "launches after the repeats" $((nl + 1)) "$(wc -l <"$T/l.jsonl")"
log "ok: 100 repeated matches: no delivery, no decision, no launch"

# The mirror: every trigger in scheduler_state with its breaker and queue.
wait_until "[ \$(psql_val \"SELECT count(*) FROM scheduler_state WHERE stage = 'trigger' AND detail->>'breaker' = 'closed'\") = 4 ]" 10 ||
        fail "scheduler_state: $(psql_val "SELECT key, detail FROM scheduler_state WHERE stage = 'trigger'")"

# replay-shed: through the trigger's current rules, once each.
launches_now() { "$PY" "$REC" dump "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" sluice.workflow.launches launch "$1" "$2" >"$T/l.jsonl"; }
out=$(ctl triggers replay-shed d) || fail "replay-shed d: $out"
assert_eq "replay-shed d while disabled" "20 shed matches of d replayed" "$out"
wait_until "curl -sf http://127.0.0.1:$LPORT/metrics | grep -q '^sluice_trigger_replay_shed_total{outcome=\"paused\"} 20'" 20 ||
        fail "the launch stage did not decide d's replays"
assert_eq "d still paused" 20 "$(count d "outcome = 'paused' AND replayed_at IS NULL")"
ctl triggers enable d >/dev/null
printf '{"rate_limit": null}' | ctl triggers update b - >/dev/null || fail "update b"
sleep 1 # the NOTIFY reaches the stage
assert_eq "replay-shed b dry run" "90 shed matches of b would be replayed" "$(ctl triggers replay-shed b --since 1h --dry-run)"
assert_eq "replay-shed b" "90 shed matches of b replayed" "$(ctl triggers replay-shed b --since 1h)"
assert_eq "replay-shed d" "20 shed matches of d replayed" "$(ctl triggers replay-shed d)"
wait_until "[ \$(psql_val \"SELECT count(*) FROM trigger_deliveries WHERE replayed_at IS NOT NULL AND outcome = 'launched'\") = 110 ]" 20 ||
        fail "replayed: $(psql_val "SELECT trigger_name, outcome, count(*) FROM trigger_deliveries WHERE replayed_at IS NOT NULL GROUP BY 1, 2")"
assert_eq "b launched after replay" 100 "$(count b "outcome = 'launched'")"
assert_eq "b first outcomes kept" 90 "$(count b "first_outcome = 'throttled' AND outcome = 'launched'")"
launches_now $((nl + 1 + 110)) 20 || fail "expected $((nl + 111)) launches on Kafka, got $(wc -l <"$T/l.jsonl")"
assert_eq "launch ids on Kafka, each once" $((nl + 111)) "$("$PY" -c 'import json,sys; print(len({json.loads(l)["launch_id"] for l in open(sys.argv[1])}))' "$T/l.jsonl")"
assert_eq "replay-shed b again" "0 shed matches of b" "$(ctl triggers replay-shed b)"
log "PASS"
