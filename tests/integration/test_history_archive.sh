#!/usr/bin/env bash
# test_history_archive: archive, verify and restore of workflow_events days
# (docs/history.md), against a private Postgres (no broker).
#
# Checks, on 20,000 rows on each of the days 10 and 9 days ago (jsonb payloads and
# metadata, NULL and non-NULL optional columns):
#   - a run with archive.dir archives both days (files and manifests with the row
#     counts), verifies them and drops the partitions; `archive list` and `archive
#     verify` agree;
#   - a corrupted file: verify fails naming the checksum, and its restore loads nothing
#     (the day stays dropped, the archive stays in force);
#   - restore brings the other day back byte for byte (md5 of the rows in id order,
#     before archiving and after restore); a second restore adds nothing; --into a
#     side table holds the same rows;
#   - a restored day due to go again is re-verified first: with its file corrupted, the
#     run fails and the day stays live with every row;
#   - sluice-admin: a per-type retention shorter than the default stops it at start
#     naming the key; with history.maintenance.interval.ms it runs maintenance itself
#     (runs recorded under its name, nothing past archive.after.days left live), its
#     /metrics has the sluice_history_* gauges and event-health the history checks and
#     the storage object.
. "$(dirname "$0")/lib.sh"

start_pg
ctl() { "$SLUICECTL" -X log.level=warn -X archive.dir="$T/archive" "$@"; }
TODAY="((now() at time zone 'UTC')::date)"
dayname() { psql_val "select to_char($TODAY - $1, 'YYYY-MM-DD')"; }
rows_of() { # DAYS_AGO [TABLE]: count and md5 of that day's rows in id order
        psql_val "select count(*) || ':' || coalesce(md5(string_agg(t::text, E'\n' order by id)), '-')
                  from ${2:-workflow_events} t
                  where occurred_at >= ($TODAY - $1)::timestamp at time zone 'UTC'
                    and occurred_at <  ($TODAY - $1 + 1)::timestamp at time zone 'UTC'"
}
mkdir -p "$T/archive"

psql_val "select sluice_ensure_event_partitions(20, 1)" >/dev/null
psql_run <<SQL
INSERT INTO workflow_events (id, type, source, occurred_at, received_at, payload,
                             correlation_id, ttl_ms, metadata, kafka_partition, kafka_offset,
                             status)
SELECT md5(d || ':' || g)::uuid, 'order.' || (array['created', 'paid', 'shipped'])[1 + g % 3],
       'shop-' || (g % 13), $TODAY - d + g * interval '4.3 seconds',
       $TODAY - d + g * interval '4.3 seconds' + interval '15 ms',
       jsonb_build_object('order_id', 100000 + g, 'amount', round((g % 977) * 1.37, 2),
                          'currency', 'EUR', 'customer', jsonb_build_object('id', 'c' || (g % 4001),
                          'tier', (array['gold', 'silver', 'none'])[1 + g % 3]),
                          'items', jsonb_build_array(jsonb_build_object('sku', 'S' || (g % 301), 'qty', 1 + g % 4)),
                          'note', CASE WHEN g % 5 = 0 THEN 'café ünïcode ' || g END),
       CASE WHEN g % 2 = 0 THEN 'corr-' || g END, CASE WHEN g % 3 = 0 THEN 60000 END,
       jsonb_build_object('traceparent', '00-' || md5(g::text) || '-0000000000000001-01'),
       g % 8, g, 'accepted'
FROM generate_series(1, 20000) g, unnest(array[10, 9]) d;
SQL
A=$(dayname 10) B=$(dayname 9)
ra=$(rows_of 10) rb=$(rows_of 9)
assert_eq "rows on day A" 20000 "${ra%%:*}"

# --- archive: write, verify, drop -----------------------------------------------------
ctl history retention >"$T/run.out" || fail "run: $(cat "$T/run.out")"
for d in "$A" "$B"; do
        p=workflow_events_p${d//-/}
        assert_eq "archived $d" "archive 20000" \
                "$(awk -F'\t' -v p="$p" '$1 == "archive" && $2 == p { print $1, $4 }' "$T/run.out")"
        assert_eq "partition of $d dropped" "" "$(psql_val "select to_regclass('$p')")"
done
assert_eq "rows of A and B left live" "0" "$(psql_val "select count(*) from workflow_events
        where occurred_at < ($TODAY - 8)::timestamp at time zone 'UTC'
          and occurred_at >= ($TODAY - 10)::timestamp at time zone 'UTC'")"
fa=$(psql_val "select path from archives where partition = 'workflow_events_p${A//-/}' and state = 'dropped'")
fb=$(psql_val "select path from archives where partition = 'workflow_events_p${B//-/}' and state = 'dropped'")
[ -s "$fa" ] && [ -s "$fb" ] || fail "archive files missing: '$fa' '$fb'"
assert_eq "manifest rows of A" 20000 "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"])' "$fa.manifest.json")"
assert_eq "manifest sha256 of A is the file's" "$(sha256sum "$fa" | cut -c1-64)" \
        "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["sha256"])' "$fa.manifest.json")"
log "archive A: $(stat -c %s "$fa") bytes for 20000 rows"
assert_eq "archive list: A" "dropped 20000" \
        "$(ctl archive list | awk -F'\t' -v d="$A" '$4 == d && $2 == "dropped" { print $2, $5 }')"
ctl archive verify >"$T/verify.out" || fail "verify: $(cat "$T/verify.out")"
assert_eq "verify: every archive ok" "$(psql_val "select count(*) from archives where state = 'dropped'")" \
        "$(grep -c '^ok' "$T/verify.out")"
assert_eq "verify: A ok with its rows" "ok 20000" "$(awk -F'\t' -v d="$A" '$3 == d { print $1, $4 }' "$T/verify.out")"

# --- a corrupted file: verify fails, its restore loads nothing ---------------------------
printf '\x5a' | dd of="$fb" bs=1 seek=1000 conv=notrunc status=none
if ctl archive verify "$B" >"$T/verify2.out"; then fail "verify passed a corrupted file"; fi
grep -q "FAILED.*checksum" "$T/verify2.out" || fail "verify: $(cat "$T/verify2.out")"
log "ok: verify fails on the corrupted file: $(cut -f4 "$T/verify2.out" | cut -c1-80)"
if ctl archive restore "$B" >"$T/restore-b.out" 2>&1; then fail "restore of a corrupted file succeeded"; fi
log "restore of the corrupted file refused: $(head -c 200 "$T/restore-b.out")"
assert_eq "nothing of B loaded" "0:-" "$(rows_of 9)"
assert_eq "B's partition not made" "" "$(psql_val "select to_regclass('workflow_events_p${B//-/}')")"
assert_eq "B's archive still in force, dropped" "dropped" \
        "$(psql_val "select state from archives where path = '$fb'")"

# --- restore exactly once, byte for byte ----------------------------------------------
ctl archive restore "$A" >"$T/restore-a.out" || fail "restore A: $(cat "$T/restore-a.out")"
assert_eq "restore A says" "restored $A: 20000 rows into workflow_events" "$(cat "$T/restore-a.out")"
assert_eq "day A back, byte for byte" "$ra" "$(rows_of 10)"
ctl archive restore "$A" >"$T/restore-a2.out" || fail "second restore: $(cat "$T/restore-a2.out")"
grep -q "already restored" "$T/restore-a2.out" || fail "second restore: $(cat "$T/restore-a2.out")"
assert_eq "day A after a second restore (no duplicate)" "$ra" "$(rows_of 10)"
ctl archive restore "$A" --into look_a >/dev/null || fail "restore --into"
assert_eq "side table holds the same rows" "$ra" "$(rows_of 10 look_a)"
if ctl archive restore "$A" --into look_a >/dev/null 2>&1; then fail "a second --into the same table succeeded"; fi
assert_eq "side table unchanged" "$ra" "$(rows_of 10 look_a)"

# --- a restored day is re-verified before it goes again ----------------------------------
psql_val "update archives set restored_at = now() - interval '9 days' where path = '$fa'" >/dev/null
cp "$fa" "$T/a.good"
printf '\x00\x01' | dd of="$fa" bs=1 seek=500 conv=notrunc status=none
if ctl history retention >"$T/run2.out" 2>&1; then fail "a run dropped a day whose file is corrupt"; fi
grep -q "re-verifying its archive" "$T/run2.out" || fail "run2: $(cat "$T/run2.out")"
assert_eq "day A still live with every row" "$ra" "$(rows_of 10)"
cp "$T/a.good" "$fa"
ctl history retention >"$T/run3.out" || fail "run3: $(cat "$T/run3.out")"
assert_eq "with its file whole again, A goes" "0:-" "$(rows_of 10)"
assert_eq "A's archive is dropped again" "dropped" "$(psql_val "select state from archives where path = '$fa'")"
log "ok: archive, verify, restore"

# --- sluice-admin runs it on its schedule: runs recorded, metrics and health ----------
start_devbroker
. "$SRC/tests/integration/admin_lib.sh"
if SLUICE_ADMIN_TOKENS="r:read:$ADMIN_READ" "$BUILD/sluice-admin" -X http.port=0 \
        -X retention.event_types=audit=5 >"$T/admin-bad.log" 2>&1; then
        fail "sluice-admin started with a per-type retention shorter than the default"
fi
grep -q "retention.event_types" "$T/admin-bad.log" || fail "bad config: $(tail -n 2 "$T/admin-bad.log")"
log "ok: sluice-admin refuses a bad retention.event_types at start, naming the key"
psql_val "select sluice_ensure_event_partitions(12, 0)" >/dev/null # days to archive again
start_admin -X archive.dir="$T/archive" -X history.maintenance.interval.ms=300
wait_until "[ \$(psql_val \"select count(*) from maintenance_runs where runner like 'sluice-admin@%' and ok\") -ge 2 ]" 15 ||
        fail "sluice-admin ran no maintenance: $(tail -n 5 "$ADMIN_LOG")"
assert_eq "days past archive.after.days left live after sluice-admin's runs" 0 \
        "$(psql_val "select count(*) from pg_inherits i join pg_class c on c.oid = i.inhrelid
                     where i.inhparent = 'workflow_events'::regclass
                       and c.relname < 'workflow_events_p' || to_char($TODAY - 8, 'YYYYMMDD')
                       and c.relname <> 'workflow_events_default'")"
wait_until "curl -sf $ADMIN_URL/metrics | grep -q '^sluice_history_last_run_ok{kind=\"archive\"} 1'" 70 ||
        fail "metrics: $(curl -sf "$ADMIN_URL/metrics" | grep sluice_history_ | head -20)"
curl -sf "$ADMIN_URL/metrics" >"$T/metrics.txt"
for m in sluice_history_table_bytes sluice_history_partitions sluice_history_archive_backlog_partitions \
        sluice_history_last_success_timestamp_seconds sluice_history_oldest_partition_age_seconds \
        sluice_history_dead_tuples sluice_history_archive_bytes; do
        grep -q "^$m" "$T/metrics.txt" || fail "no $m on /metrics"
done
assert_eq "archive backlog gauge" "sluice_history_archive_backlog_partitions 0" \
        "$(grep '^sluice_history_archive_backlog_partitions' "$T/metrics.txt")"
curl -sf -H "Authorization: Bearer $ADMIN_READ" "$ADMIN_URL/admin/event-health" >"$T/health.json"
assert_eq "health checks of history" "archive_backlog:ok maintenance:archive:ok maintenance:retention:ok rollup:deliveries:ok rollup:events:ok" \
        "$("$PY" -c 'import json,sys; c=json.load(open(sys.argv[1]))["checks"]
print(" ".join(sorted(x["name"] + ":" + x["status"] for x in c if x["name"].startswith(("maint", "archive", "rollup")))))' "$T/health.json")"
assert_eq "health storage: archive files in force" \
        "$(psql_val "select count(*) from archives where state in ('verified', 'dropped', 'restored')")" \
        "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["storage"]["archive_files"])' "$T/health.json")"
log "PASS (sluice-admin)"
