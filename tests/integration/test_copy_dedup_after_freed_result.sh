#!/usr/bin/env bash
# test_copy_dedup_after_freed_result: regression test for the use-after-free on the
# COPY replay path (issue 9).  A writer of the parallel COPY pipe whose plain COPY
# fails took the SQLSTATE as a pointer into the PGresult, cleared the result, then
# compared the freed bytes with 23505/40P01; when they changed, a replayed key was not
# recognised, the share was not replayed with dedup, and the batch failed.  This is
# the path of every batch replayed after a kill -9 or a rebalance.
#
# Through sluice-it-copy_pipe_probe (sl_copy_pipe_t over 2 writer connections, the
# writers' results cleared before their SQLSTATE is checked) against a real Postgres:
#   1. ids 1..20000 into an empty table: 20000 rows, 0 dups;
#   2. ids 10001..40000 (half of them already there, in both writers' shares): the
#      plain COPY meets the existing keys, each share replays with dedup: 20000 rows,
#      10000 dups;
#   3. ids 1..40000 again: 0 rows, 40000 dups;
#   4. the table holds exactly ids 1..40000, each with the tag of its first write,
#      checked against the expected text byte for byte (md5 of the whole dump).
# Run under AddressSanitizer (scripts/test.sh's sanitized integration pass) it fails
# on the old code with a heap-use-after-free report.
. "$(dirname "$0")/lib.sh"

PROBE=$BUILD/sluice-it-copy_pipe_probe
[ -x "$PROBE" ] || fail "$PROBE not built"
start_pg
psql_val "create table copy_probe (id bigint primary key, tag text not null)"

probe() { # probe FROM TO TAG -> "rows R dups D"
        "$PROBE" -X log.level=warn --table copy_probe --from "$1" --to "$2" --tag "$3" \
                --writers 2 2>"$T/probe.err" || fail "probe $*: $(cat "$T/probe.err")"
}

assert_eq "first batch" "rows 20000 dups 0" "$(probe 1 20000 a)"
assert_eq "overlapping batch replayed with dedup" "rows 20000 dups 10000" \
        "$(probe 10001 40000 b)"
assert_eq "all-duplicate batch" "rows 0 dups 40000" "$(probe 1 40000 c)"

expected=$("$PY" -c '
import hashlib
tag = lambda i: "a" if i <= 20000 else "b"
rows = "".join(f"{i}|{tag(i)}-{i}\n" for i in range(1, 40001))
print(hashlib.md5(rows.encode()).hexdigest())')
actual=$(psql_run -c "select id, tag from copy_probe order by id" | md5sum | cut -d' ' -f1)
assert_eq "table contents (md5 of id|tag, ordered)" "$expected" "$actual"
log "PASS"
