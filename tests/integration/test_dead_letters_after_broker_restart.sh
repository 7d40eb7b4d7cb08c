#!/usr/bin/env bash
# Regression: dead letters were keyed by (topic, partition, offset) only.  A restarted
# devbroker (memory only) hands out offsets from 0 again while Postgres keeps the old
# rows, so new malformed records at reused offsets were taken for replays and dropped
# (scripts/up.sh run twice showed it).  Now the same offset with other bytes is a new
# dead letter, and the same bytes at the same offset still a replay.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

start_pg
start_devbroker -X topic.partitions=1
printf 'deadbeef01\ndeadbeef02\n' >"$T/first.hex"
printf 'c0ffee01\nc0ffee02\n' >"$T/second.hex"

"$SLUICECTL" publish --raw --key k "$T/first.hex" >"$T/pub.log" 2>&1 || fail "publish: $(tail -n 3 "$T/pub.log")"
start_ingress -X kafka.session.timeout.ms=6000
wait_until "[ \$(psql_val 'select count(*) from dead_letters') -ge 2 ]" 30 ||
        fail "first dead letters not written"
stop_pid "$INGRESS_PID" || fail "sluice-ingress did not exit 0 on SIGTERM"

# A new broker: the same topic, offsets from 0 again.
stop_pid "$DEVBROKER_PID" || true
start_devbroker -X topic.partitions=1
"$SLUICECTL" publish --raw --key k "$T/second.hex" >>"$T/pub.log" 2>&1 || fail "publish: $(tail -n 3 "$T/pub.log")"
start_ingress -X kafka.session.timeout.ms=6000
wait_until "[ \$(psql_val 'select count(*) from dead_letters') -ge 4 ]" 30 ||
        fail "dead letters at reused offsets were dropped: $(psql_val 'select count(*) from dead_letters') of 4"
assert_eq "dead letters at offsets 0 and 1" "4" \
        "$(psql_val "select count(*) from dead_letters where kafka_offset in (0, 1)")"
assert_eq "distinct raw payloads" "4" "$(psql_val 'select count(distinct raw) from dead_letters')"

# The same bytes at the same offset again (a replay of the new broker's records) is
# still a no-op.
stop_pid "$INGRESS_PID" || fail "sluice-ingress did not exit 0 on SIGTERM"
start_ingress -X kafka.session.timeout.ms=6000 -X ingress.group.id=replay-$$
replayed() {
        curl -sf "http://127.0.0.1:$INGRESS_PORT/metrics" |
                awk '/^sluice_ingress_replayed_total / { print $2 + 0 }'
}
wait_until "[ \"\$(replayed)\" -ge 2 ]" 30 || fail "the new group did not re-read the records"
assert_eq "replayed dead letters are not written twice" "4" \
        "$(psql_val 'select count(*) from dead_letters')"
log "PASS"
