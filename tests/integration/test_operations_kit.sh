#!/usr/bin/env bash
# test_operations_kit: the alert rules and the Grafana dashboard of docs/operations/
# use only metrics the processes really expose.
#
# Starts every process that serves /metrics today (sluice-ingress, sluice-retry,
# sluice-trigger-match, sluice-trigger-launch, sluice-runner and sluice-admin) on the devbroker and a
# private Postgres, with a trigger and a rate-limited source, and pushes a few events
# through (accepted, throttled into the retry stage, one malformed into the DLQ,
# matched, launched, answered), so every family has samples.  A real Prometheus
# (Debian's prometheus package) scrapes the six every second with alerts.yml loaded.
# Then ops_kit_check.py: every metric name in every alert expression (as Prometheus
# loaded them) and in every dashboard panel query is on some process's /metrics (`up`
# excepted: Prometheus records it, and it must be 1 for all six); every rule
# evaluated without error; every panel query returns series from Prometheus.  And the
# runbooks: every metric they name is exposed, every ```sql block runs on the schema,
# every sluicectl line names a command, subcommand and options sluicectl has.
. "$(dirname "$0")/lib.sh"
. "$SRC/tests/integration/retry_lib.sh"

OPS=$SRC/docs/operations
CHECK=$SRC/tests/integration/ops_kit_check.py
command -v prometheus >/dev/null || fail "prometheus not found (scripts/install-deps.sh installs it)"
[ -x "$BUILD/sluice-runner" ] || fail "$BUILD/sluice-runner not built"
ctl() { USER=ops-kit "$SLUICECTL" -X log.level=warn "$@"; }

# The runbooks' sluicectl lines: commands, subcommands and options that exist.
"$PY" "$CHECK" sluicectl "$SLUICECTL" "$OPS"/*.md >"$T/sluicectl.out" 2>&1 ||
        { cat "$T/sluicectl.out" >&2; fail "the runbooks use sluicectl commands that do not exist"; }
log "ok: runbooks' $(tail -n 1 "$T/sluicectl.out")"

start_devbroker
start_pg
printf '%s' '{"name": "ops-kit", "event_type": "ops.*", "workflow": "w.ops"}' |
        ctl triggers create - >/dev/null || fail "triggers create"
ctl sources set flooder --limit 3 --window-ms 60000 >/dev/null || fail "sources set"

RUNNER_PORT=$(free_port)
"$BUILD/sluice-runner" -X http.port="$RUNNER_PORT" >"$T/runner.log" 2>&1 &
RUNNER_PID=$!
track_pid "$RUNNER_PID"
start_ingress -X admission.mirror.ms=500
start_retry
start_trigger_match
start_trigger_launch -X trigger.launch.mirror.ms=500
. "$SRC/tests/integration/admin_lib.sh"
start_admin # the history storage gauges (docs/history.md)
wait_until "curl -sf http://127.0.0.1:$RUNNER_PORT/healthz" 30 || fail "runner not healthy: $(tail -n 5 "$T/runner.log")"

PROM_PORT=$(free_port)
PROM=http://127.0.0.1:$PROM_PORT
cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $OPS/alerts.yml
scrape_configs:
  - job_name: sluice-ingress
    static_configs: [{targets: ["127.0.0.1:$INGRESS_PORT"]}]
  - job_name: sluice-retry
    static_configs: [{targets: ["127.0.0.1:$RETRY_PORT"]}]
  - job_name: sluice-trigger-match
    static_configs: [{targets: ["127.0.0.1:$MATCH_PORT"]}]
  - job_name: sluice-trigger-launch
    static_configs: [{targets: ["127.0.0.1:$LAUNCH_PORT"]}]
  - job_name: sluice-runner
    static_configs: [{targets: ["127.0.0.1:$RUNNER_PORT"]}]
  - job_name: sluice-admin
    static_configs: [{targets: ["127.0.0.1:$ADMIN_PORT"]}]
EOF
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
        --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn \
        >"$T/prometheus.log" 2>&1 &
PROM_PID=$!
track_pid "$PROM_PID"
wait_until "curl -sf $PROM/-/ready" 30 || fail "prometheus not ready: $(tail -n 5 "$T/prometheus.log")"
log "prometheus on :$PROM_PORT scrapes the six processes"

# 10 events of a calm source, 10 of one over its limit (3 a minute: the rest throttled,
# held back for sluice-retry), one malformed record (dead-lettered).
for i in $(seq 10); do
        echo "{\"type\": \"ops.order\", \"source\": \"calm\", \"payload\": {\"i\": $i}}"
        echo "{\"type\": \"ops.order\", \"source\": \"flooder\", \"payload\": {\"i\": $i}}"
done >"$T/events.jsonl"
ctl publish --count-only "$T/events.jsonl" >"$T/publish.log" 2>&1 || fail "publish: $(tail -n 2 "$T/publish.log")"
echo 00c0ffee >"$T/bad.hex"
ctl publish --raw "$T/bad.hex" >>"$T/publish.log" 2>&1 || fail "publish --raw"

answered() { psql_val "SELECT count(*) FROM trigger_deliveries WHERE result = 'succeeded'"; }
wait_until "[ \$(answered) -ge 13 ]" 30 || fail "launches answered: $(answered) of 13"
wait_until "[ \$(psql_val 'SELECT count(*) FROM dead_letters') -ge 1 ]" 10 || fail "no dead letter"
# 7 held back, or fewer when the publish straddles a minute (windows are epoch-aligned).
wait_until "[ \$(psql_val 'SELECT count(*) FROM event_ingress_retries') -ge 1 ]" 10 || fail "no retries"
log "$(answered) launches answered, $(psql_val 'SELECT count(*) FROM event_ingress_retries') events held back, 1 dead-lettered"

# Every target up, scraped at least twice (rates need two samples) and once after the
# traffic; the rules (evaluated every second) have run by then.
t_traffic=$(date +%s)
scraped() {
        curl -sf "$PROM/api/v1/query" --data-urlencode \
                "query=count(min_over_time(up[1m]) == 1 and count_over_time(up[1m]) >= 2 and timestamp(up) >= $t_traffic)" |
                "$PY" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'
}
wait_until "[ \$(scraped) = 6 ]" 20 || fail "prometheus has not scraped all six targets: $(scraped)"

n=0
for port in $INGRESS_PORT $RETRY_PORT $MATCH_PORT $LAUNCH_PORT $RUNNER_PORT $ADMIN_PORT; do
        n=$((n + 1))
        curl -sf "http://127.0.0.1:$port/metrics" >"$T/metrics.$n.txt" || fail "scrape :$port"
        [ -s "$T/metrics.$n.txt" ] || fail "empty /metrics on :$port"
done
"$PY" "$CHECK" check "$PROM" "$OPS/grafana-dashboard.json" "$T"/metrics.*.txt >"$T/check.out" 2>&1 ||
        { cat "$T/check.out" >&2; fail "the operations kit uses metrics the processes do not expose"; }
log "ok: $(tail -n 1 "$T/check.out")"

# The runbooks: every metric they name is exposed, and every SQL block runs against
# the migrated schema (with this run's rows), each in a transaction rolled back.
mkdir "$T/sql"
"$PY" "$CHECK" runbooks "$T/sql" "$OPS"/*.md -- "$T"/metrics.*.txt >"$T/runbooks.out" 2>&1 ||
        { cat "$T/runbooks.out" >&2; fail "the runbooks name metrics the processes do not expose"; }
for f in "$T"/sql/*.sql; do
        { echo 'BEGIN;'; cat "$f"; echo 'ROLLBACK;'; } | psql_run >"$f.out" 2>"$f.err" ||
                fail "runbook SQL fails ($(head -n 1 "$f")): $(tr '\n' ' ' <"$f.err")"
done
log "ok: $(tail -n 1 "$T/runbooks.out"), every SQL block ran"

# Stop the seven together (SIGTERM: each finishes its batch and commits) rather than one
# after the other in lib.sh's trap: seconds of the suite's budget.
stopping=("$PROM_PID" "$ADMIN_PID" "$LAUNCH_PID" "$MATCH_PID" "$RETRY_PID" "$INGRESS_PID" "$RUNNER_PID")
kill -TERM "${stopping[@]}" 2>/dev/null || true
for pid in "${stopping[@]}"; do
        wait_until "! kill -0 $pid" 20 || continue # still running: the trap kills it
        wait "$pid" 2>/dev/null || true
        untrack_pid "$pid"
done
log "PASS"
