#!/usr/bin/env bash
# test_kafka_million: 1,000,000 events through sluice-ingress on Apache Kafka, far past
# what the mock cluster keeps (~5 MiB a partition; here ~25 MiB of events.in a
# partition), fidelity tier only.  Published by sluice-it-flood through the C SDK
# (ids 00000000-0000-4000-8000-<i as hex>, 1,000 sources); then in SQL: every id of
# generate_series(0, N-1) has exactly one workflow_events row, accepted, and no other
# row exists.  Progress is read from pg_stat_user_tables (n_tup_ins), not count(*),
# so the wait does not scan the table it waits on.
SLUICE_TEST_BROKER=kafka
. "$(dirname "$0")/lib.sh"

N=${SLUICE_TEST_MILLION_N:-1000000}
[ -x "$BUILD/sluice-it-flood" ] || fail "$BUILD/sluice-it-flood not built"
start_devbroker
start_pg
start_ingress

t0=$(date +%s%N)
"$BUILD/sluice-it-flood" "$N" 1000 >"$T/flood.out" 2>&1 || fail "flood: $(tail -n 3 "$T/flood.out")"
log "published $N in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
inserted() {
        psql_val "select coalesce(sum(n_tup_ins), 0) from pg_stat_user_tables
                  where relname like 'workflow_events%'"
}
wait_until "[ \$(inserted) -ge $N ]" 150 || fail "only $(inserted) of $N rows after 150 s"
log "all $N rows in Postgres $(( ($(date +%s%N) - t0) / 1000000 )) ms after the first publish"

read -r rows distinct accepted <<<"$(psql_val "select count(*), count(distinct id),
        count(*) filter (where status = 'accepted') from workflow_events" | tr '|' ' ')"
assert_eq "rows" "$N" "$rows"
assert_eq "distinct ids" "$N" "$distinct"
assert_eq "accepted" "$N" "$accepted"
assert_eq "published ids without a row" 0 "$(psql_val "select count(*) from generate_series(0, $N - 1) g
        where not exists (select 1 from workflow_events e where e.id =
              ('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid)")"
log "PASS"
