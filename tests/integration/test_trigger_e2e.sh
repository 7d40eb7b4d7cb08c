#!/usr/bin/env bash
# test_trigger_e2e: events to launches through every stage (sluice-ingress,
# sluice-trigger-match, sluice-trigger-launch) with 20 triggers (exact types, globs, a
# source, filters over present, missing, null and mistyped payload fields, metadata and
# the envelope, templates; one disabled, one paused) over 5,000 events, and a kill -9 of
# the match worker and of the launch worker in the middle of the run, both restarted.
#
# trigger_matches.py computes the expected deliveries independently (Python predicates
# for the filters, a Python template filler, UUIDv5 launch ids): trigger_deliveries must
# hold exactly them, once each: the disabled and paused triggers' matches 'paused',
# every other one 'launched' (the triggers are unlimited), params byte for byte.
. "$(dirname "$0")/lib.sh"

REF=$SRC/tests/integration/trigger_matches.py
N=5000
"$PY" -c 'import confluent_kafka' 2>/dev/null || fail "$PY has no confluent_kafka"
start_devbroker
start_pg
ctl() { "$SLUICECTL" -X log.level=warn "$@"; }

mkdir "$T/triggers"
"$PY" "$REF" triggers "$T/triggers" --extra
for f in "$T"/triggers/*.json; do
        ctl triggers create "$f" >>"$T/triggers.log" 2>&1 || fail "triggers create $f: $(tail -n 2 "$T/triggers.log")"
done
ctl triggers pause paid-paused --reason "integration test" >>"$T/triggers.log" 2>&1 || fail "triggers pause"
assert_eq "triggers, disabled, paused" "20|1|1" \
        "$(psql_val "select count(*), count(*) filter (where not enabled), count(*) filter (where paused) from triggers")"
"$PY" "$REF" events $N --seed 11 >"$T/events.jsonl"
psql_run -F $'\t' -c "select id, name, event_type, coalesce(source, ''), coalesce(filter, ''),
                             workflow, params_template::text from triggers order by name" >"$T/triggers.tsv"
"$PY" "$REF" deliveries --triggers "$T/triggers.tsv" --rows /dev/null "$T/events.jsonl" >"$T/ref.out" || true
EXPECTED=$(sed -n 's/^expected=\([0-9]*\) .*/\1/p' "$T/ref.out")
[ "${EXPECTED:-0}" -gt $N ] || fail "the reference expects too few deliveries: $(head -n 1 "$T/ref.out")"
log "the reference expects $EXPECTED deliveries of $N events"

FAST=(-X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=500)
start_ingress
start_trigger_match "${FAST[@]}" -X trigger.match.batch.size=200
start_trigger_launch "${FAST[@]}" -X trigger.launch.batch.size=200
ctl publish --count-only "$T/events.jsonl" >"$T/pub.log" 2>&1 || fail "publish: $(tail -n 2 "$T/pub.log")"

rows() { psql_val "SELECT count(*) FROM trigger_deliveries"; }
wait_until "[ \$(rows) -ge $((EXPECTED / 4)) ]" 60 || fail "no progress: $(rows) deliveries"
kill -KILL "$MATCH_PID" "$LAUNCH_PID"
wait "$MATCH_PID" "$LAUNCH_PID" 2>/dev/null || true
untrack_pid "$MATCH_PID"
untrack_pid "$LAUNCH_PID"
log "killed -9 the match and the launch workers at $(rows) of $EXPECTED deliveries"
start_trigger_match "${FAST[@]}" -X trigger.match.batch.size=200
start_trigger_launch "${FAST[@]}" -X trigger.launch.batch.size=200
wait_until "[ \$(rows) -ge $EXPECTED ]" 60 || fail "after the restarts: $(rows) of $EXPECTED deliveries"
# What came after the last expected row: nothing more may arrive.
sleep 2

psql_run -F $'\t' -c "select d.launch_id, d.trigger_id, d.event_id, d.outcome, d.workflow, d.params,
                             t.enabled, t.paused from trigger_deliveries d join triggers t on t.id = d.trigger_id" \
        >"$T/rows.tsv"
"$PY" "$REF" deliveries --triggers "$T/triggers.tsv" --rows "$T/rows.tsv" "$T/events.jsonl" >"$T/check.out" 2>&1 ||
        { cat "$T/check.out" >&2; fail "trigger_deliveries differs from the reference"; }
assert_eq "deliveries vs reference" "expected=$EXPECTED rows=$EXPECTED missing=0 wrong=0 triggers_matched=19" \
        "$(head -n 1 "$T/check.out")"
assert_eq "deliveries decided twice" 0 "$(psql_val "SELECT count(*) - count(DISTINCT (trigger_id, event_id)) FROM trigger_deliveries")"
replayed=$(curl -sf "http://127.0.0.1:$LAUNCH_PORT/metrics" | awk '$1 == "sluice_trigger_launch_replayed_total" {print $2}')
log "ok: the restarted launch worker found ${replayed:-0} matches decided already and did not decide them again"
log "PASS"
