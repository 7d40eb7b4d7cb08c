#!/usr/bin/env bash
# test_admin_stream: sluice-admin's WebSocket /admin/stream against a real stack
# (devbroker, Postgres, sluice-ingress); admin_stream_checks.py is the client side:
#   - no token, an unknown token (as a header and as the "bearer.<base64url>"
#     subprotocol), an operate-only token and bad filters are refused before the upgrade
#     with RFC 9457 problems (401 with the RFC 6750 challenge, 403, 400); a plain GET is
#     426; a client over admin.stream.max.clients is 503;
#   - three clients connect: A filtered (type order.created or order.paid, source shop,
#     token in Authorization), C unfiltered (token as a subprotocol: the server selects
#     sluice.v1, never the token), B never reads (4 KiB receive buffer);
#   - 600 events (3 KB payloads) published after they connected: C gets every one and A
#     exactly its filter's, in order, each checked field by field against what was
#     published and its payload byte for byte;
#   - B is dropped (its queue of 50 fills: sluice_admin_stream_dropped_total 1, its
#     connection ends) while A and C keep receiving, and one more event reaches both;
#   - no token secret in any log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/admin_lib.sh"

start_devbroker
start_pg
start_ingress
# A small queue and short timeouts, so the slow client is dropped and closed quickly.
start_admin -X admin.stream.max.clients=3 -X admin.stream.client.queue=50 \
        -X admin.stream.ping.ms=5000 -X admin.idle.timeout.ms=2000

# A bad stream configuration stops sluice-admin at start, naming the key.
rc=0
SLUICE_ADMIN_TOKENS="x:read:verysecretvalue-123456" "$BUILD/sluice-admin" \
        -X http.port="$(free_port)" -X admin.max.connections=8 \
        -X admin.stream.max.clients=8 >"$T/badconf.log" 2>&1 || rc=$?
assert_eq "admin.stream.max.clients >= admin.max.connections exit code" 2 "$rc"
grep -q "admin.stream.max.clients" "$T/badconf.log" || fail "error does not name the key: $(cat "$T/badconf.log")"
log "ok: admin.stream.max.clients not below admin.max.connections stops sluice-admin at start"

"$PY" "$SRC/tests/integration/admin_stream_checks.py" "$T" ||
        fail "admin_stream_checks.py failed (admin log: $(tail -n 5 "$ADMIN_LOG"))"
grep -q '"stream client (token reader) dropped' "$ADMIN_LOG" ||
        grep -q 'stream client (token reader) dropped' "$ADMIN_LOG" || fail "no log line for the dropped client"

admin_no_secrets
log "PASS"
