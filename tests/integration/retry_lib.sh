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

# retry_sentinel TAG [TAIL_FILE]: returns once sluice-retry has read each partition of
# the shortest retry tier past everything produced to it before the call, so a test can
# check that something did NOT happen (a duplicate re-injection) without sleeping on
# it.  One retry row and wake-up per partition, due now and keyed onto it (sentinel.py),
# are waited for until every row is 'due' (re-injected, delivered, marked) and, with
# TAIL_FILE (the output of a `sluicectl tail events.in` running meanwhile), until the
# tail has read every re-injection.  The sentinel rows are deleted again; their
# re-injections stay on events.in and count in sluice_retry_due_total.
retry_sentinel() {
        local tag=$1 tail=${2:-} topic parts f=$T/retry-sentinel.$1.tsv
        read -r topic parts < <("$SLUICECTL" topics list 2>/dev/null |
                                awk '$1 ~ /\.retry\./ { print $1, $2; exit }') || true
        [ -n "$parts" ] || fail "retry_sentinel: no retry tier in 'sluicectl topics list'"
        "$PY" "$SRC/tests/integration/sentinel.py" --retry-rows "$tag" "$parts" \
                "$(date +%s%3N)" >"$f"
        load_rows "$f" >/dev/null || fail "retry_sentinel: load rows"
        "$BUILD/sluice-it-retry_wakeups" produce "$f" >"$T/retry-sentinel.$tag.log" 2>&1 ||
                fail "retry_sentinel: produce: $(cat "$T/retry-sentinel.$tag.log")"
        local where="source like 'sentinel-$tag-%'"
        wait_until "[ \$(psql_val \"select count(*) from event_ingress_retries
                                    where $where and state = 'due'\") -eq $parts ]" 30 ||
                fail "retry_sentinel $tag: $(psql_val "select count(*) from event_ingress_retries where $where and state = 'due'") of $parts partitions of $topic"
        if [ -n "$tail" ]; then
                cut -f4 "$f" >"$f.hex"
                wait_until "[ \$(grep -o -F -f '$f.hex' '$tail' | sort -u | wc -l) -eq $parts ]" 30 ||
                        fail "retry_sentinel $tag: the events.in tail did not see the re-injections"
        fi
        psql_val "delete from event_ingress_retries where $where" >/dev/null
        log "sentinel $tag: sluice-retry has read all $parts partitions of $topic"
}

# reconcile_round TAG: returns once sluice-retry has run a whole reconciliation round
# that began after the call: a retry row overdue by a minute, with no wake-up, is
# inserted and waited for until reconciliation re-drove it and it came back ('due');
# then it is deleted.  Its re-injection counts in sluice_retry_due_total and
# sluice_retry_reconciled_total.
reconcile_round() {
        local f=$T/reconcile-round.$1.tsv id
        "$PY" "$SRC/tests/integration/sentinel.py" --retry-rows "round$1" 1 \
                "$(( $(date +%s%3N) - 60000 ))" >"$f"
        load_rows "$f" >/dev/null || fail "reconcile_round: load row"
        id=$(cut -f1 "$f")
        wait_until "[ \"\$(psql_val \"select state from event_ingress_retries
                                      where event_id = '$id'\")\" = due ]" 30 ||
                fail "reconcile_round $1: its row was not re-driven: $(psql_val "select state from event_ingress_retries where event_id = '$id'")"
        psql_val "delete from event_ingress_retries where event_id = '$id'" >/dev/null
}
