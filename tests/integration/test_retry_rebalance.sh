#!/usr/bin/env bash
# sluice-retry across rebalances, with wake-ups in flight, paused partitions and
# delayed records in memory: 3,000 retries due 1.5-12 s out (so each partition's
# records are out of due order, as ingress's jitter makes them) go through two workers;
# a third joins and one leaves (SIGTERM) while they come back.  Every retry reaches
# events.in exactly once and never early, and every row ends 'due'.  A worker that
# loses a partition drops its delayed records uncommitted; the new owner reads them
# again, and the 'due' guard drops those already re-injected.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/retry_lib.sh"

WAKE=$BUILD/sluice-it-retry_wakeups
[ -x "$WAKE" ] || fail "$WAKE not built"
N=3000
due_count() { psql_val "select count(*) from event_ingress_retries where state = 'due'"; }
ARGS=(-X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=1000)

start_devbroker
start_pg

"$SLUICECTL" tail events.in --from-beginning --timeout-ms 60000 >"$T/in.jsonl" 2>"$T/tail.err" &
TAIL_PID=$!
track_pid $TAIL_PID

start_retry "${ARGS[@]}"
A_PID=$RETRY_PID
start_retry "${ARGS[@]}"
B_PORT=$RETRY_PORT

"$WAKE" rows $N 60 1500 12000 7 >"$T/rows.tsv"
load_rows "$T/rows.tsv" >/dev/null || fail "load rows"
"$WAKE" produce "$T/rows.tsv" >"$T/produce.log" 2>&1 || fail "produce: $(cat "$T/produce.log")"
log "$(cat "$T/produce.log") wake-ups for two workers"

sleep 2
start_retry "${ARGS[@]}"
log "a third worker joined at $(due_count) of $N due"
sleep 2
stop_pid "$A_PID" || fail "worker A did not stop cleanly"
log "worker A left at $(due_count) of $N due"

wait_until "[ \$(due_count) -eq $N ]" 40 || fail "only $(due_count) of $N due"
retry_sentinel end "$T/in.jsonl" # a duplicate re-injection is on events.in by now
stop_pid $TAIL_PID || true

"$PY" - "$T/in.jsonl" "$T/rows.tsv" >"$T/check.out" 2>&1 <<'PYEOF' || fail "events.in: $(tail -n 2 "$T/check.out")"
import reinjections, sys
recs = reinjections.read(sys.argv[1])
seen, first = reinjections.counts(recs), reinjections.first_seen(recs)
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip()]
wrong = {r[0]: seen[r[0]] for r in rows if seen[r[0]] != 1}
assert not wrong, "not exactly once: %d, e.g. %s" % (len(wrong), list(wrong.items())[:3])
early = [r[0] for r in rows if first[r[0]] < int(r[2]) - 20]
assert not early, "re-injected early: %s" % early[:3]
late = sorted(first[r[0]] - int(r[2]) for r in rows)
print("%d retries once each, none early; lateness p50 %d ms, p99 %d ms"
      % (len(rows), late[len(late) // 2], late[int(len(late) * 0.99) - 1]))
PYEOF
log "$(cat "$T/check.out")"
log "delayed wake-ups dropped on revocation and read again: $(cat "$T"/retry.*.log |
        grep -o 'revoked: [0-9]*' | awk '{ s += $2 } END { print s + 0 }')"
assert_eq "rows due" $N "$(due_count)"
RETRY_PORT=$B_PORT
[ "$(metric sluice_retry_due_total)" -gt 0 ] || fail "worker B re-injected nothing"
stop_pid "$RETRY_PID" || fail "worker C did not stop cleanly"
log "PASS"
