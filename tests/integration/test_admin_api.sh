#!/usr/bin/env bash
# test_admin_api: sluice-admin's routes against a real stack (devbroker, Postgres,
# sluice-ingress), every answer checked against Postgres, never against the server's
# own counters (admin_api_checks.py does the HTTP side):
#   - bad admin.tokens stop the process at start, naming the key and never the secret;
#   - GET /admin/events with every filter (type, source, status, correlation_id, from,
#     to) equals the same SQL; keyset pagination over every page while events keep
#     arriving (older and newer than the pages) repeats nothing and skips nothing;
#   - GET /admin/events/{id}: the envelope as published, its decision, retry, dead
#     letters and deliveries; GET /admin/dlq with its filters; sources and triggers
#     with their live state;
#   - operate: pause/resume a source (pauses, pause_history, decisions 'paused'),
#     pause/resume a trigger (trigger_audit by the token's name), cancel a retry,
#     replay by id and by filter (a new event naming the original, decided by ingress);
#     each audited in admin_audit with the token's name;
#   - the auth matrix on every route (none, bad token, wrong scope, right scope) with
#     RFC 6750 challenges; 413 for an oversized body; /metrics, /healthz, /readyz;
#   - event-health: heartbeats of ingress, lag per group, DLQ and retry counts, ok;
#   - no token secret in any log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/admin_lib.sh"

start_devbroker
start_pg

# Bad configuration stops sluice-admin at start, naming the key, not the secret.
rc=0
SLUICE_ADMIN_TOKENS="x:read:short" "$BUILD/sluice-admin" -X http.port="$(free_port)" \
        >"$T/badconf.log" 2>&1 || rc=$?
assert_eq "bad admin.tokens exit code" 2 "$rc"
grep -q "admin.tokens" "$T/badconf.log" || fail "error does not name admin.tokens: $(cat "$T/badconf.log")"
rc=0
SLUICE_ADMIN_TOKENS="x:write:verysecretvalue-123456" "$BUILD/sluice-admin" \
        -X http.port="$(free_port)" >"$T/badconf2.log" 2>&1 || rc=$?
assert_eq "bad scope exit code" 2 "$rc"
! grep -q "verysecretvalue" "$T/badconf2.log" || fail "the secret is in the error"
rc=0
"$BUILD/sluice-admin" -X http.port="$(free_port)" >"$T/badconf3.log" 2>&1 || rc=$?
assert_eq "no tokens exit code" 2 "$rc"
log "ok: bad admin.tokens stop sluice-admin at start naming the key"

start_ingress -X runtime.heartbeat.ms=300 -X admission.mirror.ms=200
start_admin

"$SLUICECTL" -X log.level=warn sources set limited --limit 1000 --window-ms 1000 \
        --description "a configured source" >/dev/null
printf '%s' '{"name": "trg-one", "event_type": "order.*", "workflow": "wf.one"}' |
        USER=tester "$SLUICECTL" -X log.level=warn triggers create - >/dev/null

# 60 events over three types and three sources, some with a correlation id, spread
# over the last hour; two malformed records for the DLQ.
"$PY" - >"$T/events.jsonl" <<'PYEOF'
import json, time, uuid
now = int(time.time() * 1000)
for i in range(60):
    print(json.dumps({"id": str(uuid.uuid4()), "type": ["order.created", "order.paid", "user.seen"][i % 3],
                      "source": ["shop", "limited", "crm"][i % 3 if i % 2 else 0],
                      "occurred_at": now - 3600_000 + i * 50_000,
                      "correlation_id": "corr-%d" % (i % 5) if i % 4 == 0 else None,
                      "payload": {"n": i, "text": "ünïcode ✓"}, "metadata": {"k": "v%d" % i}}))
PYEOF
grep -v '"correlation_id": null' "$T/events.jsonl" >/dev/null
"$SLUICECTL" -X log.level=warn publish "$T/events.jsonl" >/dev/null || fail "publish failed"
printf '%s\n' 00112233 c301ffffffffffffffff00 >"$T/bad.hex"
"$SLUICECTL" -X log.level=warn publish --raw "$T/bad.hex" >/dev/null || fail "publish --raw failed"
wait_until "[ \$(psql_val 'select count(*) from workflow_events') = 60 ] && [ \$(psql_val 'select count(*) from dead_letters') = 2 ]" 30 ||
        fail "events not in Postgres: $(psql_val 'select count(*) from workflow_events')"
log "60 events and 2 dead letters in Postgres"

"$PY" "$SRC/tests/integration/admin_api_checks.py" "$T/events.jsonl" ||
        fail "admin_api_checks.py failed (admin log: $(tail -n 5 "$ADMIN_LOG"))"

admin_no_secrets
