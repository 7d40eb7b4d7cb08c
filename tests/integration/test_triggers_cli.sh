#!/usr/bin/env bash
# test_triggers_cli: `sluicectl triggers` and migration 0008 against a private Postgres
# (lib.sh start_pg only; no devbroker).
#
# Checks, each in SQL: create (file and stdin) stores the definition with the table's
# defaults; list / show (tab-separated and --json) agree with the table; update
# changes only the keys given (null clears); enable / disable / pause (--for, --until)
# / resume / delete; every change leaves one trigger_audit row with who (--by, $USER,
# or the database user for a psql edit), the action, and before/after; a no-op update
# leaves none; every change notifies sluice_triggers; a filter that does not parse is
# refused with its position and stores nothing; bad definitions (unknown key, wrong
# type, out of range, missing key, CHECK constraints) are refused with words; quotes,
# SQL and unicode in every text column survive byte for byte (parameterised
# statements); trigger_deliveries' constraints hold.
. "$(dirname "$0")/lib.sh"

ctl() { USER=tester "$SLUICECTL" -X log.level=warn "$@"; }
sql() { psql_val "$1"; }
assert_contains() { # WHAT NEEDLE HAYSTACK
        case "$3" in *"$2"*) log "ok: $1" ;; *) fail "$1: '$2' not in: $3" ;; esac
}
# expect_fail WHAT WANT_RC NEEDLE CMD...: CMD exits WANT_RC and says NEEDLE on stderr.
expect_fail() {
        local what=$1 want=$2 needle=$3 rc=0 err
        shift 3
        err=$("$@" 2>&1 >/dev/null) || rc=$?
        [ "$rc" = "$want" ] || fail "$what: exit $rc, expected $want ($err)"
        assert_contains "$what (exit $want)" "$needle" "$err"
        LAST_ERR=$err
}

start_pg

# --- schema ------------------------------------------------------------------------
assert_eq "trigger tables" "trigger_audit trigger_deliveries triggers" \
        "$(sql "select string_agg(table_name, ' ' order by table_name) from information_schema.tables
                where table_schema = 'public' and table_name in ('triggers', 'trigger_audit', 'trigger_deliveries')")"
assert_eq "deliveries indexes" \
        "trigger_deliveries_decided_at_idx trigger_deliveries_deferred_idx trigger_deliveries_event_idx trigger_deliveries_launched_later_idx trigger_deliveries_pkey trigger_deliveries_shed_idx trigger_deliveries_trigger_idx trigger_deliveries_waiting_idx" \
        "$(sql "select string_agg(indexname, ' ' order by indexname) from pg_indexes
                where tablename = 'trigger_deliveries'")"

# --- create ------------------------------------------------------------------------
cat >"$T/orders.json" <<'EOF'
{
  "name": "orders-to-crm",
  "description": "big orders",
  "event_type": "order.created",
  "source": "shop",
  "filter": "payload.amount > 100",
  "workflow": "crm.sync",
  "params_template": {"order": "x", "n": 1},
  "rate_limit": 10,
  "window_ms": 2000,
  "on_limit": "defer",
  "failure_count": 5
}
EOF
out=$(ctl triggers create "$T/orders.json")
assert_contains "create prints the name" "trigger orders-to-crm created (id " "$out"
id=$(sql "select id from triggers where name = 'orders-to-crm'")
assert_contains "create prints the id" "$id" "$out"
assert_eq "stored row" "order.created|shop|payload.amount > 100|crm.sync|{\"n\": 1, \"order\": \"x\"}|10|2000|defer|5|tester|t|f" \
        "$(sql "select event_type, source, filter, workflow, params_template, rate_limit, window_ms,
                       on_limit, failure_count, updated_by, enabled, paused from triggers where id = '$id'")"
assert_eq "breaker defaults" "60000|50|10|30000|600000|3|300000" \
        "$(sql "select failure_window_ms, failure_rate, min_results, open_ms, open_max_ms, probes,
                       result_timeout_ms from triggers where id = '$id'")"

out=$(echo '{"name": "any-order", "event_type": "order.*", "workflow": "audit.log", "enabled": false}' |
        ctl triggers create - --by alice)
assert_contains "create from stdin" "trigger any-order created" "$out"
assert_eq "stdin row" "order.*||audit.log|{}||skip|f|alice" \
        "$(sql "select event_type, coalesce(source, ''), workflow, params_template, coalesce(rate_limit::text, ''),
                       on_limit, enabled, updated_by from triggers where name = 'any-order'")"
expect_fail "duplicate name" 1 "that name is taken" ctl triggers create "$T/orders.json"

# --- list / show -------------------------------------------------------------------
list=$(ctl triggers list)
assert_eq "list header" $'NAME\tID\tENABLED\tPAUSED\tEVENT_TYPE\tSOURCE\tWORKFLOW\tLIMIT\tWINDOW_MS\tON_LIMIT\tUPDATED_AT\tUPDATED_BY' \
        "$(head -n 1 <<<"$list")"
assert_eq "list rows" "3" "$(wc -l <<<"$list")"
assert_contains "list: orders line" $'orders-to-crm\t'"$id"$'\tyes\tno\torder.created\tshop\tcrm.sync\t10\t2000\tdefer\t' "$list"
assert_contains "list: unlimited, disabled" $'any-order\t' "$(grep '^any-order' <<<"$list")"
assert_contains "list: any-order columns" $'\tno\tno\torder.*\t\taudit.log\tunlimited\t1000\tskip\t' "$list"
ctl triggers list --json >"$T/list.json"
assert_eq "list --json: one object per trigger, same as the table" "ok" \
        "$("$PY" - "$T/list.json" "$id" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["name"] for r in rows] == ["any-order", "orders-to-crm"], rows
o = rows[1]
assert o["id"] == sys.argv[2] and o["params_template"] == {"order": "x", "n": 1}, o
assert o["rate_limit"] == 10 and o["enabled"] is True and o["source"] == "shop", o
print("ok")
EOF
)"
show=$(ctl triggers show orders-to-crm)
assert_contains "show: workflow" $'workflow\tcrm.sync' "$show"
assert_contains "show: on_limit" $'on_limit\tdefer' "$show"
assert_contains "show: template" $'params_template\t{"n":1,"order":"x"}' "$show"
json=$(ctl triggers show orders-to-crm --json)
assert_eq "show --json equals the row" "t" \
        "$(sql "set timezone = 'UTC'; select '$json'::jsonb = row_to_json(t)::jsonb from triggers t
                where name = 'orders-to-crm'")"
expect_fail "show of an unknown trigger" 1 "no trigger 'nope'" ctl triggers show nope

# --- update ------------------------------------------------------------------------
echo '{"workflow": "crm.sync.v2", "source": null, "rate_limit": 20}' | ctl triggers update orders-to-crm - --by bob >/dev/null
assert_eq "update changes only the keys given" "crm.sync.v2||20|2000|payload.amount > 100|big orders|bob" \
        "$(sql "select workflow, coalesce(source, ''), rate_limit, window_ms, filter, description, updated_by
                from triggers where id = '$id'")"
echo '{"name": "orders-renamed"}' | ctl triggers update orders-to-crm - >/dev/null
echo '{"name": "orders-to-crm"}' | ctl triggers update orders-renamed - >/dev/null
assert_eq "rename and back keeps the id" "$id" "$(sql "select id from triggers where name = 'orders-to-crm'")"
expect_fail "update of an unknown trigger" 1 "no trigger 'nope'" \
        sh -c "echo '{\"workflow\": \"w\"}' | USER=tester '$SLUICECTL' -X log.level=warn triggers update nope -"
expect_fail "update changing the id" 1 '"id" cannot change' \
        sh -c "echo '{\"id\": \"$id\"}' | USER=tester '$SLUICECTL' -X log.level=warn triggers update orders-to-crm -"
expect_fail "empty update" 1 "changes nothing" \
        sh -c "echo '{}' | USER=tester '$SLUICECTL' -X log.level=warn triggers update orders-to-crm -"

# --- enable / disable / pause / resume ---------------------------------------------
ctl triggers disable orders-to-crm >/dev/null
assert_eq "disabled" "f" "$(sql "select enabled from triggers where id = '$id'")"
ctl triggers enable orders-to-crm --by carol >/dev/null
assert_eq "enabled" "t|carol" "$(sql "select enabled, updated_by from triggers where id = '$id'")"
out=$(ctl triggers pause orders-to-crm --for 90m --reason "crm maintenance" --by dave)
assert_contains "pause prints until" "paused until 20" "$out"
assert_eq "paused row" "t|dave|crm maintenance|t" \
        "$(sql "select paused, paused_by, paused_reason, abs(extract(epoch from paused_until - now()) - 5400) < 60
                from triggers where id = '$id'")"
ctl triggers pause orders-to-crm --until 2031-02-03T04:05:06+02:00 --reason "longer" >/dev/null
assert_eq "--until with an offset" "2031-02-03 02:05:06+00|longer" \
        "$(sql "set timezone = 'UTC'; select paused_until, paused_reason from triggers where id = '$id'")"
ctl triggers pause any-order --reason "open-ended" >/dev/null
assert_eq "open-ended pause" "t|" "$(sql "select paused, coalesce(paused_until::text, '') from triggers where name = 'any-order'")"
assert_contains "list shows the pause" $'\tyes\torder.created' "$(ctl triggers list | grep '^orders-to-crm')"
out=$(ctl triggers resume orders-to-crm --by erin)
assert_contains "resume" "trigger orders-to-crm resumed by erin" "$out"
assert_eq "resumed row" "f||||" \
        "$(sql "select paused, paused_at, paused_until, paused_by, paused_reason from triggers where id = '$id'")"
expect_fail "resume of an unpaused trigger" 1 "is not paused" ctl triggers resume orders-to-crm
expect_fail "pause without --reason" 2 "--reason TEXT is required" ctl triggers pause orders-to-crm
expect_fail "pause with bad --for" 2 "--for: '5x' is not a duration" ctl triggers pause orders-to-crm --for 5x --reason r
expect_fail "pause with past --until" 2 "is in the past" ctl triggers pause orders-to-crm --until 2020-01-01T00:00:00Z --reason r
expect_fail "pause of an unknown trigger" 1 "no trigger 'nope'" ctl triggers pause nope --reason r

# --- audit -------------------------------------------------------------------------
assert_eq "audit actions, in order" \
        "create:tester update:bob update:tester update:tester disable:tester enable:carol pause:dave pause:tester resume:erin" \
        "$(sql "select string_agg(action || ':' || by, ' ' order by id) from trigger_audit where trigger_id = '$id'")"
assert_eq "create: no before, after is the row" "t|crm.sync" \
        "$(sql "select before is null, after ->> 'workflow' from trigger_audit where trigger_id = '$id' and action = 'create'")"
assert_eq "update: before and after" "crm.sync|crm.sync.v2|shop|" \
        "$(sql "select before ->> 'workflow', after ->> 'workflow', before ->> 'source', coalesce(after ->> 'source', '')
                from trigger_audit where trigger_id = '$id' and by = 'bob'")"
n0=$(sql "select count(*) from trigger_audit")
ctl triggers enable orders-to-crm >/dev/null
assert_eq "a no-op change is not audited" "$n0" "$(sql "select count(*) from trigger_audit")"
sql "update triggers set description = 'by hand' where id = '$id'" >/dev/null
assert_eq "a psql edit is audited as the database user" "update|sluice|big orders|by hand" \
        "$(sql "select action, by, before ->> 'description', after ->> 'description' from trigger_audit
                where trigger_id = '$id' order by id desc limit 1")"
assert_eq "a psql edit stamps updated_by" "sluice" "$(sql "select updated_by from triggers where id = '$id'")"
psql_run -c "begin; select set_config('sluice.actor', 'frank', true);
             update triggers set probes = 5 where id = '$id'; commit;" >/dev/null
assert_eq "sluice.actor names a psql edit" "update|frank" \
        "$(sql "select action, by from trigger_audit where trigger_id = '$id' order by id desc limit 1")"
audit=$(ctl triggers audit orders-to-crm)
assert_eq "audit header" $'ID\tAT\tTRIGGER_ID\tBY\tACTION\tCHANGES' "$(head -n 1 <<<"$audit")"
assert_eq "audit rows" "12" "$(wc -l <<<"$audit")"
assert_contains "audit shows the change" $'\tbob\tupdate\trate_limit: 10 -> 20; source: "shop" -> null; workflow: "crm.sync" -> "crm.sync.v2"' "$audit"
assert_eq "audit by id" "$audit" "$(ctl triggers audit "$id")"
assert_eq "audit --json: before/after objects" "10" \
        "$(ctl triggers audit orders-to-crm --json | "$PY" -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
print(sum(1 for r in rows if isinstance(r["before"], dict) and isinstance(r["after"], dict)))')"

# --- NOTIFY ------------------------------------------------------------------------
notes=$(psql -X -h 127.0.0.1 -p "$SLUICE_PG_PORT" -U sluice -d sluice 2>&1 <<EOF
LISTEN sluice_triggers;
UPDATE triggers SET probes = 4 WHERE id = '$id';
DELETE FROM triggers WHERE name = 'any-order';
EOF
)
assert_eq "NOTIFY payloads: the changed triggers' ids" "2" \
        "$(grep -c 'notification "sluice_triggers" with payload "[0-9a-f-]\{36\}"' <<<"$notes")"
assert_contains "NOTIFY names the trigger" "payload \"$id\"" "$notes"
assert_eq "delete by psql audited" "delete|t" \
        "$(sql "select action, after is null from trigger_audit order by id desc limit 1")"

# --- bad definitions: refused with words, nothing stored ---------------------------
before=$(sql "select count(*) from triggers")/$(sql "select count(*) from trigger_audit")
bad() { # WHAT NEEDLE JSON
        expect_fail "$1" 1 "$2" sh -c "printf '%s' '$3' | USER=tester '$SLUICECTL' -X log.level=warn triggers create -"
}
bad "filter that does not parse" "filter does not parse: at 23" \
        '{"name": "b", "event_type": "x", "workflow": "w", "filter": "payload.amount > 10 && @"}'
assert_contains "the position is shown with a caret" "$(printf '  payload.amount > 10 && @\n%26s' '^')" "$LAST_ERR"
bad "template that does not parse" "params_template does not parse: in the string at .id: at " \
        '{"name": "b", "event_type": "x", "workflow": "w", "params_template": {"id": "{{payload.id"}}'
bad "not JSON" "not JSON: line 1" '{"name": '
bad "not an object" "must be a JSON object" '[1]'
bad "unknown key" 'unknown key "rate"' '{"name": "b", "event_type": "x", "workflow": "w", "rate": 1}'
bad "missing workflow" '"workflow" is required' '{"name": "b", "event_type": "x"}'
bad "template not an object" '"params_template" must be a JSON object' \
        '{"name": "b", "event_type": "x", "workflow": "w", "params_template": [1]}'
bad "window_ms zero" '"window_ms": 0 is out of range' '{"name": "b", "event_type": "x", "workflow": "w", "window_ms": 0}'
bad "failure_rate over 100" '"failure_rate": 101 is out of range' \
        '{"name": "b", "event_type": "x", "workflow": "w", "failure_rate": 101}'
bad "window_ms not whole" '"window_ms" must be a whole number' \
        '{"name": "b", "event_type": "x", "workflow": "w", "window_ms": 1.5}'
bad "on_limit" '"on_limit" must be "skip" or "defer"' '{"name": "b", "event_type": "x", "workflow": "w", "on_limit": "drop"}'
bad "enabled not a bool" '"enabled" must be true or false' '{"name": "b", "event_type": "x", "workflow": "w", "enabled": 1}'
bad "null name" '"name" must not be null' '{"name": null, "event_type": "x", "workflow": "w"}'
bad "empty event_type" '"event_type" must be 1..255' '{"name": "b", "event_type": "", "workflow": "w"}'
bad "duplicate key" "duplicate object key" '{"name": "b", "name": "c", "event_type": "x", "workflow": "w"}'
bad "open_max_ms below open_ms (CHECK)" "triggers_open_max_check" \
        '{"name": "b", "event_type": "x", "workflow": "w", "open_ms": 5000, "open_max_ms": 10}'
bad "bad id (Postgres)" "invalid input syntax for type uuid" '{"id": "nope", "name": "b", "event_type": "x", "workflow": "w"}'
expect_fail "missing file" 1 "no-such.json" ctl triggers create "$T/no-such.json"
expect_fail "unknown command" 2 "unknown command 'frob'" ctl triggers frob
expect_fail "unknown flag" 2 "unknown option '--force'" ctl triggers delete x --force
assert_eq "bad definitions stored nothing" "$before" \
        "$(sql "select count(*) from triggers")/$(sql "select count(*) from trigger_audit")"

# --- quotes, SQL and unicode survive byte for byte ---------------------------------
"$PY" - "$T/odd.json" <<'EOF'
import json, sys
d = {
    "name": "it's \"odd\"; drop table triggers; -- Zoë 🚀",
    "description": "tab\tand newline\nkept",
    "event_type": "commande.créée",
    "source": "bou'tique",
    "filter": "payload.name == \"Zoë 🚀 'x'\" && metadata[\"clé\"] != \"it's\"",
    "workflow": "wf.ünïcode",
    "params_template": {"nom": "Zoë 🚀 {{payload.name}}", "q": "it's", "id": "{{ id }}"},
}
json.dump(d, open(sys.argv[1], "w"), ensure_ascii=False)
EOF
ctl triggers create "$T/odd.json" --by "Zoë" >/dev/null
assert_eq "odd values stored verbatim" "ok" "$("$PY" - "$T/odd.json" "$SLUICE_PG_PORT" <<'EOF'
import json, subprocess, sys
d = json.load(open(sys.argv[1]))
cols = ["name", "description", "event_type", "source", "filter", "workflow", "updated_by"]
q = ("select " + ", ".join("encode(convert_to(%s, 'UTF8'), 'hex')" % c for c in cols) +
     ", params_template::text from triggers where source = 'bou''tique'")
out = subprocess.run(["psql", "-XAtq", "-F", "\x1f", "-h", "127.0.0.1", "-p", sys.argv[2], "-U", "sluice",
                      "-d", "sluice", "-c", q], capture_output=True, text=True, check=True).stdout.rstrip("\n")
got = out.split("\x1f")
d["updated_by"] = "Zoë"
for c, h in zip(cols, got):
    assert bytes.fromhex(h).decode() == d[c], (c, bytes.fromhex(h), d[c])
assert json.loads(got[-1]) == d["params_template"], got[-1]
print("ok")
EOF
)"
odd=$(sql "select name from triggers where source = 'bou''tique'")
assert_contains "show finds the odd name" $'event_type\tcommande.créée' "$(ctl triggers show "$odd")"
assert_contains "show flattens tabs and newlines" $'description\ttab and newline kept' "$(ctl triggers show "$odd")"
ctl triggers delete "$odd" >/dev/null
assert_eq "delete" "0" "$(sql "select count(*) from triggers where source = 'bou''tique'")"
assert_eq "delete audited with its actor" "delete|tester" \
        "$(sql "select action, by from trigger_audit order by id desc limit 1")"
expect_fail "delete of an unknown trigger" 1 "no trigger 'nope'" ctl triggers delete nope

# --- trigger_deliveries ------------------------------------------------------------
psql_run -c "insert into trigger_deliveries (launch_id, trigger_id, event_id, workflow, outcome, first_outcome,
             reason, matched_at, decided_at, launched_at)
             values (gen_random_uuid(), '$id', gen_random_uuid(), 'w', 'launched', 'deferred',
             '{\"count\": 10, \"limit\": 10}', now(), now(), now())" >/dev/null
expect_fail "outcome set" 1 "trigger_deliveries_outcome_check" psql_run -c \
        "insert into trigger_deliveries (launch_id, trigger_id, event_id, workflow, outcome, first_outcome, matched_at, decided_at)
         values (gen_random_uuid(), '$id', gen_random_uuid(), 'w', 'dropped', 'paused', now(), now())"
expect_fail "launched needs launched_at" 1 "trigger_deliveries_launched_at_check" psql_run -c \
        "insert into trigger_deliveries (launch_id, trigger_id, event_id, workflow, outcome, first_outcome, matched_at, decided_at)
         values (gen_random_uuid(), '$id', gen_random_uuid(), 'w', 'launched', 'launched', now(), now())"
expect_fail "a result only on a launch" 1 "trigger_deliveries_finished_check" psql_run -c \
        "insert into trigger_deliveries (launch_id, trigger_id, event_id, workflow, outcome, first_outcome, matched_at,
         decided_at, result, finished_at) values (gen_random_uuid(), '$id', gen_random_uuid(), 'w', 'throttled',
         'throttled', now(), now(), 'failed', now())"
log "PASS"
