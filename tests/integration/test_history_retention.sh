#!/usr/bin/env bash
# test_history_retention: `sluicectl history retention` on back-dated history
# (docs/history.md), against a private Postgres (no broker).
#
# Checks, on rows written 40, 35, 20 and 5 days ago (type click; audit on day -35):
#   - --dry-run names exactly the days past retention.events.days (30) with their row
#     counts, and changes nothing (partitions, rows, maintenance_runs);
#   - retention.event_types=audit=60 keeps day -35 whole; the real run drops exactly
#     the other days past 30 and nothing else: the rows left are those of -35, -20 and
#     -5, byte for byte (md5 of the ordered rows); dead_letters and trigger_deliveries
#     past their retention are deleted (a deferred launch stays);
#   - the rollups: minute rows of event_rollups and delivery_rollups whose hour began
#     before the hour of now - 30 days (retention.rollups.minute.days) and hour rows
#     before the hour of now - 365 days (retention.rollups.hour.days) are counted by
#     the dry run and deleted (in batches of 100), exactly those; and a rollup
#     recompute over a day past the minute retention changes nothing (it would sum
#     that day's hours again from the minutes retention deleted);
#   - a day due for archiving whose archive cannot be written is not dropped: the run
#     fails, the partition and its rows stay, the archive is recorded failed;
#   - the advisory lock: while another session holds it a run does nothing (exit 3);
#     two runs started together never both act (each day dropped once, no error).
. "$(dirname "$0")/lib.sh"

start_pg
ctl() { "$SLUICECTL" -X log.level=warn "$@"; }
rows_of() { # DAYS_AGO: md5 of that day's rows, ordered
        psql_val "select count(*) || ':' || coalesce(md5(string_agg(t::text, E'\n' order by id)), '-')
                  from workflow_events t
                  where occurred_at >= ($TODAY - $1)::timestamp at time zone 'UTC'
                    and occurred_at <  ($TODAY - $1 + 1)::timestamp at time zone 'UTC'"
}
day() { psql_val "select to_char($TODAY - $1, 'YYYYMMDD')"; }
parts() { psql_val "select count(*) from pg_inherits where inhparent = 'workflow_events'::regclass"; }

TODAY="((now() at time zone 'UTC')::date)"
# The rollup rows below sit on hour boundaries relative to now: not across one.
left=$(psql_val "select 3600 - extract(epoch from now() - date_trunc('hour', now()))::int")
[ "$left" -gt 30 ] || sleep "$((left + 1))"
psql_val "set timezone = 'UTC'; select sluice_ensure_event_partitions(45, 2)" >/dev/null
psql_run <<SQL
SET timezone = 'UTC';
INSERT INTO workflow_events (id, type, source, occurred_at, payload, metadata,
                             kafka_partition, kafka_offset)
SELECT md5(d || ':' || g)::uuid, CASE WHEN d = 35 AND g % 10 = 0 THEN 'audit' ELSE 'click' END,
       'src-' || (g % 7), $TODAY - d + g * interval '1 second',
       jsonb_build_object('n', g, 'user', 'u' || (g % 97), 'tags', jsonb_build_array('a', g % 3)),
       jsonb_build_object('trace', md5(g::text)), g % 4, g
FROM generate_series(1, 500) g, unnest(array[40, 35, 20, 5]) d;
INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, raw, reason, message, received_at)
SELECT 'sluice.events.in', 0, g, convert_to('bad ' || g, 'UTF8'), 'decode', 'm',
       now() - (CASE WHEN g <= 30 THEN 40 ELSE 1 END) * interval '1 day'
FROM generate_series(1, 50) g;
INSERT INTO trigger_deliveries (launch_id, trigger_id, event_id, workflow, outcome,
                                first_outcome, matched_at, decided_at, launched_at, result,
                                finished_at)
SELECT md5('l' || g)::uuid, md5('t')::uuid, md5('e' || g)::uuid, 'wf',
       CASE WHEN g = 1 THEN 'deferred' ELSE 'launched' END,
       CASE WHEN g = 1 THEN 'deferred' ELSE 'launched' END,
       now() - interval '400 days', now() - (CASE WHEN g <= 10 THEN 400 ELSE 2 END) * interval '1 day',
       CASE WHEN g = 1 THEN NULL ELSE now() - interval '400 days' END,
       CASE WHEN g = 1 THEN NULL ELSE 'succeeded' END,
       CASE WHEN g = 1 THEN NULL ELSE now() END
FROM generate_series(1, 20) g;
-- Rollup rows named by what retention must do with them (source / outcome):
-- M = the minute cutoff, the hour of now - 30 days; H = the hour of now - 365 days.
-- 150 minute rows just before M (two DELETE batches of 100) go, as does one of day
-- -40; the first minute of M's hour and a row of day -29 stay; hour rows: before H
-- goes, H and day -40 stay.
INSERT INTO event_rollups (width, bucket, type, source, status, events, first_at, last_at)
SELECT w, b, 'click', s, 'accepted', 3, b, b
FROM (VALUES (date_trunc('hour', now() - interval '30 days'), date_trunc('hour', now() - interval '365 days'))) c(m, h),
LATERAL (SELECT 'minute', m - interval '1 minute', 'm-go-' || g FROM generate_series(1, 150) g
         UNION ALL VALUES ('minute', date_trunc('minute', now() - interval '40 days'), 'm-go-d40'),
                          ('minute', m, 'm-stay-edge'),
                          ('minute', date_trunc('minute', now() - interval '29 days'), 'm-stay-d29'),
                          ('hour', h - interval '1 hour', 'h-go'),
                          ('hour', h, 'h-stay-edge'),
                          ('hour', date_trunc('hour', now() - interval '40 days'), 'h-stay-d40')) r(w, b, s);
INSERT INTO delivery_rollups (width, bucket, trigger_id, outcome, deliveries, first_at, last_at)
SELECT w, b, md5('t')::uuid, o, 2, b, b
FROM (VALUES (date_trunc('hour', now() - interval '30 days'), date_trunc('hour', now() - interval '365 days'))) c(m, h),
LATERAL (VALUES ('minute', m - interval '1 minute', 'm-go'), ('minute', m, 'm-stay-edge'),
                ('hour', h - interval '1 hour', 'h-go'), ('hour', h, 'h-stay-edge')) r(w, b, o);
SQL
rollups() { # what is left of both rollup tables
        psql_val "select (select string_agg(source, ' ' order by source) from event_rollups
                          where source not like 'm-go-_%' or source = 'm-go-d40')
                  || ' | ' || (select count(*) from event_rollups where source ~ '^m-go-[0-9]')
                  || ' | ' || (select string_agg(outcome, ' ' order by outcome) from delivery_rollups)"
}
assert_eq "rollup rows inserted" "h-go h-stay-d40 h-stay-edge m-go-d40 m-stay-d29 m-stay-edge | 150 | h-go h-stay-edge m-go m-stay-edge" "$(rollups)"
before_parts=$(parts)
r35=$(rows_of 35) r20=$(rows_of 20) r5=$(rows_of 5)
assert_eq "rows on day -40" 500 "$(rows_of 40 | cut -d: -f1)"

# --- dry run: exactly the days past 30, nothing changed -----------------------------
ctl history retention --dry-run >"$T/dry.out" || fail "dry run: $(cat "$T/dry.out")"
want=$(psql_val "select string_agg('would-drop workflow_events_p' || to_char(d, 'YYYYMMDD'), ' ' order by d)
                 from generate_series(31, 45) i, lateral (select $TODAY - i d) x")
got=$(awk -F'\t' '$1 == "would-drop" { printf "%s%s %s", sep, $1, $2; sep=" " }' "$T/dry.out")
assert_eq "dry run: the days it would drop" "$want" "$got"
assert_eq "dry run: rows it counts on day -40" 500 \
        "$(awk -F'\t' -v p="workflow_events_p$(day 40)" '$2 == p { print $4 }' "$T/dry.out")"
assert_eq "dry run: dead letters it would delete" "30" \
        "$(awk -F'\t' '$1 == "would-delete" && $2 == "dead_letters" { print $4 }' "$T/dry.out")"
assert_eq "dry run: deliveries it would delete" "9" \
        "$(awk -F'\t' '$1 == "would-delete" && $2 == "trigger_deliveries" { print $4 }' "$T/dry.out")"
for w in "event_rollups minute 151" "event_rollups hour 1" "delivery_rollups minute 1" \
        "delivery_rollups hour 1"; do
        set -- $w
        assert_eq "dry run: $1 $2 rows it would delete" "$3" \
                "$(awk -F'\t' -v t="$1" -v w="$2 rows" '$1 == "would-delete" && $2 == t && index($5, w) == 1 { print $4 }' "$T/dry.out")"
done
assert_eq "dry run changed no partition" "$before_parts" "$(parts)"
assert_eq "dry run deleted no rollup row" "h-go h-stay-d40 h-stay-edge m-go-d40 m-stay-d29 m-stay-edge | 150 | h-go h-stay-edge m-go m-stay-edge" "$(rollups)"
assert_eq "dry run recorded no run" 0 "$(psql_val 'select count(*) from maintenance_runs')"

# --- per-type retention keeps day -35 whole; the real run drops exactly the rest ----
ctl -X retention.event_types=audit=60 history retention --dry-run >"$T/dry2.out"
assert_eq "audit=60 keeps day -35" "would-keep" \
        "$(awk -F'\t' -v p="workflow_events_p$(day 35)" '$2 == p { print $1 }' "$T/dry2.out")"
if ctl -X retention.event_types=audit=20 history retention --dry-run 2>"$T/short.err"; then
        fail "a per-type retention shorter than the default was accepted"
fi
grep -q "retention.event_types" "$T/short.err" || fail "refusal does not name the key: $(cat "$T/short.err")"
log "ok: a per-type retention shorter than the default is refused, naming the key"

ctl -X retention.event_types=audit=60 -X retention.delete.batch.rows=100 history retention \
        >"$T/run.out" || fail "run: $(cat "$T/run.out")"
assert_eq "partitions left" "$((before_parts - 14))" "$(parts)"
assert_eq "day -40 is gone" "" "$(psql_val "select to_regclass('workflow_events_p$(day 40)')")"
assert_eq "day -31 is gone" "" "$(psql_val "select to_regclass('workflow_events_p$(day 31)')")"
assert_eq "day -30 stays" "workflow_events_p$(day 30)" "$(psql_val "select to_regclass('workflow_events_p$(day 30)')")"
assert_eq "day -35 (audit) rows, byte for byte" "$r35" "$(rows_of 35)"
assert_eq "day -20 rows, byte for byte" "$r20" "$(rows_of 20)"
assert_eq "day -5 rows, byte for byte" "$r5" "$(rows_of 5)"
assert_eq "rows left in all" 1500 "$(psql_val 'select count(*) from workflow_events')"
assert_eq "dead letters left (the last day's)" "20|0" \
        "$(psql_val "select count(*), count(*) filter (where received_at < now() - interval '30 days') from dead_letters")"
assert_eq "deliveries left (recent + the old deferred one)" "11|1" \
        "$(psql_val "select count(*), count(*) filter (where outcome = 'deferred') from trigger_deliveries")"
assert_eq "the run is recorded ok" "retention|t" \
        "$(psql_val "select kind, ok from maintenance_runs")"
assert_eq "rollup rows left: exactly those within their retention" \
        "h-stay-d40 h-stay-edge m-stay-d29 m-stay-edge | 0 | h-stay-edge m-stay-edge" "$(rollups)"
assert_eq "the run reports the rollup rows it deleted" \
        "delivery_rollups 1 hour|delivery_rollups 1 minute|event_rollups 1 hour|event_rollups 151 minute" \
        "$(awk -F'\t' '$1 == "delete" && $2 ~ /rollups$/ { split($5, w, " "); print $2, $4, w[1] }' "$T/run.out" | sort | paste -sd'|')"
# Day -35 is live (audit), its minute rows past retention: a recompute of it by hand
# leaves the rollups alone rather than sum its hours from the minutes left.
before_ru=$(psql_val "select md5(string_agg(r::text, ',' order by r::text)) from event_rollups r")
d35=$(psql_val "select to_char($TODAY - 35, 'YYYY-MM-DD')")
ctl history rollup --from "${d35}T00:00:00Z" --to "${d35}T23:59:00Z" >"$T/ru.out" ||
        fail "rollup of day -35: $(cat "$T/ru.out")"
assert_eq "a recompute past the minute retention recomputes nothing" \
        "$(printf 'events\t0\t0\t-\ndeliveries\t0\t0\t-')" "$(cat "$T/ru.out")"
assert_eq "nor changes a rollup row" "$before_ru" \
        "$(psql_val "select md5(string_agg(r::text, ',' order by r::text)) from event_rollups r")"

# --- a day due for archiving is not dropped when its archive cannot be made ---------
mkdir -p "$T/arch"
: >"$T/arch/workflow_events" # a file where the archive folder should be
if ctl -X archive.dir="$T/arch" -X retention.event_types=audit=60 history retention \
        >"$T/arch.out" 2>&1; then
        fail "a run whose archives cannot be written succeeded"
fi
grep -q "writing its archive" "$T/arch.out" || fail "no archive error: $(cat "$T/arch.out")"
assert_eq "day -35 still live" "$r35" "$(rows_of 35)"
assert_eq "day -20 still live" "$r20" "$(rows_of 20)"
assert_eq "no archive in force" "0" \
        "$(psql_val "select count(*) from archives where state not in ('failed')")"
assert_eq "the archive run is recorded failed" "f" \
        "$(psql_val "select ok from maintenance_runs where kind = 'archive'")"

# --- the advisory lock ---------------------------------------------------------------
psql_run -c "select pg_advisory_lock(1936487779, 13), pg_sleep(2)" >/dev/null &
holder=$!
wait_until "[ \$(psql_val \"select count(*) from pg_locks where locktype = 'advisory' and objid = 13\") = 1 ]" 5 ||
        fail "the lock holder did not take the lock"
runs_before=$(psql_val 'select count(*) from maintenance_runs')
rc=0
ctl history retention >"$T/busy.out" 2>&1 || rc=$?
assert_eq "a run while the lock is held exits" 3 "$rc"
grep -q "another maintenance run holds the lock" "$T/busy.out" || fail "busy: $(cat "$T/busy.out")"
assert_eq "it recorded nothing" "$runs_before" "$(psql_val 'select count(*) from maintenance_runs')"
wait "$holder"

psql_val "select sluice_ensure_event_partitions(45, 0)" >/dev/null # the old days again, empty
made=$(( $(parts) - (before_parts - 14) ))
rc1=0 rc2=0
ctl -X retention.event_types=audit=60 history retention >"$T/c1.out" 2>&1 &
p1=$!
ctl -X retention.event_types=audit=60 history retention >"$T/c2.out" 2>&1 &
p2=$!
wait $p1 || rc1=$?
wait $p2 || rc2=$?
log "two runners: exit $rc1 and $rc2"
[ "$rc1" = 0 ] || [ "$rc1" = 3 ] || fail "runner 1 exit $rc1: $(cat "$T/c1.out")"
[ "$rc2" = 0 ] || [ "$rc2" = 3 ] || fail "runner 2 exit $rc2: $(cat "$T/c2.out")"
assert_eq "days dropped by the two runners together (each once)" "$made" \
        "$(cat "$T/c1.out" "$T/c2.out" | awk -F'\t' '$1 == "drop"' | sort -u | wc -l | tr -d ' ')"
assert_eq "drop lines in all (no day twice)" "$made" \
        "$(cat "$T/c1.out" "$T/c2.out" | awk -F'\t' '$1 == "drop"' | wc -l | tr -d ' ')"
if grep -q "^error" "$T/c1.out" "$T/c2.out"; then fail "a runner failed an action"; fi
assert_eq "rows left after both" 1500 "$(psql_val 'select count(*) from workflow_events')"
log "PASS"
