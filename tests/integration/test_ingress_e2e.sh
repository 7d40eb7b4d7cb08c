#!/usr/bin/env bash
# End to end through sluice-ingress, on a private devbroker + Postgres (lib.sh).
#
# Publishes 10,000 valid events over 300 sources through all three publisher paths —
# the C SDK (sluice-it-sdk_publish), `sluicectl publish` (JSON lines) and the Python
# example (examples/python/publish.py) — and 500 malformed records of every reject kind
# (gen_events.py, byte-exact, through `sluicectl publish --raw`).  Then checks with SQL
# and the topics:
#   - workflow_events holds every valid id exactly once (count = distinct = 10,000, the
#     id set equals what was published), all with status 'accepted';
#   - dead_letters holds every malformed record exactly once, matched byte for byte on
#     raw, with the reason gen_events.py expects; group-by-reason counts agree;
#   - sluice.events.accepted carries the 10,000 distinct ids; sluice.events.dlq 500 records;
#   - a payload schema changed while ingress runs (`sluicectl types set`) is enforced
#     without a restart.
. "$(dirname "$0")/lib.sh"

GEN=$SRC/tests/integration/gen_events.py
PYEX=$SRC/examples/python/publish.py
N_VALID=10000
[ -x "$BUILD/sluice-it-sdk_publish" ] || fail "$BUILD/sluice-it-sdk_publish not built"
[ -f "$PYEX" ] || fail "$PYEX missing"

start_devbroker
start_pg

# The payload schema of order.created, registered before ingress starts.
"$PY" "$GEN" order-schema >"$T/order.avsc"
"$SLUICECTL" types set order.created "$T/order.avsc" >"$T/types.log" 2>&1 ||
        fail "sluicectl types set: $(cat "$T/types.log")"

"$PY" "$GEN" valid $N_VALID --seed 11 --sources 300 >"$T/valid.jsonl"
head -n 3000 "$T/valid.jsonl" >"$T/sdk.jsonl"
sed -n '3001,7000p' "$T/valid.jsonl" >"$T/ctl.jsonl"
tail -n +7001 "$T/valid.jsonl" >"$T/py.jsonl"
"$PY" -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["id"])' <"$T/valid.jsonl" >"$T/valid.ids"
"$PY" "$GEN" malformed --seed 12 --out "$T/bad.hex" --expect "$T/bad.tsv"
N_BAD=$(wc -l <"$T/bad.hex")
log "generated $N_VALID valid and $N_BAD malformed events"

start_ingress

# The three paths at once, plus the raw garbage.
"$BUILD/sluice-it-sdk_publish" <"$T/sdk.jsonl" >"$T/pub-sdk.log" 2>&1 &
p_sdk=$!
"$SLUICECTL" publish --count-only "$T/ctl.jsonl" >"$T/pub-ctl.log" 2>&1 &
p_ctl=$!
"$PY" "$PYEX" --bootstrap "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" "$T/py.jsonl" >"$T/pub-py.log" 2>&1 &
p_py=$!
"$SLUICECTL" publish --raw "$T/bad.hex" >"$T/pub-raw.log" 2>&1 &
p_raw=$!
wait $p_sdk || fail "C SDK publish failed: $(tail -n 3 "$T/pub-sdk.log")"
wait $p_ctl || fail "sluicectl publish failed: $(tail -n 3 "$T/pub-ctl.log")"
wait $p_py || fail "examples/python/publish.py failed: $(tail -n 3 "$T/pub-py.log")"
wait $p_raw || fail "sluicectl publish --raw failed: $(tail -n 3 "$T/pub-raw.log")"
log "published through the C SDK, sluicectl, Python and --raw"

wait_until "[ \$(psql_val 'select count(*) from workflow_events') -ge $N_VALID ] &&
            [ \$(psql_val 'select count(*) from dead_letters') -ge $N_BAD ]" 40 ||
        fail "timed out: $(psql_val 'select count(*) from workflow_events') events, $(psql_val 'select count(*) from dead_letters') dead letters"
ingress_sentinel end # anything beyond the expected counts, a duplicate, has landed by now

# --- workflow_events: every valid id exactly once ------------------------------------
psql_run >"$T/check-events.out" <<SQL
create temp table exp_ids (id text primary key);
\copy exp_ids from '$T/valid.ids'
select 'total', count(*) from workflow_events;
select 'distinct', count(distinct id) from workflow_events;
select 'missing', count(*) from exp_ids e where not exists (select 1 from workflow_events w where w.id::text = e.id);
select 'unexpected', count(*) from workflow_events w where not exists (select 1 from exp_ids e where e.id = w.id::text);
select 'not_accepted', count(*) from workflow_events where status <> 'accepted';
SQL
val() { awk -F'|' -v k="$1" '$1 == k { print $2 }' "$2"; }
assert_eq "workflow_events rows" $N_VALID "$(val total "$T/check-events.out")"
assert_eq "distinct ids" $N_VALID "$(val distinct "$T/check-events.out")"
assert_eq "published ids missing" 0 "$(val missing "$T/check-events.out")"
assert_eq "rows not published" 0 "$(val unexpected "$T/check-events.out")"
assert_eq "rows with status <> accepted" 0 "$(val not_accepted "$T/check-events.out")"

# --- dead_letters: every malformed record exactly once, with the right reason ----------
psql_run >"$T/check-dead.out" <<SQL
create temp table exp_dl (raw_hex text primary key, reason text);
\copy exp_dl from '$T/bad.tsv'
select 'total', count(*) from dead_letters;
select 'distinct_raw', count(distinct raw) from dead_letters;
select 'matched', count(*) from exp_dl e join dead_letters d on d.raw = decode(e.raw_hex, 'hex') and d.reason = e.reason;
select 'mismatch:' || e.reason || '->' || coalesce(d.reason, 'MISSING'), count(*)
  from exp_dl e left join dead_letters d on d.raw = decode(e.raw_hex, 'hex')
 where d.reason is distinct from e.reason group by 1 order by 1;
SQL
if grep -q '^mismatch:' "$T/check-dead.out"; then
        grep '^mismatch:' "$T/check-dead.out" >&2
        fail "dead letters with a wrong or missing reason (expected -> got, count above)"
fi
assert_eq "dead_letters rows" "$N_BAD" "$(val total "$T/check-dead.out")"
assert_eq "distinct raw dead letters" "$N_BAD" "$(val distinct_raw "$T/check-dead.out")"
assert_eq "dead letters matched byte for byte with the expected reason" "$N_BAD" \
        "$(val matched "$T/check-dead.out")"
expected_reasons=$(cut -f2 "$T/bad.tsv" | sort | uniq -c | awk '{print $2 "=" $1}' | paste -sd' ')
actual_reasons=$(psql_val "select string_agg(reason || '=' || n, ' ' order by reason)
                           from (select reason, count(*) n from dead_letters group by reason) r")
assert_eq "dead letters by reason" "$expected_reasons" "$actual_reasons"
# ...and says why in words: every bad id's row names it
n_bad_id=$(psql_val "select count(*) from dead_letters where reason = 'bad_id'")
[ "$n_bad_id" -gt 0 ] || fail "no bad_id dead letters to check the message of"
assert_eq "bad_id dead letters whose message says 'not a UUID'" "$n_bad_id" \
        "$(psql_val "select count(*) from dead_letters where reason = 'bad_id' and message like '%not a UUID%'")"

# --- the output topics -----------------------------------------------------------------
"$SLUICECTL" tail sluice.events.accepted --from-beginning --max $N_VALID --timeout-ms 15000 \
        >"$T/accepted.jsonl" 2>"$T/tail-accepted.log" || fail "tail accepted: $(tail -n 3 "$T/tail-accepted.log")"
"$PY" - "$T/accepted.jsonl" "$T/valid.ids" >"$T/accepted.check" <<'PY' || fail "accepted topic: $(cat "$T/accepted.check")"
import json, sys
ids = set()
for line in open(sys.argv[1]):
    rec = json.loads(line)
    env = rec.get("value", rec) if isinstance(rec.get("value"), dict) else rec
    ids.add(env["id"])
want = set(l.strip() for l in open(sys.argv[2]) if l.strip())
print("distinct=%d missing=%d unexpected=%d" % (len(ids), len(want - ids), len(ids - want)))
sys.exit(0 if ids == want else 1)
PY
assert_eq "sluice.events.accepted" "distinct=$N_VALID missing=0 unexpected=0" "$(cat "$T/accepted.check")"
"$SLUICECTL" tail sluice.events.dlq --from-beginning --max "$N_BAD" --timeout-ms 10000 \
        >"$T/dlq.jsonl" 2>"$T/tail-dlq.log" || fail "tail dlq: $(tail -n 3 "$T/tail-dlq.log")"
assert_eq "records on sluice.events.dlq" "$N_BAD" "$(grep -c . "$T/dlq.jsonl")"
grep -q 'sluice.reason' "$T/dlq.jsonl" || fail "DLQ records carry no sluice.reason header: $(head -c 400 "$T/dlq.jsonl")"
assert_eq "DLQ records whose sluice.reason.message says 'not a UUID'" "$n_bad_id" "$(grep -c 'not a UUID' "$T/dlq.jsonl")"

# --- a payload schema changed while ingress runs -------------------------------------
# v2 of order.created requires "customer".  An order without it must be rejected
# (payload_schema) once ingress has the new schema, without a restart.
"$PY" - "$T/order.avsc" >"$T/order-v2.avsc" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["fields"].append({"name": "customer", "type": "string"})
print(json.dumps(s))
PY
"$SLUICECTL" types set order.created "$T/order-v2.avsc" >>"$T/types.log" 2>&1 ||
        fail "sluicectl types set (v2): $(tail -n 3 "$T/types.log")"
log "order.created now requires 'customer'"
deadline=$(( $(date +%s) + 15 )); rejected=0; probes=0
while [ "$(date +%s)" -lt $deadline ]; do
        probes=$((probes + 1))
        id=$("$PY" -c 'import uuid; print(uuid.uuid4())')
        printf '{"id":"%s","type":"order.created","source":"probe","payload":{"order_id":"p%d","amount":1}}\n' \
                "$id" $probes | "$SLUICECTL" publish - >>"$T/pub-probe.log" 2>&1 || fail "probe publish failed"
        wait_until "[ \$(psql_val \"select (select count(*) from workflow_events where id::text = '$id') +
                                          (select count(*) from dead_letters where event_id::text = '$id')\") -ge 1 ]" 10 ||
                fail "probe $id reached neither table"
        reason=$(psql_val "select reason from dead_letters where event_id::text = '$id'")
        if [ "$reason" = payload_schema ]; then rejected=1; break; fi
        [ -z "$reason" ] || fail "probe rejected as '$reason', expected payload_schema"
        sleep 0.5
done
[ $rejected = 1 ] || fail "ingress did not pick up the changed payload schema within 15 s ($probes probes accepted)"
log "ok: changed schema enforced without restart (probe $probes)"
id=$("$PY" -c 'import uuid; print(uuid.uuid4())')
printf '{"id":"%s","type":"order.created","source":"probe","payload":{"order_id":"ok","amount":2,"customer":"c1"}}\n' \
        "$id" | "$SLUICECTL" publish - >>"$T/pub-probe.log" 2>&1 || fail "probe publish failed"
wait_until "[ \$(psql_val \"select count(*) from workflow_events where id::text = '$id'\") = 1 ]" 10 ||
        fail "an order.created conforming to v2 was not accepted"
log "ok: conforming v2 order accepted"

stop_pid "$INGRESS_PID" || fail "sluice-ingress did not exit 0 on SIGTERM"
log "PASS"
