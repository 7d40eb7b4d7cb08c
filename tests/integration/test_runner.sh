#!/usr/bin/env bash
# sluice-runner, the stand-in workflow engine, on a private devbroker (lib.sh; no
# Postgres: the runner has none).  Launches are produced and results read back by
# workflow_io.py, whose Avro codec is written from the schemas, not sluice's C one.
#   - bad flags and keys exit 2 and name the flag or key;
#   - phase a, --fail-rate 0.5 --latency-ms 50: 120 launches over 8 triggers, 6
#     repeats of their launch ids (one launch three times) and one record that is not
#     a launch.  Every distinct launch is answered exactly once on workflow.results,
#     under the launch record's key and on its partition, "failed" (with an error)
#     exactly for the launch ids the rule picks, never sooner than 50 ms after receipt;
#     the repeats and the garbage get no answer;
#   - phase b, control file silent=1: 20 launches recorded, none answered;
#   - phase c, control file fail_rate=1 (silent off again: not named, the flag's value):
#     20 launches all answered "failed"; 2 more repeats of phase a not answered;
#   - phase d, control file removed: the flags again;
#   - the record file holds one line per launch record, equal to what was produced,
#     with the right duplicate flag and status; SIGTERM: exit 0 and the summary line;
#   - a runner killed (SIGKILL) while its answers wait out a 5 s latency: the next
#     runner of the group reads those launches again and answers them, and reads
#     nothing of the phases before (committed once their answers were delivered).
. "$(dirname "$0")/lib.sh"

IO=$SRC/tests/integration/workflow_io.py
RUNNER=$BUILD/sluice-runner
[ -x "$RUNNER" ] || fail "$RUNNER not built"

# --- bad flags and keys: exit 2, naming them -----------------------------------------
expect_2() { # expect_2 WORD ARGS...: sluice-runner ARGS exits 2 saying WORD
        local word=$1 rc=0
        shift
        "$RUNNER" "$@" >"$T/bad.out" 2>&1 || rc=$?
        [ $rc = 2 ] || fail "sluice-runner $*: exit $rc, expected 2: $(cat "$T/bad.out")"
        grep -q -- "$word" "$T/bad.out" || fail "sluice-runner $*: '$word' not named: $(cat "$T/bad.out")"
}
expect_2 --fail-rate --fail-rate 1.5
expect_2 --latency-ms --latency-ms -3
expect_2 --record --record
expect_2 --group --group=
expect_2 nosuch.key --silent -X nosuch.key=1
expect_2 "'--bogus'" --bogus
log "ok: bad flags and keys exit 2 and name the flag or key"

start_devbroker

CONTROL=$T/control
RECORD=$T/record.jsonl
RUNNER_LOG=$T/runner.1.log
# start_runner LOG ARGS...: sluice-runner in the background; waits for its partitions.
# A short session: the mock cluster hands a group that a member left cleanly to the
# next member only once the leaver's session timed out (as the restart tests do).
start_runner() {
        RUNNER_LOG=$1
        shift
        "$RUNNER" -X log.level=debug -X kafka.session.timeout.ms=6000 \
                -X kafka.heartbeat.interval.ms=1000 "$@" >"$RUNNER_LOG" 2>&1 &
        RUNNER_PID=$!
        track_pid "$RUNNER_PID"
        wait_until "grep -q '\"assigned [0-9]* partitions' '$RUNNER_LOG'" 30 ||
                fail "sluice-runner got no partitions: $(tail -n 5 "$RUNNER_LOG")"
        log "sluice-runner $RUNNER_PID assigned"
}
# set_control TEXT WANT: the control file becomes TEXT (written aside, renamed over;
# removed when TEXT is empty); waits for the runner's next "options" line, which must
# say WANT.
set_control() {
        local before t0
        before=$(grep -c '"options (' "$RUNNER_LOG" || true)
        t0=$(date +%s%N)
        if [ -n "$1" ]; then
                printf '%s\n' "$1" >"$CONTROL.tmp"
                mv "$CONTROL.tmp" "$CONTROL"
        else
                rm -f "$CONTROL"
        fi
        wait_until "[ \$(grep -c '\"options (' '$RUNNER_LOG') -gt $before ]" 10 ||
                fail "the runner did not take the control file '$1'"
        grep '"options (' "$RUNNER_LOG" | tail -n 1 | grep -q "$2" ||
                fail "control file '$1': $(grep '"options (' "$RUNNER_LOG" | tail -n 1), expected $2"
        log "ok: control file '${1:-(removed)}' taken within $((($(date +%s%N) - t0) / 1000000)) ms: $2"
}
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
# send FILE WANT: produce FILE's launches; wait until the record file has WANT lines.
send() {
        "$PY" "$IO" produce "$1" >"$T/produce.log" 2>&1 || fail "produce $1: $(cat "$T/produce.log")"
        wait_until "[ \$(lines '$RECORD') -ge $2 ]" 20 ||
                fail "the runner recorded $(lines "$RECORD") launch records, expected $2"
        log "$(cat "$T/produce.log") from $(basename "$1"); $2 records so far"
}

# same_ids WHAT WANT GOT: the two lists of launch ids (one per line) are the same set,
# each id once in GOT.
same_ids() {
        [ "$(sort <<<"$2")" = "$(sort <<<"$3")" ] ||
                fail "$1: expected $(wc -l <<<"$2") ids, got $(wc -l <<<"$3"): $(diff <(sort <<<"$2") <(sort <<<"$3") | head -n 5)"
        log "ok: $1 = the $(wc -l <<<"$3") expected launch ids"
}
ids() { "$PY" -c 'import json,sys
for f in sys.argv[1:]:
    for l in open(f):
        if l.strip():
            r = json.loads(l)
            print(r.get("value", r)["launch_id"])' "$@"; }

mapfile -t TRIGGERS < <("$PY" -c 'import uuid
for _ in range(8): print(uuid.uuid4())')
for phase in a b c d; do
        n=20
        [ $phase = a ] && n=120
        "$PY" "$IO" gen $phase $n "${TRIGGERS[@]}" --seed $((RANDOM + 1)) >"$T/$phase.jsonl"
done
# Phase a as sent: the launches, then repeats of lines 3 (twice), 10, 50, 77 and 100
# (the same records, so the same keys and partitions, after their originals), and
# bytes that are not a WorkflowLaunch.
{
        cat "$T/a.jsonl"
        sed -n '3p;3p;10p;50p;77p;100p' "$T/a.jsonl"
        printf '{"raw_hex":"%s","key":"%s"}\n' "$(printf 'not a launch' | od -An -tx1 | tr -d ' \n')" "${TRIGGERS[0]}"
} >"$T/a.sent"
{
        cat "$T/c.jsonl"
        sed -n '20p;21p' "$T/a.jsonl"
} >"$T/c.sent"
cp "$T/b.jsonl" "$T/b.sent"
cp "$T/d.jsonl" "$T/d.sent"

start_runner "$T/runner.1.log" --fail-rate 0.5 --latency-ms 50 --record "$RECORD" \
        --control "$CONTROL"
send "$T/a.sent" 126
set_control "silent=1" "fail_rate=0.5 latency_ms=50 silent=1"
send "$T/b.sent" 146
set_control "fail_rate=1" "fail_rate=1 latency_ms=50 silent=0"
send "$T/c.sent" 168
set_control "" "fail_rate=0.5 latency_ms=50 silent=0"
send "$T/d.sent" 188
# 120 + 20 + 20 answers; the runner logs each at debug.
wait_until "[ \$(grep -c '\"msg\":\"answered ' '$RUNNER_LOG') -ge 160 ]" 20 ||
        fail "$(grep -c '"msg":"answered ' "$RUNNER_LOG") answers logged, expected 160"
stop_pid "$RUNNER_PID" || fail "sluice-runner did not exit 0 on SIGTERM"
SUMMARY=$(grep '^sluice-runner: received' "$RUNNER_LOG") || fail "no summary line: $(tail -n 3 "$RUNNER_LOG")"
log "stopped: $SUMMARY"

"$PY" "$IO" dump sluice.workflow.launches >"$T/launches.dump" || fail "dump launches"
"$PY" "$IO" dump sluice.workflow.results >"$T/results.dump" || fail "dump results"

# --- the data: results topic and record file against what was sent -------------------
PYTHONPATH=$SRC/tests/integration "$PY" - "$T" "$SUMMARY" >"$T/check.out" 2>&1 <<'PY' ||
import collections, json, sys
from workflow_io import fails

T, summary = sys.argv[1], sys.argv[2]
def jl(path):
    return [json.loads(l) for l in open(path) if l.strip()]
errors = []
def expect(what, want, got):
    if want != got:
        errors.append("%s: expected %r, got %r" % (what, want, got))

sent = {p: [r for r in jl("%s/%s.sent" % (T, p)) if "raw_hex" not in r] for p in "abcd"}
first = {}  # launch id -> (phase, record) of its first sending
order = []  # every launch record sent, in order, with its phase
for p in "abcd":
    for r in sent[p]:
        first.setdefault(r["launch_id"], (p, r))
        order.append((p, r))
want_status = {}  # launch id -> the answer it must get ("succeeded"/"failed"), or None
for lid, (p, r) in first.items():
    if p == "b":
        want_status[lid] = None
    elif p == "c":
        want_status[lid] = "failed"
    else:
        want_status[lid] = "failed" if fails(lid, 0.5) else "succeeded"
answered = {lid for lid, s in want_status.items() if s}

# The launches topic: where each launch record went (key and partition).
launch_part = {}
for rec in jl(T + "/launches.dump"):
    v = rec["value"]
    if "_undecodable" in v:
        continue
    launch_part.setdefault(v["launch_id"], rec["partition"])
    expect("launch record key", v["trigger_id"], rec["key"])

# The results topic: every answered launch exactly once, nothing else.
results = jl(T + "/results.dump")
expect("undecodable results", [], [r for r in results if "_undecodable" in r["value"]])
counts = collections.Counter(r["value"]["launch_id"] for r in results)
expect("results with a launch id answered twice", {}, {k: n for k, n in counts.items() if n > 1})
expect("launches without a result", set(), answered - set(counts))
expect("results of launches that must get none", set(), set(counts) - answered)
expect("results", len(answered), len(results))

# The record file: one line per launch record, in the order sent (per launch id).
record = jl(T + "/record.jsonl")
expect("record lines", len(order), len(record))
by_id = collections.defaultdict(list)
for line in record:
    by_id[line["launch_id"]].append(line)
seen = collections.Counter()
for p, r in order:
    lid = r["launch_id"]
    k = seen[lid]
    seen[lid] += 1
    if k >= len(by_id[lid]):
        errors.append("launch %s (%s): sent %d times, recorded %d" % (lid, p, k + 1, len(by_id[lid])))
        continue
    line = by_id[lid][k]
    for f in ("trigger_id", "event_id", "workflow", "correlation_id"):
        expect("record %s of %s" % (f, lid), r[f], line[f])
    expect("record params of %s" % lid, json.loads(r["params"]), line["params"])
    expect("record duplicate of %s #%d" % (lid, k + 1), k > 0, line["duplicate"])
    expect("record status of %s #%d" % (lid, k + 1), None if k else want_status[lid], line["status"])

for res in results:
    v = res["value"]
    lid = v["launch_id"]
    if lid not in first:
        continue
    p, r = first[lid]
    expect("result key of %s" % lid, r["trigger_id"], res["key"])
    expect("result trigger_id of %s" % lid, r["trigger_id"], v["trigger_id"])
    expect("result partition of %s (its launch's)" % lid, launch_part.get(lid), res["partition"])
    expect("result status of %s (phase %s)" % (lid, p), want_status[lid], v["status"])
    if (v["status"] == "failed") != bool(v["error"]):
        errors.append("result of %s: status %s with error %r" % (lid, v["status"], v["error"]))
    waited = v["finished_at"] - by_id[lid][0]["received_at"]
    if waited < 50:
        errors.append("result of %s %d ms after receipt, latency 50" % (lid, waited))

statuses = collections.Counter(want_status.values())
want_summary = ("sluice-runner: received %d, duplicates %d, succeeded %d, failed %d, "
                "unanswered %d, invalid 1" % (len(order), len(order) - len(first),
                statuses["succeeded"], statuses["failed"], statuses[None]))
expect("summary line", want_summary, summary)
if errors:
    print("\n".join(errors[:20]))
    sys.exit(1)
print("results=%d distinct=%d silent=%d repeats=%d records=%d" % (
    len(results), len(counts), statuses[None], len(order) - len(first), len(record)))
PY
        fail "check: $(cat "$T/check.out")"
assert_eq "results and record file, each launch checked" \
        "results=160 distinct=160 silent=20 repeats=8 records=188" "$(cat "$T/check.out")"
assert_eq "repeated launch ids logged" 8 "$(grep -c 'launch id seen before' "$RUNNER_LOG")"

# --- a crash while answers wait: they were not committed, the next runner answers ---
# Runner 2 takes 8 launches (e, one per trigger, so on every partition the test used)
# with a 5 s latency and is killed before answering: their offsets were held, so the
# group's commits stayed below them.  Runner 3 then reads e again and, after them on
# each partition, 8 more (f) -- and nothing of phases a to d, which were committed.
"$PY" "$IO" gen e 8 "${TRIGGERS[@]}" --seed 7 >"$T/e.sent"
"$PY" "$IO" gen f 8 "${TRIGGERS[@]}" --seed 8 >"$T/f.sent"
RECORD=$T/record.2.jsonl
start_runner "$T/runner.2.log" --latency-ms 5000 --record "$RECORD"
send "$T/e.sent" 8
kill -KILL "$RUNNER_PID"
wait "$RUNNER_PID" 2>/dev/null || true
untrack_pid "$RUNNER_PID"
assert_eq "answers runner 2 gave before its SIGKILL" 0 "$(grep -c '"msg":"answered ' "$T/runner.2.log" || true)"
RECORD=$T/record.3.jsonl
start_runner "$T/runner.3.log" --record "$RECORD"
send "$T/f.sent" 16
same_ids "launches runner 3 read (e again, then f; nothing committed before)" \
        "$(ids "$T/e.sent" "$T/f.sent")" "$(ids "$RECORD")"
wait_until "[ \$(grep -c '\"msg\":\"answered ' '$RUNNER_LOG') -ge 16 ]" 10 || fail "runner 3 did not answer 16"
stop_pid "$RUNNER_PID" || fail "runner 3 did not exit 0 on SIGTERM"
assert_eq "runner 3's summary" \
        "sluice-runner: received 16, duplicates 0, succeeded 16, failed 0, unanswered 0, invalid 0" \
        "$(grep '^sluice-runner: received' "$RUNNER_LOG")"
"$PY" "$IO" dump sluice.workflow.results >"$T/results.2.dump" || fail "dump results"
same_ids "results of e and f, each once" "$(ids "$T/e.sent" "$T/f.sent")" \
        "$(ids "$T/results.2.dump" | grep -Fx -f <(ids "$T/e.sent" "$T/f.sent"))"
assert_eq "results in all" 176 "$(wc -l <"$T/results.2.dump")"
log "PASS"
