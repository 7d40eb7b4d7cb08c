#!/usr/bin/env bash
# Replay jobs (src/history/replay.h, docs/history.md), on a devbroker, Postgres and
# sluice-ingress (replays are new events: ingress admits them and writes them down):
#   1. dry run by filter: the selected count and, per enabled trigger, the matches,
#      equal a Python reference (its own filter evaluation) over the same rows; the
#      admin route's dry run says the same;
#   2. a paced job (50 events/s) killed with kill -9 mid-job, then resumed: every
#      selected event is replayed exactly once (one workflow_events row naming it in
#      sluice.replay_of, none twice, none missing), the pace measured on the resume;
#   3. cancel: a running job stops (state cancelled, its runner exits, nothing more is
#      published after the batch in hand, published = replays ingress wrote);
#   4. POST /admin/replay-jobs: a job by ids runs on sluice-admin's runner to done,
#      its replays name their originals and the token; cancelling it then is a 409;
#      a running job cancelled through the API stops.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/admin_lib.sh"

N=400
start_devbroker
start_pg
start_ingress
ctl() { "$SLUICECTL" -X log.level=warn "$@"; }

# History: N events through ingress, an hour ago, over ten minutes.
"$PY" - "$N" >"$T/events.jsonl" <<'EOF'
import json, sys, time
n = int(sys.argv[1])
t0 = int(time.time() * 1000) - 3600000
for i in range(n):
    print(json.dumps({"type": ("order.created", "order.paid")[i % 2], "source": "s%d" % (i % 3),
                      "occurred_at": t0 + i * 1500, "payload": {"n": i % 100, "vip": i % 7 == 0}}))
EOF
ctl publish "$T/events.jsonl" >"$T/publish.log" 2>&1 || fail "publish: $(tail -n 3 "$T/publish.log")"
wait_until "[ \$(psql_val 'select count(*) from workflow_events') = $N ]" 30 ||
        fail "history: $(psql_val 'select count(*) from workflow_events') of $N events in Postgres"
for def in '{"name": "created-big", "event_type": "order.created", "filter": "payload.n >= 50", "workflow": "w"}' \
           '{"name": "orders-s1", "event_type": "order.*", "source": "s1", "workflow": "w"}' \
           '{"name": "vip-created", "event_type": "order.created", "filter": "payload.vip", "workflow": "w"}' \
           '{"name": "off", "event_type": "order.created", "enabled": false, "workflow": "w"}'; do
        echo "$def" | ctl triggers create - >/dev/null || fail "triggers create $def"
done
FROM=$(date -u -d '-2 hours' +%Y-%m-%dT%H:%M:%SZ)
TO=$(date -u +%Y-%m-%dT%H:%M:%SZ)
SEL=(--from "$FROM" --to "$TO" --type order.created)
log "history: $N events through ingress; 4 triggers (one disabled)"

# 1. Dry run.
ctl replay start "${SEL[@]}" --dry-run >"$T/dry.txt" || fail "dry run"
psql_run -F '|' -c "select source, payload::text from workflow_events where type = 'order.created'
                    and occurred_at >= '$FROM' and occurred_at < '$TO'" >"$T/selected.txt"
"$PY" - "$T" <<'EOF' || fail "the dry run differs from the reference"
import json, sys
T = sys.argv[1]
rows = [l.rstrip("\n").split("|", 1) for l in open(T + "/selected.txt")]
rows = [(s, json.loads(p)) for s, p in rows]
want = ["events\t%d" % len(rows),
        "trigger\tcreated-big\t%d" % sum(1 for s, p in rows if p.get("n", -1) >= 50),
        "trigger\torders-s1\t%d" % sum(1 for s, p in rows if s == "s1"),
        "trigger\tvip-created\t%d" % sum(1 for s, p in rows if p.get("vip") is True)]
got = open(T + "/dry.txt").read().splitlines()
if got != want:
    sys.exit("dry run: got %r want %r" % (got, want))
print("ok: dry run: " + "; ".join(w.replace("\t", " ") for w in want), file=sys.stderr)
EOF
SELECTED=$(sed -n 's/^events\t//p' "$T/dry.txt")
[ "$(psql_val "select count(*) from replay_jobs")" = 0 ] || fail "a dry run made a job"

# 2. A paced job, killed with kill -9 mid-job, then resumed.
"$SLUICECTL" -X log.level=warn replay start "${SEL[@]}" --rate 50 --by kill-test --reason "integration test" \
        >"$T/job1.out" 2>"$T/job1.err" &
JOBPID=$!
track_pid "$JOBPID"
wait_until "[ -s '$T/job1.out' ]" 10 || fail "replay start printed no job id: $(cat "$T/job1.err")"
JOB1=$(head -n 1 "$T/job1.out")
wait_until "[ \$(psql_val 'select published from replay_jobs where id = $JOB1') -ge 50 ]" 10 ||
        fail "job $JOB1 published nothing: $(cat "$T/job1.err")"
sleep 0.5 # into its second batch
kill -9 "$JOBPID"
wait "$JOBPID" 2>/dev/null || true
untrack_pid "$JOBPID"
read -r state published selected <<<"$(psql_val "select state, published, selected from replay_jobs where id = $JOB1" | tr '|' ' ')"
[ "$state" = running ] && [ "$published" -gt 0 ] && [ "$published" -lt "$selected" ] && [ "$selected" = "$SELECTED" ] ||
        fail "after kill -9: state $state, published $published of $selected (dry run: $SELECTED)"
log "ok: job $JOB1 killed with kill -9 at $published of $selected published (state $state)"
rest=$((selected - published))
t0=$(date +%s%N)
ctl replay resume "$JOB1" 2>"$T/resume.err" || fail "resume: $(cat "$T/resume.err")"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
assert_eq "job state, published" "done|$selected" "$(psql_val "select state, published from replay_jobs where id = $JOB1")"
rate=$(awk -v n="$rest" -v ms="$ms" 'BEGIN { printf "%.1f", n * 1000 / ms }')
log "resume: $rest events in $ms ms: $rate events/s at --rate 50"
# Paced: not faster than 50/s (the first event of a run goes at once), and not far slower.
[ "$ms" -ge $(( (rest - 1) * 1000 / 50 * 95 / 100 )) ] && [ "$ms" -le $(( rest * 1000 / 50 + 4000 )) ] ||
        fail "the pace is off: $rest events in $ms ms at --rate 50"
exact="select count(*) || '|' || count(distinct metadata->>'sluice.replay_of') || '|' ||
       count(*) filter (where (metadata->>'sluice.replay_of')::uuid in (select id from workflow_events
                              where type = 'order.created' and occurred_at >= '$FROM' and occurred_at < '$TO'
                              and metadata->>'sluice.replay_of' is null))
       from workflow_events where metadata->>'sluice.replayed_by' = 'kill-test'"
wait_until "[ \"\$(psql_val \"$exact\")\" = '$selected|$selected|$selected' ]" 30 ||
        fail "replays of job $JOB1 (rows|distinct originals|originals selected): $(psql_val "$exact"), want $selected each"
sleep 1 # nothing more arrives
assert_eq "replays of job $JOB1 (rows|distinct originals|originals selected)" "$selected|$selected|$selected" "$(psql_val "$exact")"
log "ok: after kill -9 and resume, each of the $selected selected events was replayed exactly once"

# 3. Cancel a running job.
"$SLUICECTL" -X log.level=warn replay start "${SEL[@]}" --rate 20 --by cancel-test >"$T/job2.out" 2>"$T/job2.err" &
JOBPID=$!
track_pid "$JOBPID"
wait_until "[ -s '$T/job2.out' ]" 10 || fail "replay start printed no job id"
JOB2=$(head -n 1 "$T/job2.out")
wait_until "[ \$(psql_val 'select published from replay_jobs where id = $JOB2') -ge 20 ]" 10 || fail "job $JOB2 did not start"
ctl replay cancel "$JOB2" >/dev/null || fail "replay cancel"
wait_until "! kill -0 $JOBPID" 5 || fail "the runner of job $JOB2 did not stop after cancel"
untrack_pid "$JOBPID"
p2=$(psql_val "select published from replay_jobs where id = $JOB2")
assert_eq "job $JOB2 state" cancelled "$(psql_val "select state from replay_jobs where id = $JOB2")"
[ "$p2" -lt "$selected" ] || fail "job $JOB2 published everything ($p2) although cancelled"
sleep 2
wait_until "[ \$(psql_val \"select count(*) from workflow_events where metadata->>'sluice.replayed_by' = 'cancel-test'\") = $p2 ]" 20 ||
        fail "replays of the cancelled job: $(psql_val "select count(*) from workflow_events where metadata->>'sluice.replayed_by' = 'cancel-test'"), published $p2"
assert_eq "job $JOB2 published, after 2 s more" "$p2" "$(psql_val "select published from replay_jobs where id = $JOB2")"
if ctl replay resume "$JOB2" 2>"$T/resume2.err"; then fail "a cancelled job resumed"; fi
log "ok: job $JOB2 cancelled at $p2 of $selected; its runner exited, ingress has exactly $p2 of its replays; resume refused: $(cat "$T/resume2.err")"

# 4. The admin routes: the same module, jobs on sluice-admin's runner.
start_admin
IDS=$(psql_val "select string_agg(id::text, ',' order by id) from (select id from workflow_events
                where type = 'order.paid' and metadata->>'sluice.replay_of' is null order by id limit 10) x")
# The replays of jobs 1 and 2 are history now too: a dry run counts them.
ctl replay start "${SEL[@]}" --dry-run >"$T/dry2.txt" || fail "second dry run"
export FROM TO IDS SELECTED DRY="$T/dry2.txt"
"$PY" - <<'EOF' || fail "admin replay jobs"
import os, subprocess, sys, time
from admin_client import get, post

def sql(s):
    return subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                           os.environ["SLUICE_PG_PORT"], "-U", "sluice", "-d", "sluice", "-c", s],
                          check=True, capture_output=True, text=True).stdout.strip()
flt = {"from": os.environ["FROM"], "to": os.environ["TO"], "type": "order.created"}
s, h, js, raw = post("/admin/replay-jobs", {"filter": flt, "dry_run": True}, token="operate")
assert s == 200, raw
want = open(os.environ["DRY"]).read().splitlines()
got = ["events\t%d" % js["count"]] + ["trigger\t%s\t%d" % (t["name"], t["matched"]) for t in js["triggers"]]
assert got == want, "admin dry run %r, sluicectl %r" % (got, want)
print("ok: POST /admin/replay-jobs dry run says what sluicectl said", file=sys.stderr)

ids = os.environ["IDS"].split(",")
s, h, js, raw = post("/admin/replay-jobs", {"ids": ids, "rate": 20, "reason": "admin test"}, token="operate")
assert s == 202 and js["job"]["state"] in ("pending", "running"), raw
job = js["job"]["id"]
deadline = time.time() + 15
while time.time() < deadline:
    s, h, js, raw = get("/admin/replay-jobs/%d" % job, token="read")
    if js["job"]["state"] == "done":
        break
    time.sleep(0.2)
assert js["job"]["state"] == "done" and js["job"]["published"] == 10 and js["job"]["selected"] == 10, raw
assert js["job"]["created_by"] == "operator" and js["job"]["runner"] is None, raw
deadline = time.time() + 20
q = ("select count(*) || '|' || count(distinct metadata->>'sluice.replay_of') from workflow_events "
     "where metadata->>'sluice.replayed_by' = 'operator' and (metadata->>'sluice.replay_of')::uuid = any('{%s}'::uuid[])"
     % os.environ["IDS"])
while sql(q) != "10|10" and time.time() < deadline:
    time.sleep(0.2)
assert sql(q) == "10|10", sql(q)
print("ok: job %d by ids ran on sluice-admin to done: 10 replays naming their originals and the token" % job, file=sys.stderr)
s, h, js, raw = post("/admin/replay-jobs/%d/cancel" % job, token="operate")
assert s == 409 and h["content-type"] == "application/problem+json", (s, raw)
s, h, js, raw = post("/admin/replay-jobs", {"filter": flt, "rate": 5}, token="operate")
assert s == 202, raw
job2 = js["job"]["id"]
time.sleep(1.5)
s, h, js, raw = post("/admin/replay-jobs/%d/cancel" % job2, token="operate")
assert s == 200 and js["job"]["state"] == "cancelled", raw
time.sleep(1.5)
s, h, js, raw = get("/admin/replay-jobs/%d" % job2, token="read")
p = js["job"]["published"]
assert js["job"]["state"] == "cancelled" and 0 < p < int(os.environ["SELECTED"]), raw
time.sleep(1.5)
s, h, js, raw = get("/admin/replay-jobs/%d" % job2, token="read")
assert js["job"]["published"] == p, "published moved after cancel: %r" % raw
s, h, js, raw = get("/admin/replay-jobs", token="read")
assert s == 200 and [j["id"] for j in js["jobs"]][:2] == [job2, job], raw
assert sql("select count(*) from admin_audit where action = 'replay'") == "2", "replay jobs audited"
assert sql("select count(*) from admin_audit where action = 'replay_cancel'") == "1", "cancel audited"
for bad in ({"filter": {"from": "x", "to": "y"}}, {"ids": []}, {"ids": ids, "rate": 0}, {"ids": ids, "what": 1}):
    s, h, js, raw = post("/admin/replay-jobs", bad, token="operate")
    assert s == 400 and h["content-type"] == "application/problem+json", (bad, s, raw)
for path in ("/admin/replay-jobs/999999", "/admin/replay-jobs/abc"):
    s, h, js, raw = get(path, token="read")
    assert s == 404, (path, s)
print("ok: job %d cancelled through the API stopped at %d; listing, audit rows, 400s and 404s" % (job2, p), file=sys.stderr)
EOF
admin_no_secrets
log "PASS"
