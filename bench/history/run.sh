#!/usr/bin/env bash
# bench/history: archive and restore of one day of workflow_events (docs/history.md).
#
# A private Postgres (scripts/pg.sh, durable settings: fsync on), migrated; N rows
# (default 1,000,000) of realistic order events generated in SQL on the day 10 days
# ago; then `sluicectl history retention` with archive.dir (write as column blocks
# through zstd, verify, drop) and `sluicectl archive restore` of that day, timed, and the rows'
# md5 in id order compared before and after.  Prints, next to their targets:
#   archive and restore time (target: under 30 s each for 1M rows on this machine)
#   archive file size against the partition's heap + index + TOAST size
#     (pg_total_relation_size; target: the file at least 8x smaller)
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
rows="md5('e' || g)::uuid, 'order.' || (array['created', 'paid', 'shipped'])[1 + g % 3],
      'shop-' || (g % 50), ($TODAY - 10)::timestamp at time zone 'UTC' + g * (interval '86399 seconds' / $n),
      ($TODAY - 10)::timestamp at time zone 'UTC' + g * (interval '86399 seconds' / $n) + interval '12 ms',
      $payload, CASE WHEN g % 2 = 0 THEN 'corr-' || (g / 2) END, CASE WHEN g % 3 = 0 THEN 86400000 END,
      jsonb_build_object('traceparent', '00-' || md5(g::text) || '-' || substr(md5('s' || g), 1, 16) || '-01'),
      g % 12, g, 'accepted'"

sql "select sluice_ensure_event_partitions(12, 1)" >/dev/null
t0=$(ms)
sql "insert into workflow_events ($cols) select $rows from generate_series(1, $n) g" >/dev/null
t1=$(ms)
sql "vacuum analyze $part" >/dev/null
heap=$(sql "select pg_relation_size('$part')")
total=$(sql "select pg_total_relation_size('$part')")
before=$(sql "select md5(string_agg(t::text, E'\n' order by id)) from $part t")
echo "generated $n rows on $day in $(( t1 - t0 )) ms; partition $part: heap $heap bytes, heap+index+toast $total bytes"

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

awk -v n="$n" -v a="$archive_ms" -v r="$restore_ms" -v f="$file_bytes" -v raw="$raw_bytes" \
    -v tot="$total" -v heap="$heap" -v same="$same" 'BEGIN {
        printf "archive of %d rows (COPY binary -> column blocks -> zstd -> file, verify, drop): %.1f s   (target < 30 s)\n", n, a / 1000
        printf "restore of %d rows (verify while COPY FROM, attach, indexes):  %.1f s   (target < 30 s)\n", n, r / 1000
        printf "archive file %d bytes (%.1f MiB) vs partition heap+index+toast %d bytes (%.1f MiB): %.1fx smaller   (target >= 8x)\n", f, f / 1048576, tot, tot / 1048576, tot / f
        printf "  (binary COPY stream %d bytes: file %.1fx smaller; heap alone %d bytes: %.1fx)\n", raw, raw / f, heap, heap / f
        printf "restored rows identical (md5 in id order): %s\n", same
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
