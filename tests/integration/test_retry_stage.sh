#!/usr/bin/env bash
# sluice-retry on its own (ingress's side stood in for by sluice-it-retry_wakeups):
#   - 300 wake-ups in the 1 s tier and 20 whose delay (12 s) makes them hop from the
#     10 s tier to the 1 s tier come back on events.in exactly once each, not before
#     their due time, with headers sluice.attempt=1 and sluice.retry.id, key = source;
#     their rows are 'due';
#   - every wake-up produced twice: still once on events.in (the guarded UPDATE);
#   - 20 cancelled retries never come back;
#   - 30 overdue rows whose wake-up was never produced come back through
#     reconciliation, exactly once.
# Lateness (p50/p99) is printed, not asserted: its target (p99 under 1 s) is checked by
# the benchmark (bench/retry/run.sh), where timing is measured on a quiet machine.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/retry_lib.sh"

WAKE=$BUILD/sluice-it-retry_wakeups
[ -x "$WAKE" ] || fail "$WAKE not built"

start_devbroker
start_pg

# Cancelled before anything is due, and overdue rows that never had a wake-up.
"$WAKE" rows 20 5 3000 3000 3 >"$T/cancel.tsv"
"$WAKE" rows 30 10 0 0 4 >"$T/lost.tsv"
load_rows "$T/cancel.tsv" >/dev/null || fail "load cancel rows"
load_rows "$T/lost.tsv" >/dev/null || fail "load lost rows"
psql_run -c "create temp table l (id uuid, s text, d bigint, e text)" \
         -c "\copy l from '$T/lost.tsv'" \
         -c "update event_ingress_retries set next_attempt_at = now() - interval '1 minute'
             where event_id in (select id from l)" >/dev/null || fail "lost rows"
while IFS=$'\t' read -r id _; do
        "$SLUICECTL" retries cancel "$id" --by test --reason "not wanted" >/dev/null ||
                fail "cancel $id"
done <"$T/cancel.tsv"
"$SLUICECTL" retries cancel "$(head -n 1 "$T/cancel.tsv" | cut -f1)" 2>"$T/cancel2.err" &&
        fail "a second cancel succeeded"
grep -q "is cancelled" "$T/cancel2.err" || fail "second cancel: $(cat "$T/cancel2.err")"

# Tail events.in from the start in the background.
"$SLUICECTL" tail events.in --from-beginning --timeout-ms 13000 >"$T/in.jsonl" 2>"$T/tail.err" &
TAIL_PID=$!
track_pid $TAIL_PID

start_retry -X retry.reconcile.ms=1000 -X retry.reconcile.grace.ms=1000

# Due times count from now: written, then their wake-ups produced at once (as ingress).
"$WAKE" rows 300 50 800 1500 1 >"$T/fast.tsv"
"$WAKE" rows 20 5 12000 12000 2 >"$T/slow.tsv"
cat "$T/fast.tsv" "$T/slow.tsv" "$T/cancel.tsv" >"$T/wake.tsv"
load_rows "$T/fast.tsv" >/dev/null || fail "load fast rows"
load_rows "$T/slow.tsv" >/dev/null || fail "load slow rows"
"$WAKE" produce "$T/wake.tsv" 2 >"$T/produce.log" 2>&1 || fail "produce: $(cat "$T/produce.log")"
log "$(cat "$T/produce.log") wake-ups (every one twice)"

EXPECT=$((300 + 20 + 30))
wait_until "[ \$(psql_val \"select count(*) from event_ingress_retries where state = 'due'\") -ge $EXPECT ]" 40 ||
        fail "only $(psql_val "select count(*) from event_ingress_retries where state = 'due'") of $EXPECT due; $(tail -n 3 "$RETRY_LOG")"
wait $TAIL_PID || true
untrack_pid $TAIL_PID

"$PY" - "$T/in.jsonl" "$T/fast.tsv" "$T/slow.tsv" "$T/lost.tsv" "$T/cancel.tsv" >"$T/check.out" 2>&1 <<'PYEOF' || fail "events.in: $(tail -n 2 "$T/check.out")"
import reinjections, sys
def rows(p):
    return [l.rstrip("\n").split("\t") for l in open(p) if l.strip()]
fast, slow, lost, cancel = (rows(p) for p in sys.argv[2:6])
seen = reinjections.read(sys.argv[1])
for eid, rs in seen.items():
    for r in rs:
        h = r["_headers"]
        assert h.get("sluice.attempt") == "1", h
        assert h.get("sluice.retry.id") == "event-retry:%s:1" % eid, h
dups = [k for k, v in seen.items() if len(v) > 1]
assert not dups, "injected twice: %s" % dups[:3]
for name, rs in (("fast", fast), ("slow", slow), ("lost", lost)):
    missing = [r[0] for r in rs if r[0] not in seen]
    assert not missing, "%s missing: %s" % (name, missing[:3])
    for r in rs:
        assert seen[r[0]][0]["_key"] == r[1], (seen[r[0]][0]["_key"], r[1])
back = [r[0] for r in cancel if r[0] in seen]
assert not back, "cancelled came back: %s" % back
late = sorted(seen[r[0]][0]["_timestamp"] - int(r[2]) for r in fast + slow)
early = [x for x in late if x < -20]
assert not early, "re-injected early by %s ms" % early[:3]
p50, p99 = late[len(late) // 2], late[int(len(late) * 0.99) - 1]
print("injected %d distinct, lateness p50 %d ms p99 %d ms" % (len(seen), p50, p99))
PYEOF
log "$(cat "$T/check.out")"
assert_eq "rows due" $EXPECT "$(psql_val "select count(*) from event_ingress_retries where state = 'due'")"
assert_eq "rows cancelled" 20 "$(psql_val "select count(*) from event_ingress_retries where state = 'cancelled' and updated_by = 'test' and cancel_reason = 'not wanted'")"
assert_eq "stale wake-ups dropped >= duplicates" 1 "$(( $(metric sluice_retry_stale_total) >= 340 ))"
[ "$(metric 'sluice_retry_reconciled_total{from="scheduled"}')" -ge 30 ] || fail "reconciled metric"
"$SLUICECTL" retries list --state due --limit 5 >"$T/list.out" || fail "retries list"
assert_eq "list lines" 6 "$(wc -l <"$T/list.out")"
"$SLUICECTL" retries show "$(head -n 1 "$T/lost.tsv" | cut -f1)" >"$T/show.out" || fail "show"
grep -q "^reconcile_count: [1-9]" "$T/show.out" || fail "show: $(cat "$T/show.out")"
stop_pid "$RETRY_PID" || fail "sluice-retry did not stop cleanly: $(tail -n 3 "$RETRY_LOG")"
log "PASS"
