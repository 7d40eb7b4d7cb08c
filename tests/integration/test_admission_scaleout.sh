#!/usr/bin/env bash
# Admission holds across rebalances.  A private devbroker + Postgres (lib.sh); 20
# sources limited to 30 admissions per 2000 ms window (five of them also auto-pause
# after 40 throttled in a window, for 3 s).  Two sluice-ingress workers in one group;
# while a publisher sends a steady stream (ROUNDS rounds of 250 keyed events every
# ~0.6 s, half of them on four hot sources that run far over their limit, plus 30
# unkeyed raw events per round that land on random partitions and must be re-routed
# to their source's owner), a third worker joins and later the first one leaves with
# SIGTERM.  Checked with SQL over workflow_events only, not the processes' counters:
#   - every published id has exactly one row (none lost, none twice), each decided;
#   - for every source and every window (decided_at epoch ms - epoch ms % 2000), the
#     accepted events never exceed the limit;
#   - every throttled or paused event has its event_ingress_retries row.
. "$(dirname "$0")/lib.sh"

GEN=$SRC/tests/integration/gen_events.py
NSRC=20
LIMIT=30
WINDOW_MS=2000
ROUNDS=${SLUICE_SCALEOUT_ROUNDS:-30}
INGRESS_ARGS=(-X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=1000
              -X admission.mirror.ms=1000 -X ingress.batch.ms=50)

start_devbroker
start_pg
for i in $(seq 0 $((NSRC - 1))); do
        s=$(printf 'scale-%02d' "$i")
        if [ "$i" -lt 5 ]; then
                extra=(--pause-after 40 --pause-ms 3000)
        else
                extra=()
        fi
        "$SLUICECTL" sources set "$s" --limit $LIMIT --window-ms $WINDOW_MS "${extra[@]}" \
                >>"$T/sources.log" 2>&1 || fail "sluicectl sources set $s: $(tail -n 2 "$T/sources.log")"
done
log "$NSRC sources: $LIMIT per $WINDOW_MS ms"

# All rounds up front: round.N.jsonl (keyed, through sluicectl publish) and
# round.N.hex (unkeyed raw values); every id in all.ids.
"$PY" - "$T" "$ROUNDS" "$NSRC" <<'PY'
import json, random, sys, time, uuid
d, rounds, nsrc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(7)
now = int(time.time() * 1000)
ids = open(d + "/all.ids", "w")
def ev(i):
    # half the traffic on scale-00..03, the rest spread over all sources
    s = rnd.randrange(4) if rnd.random() < 0.5 else rnd.randrange(nsrc)
    e = {"id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)), "type": "admission.test",
         "source": "scale-%02d" % s, "occurred_at": now, "payload": {"n": i}}
    ids.write(e["id"] + "\n")
    return json.dumps(e, separators=(",", ":"))
for r in range(rounds):
    with open("%s/round.%d.jsonl" % (d, r), "w") as f:
        for i in range(250):
            f.write(ev(i) + "\n")
    raw = "\n".join(ev(i) for i in range(30)) + "\n"
    with open("%s/round.%d.raw.jsonl" % (d, r), "w") as f:
        f.write(raw)
PY
for r in $(seq 0 $((ROUNDS - 1))); do
        "$PY" "$GEN" encode <"$T/round.$r.raw.jsonl" >"$T/round.$r.hex" ||
                fail "gen_events.py encode failed"
done
N=$(wc -l <"$T/all.ids")
log "generated $N events in $ROUNDS rounds"

start_ingress "${INGRESS_ARGS[@]}"
W1_PID=$INGRESS_PID W1_PORT=$INGRESS_PORT
start_ingress "${INGRESS_ARGS[@]}"
W2_PID=$INGRESS_PID W2_PORT=$INGRESS_PORT
wait_until "[ \$(grep -l 'admission state of partition' '$T'/ingress.1.log '$T'/ingress.2.log | wc -l) = 2 ]" 30 ||
        fail "the two workers did not both get partitions"
log "workers 1 ($W1_PID) and 2 ($W2_PID) share the partitions"

# Worker 3 joins at JOIN_AT; worker 1 leaves at LEAVE_AT, once worker 3 got partitions
# (two distinct rebalances, not one).  When the join's rebalance is not over by then
# (on the mock cluster it once took 15 s), the stream pauses until it is.
JOIN_AT=$((ROUNDS / 6)) LEAVE_AT=$((ROUNDS / 2)) w1_left=0
t_pub=$(date +%s%N)
for r in $(seq 0 $((ROUNDS - 1))); do
        t_round=$(date +%s%N)
        if [ "$r" = "$JOIN_AT" ]; then
                start_ingress "${INGRESS_ARGS[@]}"
                W3_PID=$INGRESS_PID W3_PORT=$INGRESS_PORT
                log "worker 3 ($W3_PID) joined at round $r"
        fi
        if [ "$w1_left" = 0 ] && [ "$r" -ge "$LEAVE_AT" ]; then
                t_wait=$(date +%s%N)
                wait_until "grep -q 'admission state of partition' '$T/ingress.3.log'" 60 ||
                        fail "worker 3 got no partitions within 60 s of round $r"
                log "worker 3 has partitions (waited $(( ($(date +%s%N) - t_wait) / 1000000 )) ms at round $r)"
                stop_pid "$W1_PID" || fail "worker 1 did not exit 0 on SIGTERM"
                w1_left=1
                log "worker 1 left (SIGTERM) at round $r"
        fi
        "$SLUICECTL" publish --count-only "$T/round.$r.jsonl" >>"$T/pub.log" 2>&1 ||
                fail "publish round $r: $(tail -n 3 "$T/pub.log")"
        "$SLUICECTL" publish --raw "$T/round.$r.hex" >>"$T/pub.log" 2>&1 ||
                fail "publish --raw round $r: $(tail -n 3 "$T/pub.log")"
        # ~0.6 s per round, whatever publishing took
        ms_left=$(( 600 - ($(date +%s%N) - t_round) / 1000000 ))
        if [ "$ms_left" -gt 0 ]; then sleep "$(printf '0.%03d' "$ms_left")"; fi
done
[ "$w1_left" = 1 ] || fail "worker 3 got no partitions during the run"
log "published $N events in $(( ($(date +%s%N) - t_pub) / 1000000 )) ms"

wait_until "[ \$(psql_val 'select count(*) from workflow_events') -ge $N ]" 40 ||
        fail "only $(psql_val 'select count(*) from workflow_events') of $N events written"
ingress_sentinel end # a duplicate of anything published would be in Postgres by now

psql_run >"$T/check.out" <<SQL
create temp table exp (id uuid primary key);
\copy exp from '$T/all.ids'
select 'total', count(*) from workflow_events;
select 'distinct', count(distinct id) from workflow_events;
select 'missing', count(*) from exp where id not in (select id from workflow_events);
select 'unexpected', count(*) from workflow_events where id not in (select id from exp);
select 'undecided', count(*) from workflow_events
  where status not in ('accepted', 'throttled', 'paused') or decided_at is null;
with w as (
  select source, (round(extract(epoch from decided_at) * 1000))::bigint / $WINDOW_MS as win,
         count(*) filter (where status = 'accepted') as accepted
  from workflow_events group by 1, 2)
select 'over_limit', count(*) filter (where accepted > $LIMIT),
       'full_windows', count(*) filter (where accepted = $LIMIT),
       'max_accepted', max(accepted) from w;
select 'held', count(*) from workflow_events where status <> 'accepted';
select 'held_without_retry', count(*) from workflow_events w
  where status <> 'accepted'
    and not exists (select 1 from event_ingress_retries r
                    where r.event_id = w.id and r.state = 'scheduled' and r.attempt = 1);
-- one decision per attempt: a retry intent must say what the row says
select 'retry_decision_differs', count(*) from event_ingress_retries r
  join workflow_events w on w.id = r.event_id
  where w.status = 'accepted' or r.reason is distinct from w.reason or r.attempt <> w.attempt + 1;
select 'by_status', string_agg(k, ',' order by k) from (
  select status || ':' || coalesce(nullif(reason, ''), '-') || '=' || count(*) as k
  from workflow_events group by status, reason) x;
SQL
val() { awk -F'|' -v k="$1" '{ for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }' "$T/check.out"; }
log "decisions: $(val by_status)"
assert_eq "workflow_events rows" "$N" "$(val total)"
assert_eq "distinct ids" "$N" "$(val distinct)"
assert_eq "published ids missing" 0 "$(val missing)"
assert_eq "rows not published" 0 "$(val unexpected)"
assert_eq "rows without a decision" 0 "$(val undecided)"
assert_eq "source windows over the limit of $LIMIT" 0 "$(val over_limit)"
[ "$(val full_windows)" -gt 0 ] || fail "no window reached the limit: the test did not exercise throttling"
[ "$(val held)" -gt 0 ] || fail "nothing was held back"
log "ok: $(val full_windows) source windows admitted exactly $LIMIT (max $(val max_accepted)), $(val held) events held back"
assert_eq "held-back events without a scheduled retry intent" 0 "$(val held_without_retry)"
if [ "$(val retry_decision_differs)" != 0 ]; then
        # Say which: a re-routed record re-produced after a rebalance (its first copy
        # already decided) is decided again when its owner partition has left verify mode.
        cat "$T"/round.*.raw.jsonl | "$PY" -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["id"])' >"$T/rerouted.ids"
        psql_run -F ' ' >"$T/differs.out" <<SQL
create temp table rr (id uuid primary key);
\copy rr from '$T/rerouted.ids'
select count(*) filter (where rr.id is not null) || ' of them published unkeyed (re-routed)'
  from event_ingress_retries r join workflow_events w on w.id = r.event_id left join rr on rr.id = w.id
  where w.status = 'accepted' or r.reason is distinct from w.reason or r.attempt <> w.attempt + 1;
select w.id, w.source, 'p' || w.kafka_partition || '@' || w.kafka_offset, w.status, w.reason,
       to_char(w.decided_at, 'HH24:MI:SS.MS'), 'retry:', r.reason, to_char(r.created_at, 'HH24:MI:SS.MS')
  from event_ingress_retries r join workflow_events w on w.id = r.event_id
  where w.status = 'accepted' or r.reason is distinct from w.reason or r.attempt <> w.attempt + 1
  order by w.decided_at limit 5;
SQL
        log "retry intents that contradict the row's decision (first 5):"
        sed 's/^/    /' "$T/differs.out" >&2
fi
assert_eq "retry intents whose decision differs from the event's row" 0 "$(val retry_decision_differs)"

rerouted=0
for port in "$W2_PORT" "$W3_PORT"; do
        n=$(curl -sf "http://127.0.0.1:$port/metrics" |
            awk '/^sluice_ingress_events_total\{outcome="rerouted"\}/ { s += $NF } END { print s + 0 }')
        rerouted=$((rerouted + ${n%.*}))
done
[ "$rerouted" -gt 0 ] || fail "no record was re-routed to its owner partition"
log "ok: the remaining workers re-routed $rerouted records to their owner partition"

stop_pid "$W3_PID" || fail "worker 3 did not exit 0 on SIGTERM"
stop_pid "$W2_PID" || fail "worker 2 did not exit 0 on SIGTERM"
log "PASS"
