#!/usr/bin/env bash
# bench/history: a day of workflow_events at scale (docs/history.md): rollup, archive,
# restore, and retention's drop.
#
# A private Postgres (scripts/pg.sh, durable settings: fsync on), migrated; N rows
# (default 1,000,000) of realistic order events generated in SQL on the day 10 days
# ago (day A); then, timed: `sluicectl history rollup --from --to` over day A (a range:
# rows made in SQL have no decided_at for an advance to find); `sluicectl history
# retention` with archive.dir (write as column blocks through zstd, verify, drop) and
# `sluicectl archive restore` of day A, the rows' md5 in id order compared before and
# after; then N more rows on the day 11 days ago (day B), and `sluicectl history
# retention` without archive.dir and with retention.events.days 10, which drops day B's
# partition whole (DROP TABLE, never a DELETE) and keeps day A.  Prints, next to their
# targets or baselines:
#   archive and restore time and rows/s (target: under 30 s each for 1M rows on this
#     machine)
#   archive file size against the partition's heap + index + TOAST size
#     (pg_total_relation_size; target: the file at least 8x smaller)
#   rollup time and rows/s over the day (event_rollups, minute and hour buckets), the
#     buckets recomputed and a check that the minute and hour rows count every row
#     (no target; next to the archive's rows/s over the same rows)
#   the drop: the retention run's time next to the same run with --dry-run (which
#     decides and counts the rows but drops nothing), and the DROP TABLE statement's
#     own time from Postgres's log (log_min_duration_statement 0 for that run only)
#   TOAST compression: the same rows' size with payload/metadata lz4 against pglz,
#     for these ~400-byte payloads and for 4 KB payloads (only values over ~2 KB are
#     compressed at all), with the INSERT time of each
# usage: bench/history/run.sh [N]   (BENCH_HISTORY_ARGS: more -X flags for the archive run,
#        e.g. -X archive.zstd.level=9)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SLUICE_BUILD_DIR:-$root/build}
n=${1:-1000000}
work=$(mktemp -d /tmp/sluice-bench-history.XXXXXX)
chmod 755 "$work"
port=$((58000 + RANDOM % 1000))

cleanup() {
        SLUICE_PG_DIR=$work/pg SLUICE_PG_PORT=$port "$root/scripts/pg.sh" stop >/dev/null 2>&1 || true
        [ -n "${BENCH_KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

[ -x "$build/sluicectl" ] || { echo "build first: cmake --build $build" >&2; exit 1; }
SLUICE_PG_DIR=$work/pg SLUICE_PG_PORT=$port "$root/scripts/pg.sh" start >/dev/null 2>&1
export SLUICE_PG_PORT=$port
"$build/sluicectl" -X log.level=warn migrate >/dev/null
mkdir -p "$work/archive"
sql() { psql -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U sluice -d sluice -c "$1"; }
ms() { date +%s%3N; }
TODAY="((now() at time zone 'UTC')::date)"
day=$(sql "select to_char($TODAY - 10, 'YYYY-MM-DD')")
part=workflow_events_p${day//-/}

# payload(g, pad): an order event, ~400 bytes with pad 0
payload="jsonb_build_object('order_id', 100000 + g, 'amount', round((g % 977) * 1.37, 2),
           'currency', 'EUR', 'customer', jsonb_build_object('id', 'c' || (g % 40001),
           'tier', (array['gold', 'silver', 'none'])[1 + g % 3], 'country',
           (array['DE', 'FR', 'NL', 'PL', 'ES'])[1 + g % 5]),
           'items', jsonb_build_array(jsonb_build_object('sku', 'S' || (g % 3001), 'qty', 1 + g % 4,
           'price', (g % 97) + 0.99), jsonb_build_object('sku', 'S' || (g % 2003), 'qty', 1)),
           'shipping', jsonb_build_object('method', (array['dhl', 'ups', 'pickup'])[1 + g % 3],
           'address', 'Street ' || (g % 997) || ', ' || (10000 + g % 89999) || ' City'),
           'note', CASE WHEN g % 5 = 0 THEN 'gift wrap please' END)"
cols="id, type, source, occurred_at, received_at, payload, correlation_id, ttl_ms, metadata,
      kafka_partition, kafka_offset, status"
# rows_of DAYS_AGO [ID_PREFIX]: the select list of row g on that day (id md5(PREFIX || g))
rows_of() {
        echo "md5('${2:-e}' || g)::uuid, 'order.' || (array['created', 'paid', 'shipped'])[1 + g % 3],
      'shop-' || (g % 50), ($TODAY - $1)::timestamp at time zone 'UTC' + g * (interval '86399 seconds' / $n),
      ($TODAY - $1)::timestamp at time zone 'UTC' + g * (interval '86399 seconds' / $n) + interval '12 ms',
      $payload, CASE WHEN g % 2 = 0 THEN 'corr-' || (g / 2) END, CASE WHEN g % 3 = 0 THEN 86400000 END,
      jsonb_build_object('traceparent', '00-' || md5(g::text) || '-' || substr(md5('s' || g), 1, 16) || '-01'),
      g % 12, g, 'accepted'"
}
rows=$(rows_of 10)

sql "select sluice_ensure_event_partitions(10, 1)" >/dev/null # day A is the oldest
t0=$(ms)
sql "insert into workflow_events ($cols) select $rows from generate_series(1, $n) g" >/dev/null
t1=$(ms)
sql "vacuum analyze $part" >/dev/null
heap=$(sql "select pg_relation_size('$part')")
total=$(sql "select pg_total_relation_size('$part')")
before=$(sql "select md5(string_agg(t::text, E'\n' order by id)) from $part t")
echo "generated $n rows on $day in $(( t1 - t0 )) ms; partition $part: heap $heap bytes, heap+index+toast $total bytes"

# Rollups of the day: a range (--from/--to), since an advance rolls up only rows whose
# decided_at passed the watermark, and rows made in SQL have none (ingress's do).
next=$(sql "select to_char($TODAY - 9, 'YYYY-MM-DD')")
t0=$(ms)
"$build/sluicectl" -X log.level=warn history rollup --table events --from "${day}T00:00:00Z" \
        --to "${next}T00:00:00Z" >"$work/rollup.out"
t1=$(ms)
rollup_ms=$(( t1 - t0 ))
read -r _ r_buckets r_hours _ <"$work/rollup.out"
r_sums=$(sql "select coalesce(sum(events) filter (where width = 'minute'), 0) || ' ' ||
        coalesce(sum(events) filter (where width = 'hour'), 0) || ' ' || count(*) filter (where width = 'minute')
        || ' ' || count(*) filter (where width = 'hour') from event_rollups
        where bucket >= '${day}T00:00:00Z' and bucket < '${next}T00:00:00Z'")
read -r r_min r_hour r_min_rows r_hour_rows <<<"$r_sums"

t0=$(ms)
"$build/sluicectl" -X log.level=warn -X archive.dir="$work/archive" ${BENCH_HISTORY_ARGS:-} history retention >"$work/run.out"
t1=$(ms)
archive_ms=$(( t1 - t0 ))
file_bytes=$(sql "select bytes from archives where partition = '$part' and state = 'dropped'")
raw_bytes=$(sql "select raw_bytes from archives where partition = '$part'")
t0=$(ms)
"$build/sluicectl" -X log.level=warn archive restore "$day" >"$work/restore.out"
t1=$(ms)
restore_ms=$(( t1 - t0 ))
after=$(sql "select md5(string_agg(t::text, E'\n' order by id)) from $part t")
same=no
[ "$before" = "$after" ] && same=yes

# Retention without archiving: a second day (day B, 11 days ago, N rows of its own),
# vacuumed and checkpointed as an old day would be, then `sluicectl history retention`
# with archive.dir empty and retention.events.days 10 (day A, 10 days old, stays).
# The DROP TABLE's own time comes from Postgres's log (log_min_duration_statement 0 for
# this run only).
dayb=$(sql "select to_char($TODAY - 11, 'YYYY-MM-DD')")
partb=workflow_events_p${dayb//-/}
sql "select sluice_ensure_event_partitions(11, 1)" >/dev/null
sql "insert into workflow_events ($cols) select $(rows_of 11 b) from generate_series(1, $n) g" >/dev/null
sql "vacuum analyze $partb" >/dev/null
sql "checkpoint" >/dev/null
totalb=$(sql "select pg_total_relation_size('$partb')")
t0=$(ms)
"$build/sluicectl" -X log.level=warn -X retention.events.days=10 history retention --dry-run >"$work/drop-dry.out"
t1=$(ms)
dry_ms=$(( t1 - t0 ))
would=$(grep -c '^would-drop' "$work/drop-dry.out" || true)
sql "alter system set log_min_duration_statement = 0" >/dev/null
sql "select pg_reload_conf()" >/dev/null
logfile=$work/pg/postgres.log
logfrom=$(wc -l <"$logfile")
t0=$(ms)
"$build/sluicectl" -X log.level=warn -X retention.events.days=10 history retention >"$work/drop.out"
t1=$(ms)
drop_ms=$(( t1 - t0 ))
sql "alter system reset log_min_duration_statement" >/dev/null
sql "select pg_reload_conf()" >/dev/null
did=$(grep -c '^drop' "$work/drop.out" || true)
dropped=$(awk -F'\t' -v p="$partb" '$1 == "drop" && $2 == p { print $4 }' "$work/drop.out")
stmt_ms=$(tail -n +"$((logfrom + 1))" "$logfile" | grep -E "DROP TABLE \"?$partb" |
        sed -n 's/.*duration: \([0-9.]*\) ms.*/\1/p' | awk '{ s += $1 } END { printf "%.1f", s }')
gone=$(sql "select to_regclass('$partb') is null and to_regclass('$part') is not null")

awk -v n="$n" -v a="$archive_ms" -v r="$restore_ms" -v f="$file_bytes" -v raw="$raw_bytes" \
    -v tot="$total" -v heap="$heap" -v same="$same" 'BEGIN {
        printf "archive of %d rows (COPY binary -> column blocks -> zstd -> file, verify, drop): %.1f s, %.0f rows/s   (target < 30 s: > %.0f rows/s)\n", n, a / 1000, n * 1000 / a, n / 30
        printf "restore of %d rows (verify while COPY FROM, attach, indexes):  %.1f s, %.0f rows/s   (target < 30 s: > %.0f rows/s)\n", n, r / 1000, n * 1000 / r, n / 30
        printf "archive file %d bytes (%.1f MiB) vs partition heap+index+toast %d bytes (%.1f MiB): %.1fx smaller   (target >= 8x)\n", f, f / 1048576, tot, tot / 1048576, tot / f
        printf "  (binary COPY stream %d bytes: file %.1fx smaller; heap alone %d bytes: %.1fx)\n", raw, raw / f, heap, heap / f
        printf "restored rows identical (md5 in id order): %s\n", same
}'
awk -v n="$n" -v ms="$rollup_ms" -v a="$archive_ms" -v b="$r_buckets" -v h="$r_hours" -v mi="$r_min" -v ho="$r_hour" \
    -v mr="$r_min_rows" -v hr="$r_hour_rows" -v d="$day" 'BEGIN {
        printf "rollup of the day %s (history rollup --from/--to, event_rollups minute + hour): %.1f s, %.0f rows/s   (no target; baseline: the archive of the same rows, %.0f rows/s)\n", d, ms / 1000, n * 1000 / ms, n * 1000 / a
        printf "  %d minute + %d hour buckets recomputed, %d minute + %d hour rows written; events counted: minutes %d, hours %d of %d: %s\n", b, h, mr, hr, mi, ho, n, (mi == n && ho == n) ? "all" : "NOT all"
}'
awk -v ms="$drop_ms" -v dry="$dry_ms" -v st="$stmt_ms" -v rows="$dropped" -v tot="$totalb" \
    -v did="$did" -v would="$would" -v gone="$gone" -v d="$dayb" 'BEGIN {
        printf "retention without archive.dir, day %s: DROP TABLE of its partition (%d rows, %.1f MiB), not a DELETE: %.2f s   (no target; baseline: the same run with --dry-run, %.2f s)\n", d, rows, tot / 1048576, ms / 1000, dry / 1000
        printf "  the DROP TABLE statement itself: %s ms by Postgres'"'"'s log (before its commit); partitions dropped %d (the dry run: %d); that day gone, day A kept: %s\n", st, did, would, gone == "t" ? "yes" : "NO"
}'

# TOAST: lz4 (what migration 0013 sets) against pglz (the default before it).
toast() { # NAME COMPRESSION PAD ROWS
        sql "create table $1 (like workflow_events including defaults)" >/dev/null
        sql "alter table $1 alter column payload set compression $2, alter column metadata set compression $2" >/dev/null
        local t0 t1
        t0=$(ms)
        sql "insert into $1 ($cols) select $(echo "$rows" | sed "s/'note', CASE WHEN g % 5 = 0 THEN 'gift wrap please' END/'note', CASE WHEN g % 5 = 0 THEN 'gift wrap please' END, 'lines', (select jsonb_agg(jsonb_build_object('sku', 'S' || ((g + k) % 3001), 'text', 'line ' || k || ' of order ' || g)) from generate_series(1, $3) k)/") from generate_series(1, $4) g" >/dev/null
        t1=$(ms)
        echo "$(sql "select pg_total_relation_size('$1')") $(( t1 - t0 )) $(sql "select round(avg(pg_column_size(payload))) from $1")"
}
small=$(( n < 200000 ? n : 200000 ))
read -r s_lz4 t_lz4 c_lz4 < <(toast t_lz4 lz4 0 "$small")
read -r s_pglz t_pglz c_pglz < <(toast t_pglz pglz 0 "$small")
read -r b_lz4 bt_lz4 bc_lz4 < <(toast b_lz4 lz4 60 50000)
read -r b_pglz bt_pglz bc_pglz < <(toast b_pglz pglz 60 50000)
awk -v n="$small" -v a="$s_lz4" -v b="$s_pglz" -v ta="$t_lz4" -v tb="$t_pglz" -v ca="$c_lz4" -v cb="$c_pglz" \
    -v a2="$b_lz4" -v b2="$b_pglz" -v ta2="$bt_lz4" -v tb2="$bt_pglz" -v ca2="$bc_lz4" -v cb2="$bc_pglz" 'BEGIN {
        printf "TOAST, %d rows, payload ~%d bytes stored: lz4 %.1f MiB (insert %.1f s) vs pglz %.1f MiB (insert %.1f s): %.2fx\n", n, ca, a / 1048576, ta / 1000, b / 1048576, tb / 1000, b / a
        printf "TOAST, 50000 rows, 4 KB payloads (stored lz4 ~%d / pglz ~%d bytes): lz4 %.1f MiB (insert %.1f s) vs pglz %.1f MiB (insert %.1f s): pglz/lz4 size %.2fx, time %.2fx\n", ca2, cb2, a2 / 1048576, ta2 / 1000, b2 / 1048576, tb2 / 1000, b2 / a2, tb2 / ta2
}'
