#!/usr/bin/env bash
# test_triggers_reload: the triggers watch (src/pg/triggers_watch.c) follows the
# triggers table through LISTEN/NOTIFY, survives a Postgres restart, leaves out rows
# whose filter does not parse, and never blocks its caller.
#
# sluice-it-triggers_watch_probe polls a watch (periodic reload switched off:
# triggers.reload.ms = 1 h, so only notifications and reconnects explain a change)
# and prints a line per snapshot: its triggers (name=workflow) and the candidates of
# event type order.created.  The test:
#   1. `triggers create` (an exact type, then a glob) -> seen within 1 s each, and the
#      candidates of order.created are the exact trigger then the glob;
#   2. `triggers update` (same count, new workflow) and `disable` -> seen within 1 s;
#   3. restarts Postgres, creates a third trigger -> the probe reconnects, reloads
#      fully and sees it;
#   4. `triggers delete` -> seen within 1 s;
#   5. a row whose filter does not parse (written with psql, bypassing sluicectl's
#      check) is left out and logged once, however often the watch reloads;
#   6. no single poll took long, even while Postgres was down.
. "$(dirname "$0")/lib.sh"

PROBE=$BUILD/sluice-it-triggers_watch_probe
[ -x "$PROBE" ] || fail "$PROBE not built"
ctl() { USER=tester "$SLUICECTL" -X log.level=warn "$@"; }

# wait_line PATTERN TIMEOUT_S: until the probe's last "load" line matches the
# extended regex PATTERN; prints the wait in ms.
wait_line() {
        local pat=$1 timeout=$2 t0 now
        t0=$(date +%s%N)
        while :; do
                if grep '^load ' "$T/probe.out" | tail -n 1 | grep -Eq -- "$pat"; then
                        now=$(date +%s%N)
                        echo $(( (now - t0) / 1000000 ))
                        return 0
                fi
                kill -0 "$PROBE_PID" 2>/dev/null || fail "probe exited: $(tail -n 5 "$T/probe.log")"
                now=$(date +%s%N)
                [ $(( now - t0 )) -lt $(( timeout * 1000000000 )) ] || return 1
                sleep 0.02
        done
}
create() { # JSON
        printf '%s' "$1" | ctl triggers create - >/dev/null || fail "create failed: $1"
}

start_pg
"$PROBE" -X triggers.reload.ms=3600000 -X log.level=info --type order.created \
        >"$T/probe.out" 2>"$T/probe.log" &
PROBE_PID=$!
track_pid "$PROBE_PID"
wait_line '^load 1 0 ' 10 >/dev/null || fail "probe did not load the (empty) table"
log "probe $PROBE_PID running, 0 triggers"

# 1. NOTIFY: seen within 1 s, with the periodic reload off.
create '{"name": "exact", "event_type": "order.created", "workflow": "wf.a", "filter": "payload.amount > 10"}'
ms=$(wait_line ' 1 [0-9]+ exact=wf.a candidates order.created: exact$' 1) ||
        fail "probe did not see the created trigger within 1 s"
log "ok: probe saw the new trigger after ${ms} ms"
create '{"name": "glob", "event_type": "order.*", "workflow": "wf.b", "source": "shop"}'
ms=$(wait_line ' 2 [0-9]+ exact=wf.a,glob=wf.b candidates order.created: exact,glob$' 1) ||
        fail "probe did not see the glob trigger within 1 s"
log "ok: probe saw the glob trigger after ${ms} ms; candidates exact then glob"

# 2. An update that keeps the count is a change too.
echo '{"workflow": "wf.a2"}' | ctl triggers update exact - >/dev/null
ms=$(wait_line ' exact=wf.a2,glob=wf.b ' 1) || fail "probe did not see the update within 1 s"
log "ok: probe saw the update after ${ms} ms"
loads=$(grep -c '^load ' "$T/probe.out")
ctl triggers disable glob >/dev/null
wait_line "^load $((loads + 1)) 2 " 1 >/dev/null || fail "probe did not reload after disable"
assert_eq "a disabled trigger is still a candidate" "exact,glob" \
        "$(grep '^load ' "$T/probe.out" | tail -n 1 | sed 's/.*candidates order.created: //')"

# 3. Restart Postgres; changes after it arrive through the new connection.
pg_sh stop >/dev/null 2>&1
sleep 1.5 # the probe notices and retries against a stopped server at least once
kill -0 "$PROBE_PID" 2>/dev/null || fail "probe died while Postgres was down"
grep -q 'connection lost' "$T/probe.log" || fail "probe did not notice the lost connection"
log "ok: probe noticed the lost connection and kept its snapshot"
pg_sh start >/dev/null 2>&1 || fail "pg.sh start (restart) failed"
create '{"name": "third", "event_type": "user.created", "workflow": "wf.c"}'
ms=$(wait_line ' 3 [0-9]+ exact=wf.a2,glob=wf.b,third=wf.c ' 15) ||
        fail "probe did not see the trigger created after the restart"
log "ok: probe reconnected and saw the third trigger after ${ms} ms"
grep -q 'reconnected' "$T/probe.log" || fail "probe did not log its reconnect"

# 4. Delete.
ctl triggers delete third >/dev/null
ms=$(wait_line ' 2 [0-9]+ exact=wf.a2,glob=wf.b ' 1) || fail "probe did not see the delete within 1 s"
log "ok: probe saw the delete after ${ms} ms"

# 5. A filter that does not parse: left out, logged once across reloads.  The reload
# is waited for by its number: the load before it lists the same triggers.
loads=$(grep -c '^load ' "$T/probe.out")
psql_val "insert into triggers (name, event_type, workflow, filter)
          values ('broken', 'order.created', 'wf.x', 'payload.amount > (10')" >/dev/null
wait_line "^load $((loads + 1)) 2 [0-9]+ exact=wf.a2,glob=wf.b candidates order.created: exact,glob\$" 1 >/dev/null ||
        fail "the broken trigger was not left out"
loads=$((loads + 1))
echo '{"workflow": "wf.a3"}' | ctl triggers update exact - >/dev/null
psql_val "update triggers set description = 'touch' where name = 'broken'" >/dev/null
wait_line "^load $((loads + 2)) 2 [0-9]+ exact=wf.a3,glob=wf.b " 2 >/dev/null ||
        fail "probe did not reload twice after the broken row"
assert_eq "warnings for the broken row" "1" "$(grep -c "trigger 'broken'" "$T/probe.log")"
grep "trigger 'broken'" "$T/probe.log" | grep -q 'filter does not parse' ||
        fail "the warning does not say the filter does not parse: $(grep broken "$T/probe.log")"
# Fixed by hand: it comes back.
psql_val "update triggers set filter = 'payload.amount > 10' where name = 'broken'" >/dev/null
ms=$(wait_line ' 3 [0-9]+ broken=wf.x,exact=wf.a3,glob=wf.b candidates order.created: broken,exact,glob$' 1) ||
        fail "the fixed trigger did not come back"
log "ok: the fixed trigger came back after ${ms} ms"

# 6. Polls stayed short, even while Postgres was down or restarting.
stop_pid "$PROBE_PID" || fail "probe exited non-zero"
max=$(sed -n 's/^max_poll_ms //p' "$T/probe.out")
log "longest poll: ${max} ms"
"$PY" -c "import sys; sys.exit(0 if float('$max') < 250 else 1)" ||
        fail "a poll call blocked for ${max} ms"
log "PASS"
