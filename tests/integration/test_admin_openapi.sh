#!/usr/bin/env bash
# test_admin_openapi: the running sluice-admin answers as docs/admin-api.yaml says.
# schemathesis (PyPI, installed into .sluice/venv by scripts/install-deps.sh) generates
# requests for every operation of the document (examples, boundary values, fuzzing,
# positive and negative) with a read+operate token and checks every answer: no 5xx,
# documented status codes, content types, headers and response schemas.  Against a
# real stack with events, dead letters, a source and a trigger, so listings are not
# empty.  Bounded: 25 cases an operation, 20 s of generation at most (about 1,500 requests).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/admin_lib.sh"

ST=$SRC/.sluice/venv/bin/schemathesis
[ -x "$ST" ] || fail "$ST missing: run scripts/install-deps.sh"

start_devbroker
start_pg
start_ingress
start_admin

"$SLUICECTL" -X log.level=warn sources set shop --limit 1000 --window-ms 1000 >/dev/null
printf '%s' '{"name": "trg-o", "event_type": "order.*", "workflow": "wf.o"}' |
        USER=tester "$SLUICECTL" -X log.level=warn triggers create - >/dev/null
"$PY" - >"$T/events.jsonl" <<'PYEOF'
import json, uuid
for i in range(30):
    print(json.dumps({"id": str(uuid.uuid4()), "type": "order.created", "source": "shop",
                      "correlation_id": "c%d" % i, "payload": {"n": i}}))
PYEOF
"$SLUICECTL" -X log.level=warn publish "$T/events.jsonl" >/dev/null
printf '%s\n' 00112233 >"$T/bad.hex"
"$SLUICECTL" -X log.level=warn publish --raw "$T/bad.hex" >/dev/null
wait_until "[ \$(psql_val 'select count(*) from workflow_events') = 30 ]" 30 || fail "events not in Postgres"

log "schemathesis $("$ST" --version | awk '{print $NF}') against $ADMIN_URL"
rc=0
(cd "$T" && "$ST" run "$SRC/docs/admin-api.yaml" --url "$ADMIN_URL" \
        -H "Authorization: Bearer $ADMIN_BOTH" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
        --max-examples 25 --max-time 12 --seed 13 --workers 2 \
        --suppress-health-check all --generation-database none \
        --report junit --report-dir "$T/schemathesis" >"$T/schemathesis.log" 2>&1) || rc=$?
tail -n 25 "$T/schemathesis.log" >&2
[ "$rc" = 0 ] || fail "schemathesis found answers that differ from docs/admin-api.yaml (exit $rc)"
grep -q "sluice_admin_requests_total" <(curl -s "$ADMIN_URL/metrics") || fail "metrics"
n=$(curl -s "$ADMIN_URL/metrics" | awk '/^sluice_admin_requests_total/ { s += $2 } END { print s }')
[ "${n:-0}" -ge 100 ] || fail "schemathesis sent only ${n:-0} requests"
log "ok: $n requests, every answer as docs/admin-api.yaml says"
admin_no_secrets
