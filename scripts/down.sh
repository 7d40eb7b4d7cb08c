#!/usr/bin/env bash
# Stop the dev stack scripts/up.sh started: every processor (SIGTERM: each finishes
# its batch and exits), then sluice-devbroker, then Postgres.  Idempotent; safe to run
# from another shell while up.sh is in the foreground (up.sh then exits too).
set -uo pipefail
cd "$(dirname "$0")/.."
PIDS=.sluice/pids

# stop NAME: SIGTERM the pid in .sluice/pids/NAME.pid, wait up to 20 s, then SIGKILL.
stop() {
        local f=$PIDS/$1.pid pid
        [ -f "$f" ] || return 0
        pid=$(cat "$f")
        if kill -0 "$pid" 2>/dev/null; then
                kill -TERM "$pid" 2>/dev/null
                for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                if kill -0 "$pid" 2>/dev/null; then
                        echo "down: $1 ($pid) ignored SIGTERM for 20 s; SIGKILL" >&2
                        kill -KILL "$pid" 2>/dev/null
                else
                        echo "down: stopped $1 ($pid)" >&2
                fi
        fi
        rm -f "$f"
}

# A foreground scripts/up.sh shuts down by itself (it runs this script with
# SLUICE_DOWN_FROM_UP=1): ask it to, and wait.
if [ -z "${SLUICE_DOWN_FROM_UP:-}" ] && [ -f "$PIDS/up.pid" ]; then
        up=$(cat "$PIDS/up.pid")
        if kill -TERM "$up" 2>/dev/null; then
                for _ in $(seq 600); do kill -0 "$up" 2>/dev/null || break; sleep 0.1; done
        fi
fi

if [ -d "$PIDS" ]; then
        for f in "$PIDS"/*.pid; do
                [ -e "$f" ] || continue
                name=$(basename "$f" .pid)
                case $name in devbroker|up) ;; *) stop "$name" ;; esac
        done
        stop devbroker
fi
if [ -x scripts/pg.sh ] && scripts/pg.sh status >/dev/null 2>&1; then
        scripts/pg.sh stop >/dev/null && echo "down: stopped postgres" >&2
fi
rm -f "$PIDS/up.pid"
exit 0
