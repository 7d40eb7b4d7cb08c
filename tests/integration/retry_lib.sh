# Helpers of the retry stage's integration tests (sourced after lib.sh).

# Their Python checks import reinjections.py (what came back on events.in).
export PYTHONPATH="$SRC/tests/integration${PYTHONPATH:+:$PYTHONPATH}"

# start_retry [extra args...]: sluice-retry in the background on a free HTTP port, log
# in $T/retry.N.log; waits for /healthz and the first assignment.  Sets RETRY_PID and RETRY_PORT.
_sl_retry_n=0
start_retry() {
        [ -x "$BUILD/sluice-retry" ] || fail "$BUILD/sluice-retry not built"
        _sl_retry_n=$((_sl_retry_n + 1))
        RETRY_PORT=$(free_port)
        RETRY_LOG=$T/retry.$_sl_retry_n.log
        "$BUILD/sluice-retry" -X http.port="$RETRY_PORT" "$@" >"$RETRY_LOG" 2>&1 &
        RETRY_PID=$!
        track_pid "$RETRY_PID"
        wait_until "curl -sf http://127.0.0.1:$RETRY_PORT/healthz" 30 ||
                fail "sluice-retry did not become healthy: $(tail -n 5 "$RETRY_LOG")"
        # The group's first assignment (the mock cluster delays it ~3 s).
        wait_until "grep -q '\"assigned [0-9]* partitions' '$RETRY_LOG'" 30 ||
                fail "sluice-retry got no partitions: $(tail -n 5 "$RETRY_LOG")"
        log "sluice-retry $RETRY_PID healthy on :$RETRY_PORT and assigned"
}

# load_rows FILE [STATE]: insert the intents printed by `sluice-it-retry_wakeups rows`
# into event_ingress_retries (attempt 1, state STATE or 'scheduled').
load_rows() {
        psql_run <<SQL
create temp table w (id uuid, source text, due_ms bigint, env text);
\copy w from '$1'
insert into event_ingress_retries (event_id, source, occurred_at, attempt, next_attempt_at,
        reason, state, envelope)
select id, source, now(), 1, to_timestamp(due_ms / 1000.0), 'throttled',
       '${2:-scheduled}', decode(env, 'hex') from w;
SQL
}

# metric NAME: the value of one sample on sluice-retry's /metrics.
metric() {
        curl -sf "http://127.0.0.1:$RETRY_PORT/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}
