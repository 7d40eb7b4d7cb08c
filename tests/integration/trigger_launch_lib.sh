# Helpers of the launch stage's restart and rebalance tests (test_trigger_launch_kill9,
# test_trigger_launch_scaleout), sourced after lib.sh: the same 7 triggers and matches,
# and the same checks of what came out.
#
#   tl_setup N      a devbroker and Postgres; triggers u1 u2 (unlimited), s1 s2 (skip:
#                   150/1 s, 300/2 s), q1 q2 (defer: 400/500 ms, 250/400 ms), p1
#                   (disabled); N matches each, interleaved, fed onto
#                   sluice.trigger.matches (sets REC, N, TOTAL; $T/matches.jsonl)
#   tl_check WHAT   one delivery per match (the launch ids computed here), the outcomes
#                   per trigger, no rate window over its limit, deferred launched in
#                   match order, every launched delivery on sluice.workflow.launches and
#                   nothing else (WHAT names what repeated launches: "the restarts")

tl_setup() {
N=$1
REC=$SRC/tests/integration/trigger_records.py
ctl() { USER=tester "$SLUICECTL" -X log.level=warn "$@"; }
create() { printf '%s' "$1" | ctl triggers create - >/dev/null || fail "create failed: $1"; }

start_devbroker
start_pg
create '{"name": "u1", "event_type": "e", "workflow": "w"}'
create '{"name": "u2", "event_type": "e", "workflow": "w"}'
create '{"name": "s1", "event_type": "e", "workflow": "w", "rate_limit": 150, "window_ms": 1000}'
create '{"name": "s2", "event_type": "e", "workflow": "w", "rate_limit": 300, "window_ms": 2000}'
create '{"name": "q1", "event_type": "e", "workflow": "w", "rate_limit": 400, "window_ms": 500, "on_limit": "defer"}'
create '{"name": "q2", "event_type": "e", "workflow": "w", "rate_limit": 250, "window_ms": 400, "on_limit": "defer"}'
create '{"name": "p1", "event_type": "e", "workflow": "w", "enabled": false}'
psql_val "SELECT name || ' ' || id FROM triggers ORDER BY name" >"$T/triggers"

"$PY" - "$T/triggers" "$N" >"$T/matches.jsonl" <<'EOF'
import json, sys, time, uuid
now = int(time.time() * 1000)
trigs = [l.split() for l in open(sys.argv[1])]
n = int(sys.argv[2])
for i in range(n):  # interleaved, as the match stage would produce them
    for name, tid in trigs:
        print(json.dumps({
            "trigger_id": tid, "trigger_name": name, "event_id": str(uuid.uuid4()),
            "event_type": "e", "source": "s", "correlation_id": None, "traceparent": None,
            "workflow": "w", "params": '{"i":%d}' % i,
            "occurred_at": now, "accepted_at": now, "matched_at": now}))
EOF
"$PY" "$REC" feed "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" sluice.trigger.matches <"$T/matches.jsonl" >/dev/null ||
        fail "feeding the matches"
TOTAL=$((N * 7))
}

tl_check() {
# One delivery per match, with the reference launch id.
"$PY" - "$T/matches.jsonl" >"$T/expected" <<EOF
import json, sys
sys.path.insert(0, "$SRC/tests/integration")
from trigger_records import launch_id
for line in open(sys.argv[1]):
    m = json.loads(line)
    print(launch_id(m["trigger_id"], m["event_id"]), m["trigger_name"])
EOF
psql_val "SELECT launch_id || ' ' || trigger_name FROM trigger_deliveries" | sort >"$T/actual"
sort "$T/expected" | diff - "$T/actual" >"$T/diff" || fail "deliveries differ from the reference: $(head -n 5 "$T/diff")"
log "ok: $TOTAL deliveries, one per match, launch ids as the reference"

byname() { psql_val "SELECT count(*) FROM trigger_deliveries WHERE trigger_name = '$1' AND $2"; }
for t in u1 u2 q1 q2; do assert_eq "$t launched" "$N" "$(byname $t "outcome = 'launched'")"; done
assert_eq "p1 paused" "$N" "$(byname p1 "outcome = 'paused'")"
over=$(psql_val "SELECT count(*) FROM (SELECT d.trigger_name, floor(extract(epoch FROM d.launched_at) * 1000 / t.window_ms)
        FROM trigger_deliveries d JOIN triggers t ON t.id = d.trigger_id WHERE t.rate_limit > 0 AND d.outcome = 'launched'
        GROUP BY 1, 2, t.rate_limit HAVING count(*) > t.rate_limit) x")
assert_eq "rate windows over their limit" 0 "$over"
assert_eq "deferred launched out of match order" 0 "$(psql_val "SELECT count(*) FROM (SELECT launched_at,
        lag(launched_at) OVER (PARTITION BY trigger_id ORDER BY match_offset) prev FROM trigger_deliveries
        WHERE trigger_name IN ('q1', 'q2')) x WHERE launched_at < prev")"
for t in s1 s2; do
        n=$(byname $t "outcome = 'launched'")
        [ "$n" -gt 0 ] && [ "$n" -lt "$N" ] || fail "$t launched $n of $N"
done

# Every launched delivery is on Kafka; nothing else is.
nl=$(psql_val "SELECT count(*) FROM trigger_deliveries WHERE outcome = 'launched'")
psql_val "SELECT launch_id FROM trigger_deliveries WHERE outcome = 'launched'" | sort >"$T/launched"
# Postgres has a launch before Kafka does: read the topic to its end until it has them all.
on_kafka() {
        "$PY" "$REC" dump "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" sluice.workflow.launches launch all 30 >"$T/launches.jsonl" || return 1
        "$PY" -c 'import json,sys; [print(json.loads(l)["launch_id"]) for l in open(sys.argv[1])]' "$T/launches.jsonl" | sort >"$T/on_kafka"
        [ "$(comm -23 "$T/launched" <(uniq "$T/on_kafka") | wc -l)" = 0 ]
}
wait_until on_kafka 20 || true
assert_eq "launched deliveries missing on Kafka" 0 "$(comm -23 "$T/launched" <(uniq "$T/on_kafka") | wc -l)"
assert_eq "launches on Kafka of matches not launched" 0 "$(comm -13 "$T/launched" <(uniq "$T/on_kafka") | wc -l)"
log "ok: $nl launched deliveries on Kafka; $(($(wc -l <"$T/on_kafka") - nl)) repeated by $1 (same launch ids)"
}
