#!/usr/bin/env bash
# Admission state survives kill -9: the window, its counters and an auto-pause continue
# where they were after sluice-ingress is killed and restarted.  A private devbroker +
# Postgres (lib.sh).
#
# One source with --limit 50, --pause-after 20 and a window long enough for the whole
# test: windows are aligned to the epoch, so the test picks a window_ms whose current
# window has at least 90 s left (never flaky at a boundary).  60 events: 50 accepted,
# 10 throttled (window_full).  kill -9, restart (short session timeout, so the
# partitions come back in seconds).  30 more events in the same window: none accepted
# (the count was not reset), 10 throttled until the window holds 20 throttled, which
# starts an auto-pause, then 20 paused (auto_paused).  Checked with SQL: one row per
# event, the decisions per batch and in offset order, one retry intent per held-back
# event, and the scheduler_state mirror (window_count 50, throttled 20, paused_until
# in the future).
. "$(dirname "$0")/lib.sh"

SOURCE=restart-src
INGRESS_ARGS=(-X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=1000
              -X admission.mirror.ms=500)

# gen N TAG: N JSON lines of $SOURCE with fresh ids.
gen() {
        "$PY" - "$1" "$2" "$SOURCE" <<'PY'
import json, sys, time, uuid
n, tag, src = int(sys.argv[1]), sys.argv[2], sys.argv[3]
now = int(time.time() * 1000)
for i in range(n):
    print(json.dumps({"id": str(uuid.uuid4()), "type": "admission.test", "source": src,
                      "occurred_at": now, "payload": {"tag": tag, "n": i}},
                     separators=(",", ":")))
PY
}
ids_of() { "$PY" -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["id"])' <"$1" >"$2"; }

start_devbroker
start_pg

# A window length whose current (epoch-aligned) window has >= 90 s left.
WINDOW_MS=$("$PY" -c 'import time
now = int(time.time() * 1000)
for w in range(600000, 1200000, 1000):
    if w - now % w >= 90000:
        print(w); break')
WINDOW_START_MS=$("$PY" -c "import time; now=int(time.time()*1000); print(now - now % $WINDOW_MS)")
log "window_ms $WINDOW_MS: $(( (WINDOW_START_MS + WINDOW_MS - $(date +%s%3N)) / 1000 )) s left in the current window"

"$SLUICECTL" sources set "$SOURCE" --limit 50 --window-ms "$WINDOW_MS" \
        --pause-after 20 --pause-ms 60000 >"$T/sources.log" 2>&1 ||
        fail "sluicectl sources set: $(cat "$T/sources.log")"

start_ingress "${INGRESS_ARGS[@]}"
gen 60 before >"$T/before.jsonl"
ids_of "$T/before.jsonl" "$T/before.ids"
"$SLUICECTL" publish --count-only "$T/before.jsonl" >"$T/pub.log" 2>&1 ||
        fail "publish: $(tail -n 3 "$T/pub.log")"
wait_until "[ \$(psql_val 'select count(*) from workflow_events') -ge 60 ]" 20 ||
        fail "only $(psql_val 'select count(*) from workflow_events') of 60 events written"
assert_eq "accepted before the kill" 50 \
        "$(psql_val "select count(*) from workflow_events where status = 'accepted'")"
sleep 1 # the batch's changelog records are flushed and its offsets committed by now

kill -KILL "$INGRESS_PID"
wait "$INGRESS_PID" 2>/dev/null || true
untrack_pid "$INGRESS_PID"
log "ingress killed with SIGKILL"

start_ingress "${INGRESS_ARGS[@]}"
gen 30 after >"$T/after.jsonl"
ids_of "$T/after.jsonl" "$T/after.ids"
"$SLUICECTL" publish --count-only "$T/after.jsonl" >>"$T/pub.log" 2>&1 ||
        fail "publish: $(tail -n 3 "$T/pub.log")"
wait_until "[ \$(psql_val 'select count(*) from workflow_events') -ge 90 ]" 30 ||
        fail "only $(psql_val 'select count(*) from workflow_events') of 90 events written after the restart"
grep -q "admission state of partition .* restored: .* 1 sources" "$INGRESS_LOG" ||
        fail "the restarted ingress did not restore the source's state from the changelog"
log "restarted ingress: $(grep -o 'admission state of partition .* 1 sources[^"]*' "$INGRESS_LOG" | head -n 1)"

# The mirror runs every 500 ms; wait for the state after the 90th decision.
wait_until "[ \"\$(psql_val \"select window_count || '/' || throttled from scheduler_state where key = '$SOURCE'\")\" = 50/20 ]" 10 ||
        fail "scheduler_state: $(psql_val "select window_count || '/' || throttled from scheduler_state where key = '$SOURCE'") (want 50/20)"

psql_run >"$T/check.out" <<SQL
create temp table b (id uuid primary key);
\copy b from '$T/before.ids'
create temp table a (id uuid primary key);
\copy a from '$T/after.ids'
select 'total', count(*) from workflow_events;
select 'distinct', count(distinct id) from workflow_events;
select 'b', string_agg(k, ',' order by k) from (
  select status || ':' || coalesce(reason, '') || '=' || count(*) as k
  from workflow_events w join b using (id) group by status, reason) x;
select 'a', string_agg(k, ',' order by k) from (
  select status || ':' || coalesce(reason, '') || '=' || count(*) as k
  from workflow_events w join a using (id) group by status, reason) x;
select 'missing', (select count(*) from b where id not in (select id from workflow_events))
               + (select count(*) from a where id not in (select id from workflow_events));
select 'windows', count(distinct (extract(epoch from decided_at) * 1000)::bigint / $WINDOW_MS)
  from workflow_events;
select 'window_ok', bool_and((extract(epoch from decided_at) * 1000)::bigint / $WINDOW_MS
                             = $WINDOW_START_MS / $WINDOW_MS) from workflow_events;
select 'order_ok', (select max(kafka_offset) from workflow_events join a using (id) where status = 'throttled')
                 < (select min(kafka_offset) from workflow_events join a using (id) where status = 'paused');
select 'retries', count(*) from event_ingress_retries r join workflow_events w on w.id = r.event_id
  where w.status <> 'accepted' and r.state = 'scheduled' and r.attempt = 1 and r.reason = w.reason;
select 'retries_total', count(*) from event_ingress_retries;
select 'mirror', window_count || '/' || throttled || '/' || (paused_until > now())
                 || '/' || ((extract(epoch from window_start) * 1000)::bigint = $WINDOW_START_MS)
  from scheduler_state where stage = 'ingress' and key = '$SOURCE';
SQL
val() { awk -F'|' -v k="$1" '$1 == k { print $2 }' "$T/check.out"; }
assert_eq "workflow_events rows" 90 "$(val total)"
assert_eq "distinct ids" 90 "$(val distinct)"
assert_eq "published ids missing" 0 "$(val missing)"
assert_eq "decisions before the kill" "accepted:=50,throttled:window_full=10" "$(val b)"
assert_eq "decisions after the restart" "paused:auto_paused=20,throttled:window_full=10" "$(val a)"
assert_eq "windows the decisions fall in" 1 "$(val windows)"
assert_eq "every decision in the window the test chose" t "$(val window_ok)"
assert_eq "throttled before paused (offset order)" t "$(val order_ok)"
assert_eq "held-back events with a scheduled attempt-1 retry intent" 40 "$(val retries)"
assert_eq "event_ingress_retries rows" 40 "$(val retries_total)"
assert_eq "scheduler_state count/throttled/paused/window" "50/20/true/true" "$(val mirror)"

# Every held-back event has its wake-up on a retry tier topic (ids "event-retry:<id>:1";
# at-least-once, so a repeat would be allowed).
psql_val "select id from workflow_events where status <> 'accepted'" >"$T/held.ids"
: >"$T/retry.jsonl"
for topic in $("$SLUICECTL" topics list 2>/dev/null | awk '{ print $1 }' | grep '\.retry\.' || true); do
        "$SLUICECTL" tail "$topic" --from-beginning --timeout-ms 1500 >>"$T/retry.jsonl" 2>>"$T/tail.log" || true
done
"$PY" - "$T/retry.jsonl" "$T/held.ids" >"$T/retry.check" <<'PY'
import json, sys
want = set(l.strip() for l in open(sys.argv[2]) if l.strip())
got, n = set(), 0
for line in open(sys.argv[1]):
    rec = json.loads(line)
    raw = bytes.fromhex(rec.get("_raw_hex", ""))
    n += 1
    for i in want:
        if ("event-retry:%s:1" % i).encode() in raw:
            got.add(i)
print("records=%d missing=%d" % (n, len(want - got)))
PY
grep -q "missing=0$" "$T/retry.check" || fail "retry topics: $(cat "$T/retry.check")"
log "ok: retry tier topics: $(cat "$T/retry.check")"

stop_pid "$INGRESS_PID" || fail "sluice-ingress did not exit 0 on SIGTERM"
log "PASS"
