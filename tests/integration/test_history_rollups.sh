#!/usr/bin/env bash
# Rollups (docs/history.md): event_rollups and delivery_rollups equal a reference the
# test computes independently (a GROUP BY over the raw rows, hours straight from the
# raw rows, not from the minutes), after
#   1. a first advance over three hours of history (sluicectl history rollup);
#   2. late events (occurred_at two hours back, decided now) and status changes (a
#      retry re-deciding throttled events as accepted, as ingress does): the next
#      advance recomputes their old buckets;
#   3. re-running a range by hand (history rollup --from --to): the same rows, byte
#      for byte; a run that finds the lock taken does nothing;
#   4. sluice-admin's own thread advancing both rollups (rollup.interval.ms), and
#      GET /admin/rollups answering per minute and per hour, with filters, exactly the
#      raw aggregate, while fresh rows sit in the open interval past the watermark.
# History rows are written with SQL (the rollups read only Postgres): times, statuses
# and late arrivals are then exactly what the test says.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/admin_lib.sh"

start_pg

# Three hours of events, ms precision like ingress writes, decided 0..2 s after they
# occurred, every decision older than any lag used below (>= 2 min ago).
psql_val "
SELECT setseed(0.15);
INSERT INTO workflow_events (id, type, source, occurred_at, received_at, payload,
                             kafka_partition, kafka_offset, status, decided_at)
SELECT gen_random_uuid(), (ARRAY['order.created','order.paid','user.signup'])[1 + (i % 3)],
       (ARRAY['shop','billing','auth','crm'])[1 + (i * 7 % 4)], t, t, '{}',
       0, i, CASE WHEN i % 10 = 0 THEN 'throttled' WHEN i % 37 = 0 THEN 'paused' ELSE 'accepted' END,
       t + (i % 3) * interval '1 second'
FROM (SELECT i, date_trunc('milliseconds', now() - interval '3 hours'
                 + (random() * interval '170 minutes')) AS t
      FROM generate_series(1, 3000) i) s;" >/dev/null

# Deliveries: one trigger's outcomes over the same hours.
TRG=6f2c1a52-0000-4000-8000-000000000001
TRG2=6f2c1a52-0000-4000-8000-000000000002
psql_val "
INSERT INTO trigger_deliveries (launch_id, trigger_id, event_id, workflow, outcome,
                                first_outcome, matched_at, decided_at, launched_at)
SELECT gen_random_uuid(), CASE WHEN i % 2 = 0 THEN '$TRG'::uuid ELSE '$TRG2'::uuid END,
       gen_random_uuid(), 'wf', o, o, t, t, CASE WHEN o = 'launched' THEN t END
FROM (SELECT i, (ARRAY['launched','throttled','deferred','paused'])[1 + (i % 4)] AS o,
             date_trunc('milliseconds', now() - interval '3 hours'
                 + ((i * 7919 % 10000) / 10000.0) * interval '170 minutes') AS t
      FROM generate_series(1, 1200) i) s;" >/dev/null

# The reference: GROUP BY over the raw rows, each width straight from the raw rows.
ref_events() {
        psql_val "SELECT w, b, type, source, status, count(*), min(occurred_at), max(occurred_at)
                  FROM (SELECT 'minute' AS w, date_trunc('minute', occurred_at) AS b, * FROM workflow_events
                        UNION ALL SELECT 'hour', date_trunc('hour', occurred_at), * FROM workflow_events) x
                  GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
}
got_events() {
        psql_val "SELECT width, bucket, type, source, status, events, first_at, last_at
                  FROM event_rollups ORDER BY 1, 2, 3, 4, 5"
}
ref_deliveries() {
        psql_val "SELECT w, b, trigger_id, outcome, count(*), min(decided_at), max(decided_at)
                  FROM (SELECT 'minute' AS w, date_trunc('minute', decided_at) AS b, * FROM trigger_deliveries
                        UNION ALL SELECT 'hour', date_trunc('hour', decided_at), * FROM trigger_deliveries) x
                  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
}
got_deliveries() {
        psql_val "SELECT width, bucket, trigger_id, outcome, deliveries, first_at, last_at
                  FROM delivery_rollups ORDER BY 1, 2, 3, 4"
}
same() { # same NAME REF GOT
        [ "$2" = "$3" ] || { diff <(echo "$2") <(echo "$3") | head -n 20 >&2; fail "$1 differs from the reference"; }
}

# 1. The first advance rolls up all history.
"$SLUICECTL" history rollup --lag-ms 60000 >"$T/run1.txt" || fail "history rollup: $(cat "$T/run1.txt")"
log "first advance: $(tr '\t\n' ' ;' <"$T/run1.txt")"
same "event_rollups" "$(ref_events)" "$(got_events)"
same "delivery_rollups" "$(ref_deliveries)" "$(got_deliveries)"
n=$(psql_val "select count(*) from event_rollups where width = 'minute'")
log "ok: after the first advance, $n minute rows of event_rollups and every delivery row equal the raw GROUP BY"

# 2. Late events into old buckets, status changes of old rows (a retry re-deciding
# them), a deferred delivery launched now: all decided 30 s ago.
psql_val "
INSERT INTO workflow_events (id, type, source, occurred_at, received_at, payload,
                             kafka_partition, kafka_offset, status, decided_at)
SELECT gen_random_uuid(), 'order.late', 'shop',
       date_trunc('milliseconds', now() - interval '2 hours' + i * interval '700 milliseconds'),
       now(), '{}', 1, i, 'accepted', now() - interval '30 seconds'
FROM generate_series(1, 200) i;
UPDATE workflow_events SET status = 'accepted', attempt = 1, decided_at = now() - interval '30 seconds'
WHERE status = 'throttled' AND kafka_offset % 20 = 0;
UPDATE trigger_deliveries SET outcome = 'launched', launched_at = now() - interval '30 seconds'
WHERE outcome = 'deferred' AND launch_id IN (SELECT launch_id FROM trigger_deliveries
                                             WHERE outcome = 'deferred' ORDER BY launch_id LIMIT 25);" >/dev/null
changed=$(psql_val "select count(*) from workflow_events where decided_at > now() - interval '1 minute'")
"$SLUICECTL" history rollup --lag-ms 10000 >"$T/run2.txt" || fail "history rollup: $(cat "$T/run2.txt")"
log "second advance ($changed event rows changed): $(tr '\t\n' ' ;' <"$T/run2.txt")"
same "event_rollups after late events" "$(ref_events)" "$(got_events)"
same "delivery_rollups after later launches" "$(ref_deliveries)" "$(got_deliveries)"
[ "$(psql_val "select sum(events) from event_rollups where width = 'hour' and type = 'order.late'")" = 200 ] ||
        fail "the late events are not in their hours"
log "ok: late events and re-decided rows recomputed their old buckets (minute and hour)"

# 3. Re-running a range gives the same rows; so does an advance with nothing new.
before=$(got_events; got_deliveries)
from=$(psql_val "select to_char(min(occurred_at) at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') from workflow_events")
"$SLUICECTL" history rollup --from "$from" --to "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$T/run3.txt" ||
        fail "history rollup range: $(cat "$T/run3.txt")"
log "range run: $(tr '\t\n' ' ;' <"$T/run3.txt")"
same "rollups after re-running the range" "$before" "$(got_events; got_deliveries)"
"$SLUICECTL" history rollup --lag-ms 10000 >/dev/null || fail "third advance"
same "rollups after an advance with nothing new" "$before" "$(got_events; got_deliveries)"
# A run that finds the lock taken (another sluice-admin) does nothing.
psql_run -c "select pg_advisory_lock(1936487779, 15); select pg_sleep(3)" >/dev/null &
holder=$!
sleep 1
"$SLUICECTL" history rollup --table events --lag-ms 0 >"$T/run4.txt" 2>"$T/run4.err" || fail "locked advance"
wait "$holder"
grep -q "another run holds the lock" "$T/run4.err" && [ ! -s "$T/run4.txt" ] ||
        fail "an advance ran although the lock was taken: $(cat "$T/run4.txt" "$T/run4.err")"
log "ok: re-running the range and an empty advance leave identical rows; a locked run does nothing"

# 3b. An archived (dropped) hour keeps its rollups: a late event written into it is
# not counted over them, by an advance or a range run (the rows of an archived day
# are in its file, not in the live table; docs/history.md).
hour=$(psql_val "select to_char(date_trunc('hour', min(occurred_at)) at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') from workflow_events")
psql_run -c "insert into archives (tbl, partition, range_lo, range_hi, path, state)
             values ('workflow_events', 'test_archived_hour', '$hour', '$hour'::timestamptz + interval '1 hour', '/nonexistent', 'dropped')" >/dev/null
arch_q="select width, bucket, type, source, status, events from event_rollups
        where bucket >= '$hour' and bucket < '$hour'::timestamptz + interval '1 hour' order by 1, 2, 3, 4, 5"
before_arch=$(psql_val "$arch_q")
[ -n "$before_arch" ] || fail "no rollup rows in the hour $hour"
psql_run -c "insert into workflow_events (id, type, source, occurred_at, received_at, payload,
                                          kafka_partition, kafka_offset, status, decided_at)
             values (gen_random_uuid(), 'order.archived', 'shop', '$hour'::timestamptz + interval '90 seconds',
                     now(), '{}', 0, 0, 'accepted', now() - interval '30 seconds')" >/dev/null
"$SLUICECTL" history rollup --lag-ms 10000 >/dev/null || fail "advance over the archived hour"
"$SLUICECTL" history rollup --from "$hour" --to "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >/dev/null || fail "range over the archived hour"
same "rollups of an archived hour after a late event into it" "$before_arch" "$(psql_val "$arch_q")"
psql_run -c "delete from workflow_events where type = 'order.archived';
             delete from archives where partition = 'test_archived_hour'" >/dev/null
log "ok: an archived hour's rollups stay as they were when a late event comes into it"

# 4. sluice-admin advances both rollups itself and answers GET /admin/rollups.
start_devbroker
start_admin -X rollup.interval.ms=300 -X rollup.lag.ms=4000
fresh() { # fresh N [AGO]: N rows decided now, occurred AGO seconds ago (default 0: in the
        # open interval, past the watermark)
        psql_val "
INSERT INTO workflow_events (id, type, source, occurred_at, received_at, payload,
                             kafka_partition, kafka_offset, status, decided_at)
SELECT gen_random_uuid(), 'order.created', 'shop',
       date_trunc('milliseconds', now() - ${2:-0} * interval '1 second'), now(), '{}',
       2, i, 'accepted', now() FROM generate_series(1, $1) i;" >/dev/null
}
# A minute that ended more than rollup.settle.ms (10 s) + lag ago: the next advance
# recomputes it at once.
fresh 50 90
wait_until "[ \$(psql_val \"select count(*) from rollup_watermarks where upto > (select max(decided_at) from workflow_events)\") = 2 ] && [ \$(psql_val 'select count(*) from rollup_pending') = 0 ]" 20 ||
        fail "sluice-admin did not advance the rollups: $(psql_val 'select * from rollup_watermarks; select * from rollup_pending')"
runs=$(psql_val "select string_agg(name || '=' || runs, ' ' order by name) from rollup_watermarks")
same "event_rollups advanced by sluice-admin" "$(ref_events)" "$(got_events)"
same "delivery_rollups advanced by sluice-admin" "$(ref_deliveries)" "$(got_deliveries)"
log "ok: sluice-admin advanced both rollups ($runs runs); they equal the reference"
# Its runs are in the history maintenance metrics, as kind rollup_events and
# rollup_deliveries (the SluiceHistoryMaintenance* alerts cover them).
curl -s "$ADMIN_URL/metrics" >"$T/metrics.txt"
now_s=$(date +%s)
for k in rollup_events rollup_deliveries; do
        awk -v k="kind=\"$k\"" -v now="$now_s" '
                index($0, "sluice_history_last_success_timestamp_seconds{") == 1 && index($0, k) { ts = $2 }
                index($0, "sluice_history_last_run_ok{") == 1 && index($0, k) { ok = $2 }
                END { exit !(ts > now - 60 && ts <= now + 1 && ok == 1) }' "$T/metrics.txt" ||
                fail "no recent successful $k run in /metrics: $(grep "$k" "$T/metrics.txt")"
done
fresh 30 # the open interval: answered from the raw rows (the watermark is 4 s behind)
# Once the watermark passes them, their minute waits in rollup_pending (it has not
# ended rollup.settle.ms ago) instead of being recomputed at every advance.
wait_until "[ \$(psql_val \"select count(*) from rollup_watermarks where name = 'events' and upto > (select max(decided_at) from workflow_events)\") = 1 ]" 20 ||
        fail "sluice-admin did not advance past the fresh rows"
open_min=$(psql_val "select date_trunc('minute', max(occurred_at)) from workflow_events")
[ "$(psql_val "select count(*) from rollup_pending where name = 'events' and bucket = '$open_min'")" = 1 ] ||
        fail "the open minute $open_min is not pending: $(psql_val 'select * from rollup_pending')"
[ "$(psql_val "select count(*) from event_rollups where bucket >= '$open_min'")" = 0 ] ||
        fail "the open minute $open_min was rolled up before it settled"
log "ok: the open minute waits in rollup_pending until it has settled"

FROM=$(date -u -d '-4 hours' +%Y-%m-%dT%H:%M:%SZ)
export FROM TRG
"$PY" - <<'EOF' || fail "GET /admin/rollups differs from the raw aggregate"
import json, os, subprocess, sys
from admin_client import get, q

def sql(s):
    return subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                           os.environ["SLUICE_PG_PORT"], "-U", "sluice", "-d", "sluice", "-c", s],
                          check=True, capture_output=True, text=True).stdout
TS = "to_char(%s at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
frm = os.environ["FROM"]

def raw_events(width, where=""):
    rows = sql("select json_agg(r order by r.bucket, r.type, r.source, r.status) from ("
               "select %s as bucket, type, source, status, count(*) as count, %s as first_at, %s as last_at "
               "from workflow_events where occurred_at >= date_trunc('%s', '%s'::timestamptz) %s "
               "group by date_trunc('%s', occurred_at), type, source, status) r"
               % (TS % ("date_trunc('%s', occurred_at)" % width), TS % "min(occurred_at)",
                  TS % "max(occurred_at)", width, frm, where, width))
    return json.loads(rows) or []

def raw_deliveries(width, where=""):
    rows = sql("select json_agg(r order by r.bucket, r.trigger_id, r.outcome) from ("
               "select %s as bucket, trigger_id, outcome, count(*) as count, %s as first_at, %s as last_at "
               "from trigger_deliveries where decided_at >= date_trunc('%s', '%s'::timestamptz) %s "
               "group by date_trunc('%s', decided_at), trigger_id, outcome) r"
               % (TS % ("date_trunc('%s', decided_at)" % width), TS % "min(decided_at)",
                  TS % "max(decided_at)", width, frm, where, width))
    return json.loads(rows) or []

def answer(**params):
    s, h, js, raw = get(q("/admin/rollups", limit=10000, **params), token="read")
    if s != 200:
        sys.exit("GET /admin/rollups %r -> %d %s" % (params, s, raw[:300]))
    finished = sum(1 for r in js["rows"] if r["finished"])
    for r in js["rows"]:
        del r["finished"]
    return js["rows"], finished, len(js["rows"]) - finished

cases = [
    (dict(table="events", bucket="minute", **{"from": frm}), raw_events("minute")),
    (dict(table="events", bucket="hour", **{"from": frm}), raw_events("hour")),
    (dict(table="events", bucket="minute", type="order.paid", source="billing", **{"from": frm}),
     raw_events("minute", "and type = 'order.paid' and source = 'billing'")),
    (dict(table="events", bucket="hour", status="throttled", **{"from": frm}),
     raw_events("hour", "and status = 'throttled'")),
    (dict(table="deliveries", bucket="minute", **{"from": frm}), raw_deliveries("minute")),
    (dict(table="deliveries", bucket="hour", trigger=os.environ["TRG"], outcome="launched", **{"from": frm}),
     raw_deliveries("hour", "and trigger_id = '%s' and outcome = 'launched'" % os.environ["TRG"])),
]
for params, ref in cases:
    rows, fin, opn = answer(**params)
    if rows != ref:
        for a, b in zip(rows, ref):
            if a != b:
                print("first difference: got %r want %r" % (a, b), file=sys.stderr)
                break
        sys.exit("%r: %d rows, reference %d" % (params, len(rows), len(ref)))
    if fin == 0 or (params is cases[0][0] and opn == 0):
        sys.exit("%r: %d finished and %d open rows: both kinds expected" % (params, fin, opn))
    print("ok: %s: %d rows (%d finished, %d from raw rows) equal the raw aggregate"
          % (" ".join("%s=%s" % kv for kv in params.items() if kv[0] != "from"), len(rows), fin, opn),
          file=sys.stderr)
for bad in (dict(table="nope"), dict(bucket="day"), {"from": "yesterday"}, dict(table="events", trigger=os.environ["TRG"]),
            dict(table="deliveries", trigger="not-a-uuid")):
    s, h, js, raw = get(q("/admin/rollups", **bad), token="read")
    if s != 400 or h.get("content-type") != "application/problem+json":
        sys.exit("bad parameters %r -> %d %s" % (bad, s, raw[:200]))
print("ok: bad parameters are 400 problems", file=sys.stderr)
EOF
admin_no_secrets
log "PASS"
