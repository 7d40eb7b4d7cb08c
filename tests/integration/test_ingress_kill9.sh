#!/usr/bin/env bash
# sluice-ingress killed with SIGKILL in the middle of a large run loses and duplicates
# nothing.  A private devbroker + Postgres (lib.sh); N valid events over 500 sources and
# some malformed ones are published first; ingress starts, is killed -9 when
# workflow_events holds between 10% and 90% of them, and is restarted.  Afterwards:
# count(*) = count(distinct id) = N, the id set equals what was published, every dead
# letter is there exactly once, and sluice.events.accepted carries every id (repeats on
# the topic are allowed: Kafka output is at-least-once, the table is the record).
. "$(dirname "$0")/lib.sh"

GEN=$SRC/tests/integration/gen_events.py
N=${SLUICE_KILL9_EVENTS:-40000}
# Small batches make the run long enough to kill it in the middle.  A killed member
# stays in the group until its session times out: keep that short, so the restarted
# ingress gets the partitions in seconds, not Kafka's default 45.
BATCH=${SLUICE_KILL9_BATCH:-500}
INGRESS_ARGS=(-X ingress.batch.size="$BATCH" -X kafka.session.timeout.ms=6000
              -X kafka.heartbeat.interval.ms=500)

start_devbroker
start_pg
"$PY" "$GEN" order-schema >"$T/order.avsc"
"$SLUICECTL" types set order.created "$T/order.avsc" >"$T/types.log" 2>&1 ||
        fail "sluicectl types set: $(cat "$T/types.log")"

"$PY" "$GEN" valid "$N" --seed 31 --sources 500 >"$T/valid.jsonl"
"$PY" -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["id"])' <"$T/valid.jsonl" >"$T/valid.ids"
"$PY" "$GEN" malformed --seed 32 --scale 0.4 --out "$T/bad.hex" --expect "$T/bad.tsv"
N_BAD=$(wc -l <"$T/bad.hex")

# Interleave: garbage first and last, so dead letters are written on both sides of the kill.
half=$((N_BAD / 2))
head -n $half "$T/bad.hex" >"$T/bad1.hex"
tail -n +$((half + 1)) "$T/bad.hex" >"$T/bad2.hex"
"$SLUICECTL" publish --raw "$T/bad1.hex" >"$T/pub.log" 2>&1 || fail "publish --raw: $(tail -n 3 "$T/pub.log")"
"$SLUICECTL" publish --count-only "$T/valid.jsonl" >>"$T/pub.log" 2>&1 || fail "publish: $(tail -n 3 "$T/pub.log")"
"$SLUICECTL" publish --raw "$T/bad2.hex" >>"$T/pub.log" 2>&1 || fail "publish --raw: $(tail -n 3 "$T/pub.log")"
log "published $N valid and $N_BAD malformed events"

lo=$((N / 10)) hi=$((N * 9 / 10))
start_ingress "${INGRESS_ARGS[@]}"
killed_at=
deadline=$(( $(date +%s) + 30 ))
while [ "$(date +%s)" -lt $deadline ]; do
        c=$(psql_val 'select count(*) from workflow_events')
        if [ "$c" -ge $lo ]; then
                kill -KILL "$INGRESS_PID"
                wait "$INGRESS_PID" 2>/dev/null || true
                untrack_pid "$INGRESS_PID"
                killed_at=$(psql_val 'select count(*) from workflow_events')
                break
        fi
        sleep 0.02
done
[ -n "$killed_at" ] || fail "workflow_events never reached $lo rows (stuck at $c)"
log "kill -9 with $c rows seen, $killed_at rows after the kill"
[ "$killed_at" -le $hi ] ||
        fail "ingress was too quick: $killed_at of $N rows (> 90%) when killed; lower SLUICE_KILL9_BATCH"

start_ingress "${INGRESS_ARGS[@]}"
wait_until "[ \$(psql_val 'select count(*) from workflow_events') -ge $N ] &&
            [ \$(psql_val 'select count(*) from dead_letters') -ge $N_BAD ]" 40 ||
        fail "after restart: $(psql_val 'select count(*) from workflow_events') of $N events, $(psql_val 'select count(*) from dead_letters') of $N_BAD dead letters"
ingress_sentinel end # a duplicate would have landed by now
replayed=$(curl -sf "http://127.0.0.1:$INGRESS_PORT/metrics" |
           awk '/^sluice_ingress_replayed_total/ { s += $NF } END { print s + 0 }')
log "the restarted ingress found $replayed records already written (replayed, skipped)"

psql_run >"$T/check.out" <<SQL
create temp table exp_ids (id text primary key);
\copy exp_ids from '$T/valid.ids'
create temp table exp_dl (raw_hex text primary key, reason text);
\copy exp_dl from '$T/bad.tsv'
select 'total', count(*) from workflow_events;
select 'distinct', count(distinct id) from workflow_events;
select 'missing', count(*) from exp_ids e where not exists (select 1 from workflow_events w where w.id::text = e.id);
select 'unexpected', count(*) from workflow_events w where not exists (select 1 from exp_ids e where e.id = w.id::text);
select 'dl_total', count(*) from dead_letters;
select 'dl_matched', count(*) from exp_dl e join dead_letters d on d.raw = decode(e.raw_hex, 'hex') and d.reason = e.reason;
select 'dl_distinct', count(distinct raw) from dead_letters;
SQL
val() { awk -F'|' -v k="$1" '$1 == k { print $2 }' "$T/check.out"; }
assert_eq "workflow_events rows" "$N" "$(val total)"
assert_eq "distinct ids" "$N" "$(val distinct)"
assert_eq "published ids missing" 0 "$(val missing)"
assert_eq "rows not published" 0 "$(val unexpected)"
assert_eq "dead_letters rows" "$N_BAD" "$(val dl_total)"
assert_eq "distinct dead letters" "$N_BAD" "$(val dl_distinct)"
assert_eq "dead letters with the expected reason" "$N_BAD" "$(val dl_matched)"

"$SLUICECTL" tail sluice.events.accepted --from-beginning --max $((N * 2)) --timeout-ms 5000 \
        >"$T/accepted.jsonl" 2>"$T/tail.log" || true
"$PY" - "$T/accepted.jsonl" "$T/valid.ids" >"$T/accepted.check" <<'PY' || fail "accepted topic: $(cat "$T/accepted.check")"
import json, sys
ids, n = set(), 0
for line in open(sys.argv[1]):
    rec = json.loads(line)
    env = rec.get("value", rec) if isinstance(rec.get("value"), dict) else rec
    ids.add(env["id"])
    n += 1
want = set(l.strip() for l in open(sys.argv[2]) if l.strip())
print("missing=%d unexpected=%d" % (len(want - ids), len(ids - want)))
sys.stderr.write("accepted topic: %d records, %d distinct\n" % (n, len(ids)))
sys.exit(0 if ids == want else 1)
PY
assert_eq "sluice.events.accepted" "missing=0 unexpected=0" "$(cat "$T/accepted.check")"

stop_pid "$INGRESS_PID" || fail "sluice-ingress did not exit 0 on SIGTERM"
log "PASS"
