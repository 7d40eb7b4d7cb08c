#!/usr/bin/env bash
# test_admin_page: sluice-admin's status page in a real browser.  Debian's chromium,
# headless, driven over the DevTools protocol by admin_page_check.py, against a real
# stack (devbroker, Postgres, sluice-ingress, sluice-admin):
#   - the page loads, asks for a token, keeps the pasted read token in sessionStorage
#     (the input is cleared), shows the health checks and connects the live stream;
#   - an event published during the test appears in the live stream (its markup
#     payload as text), in the recent events after a search, and in its trace;
#   - no console error or warning, no uncaught exception, no browser log error, no
#     JavaScript dialog; no <img> made from event data;
#   - a screenshot is kept: $T/page.png (the test dir stays when the test fails) and
#     $BUILD/artifacts/test_admin_page.png;
#   - no token secret in any log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/admin_lib.sh"

CHROMIUM=$(command -v chromium || true)
[ -n "$CHROMIUM" ] || fail "chromium missing: run scripts/install-deps.sh"

start_devbroker
start_pg
start_ingress
start_admin

# Chromium as root needs --no-sandbox; port 0 and DevToolsActivePort: no port race.
mkdir -p "$T/chromium"
"$CHROMIUM" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --no-first-run --no-default-browser-check --disable-extensions \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$T/chromium" --remote-debugging-address=127.0.0.1 \
        --remote-debugging-port=0 --window-size=1280,1600 about:blank \
        >"$T/chromium.log" 2>&1 &
CHROMIUM_PID=$!
track_pid "$CHROMIUM_PID"
wait_until "[ -s '$T/chromium/DevToolsActivePort' ]" 20 ||
        fail "chromium did not start: $(tail -n 5 "$T/chromium.log")"
DEVTOOLS_PORT=$(head -n 1 "$T/chromium/DevToolsActivePort")
log "chromium $CHROMIUM_PID ($("$CHROMIUM" --version 2>/dev/null)) on DevTools port $DEVTOOLS_PORT"

rc=0
"$PY" "$SRC/tests/integration/admin_page_check.py" "$DEVTOOLS_PORT" "$T" "$T/page.png" || rc=$?
if [ -s "$T/page.png" ]; then
        mkdir -p "$BUILD/artifacts"
        cp "$T/page.png" "$BUILD/artifacts/test_admin_page.png"
        log "screenshot: $T/page.png and $BUILD/artifacts/test_admin_page.png"
fi
[ "$rc" = 0 ] || fail "admin_page_check.py failed (admin log: $(tail -n 3 "$ADMIN_LOG"))"

admin_no_secrets
log "PASS"
