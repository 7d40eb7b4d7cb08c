#!/usr/bin/env bash
# Reconciliation after lost wake-ups (issue 4's scenario): sluice-retry is stopped, the
# wake-ups produced meanwhile never reach it (it restarts as a new group that starts at
# the end of the retry topics, as if the topics had been emptied), and still every
# overdue scheduled row comes back exactly once:
#   1. worker A (group sluice-retry, retry.delay.max.bytes=0: it pauses a partition on
#      each wake-up not yet due instead of keeping it in memory) re-injects 50 retries,
#      none early, then stops;
#   2. while it is down, 200 retries fall due and 30 are scheduled 2 minutes out; the
#      wake-ups of all 230 are produced to the tier topics, as ingress does;
#   3. worker B (group sluice-retry-b, auto.offset.reset=latest) never reads them.
#      Reconciliation finds the 200 overdue rows in Postgres and produces their
#      wake-ups again: each of the 200 reaches events.in once, and stays once over
#      several more reconciliation rounds; the 30 not yet due stay scheduled and never
#      come back early; the 50 of step 1 are not re-driven.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/retry_lib.sh"

WAKE=$BUILD/sluice-it-retry_wakeups
[ -x "$WAKE" ] || fail "$WAKE not built"
due_count() { psql_val "select count(*) from event_ingress_retries where state = 'due'"; }

start_devbroker
start_pg

# 1. Worker A serves 50 retries.
start_retry -X retry.reconcile.ms=1000 -X retry.reconcile.grace.ms=1000 \
        -X retry.delay.max.bytes=0
"$WAKE" rows 50 10 500 1000 1 >"$T/served.tsv"
load_rows "$T/served.tsv" >/dev/null || fail "load served rows"
"$WAKE" produce "$T/served.tsv" >/dev/null 2>&1 || fail "produce served wake-ups"
wait_until "[ \$(due_count) -eq 50 ]" 30 || fail "worker A: $(due_count) of 50 due"
[ "$(metric sluice_retry_delayed)" = 0 ] || fail "worker A kept records in memory"
stop_pid "$RETRY_PID" || fail "worker A did not stop cleanly: $(tail -n 3 "$RETRY_LOG")"
log "worker A re-injected 50 and stopped"

# 2. While no worker runs: 200 fall due, 30 are two minutes out; wake-ups produced.
"$WAKE" rows 200 20 300 1500 2 >"$T/lost.tsv"
"$WAKE" rows 30 5 120000 120000 3 >"$T/future.tsv"
load_rows "$T/lost.tsv" >/dev/null || fail "load lost rows"
load_rows "$T/future.tsv" >/dev/null || fail "load future rows"
cat "$T/lost.tsv" "$T/future.tsv" >"$T/wake.tsv"
"$WAKE" produce "$T/wake.tsv" >"$T/produce.log" 2>&1 || fail "produce: $(cat "$T/produce.log")"
log "$(cat "$T/produce.log") wake-ups while no worker runs"
# Overdue by more than the grace before the new worker starts.
wait_until "[ \$(psql_val \"select count(*) from event_ingress_retries
        where state = 'scheduled' and next_attempt_at < now() - interval '1.5 s'\") -eq 200 ]" 20 ||
        fail "the 200 did not fall due"

# 3. Worker B: a new group that starts at the end of the tier topics.
start_retry -X retry.group.id=sluice-retry-b -X kafka.auto.offset.reset=latest \
        -X retry.reconcile.ms=1000 -X retry.reconcile.grace.ms=1000
wait_until "[ \$(due_count) -eq 250 ]" 30 ||
        fail "only $(due_count) of 250 due; $(tail -n 3 "$RETRY_LOG")"
log "all 200 overdue rows due again; watching 4 more reconciliation rounds"
ROUNDS=4
for r in $(seq $ROUNDS); do reconcile_round "$r"; done

"$SLUICECTL" tail events.in --from-beginning --timeout-ms 3000 >"$T/in.jsonl" 2>"$T/tail.err" ||
        fail "tail: $(cat "$T/tail.err")"
"$PY" - "$T/in.jsonl" "$T/served.tsv" "$T/lost.tsv" "$T/future.tsv" >"$T/check.out" 2>&1 <<'PYEOF' || fail "events.in: $(tail -n 2 "$T/check.out")"
import reinjections, sys
recs = reinjections.read(sys.argv[1])
seen, first = reinjections.counts(recs), reinjections.first_seen(recs)
def ids(p):
    return [l.split("\t", 1)[0] for l in open(p) if l.strip()]
served, lost, future = (ids(p) for p in sys.argv[2:5])
due = {l.split("\t")[0]: int(l.split("\t")[2]) for l in open(sys.argv[2]) if l.strip()}
early = [i for i in served if first.get(i, 1 << 62) < due[i] - 20]
assert not early, "worker A re-injected early: %s" % early[:3]
for name, group in (("served", served), ("lost", lost)):
    wrong = {i: seen[i] for i in group if seen[i] != 1}
    assert not wrong, "%s: not exactly once: %s" % (name, list(wrong.items())[:3])
early = [i for i in future if seen[i]]
assert not early, "not yet due but came back: %s" % early[:3]
print("events.in: %d served and %d lost retries once each, %d future ones absent"
      % (len(served), len(lost), len(future)))
PYEOF
log "$(cat "$T/check.out")"

assert_eq "rows due" 250 "$(due_count)"
assert_eq "future rows still scheduled" 30 "$(psql_val "select count(*) from event_ingress_retries
        where state = 'scheduled' and reconciled_at is null")"
assert_eq "lost rows re-driven by reconciliation" 200 "$(psql_val "select count(*)
        from event_ingress_retries where state = 'due' and reconcile_count >= 1")"
assert_eq "served rows never re-driven" 0 "$(psql_val "select count(*) from event_ingress_retries
        where event_id = any('{$(cut -f1 "$T/served.tsv" | paste -sd,)}'::uuid[])
          and reconcile_count > 0")"
[ "$(metric 'sluice_retry_reconciled_total{from="scheduled"}')" -ge 200 ] ||
        fail "reconciled metric: $(metric 'sluice_retry_reconciled_total{from="scheduled"}')"
assert_eq "re-injected by worker B (the 200, and each round's sentinel row)" $((200 + ROUNDS)) \
        "$(metric sluice_retry_due_total)"
stop_pid "$RETRY_PID" || fail "worker B did not stop cleanly: $(tail -n 3 "$RETRY_LOG")"
log "PASS"
