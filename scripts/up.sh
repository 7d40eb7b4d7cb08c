#!/usr/bin/env bash
# Bring up the whole sluice dev stack on this machine and a demo (README command 1).
#
# Installs missing packages, builds into build/, starts sluice-devbroker (a Kafka-
# protocol broker: librdkafka's mock cluster in its own process), a private Postgres
# (scripts/pg.sh, .sluice/pg, port 55432), applies migrations, creates the topics,
# starts every processor (processors/<stage>/main.c -> build/sluice-<stage>), publishes
# scripts/demo-events.jsonl, waits until the events are in Postgres and prints where
# to look.  Then it stays in the foreground: Ctrl-C, or scripts/down.sh from another
# shell, stops everything (processors, then the devbroker, then Postgres).
#
#   scripts/up.sh            build, start, demo, stay in the foreground
#   scripts/up.sh --no-wait  same, but return once the demo is in (stop with down.sh)
#
# Logs: .sluice/logs/<process>.log; pids: .sluice/pids/<process>.pid.  The processes
# run in sessions of their own (setsid), so Ctrl-C reaches only this script, which then
# stops them in order: processors first (they finish and commit), then the broker.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=$ROOT/build
LOGS=$ROOT/.sluice/logs
PIDS=$ROOT/.sluice/pids
WAIT=1
case "${1:-}" in
--no-wait) WAIT=0 ;;
"") ;;
-h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "usage: scripts/up.sh [--no-wait]" >&2; exit 2 ;;
esac

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { echo "up: $*" >&2; exit 1; }

if [ -f "$PIDS/up.pid" ] && kill -0 "$(cat "$PIDS/up.pid")" 2>/dev/null; then
        die "already running (pid $(cat "$PIDS/up.pid")); stop it with scripts/down.sh"
fi
if [ -f "$PIDS/devbroker.pid" ] && kill -0 "$(cat "$PIDS/devbroker.pid")" 2>/dev/null; then
        die "a dev stack is already up (.sluice/pids); stop it with scripts/down.sh"
fi

say "checking packages"
./scripts/install-deps.sh

say "building into build/"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" 2>&1 | grep -Ev '^\[ *[0-9]+%\]' || true
for bin in sluice-devbroker sluicectl; do
        [ -x "$BUILD/$bin" ] || die "build failed: $BUILD/$bin missing"
done

mkdir -p "$LOGS" "$PIDS"
echo $$ >"$PIDS/up.pid"
started=0
shutdown() {
        trap - INT TERM EXIT
        if [ $started = 1 ]; then
                echo >&2
                say "shutting down"
                SLUICE_DOWN_FROM_UP=1 "$ROOT/scripts/down.sh"
        fi
        rm -f "$PIDS/up.pid"
}
trap shutdown EXIT
trap 'exit 130' INT TERM
started=1

# wait_for "SHELL CONDITION" SECONDS
wait_for() {
        local deadline=$(( $(date +%s) + $2 ))
        until eval "$1" >/dev/null 2>&1; do
                [ "$(date +%s)" -lt "$deadline" ] || return 1
                sleep 0.2
        done
}

BOOTSTRAP_FILE=${SLUICE_DEVBROKER_BOOTSTRAP_FILE:-$ROOT/.sluice/bootstrap.txt}
export SLUICE_DEVBROKER_BOOTSTRAP_FILE=$BOOTSTRAP_FILE
if [ -z "${SLUICE_KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
        say "starting sluice-devbroker (log: .sluice/logs/devbroker.log)"
        rm -f "$BOOTSTRAP_FILE"
        setsid "$BUILD/sluice-devbroker" >"$LOGS/devbroker.log" 2>&1 </dev/null &
        echo $! >"$PIDS/devbroker.pid"
        wait_for "[ -s '$BOOTSTRAP_FILE' ]" 20 ||
                die "devbroker did not start: $(tail -n 5 "$LOGS/devbroker.log")"
else
        say "using Kafka at $SLUICE_KAFKA_BOOTSTRAP_SERVERS (SLUICE_KAFKA_BOOTSTRAP_SERVERS)"
fi

say "starting Postgres (scripts/pg.sh)"
./scripts/pg.sh start >"$LOGS/pg.log" 2>&1 || die "pg.sh start failed: $(tail -n 5 "$LOGS/pg.log")"

say "migrating and creating topics"
"$BUILD/sluicectl" migrate >>"$LOGS/sluicectl.log" 2>&1 ||
        die "sluicectl migrate failed: $(tail -n 5 "$LOGS/sluicectl.log")"
"$BUILD/sluicectl" topics ensure >>"$LOGS/sluicectl.log" 2>&1 ||
        die "sluicectl topics ensure failed: $(tail -n 5 "$LOGS/sluicectl.log")"

# sluice-admin's tokens (docs/admin-api.md): made once, kept in .sluice/admin-tokens
# (mode 600), given to sluice-admin alone through its environment.
ADMIN_TOKENS_FILE=.sluice/admin-tokens
if [ ! -s "$ADMIN_TOKENS_FILE" ]; then
        (umask 077 && printf 'dev-read:read:%s,dev-operate:read+operate:%s\n' \
                "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
                "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$ADMIN_TOKENS_FILE")
fi
ADMIN_READ_TOKEN=$(sed -n 's/^dev-read:read:\([^,]*\),.*/\1/p' "$ADMIN_TOKENS_FILE")

metrics=()
for main in processors/*/main.c; do
        stage=$(basename "$(dirname "$main")")
        bin=$BUILD/sluice-$stage
        [ -x "$bin" ] || die "$bin missing (build failed?)"
        say "starting sluice-$stage (log: .sluice/logs/$stage.log)"
        if [ "$stage" = admin ]; then
                SLUICE_ADMIN_TOKENS=$(cat "$ADMIN_TOKENS_FILE") setsid "$bin" >"$LOGS/$stage.log" 2>&1 </dev/null &
        else
                setsid "$bin" >"$LOGS/$stage.log" 2>&1 </dev/null &
        fi
        echo $! >"$PIDS/$stage.pid"
        port=$("$bin" --print-config 2>/dev/null | sed -n 's/^http\.port=//p' | head -n 1)
        if [ -n "$port" ] && [ "$port" != 0 ]; then
                wait_for "curl -sf http://127.0.0.1:$port/healthz" 30 ||
                        die "sluice-$stage not healthy: $(tail -n 5 "$LOGS/$stage.log")"
                metrics+=("http://127.0.0.1:$port/metrics  (sluice-$stage)")
        else
                sleep 1
                kill -0 "$(cat "$PIDS/$stage.pid")" 2>/dev/null ||
                        die "sluice-$stage exited: $(tail -n 5 "$LOGS/$stage.log")"
        fi
done

# The workflow engine of the demo: sluice-runner answers every launch after 100 ms.
say "starting sluice-runner, the demo's workflow engine (log: .sluice/logs/runner.log)"
setsid "$BUILD/sluice-runner" --latency-ms 100 >"$LOGS/runner.log" 2>&1 </dev/null &
echo $! >"$PIDS/runner.pid"

# Two demo triggers (kept across runs): big orders launch at once; user events at most
# one a second, the rest deferred and launched in order.
demo_trigger() { # NAME JSON
        "$BUILD/sluicectl" -X log.level=warn triggers show "$1" >/dev/null 2>&1 && return
        printf '%s' "$2" | "$BUILD/sluicectl" triggers create - --by up.sh >>"$LOGS/sluicectl.log" 2>&1 ||
                die "sluicectl triggers create $1 failed: $(tail -n 5 "$LOGS/sluicectl.log")"
        say "created trigger $1"
}
demo_trigger demo-big-orders '{"name": "demo-big-orders", "event_type": "order.*",
        "filter": "payload.amount >= 2000", "workflow": "orders.priority",
        "params_template": {"order": "{{payload.order_id}}", "amount": "{{payload.amount}}"}}'
demo_trigger demo-users '{"name": "demo-users", "event_type": "user.*", "workflow": "crm.sync",
        "params_template": {"user": "{{payload.user}}", "plan": "{{payload.plan}}"},
        "rate_limit": 1, "window_ms": 1000, "on_limit": "defer"}'

q() { ./scripts/pg.sh psql -XAtq -c "$1" 2>/dev/null; }
demo_launches="select count(*) from trigger_deliveries where trigger_name like 'demo-%' and result = 'succeeded'"
before_launches=$(q "$demo_launches" || echo 0)
before_ok=$(q "select count(*) from workflow_events where source like 'demo-%'" || echo 0)
before_dl=$(q "select count(*) from dead_letters" || echo 0)
nvalid=$(grep -vc 'malformed' scripts/demo-events.jsonl)
nbad=$(grep -c 'malformed' scripts/demo-events.jsonl)

say "publishing scripts/demo-events.jsonl ($nvalid valid, $nbad malformed)"
# The valid lines go through the SDK (sluicectl publish), which refuses to send an
# invalid event; the malformed ones are Avro-encoded as they are and sent with --raw,
# the way a buggy or foreign publisher would.
grep -v 'malformed' scripts/demo-events.jsonl |
        "$BUILD/sluicectl" publish --count-only - >>"$LOGS/sluicectl.log" 2>&1 ||
        die "sluicectl publish failed: $(tail -n 5 "$LOGS/sluicectl.log")"
grep 'malformed' scripts/demo-events.jsonl | /usr/bin/python3 tests/integration/gen_events.py encode |
        "$BUILD/sluicectl" publish --raw - >>"$LOGS/sluicectl.log" 2>&1 ||
        die "sluicectl publish --raw failed: $(tail -n 5 "$LOGS/sluicectl.log")"
wait_for "[ \$(q \"select count(*) from workflow_events where source like 'demo-%'\") -ge $((before_ok + nvalid)) ] &&
          [ \$(q 'select count(*) from dead_letters') -ge $((before_dl + nbad)) ]" 30 ||
        die "the demo events did not reach Postgres in 30 s (see .sluice/logs/)"
wait_for "[ \$(q \"$demo_launches\") -ge $((before_launches + 3)) ]" 30 ||
        die "the demo's 3 launches were not answered in 30 s (see .sluice/logs/)"

cat <<MSG

sluice is up: devbroker at $(head -n 1 "$BOOTSTRAP_FILE" 2>/dev/null | sed 's/^bootstrap.servers=//'), Postgres on port ${SLUICE_PG_PORT:-55432}.
The demo's $nvalid valid events are in workflow_events, its $nbad malformed ones in dead_letters.
Its triggers launched 3 workflows on sluice-runner (one of them deferred a second by its limit).

  SQL       scripts/pg.sh psql -c "select occurred_at, type, source, status from workflow_events order by occurred_at desc limit 10"
            scripts/pg.sh psql -c "select reason, count(*) from dead_letters group by reason"
            scripts/pg.sh psql -c "select trigger_name, outcome, first_outcome, params, result from trigger_deliveries order by decided_at"
  admin     http://127.0.0.1:9100/admin/event-health  (sluice-admin, docs/admin-api.md)
            curl -s -H "Authorization: Bearer $ADMIN_READ_TOKEN" http://127.0.0.1:9100/admin/events?limit=5
            tokens (read, read+operate): $ADMIN_TOKENS_FILE
  metrics   $(printf '%s\n            ' "${metrics[@]}" | sed '$d')
  topics    build/sluicectl tail sluice.events.accepted --from-beginning --max 10 --timeout-ms 2000
            build/sluicectl tail sluice.events.dlq --from-beginning --max 10 --timeout-ms 2000
  publish   echo '{"type":"hello","source":"me","payload":{"n":1}}' | build/sluicectl publish -
  logs      .sluice/logs/  (JSON lines: one file per process)
  stop      Ctrl-C here, or scripts/down.sh from another shell

MSG

if [ $WAIT = 0 ]; then
        started=0 # leave it running
        trap - EXIT
        rm -f "$PIDS/up.pid"
        exit 0
fi
# Foreground: stay until Ctrl-C, down.sh, or a process dies.
while :; do
        for f in "$PIDS"/*.pid; do
                [ -e "$f" ] || continue
                name=$(basename "$f" .pid)
                [ "$name" = up ] && continue
                if ! kill -0 "$(cat "$f")" 2>/dev/null; then
                        echo "up: $name stopped (see .sluice/logs/$name.log)" >&2
                        exit 1
                fi
        done
        [ -f "$PIDS/up.pid" ] || exit 0
        sleep 1
done
