# Helpers of the sluice-admin tests (test_admin_*.sh), sourced after lib.sh.
#
# start_admin [extra -X args...]: sluice-admin on a free port with three tokens
# (ADMIN_READ: read, ADMIN_OPERATE: operate, ADMIN_BOTH: read+operate), log in
# $T/admin.N.log; waits for /readyz.  Sets ADMIN_PID, ADMIN_PORT, ADMIN_URL and
# exports what admin_client.py reads (ADMIN_IT_URL, ADMIN_IT_TOKEN_*).  ADMIN_GDB=1 runs
# it under gdb (a backtrace in its log when it crashes).
ADMIN_READ=rd-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
ADMIN_OPERATE=op-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
ADMIN_BOTH=bo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
export ADMIN_IT_TOKEN_READ=$ADMIN_READ ADMIN_IT_TOKEN_OPERATE=$ADMIN_OPERATE \
        ADMIN_IT_TOKEN_BOTH=$ADMIN_BOTH
export ADMIN_IT_SLUICECTL=$SLUICECTL
export PYTHONPATH=$SRC/tests/integration${PYTHONPATH:+:$PYTHONPATH}

_sl_admin_n=0
start_admin() {
        [ -x "$BUILD/sluice-admin" ] || fail "$BUILD/sluice-admin not built"
        _sl_admin_n=$((_sl_admin_n + 1))
        ADMIN_PORT=$(free_port)
        ADMIN_LOG=$T/admin.$_sl_admin_n.log
        SLUICE_ADMIN_TOKENS="reader:read:$ADMIN_READ,operator:operate:$ADMIN_OPERATE,both:read+operate:$ADMIN_BOTH" \
                ${ADMIN_GDB:+gdb -q -batch -ex run -ex bt --args} "$BUILD/sluice-admin" -X http.port="$ADMIN_PORT" "$@" >"$ADMIN_LOG" 2>&1 &
        ADMIN_PID=$!
        track_pid "$ADMIN_PID"
        ADMIN_URL=http://127.0.0.1:$ADMIN_PORT
        export ADMIN_IT_URL=$ADMIN_URL
        wait_until "curl -sf $ADMIN_URL/readyz" 30 ||
                fail "sluice-admin not ready: $(tail -n 5 "$ADMIN_LOG")"
        log "sluice-admin $ADMIN_PID ready on :$ADMIN_PORT"
}

# admin_no_secrets: no token secret in any log of the test.
admin_no_secrets() {
        local s
        for s in "$ADMIN_READ" "$ADMIN_OPERATE" "$ADMIN_BOTH"; do
                ! grep -rqF -- "$s" "$T"/*.log || fail "a token secret is in a log: $(grep -rlF -- "$s" "$T"/*.log)"
        done
        log "ok: no token secret in any log"
}
