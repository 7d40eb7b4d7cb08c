#!/usr/bin/env bash
# sluice-trigger-match end to end, on a private devbroker + Postgres (lib.sh).
#
# 14 triggers (`sluicectl triggers create`: exact types, globs, a source, filters on
# payload fields present, missing, null and of the wrong type, a disabled and a paused
# trigger, templates with typed, interpolated, nested and escaped placeholders) and
# 3,000 events published through sluice-ingress; then, while the stage runs, a 15th
# trigger, a record on events.accepted that is no envelope, and 200 events only the
# new trigger takes.  trigger.matches has 5 partitions (events 6), so the
# partitioning is the key's, not the input's.
#
# trigger_matches.py computes the expected (trigger, event) matches independently
# (Python predicates for the filters, a Python template filler, Avro and murmur2 by
# hand) and reads sluice.trigger.matches to its end: every expected match exactly once
# (no duplicates: one ingress and one matcher, no restart, so a repeat would be a bug),
# nothing else, each keyed by its trigger id on partition murmur2(id) % 5, params byte
# for byte, every other field as the event and the trigger say, accepted_at the
# timestamp of the events.accepted record.  The stage skips the bad record (counted in
# /metrics) and picks up the new trigger without a restart, and exits 0 on SIGTERM.
. "$(dirname "$0")/lib.sh"

REF=$SRC/tests/integration/trigger_matches.py
N=3000
N_LATE=200
"$PY" -c 'import confluent_kafka' 2>/dev/null || fail "$PY has no confluent_kafka"

start_devbroker -X trigger.partitions=5
start_pg
B=$SLUICE_KAFKA_BOOTSTRAP_SERVERS
ctl() { "$SLUICECTL" -X log.level=warn "$@"; }

mkdir "$T/triggers"
"$PY" "$REF" triggers "$T/triggers"
for f in "$T"/triggers/*.json; do
        ctl triggers create "$f" >>"$T/triggers.log" 2>&1 || fail "triggers create $f: $(tail -n 2 "$T/triggers.log")"
done
ctl triggers pause paid-paused --reason "integration test" >>"$T/triggers.log" 2>&1 ||
        fail "triggers pause: $(tail -n 2 "$T/triggers.log")"
assert_eq "triggers, disabled, paused" "14|1|1" \
        "$(psql_val "select count(*), count(*) filter (where not enabled), count(*) filter (where paused) from triggers")"
"$PY" "$REF" events $N --seed 7 >"$T/events.jsonl"
"$PY" "$REF" late-events $N_LATE --seed 8 >"$T/late.jsonl"

start_ingress
start_trigger_match

drained() { # COUNT: events.accepted holds COUNT records and the match group committed them all
        "$PY" "$REF" drained --bootstrap "$B" --group sluice-trigger-match \
                --topic sluice.events.accepted --count "$1"
}
ctl publish --count-only "$T/events.jsonl" >"$T/pub.log" 2>&1 || fail "publish: $(tail -n 2 "$T/pub.log")"
wait_until "drained $N" 40 || fail "not drained: $(drained $N)"
log "ingress accepted and trigger-match committed all $N events"

# --- while it runs: a new trigger, a record that is no envelope, events for the new one
"$PY" "$REF" late-trigger "$T/late.json"
ctl triggers create "$T/late.json" >>"$T/triggers.log" 2>&1 || fail "create late: $(tail -n 2 "$T/triggers.log")"
wait_until "grep -q 'triggers: 15 loaded' '$MATCH_LOG'" 20 || fail "the stage did not load the 15th trigger"
"$PY" "$REF" garbage --bootstrap "$B" --topic sluice.events.accepted || fail "could not produce the bad record"
ctl publish --count-only "$T/late.jsonl" >>"$T/pub.log" 2>&1 || fail "publish late: $(tail -n 2 "$T/pub.log")"
wait_until "drained $((N + N_LATE + 1))" 30 || fail "not drained: $(drained $((N + N_LATE + 1)))"
log "the late events and the bad record were committed too"

# --- the matches against the reference ---------------------------------------------------
psql_run -F $'\t' -c "select id, name, event_type, coalesce(source, ''), coalesce(filter, ''),
                             workflow, params_template::text from triggers order by name" \
        >"$T/triggers.tsv"
"$PY" "$REF" check --bootstrap "$B" --triggers "$T/triggers.tsv" "$T/events.jsonl" "$T/late.jsonl" \
        >"$T/check.out" 2>&1 || { cat "$T/check.out" >&2; fail "trigger.matches differs from the reference"; }
cat "$T/check.out" >&2
summary=$(head -n 1 "$T/check.out")
expected=$(sed -n 's/.* expected=\([0-9]*\) .*/\1/p' <<<"$summary")
[ "${expected:-0}" -gt $N ] || fail "the reference expects too few matches to mean anything: $summary"
assert_eq "matches vs reference" \
        "events=$((N + N_LATE)) expected=$expected records=$expected distinct=$expected duplicates=0 missing=0 wrong=0 partitions=5" \
        "$summary"
for name in signups-disabled paid-paused late-arrival no-coupon coupon-not-x first-sku; do
        grep -q " $name=[1-9]" "$T/check.out" || fail "the reference has no match of $name: the test lost its teeth"
done
grep -q "never=" "$T/check.out" && fail "a match of trigger 'never'"

# --- the stage's own account -------------------------------------------------------------
metric() { curl -sf "http://127.0.0.1:$MATCH_PORT/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
assert_eq "sluice_trigger_match_events_total" $((N + N_LATE)) "$(metric sluice_trigger_match_events_total)"
assert_eq "sluice_trigger_match_matches_total" "$expected" "$(metric sluice_trigger_match_matches_total)"
assert_eq "sluice_trigger_match_undecodable_total" 1 "$(metric sluice_trigger_match_undecodable_total)"
assert_eq "sluice_trigger_match_triggers" 15 "$(metric sluice_trigger_match_triggers)"
grep -q '"level":"error".*undecodable record on sluice.events.accepted \[[0-9]*\] @[0-9]*' "$MATCH_LOG" ||
        fail "the bad record was not logged with its topic, partition and offset"
wait_until "curl -sf http://127.0.0.1:$MATCH_PORT/metrics | grep -q '^sluice_trigger_match_top_trigger_matches_per_second{trigger=\"orders-all\"}'" 10 ||
        fail "no per-trigger series: $(curl -sf "http://127.0.0.1:$MATCH_PORT/metrics" | grep top_trigger)"
log "ok: per-trigger matches exported (bounded: trigger.top.triggers)"

stop_pid "$MATCH_PID" || fail "sluice-trigger-match did not exit 0 on SIGTERM"
log "PASS"
