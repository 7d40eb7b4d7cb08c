#!/usr/bin/env bash
# After an assignment, sluice-ingress looks up the decisions a previous owner recorded
# in Postgres for the records it reads again (verify mode, src/state/replay.h), and it
# searches only the daily partitions of workflow_events that span the batch's
# occurred_at (an event's row is keyed by (id, occurred_at)), not all of them.  This
# checks that the narrowed lookup still finds every recorded decision, wherever its row
# lives: today's partition, yesterday's, one ahead, and the default partition (a time
# outside the daily range).  A private devbroker + Postgres (lib.sh).
#
# Four events are published; their rows are written first, as an owner that crashed
# after its COPY and before its changelog would have left them (status accepted, a
# decided_at of its own).  A fresh sluice-ingress (no changelog: every partition in
# verify mode) must re-use all four decisions (sluice_ingress_decisions_replayed_total
# 4, no decision taken afresh) and leave the rows as they were.
. "$(dirname "$0")/lib.sh"

start_devbroker
start_pg
psql_val "select sluice_ensure_event_partitions(7, 14)" >/dev/null

"$PY" - >"$T/events.jsonl" <<'PY'
import json, time, uuid
now = int(time.time() * 1000)
day = 86400000
# today, yesterday, tomorrow (daily partitions), 400 days ago (the default partition)
for i, at in enumerate([now, now - day, now + day, now - 400 * day]):
    print(json.dumps({"id": str(uuid.uuid4()), "type": "verify.test",
                      "source": "verify-src-%d" % i, "occurred_at": at,
                      "payload": {"n": i}}, separators=(",", ":")))
PY
psql_run -c "create table verify_expect (id uuid, source text, occurred_at timestamptz)" \
        >/dev/null
"$PY" -c 'import json, sys
for l in sys.stdin:
    e = json.loads(l)
    print("%s\t%s\t%d" % (e["id"], e["source"], e["occurred_at"]))' \
        <"$T/events.jsonl" >"$T/events.tsv"
psql_run >/dev/null <<SQL
create temp table t (id uuid, source text, ms bigint);
\copy t from '$T/events.tsv'
insert into verify_expect select id, source, 'epoch'::timestamptz + ms * interval '1 ms' from t;
insert into workflow_events (id, type, source, occurred_at, payload, kafka_partition,
                             kafka_offset, status, decided_at, attempt)
select id, 'verify.test', source, 'epoch'::timestamptz + ms * interval '1 ms', '{}', 0, 0,
       'accepted',
       '2001-02-03 04:05:06+00', 0 from t;
SQL
assert_eq "partitions holding the recorded rows" 4 \
        "$(psql_val "select count(distinct tableoid) from workflow_events")"
assert_eq "rows in the default partition" 1 \
        "$(psql_val "select count(*) from workflow_events_default")"

"$SLUICECTL" publish "$T/events.jsonl" >"$T/publish.log" 2>&1 ||
        fail "publish: $(tail -n 3 "$T/publish.log")"
start_ingress -X admission.enabled=true -X ingress.batch.ms=50 \
        -X envelope.max.future.ms=172800000
ingress_sentinel done

metric() {
        curl -sf "http://127.0.0.1:$INGRESS_PORT/metrics" |
                awk -v k="$1" 'index($0, k) == 1 { s += $NF } END { print s + 0 }'
}
assert_eq "decisions re-used from Postgres" 4 \
        "$(metric sluice_ingress_decisions_replayed_total)"
assert_eq "decisions taken afresh" 0 "$(metric 'sluice_ingress_decisions_total{')"
assert_eq "rows as the previous owner left them" 4 \
        "$(psql_val "select count(*) from workflow_events w join verify_expect e
                     on e.id = w.id and e.occurred_at = w.occurred_at
                     where w.decided_at = '2001-02-03 04:05:06+00' and w.attempt = 0")"
assert_eq "workflow_events rows" 4 "$(psql_val "select count(*) from workflow_events")"

stop_pid "$INGRESS_PID" || fail "sluice-ingress did not exit 0 on SIGTERM"
log "PASS"
