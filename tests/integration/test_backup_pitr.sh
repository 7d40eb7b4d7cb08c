#!/usr/bin/env bash
# Backup and point-in-time recovery with pgBackRest, for real, on the test's private
# Postgres: the procedure of docs/operations/backup.md, step by step.
#
#   Postgres with WAL archiving (archive_command = pgbackrest archive-push), stanza
#   created; sluice-ingress on the devbroker.
#   batch A published and written -> full backup;  batch B -> incremental backup;
#   batch C written -> recovery target T (after a WAL switch);  batch D written.
#   Stop ingress and Postgres, delete the data directory, `pgbackrest restore
#   --type=time --target=T --target-action=promote`, start Postgres:
#     - workflow_events holds exactly the ids of A+B+C (compared as text with what was
#       published), none of D; dead_letters none of D's malformed records;
#     - the group's committed offsets are past the restored database (ingress would
#       skip D), and the database ends exactly where events.in ended at T:
#       `sluicectl ingress rewind --from-db --margin 0 --dry-run` plans each partition
#       back to the end offset events.in had before D was published;
#     - with ingress stopped, `sluicectl ingress rewind --from-db` rewinds the group
#       (default margin: a batch, here back to the start); a second run keeps every
#       partition.  (Its refusal while ingress runs is not tested here: on the
#       devbroker the check joins the group, which the mock cluster does not settle
#       in time with a live member; see docs/operations/backup.md.)
#   Ingress started again: every id of A+B+C+D exactly once, D's malformed records
#   exactly once, byte for byte.
. "$(dirname "$0")/lib.sh"

command -v pgbackrest >/dev/null || fail "pgbackrest not installed (scripts/install-deps.sh)"
GEN=$SRC/tests/integration/gen_events.py
N=400 # events per batch
STANZA=sluice
# The devbroker (librdkafka's mock cluster) takes a commit for a group only from a
# member; `sluicectl ingress rewind` joins the group there, and the mock lets a new
# member in only a session timeout after the last one left: a short one for the test.
SESSION=(-X kafka.session.timeout.ms=6000)

start_devbroker
start_pg

# --- Postgres with WAL archiving into a pgBackRest repository ----------------------
# The repository, logs and locks live in $T, owned by postgres (the server runs the
# archive_command as postgres; pgBackRest refuses to run as root).
BR=$T/pgbackrest
mkdir -p "$BR/repo" "$BR/log" "$BR/lock"
[ "$(id -u)" = 0 ] && chown -R postgres: "$BR"
[ -S "$T/pg/data/.s.PGSQL.$SLUICE_PG_PORT" ] ||
        fail "no Unix socket in $T/pg/data (path too long?): pgBackRest reaches Postgres only through one"
# deploy/pgbackrest.conf, as shipped, with this test's paths and port.
CONF=$BR/pgbackrest.conf
sed -e "s|^repo1-path=.*|repo1-path=$BR/repo|" -e "s|^log-path=.*|log-path=$BR/log|" \
    -e "s|^lock-path=.*|lock-path=$BR/lock|" -e "s|^pg1-path=.*|pg1-path=$T/pg/data|" \
    -e "s|^pg1-port=.*|pg1-port=$SLUICE_PG_PORT|" \
    -e "s|^pg1-socket-path=.*|pg1-socket-path=$T/pg/data|" \
    "$SRC/deploy/pgbackrest.conf" >"$CONF"
[ "$(grep -c "$T" "$CONF")" = 5 ] || fail "deploy/pgbackrest.conf lacks a path key the test sets: $(cat "$CONF")"
chmod 644 "$CONF"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
br() { as_pg pgbackrest --config="$CONF" --stanza=$STANZA "$@"; }

psql_val "alter system set archive_mode = on" >/dev/null
psql_val "alter system set archive_command = 'pgbackrest --config=$CONF --stanza=$STANZA archive-push %p'" >/dev/null
pg_sh stop >>"$T/pg-start.log" 2>&1
pg_sh start >>"$T/pg-start.log" 2>&1 || fail "Postgres did not restart with archiving"
assert_eq "archive_mode" on "$(psql_val 'show archive_mode')"
br stanza-create >"$T/br-stanza.log" 2>&1 || fail "stanza-create: $(tail -n 5 "$T/br-stanza.log")"
br check >"$T/br-check.log" 2>&1 || fail "pgbackrest check: $(tail -n 5 "$T/br-check.log")"
log "stanza $STANZA created, archiving checked"

# --- the batches -----------------------------------------------------------------------
for b in A B C D; do
        "$PY" "$GEN" valid $N --seed $((100 + $(printf '%d' "'$b"))) --sources 40 >"$T/$b.jsonl"
        "$PY" -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["id"])' <"$T/$b.jsonl" >"$T/$b.ids"
done
# D also carries malformed records: dead letters must come back exactly once too.
# (payload_schema ones left out: this test registers no payload schema.)
"$PY" "$GEN" malformed --seed 7 --scale 0.05 --out "$T/bad.hex" --expect "$T/bad.tsv"
grep -v $'\tpayload_schema$' "$T/bad.tsv" >"$T/D.tsv"
cut -f1 "$T/D.tsv" >"$T/D.hex"
N_BAD=$(wc -l <"$T/D.hex")
[ "$(sort -u "$T"/[ABCD].ids | wc -l)" = $((4 * N)) ] || fail "the four batches share ids"

publish() { # publish BATCH: its events, then wait until all are in workflow_events
        "$SLUICECTL" publish --count-only "$T/$1.jsonl" >"$T/pub-$1.log" 2>&1 ||
                fail "publish $1: $(tail -n 3 "$T/pub-$1.log")"
        written "$1"
}
written() { # written BATCH: wait until all its events are in workflow_events
        local b=$1 ids
        ids=$(sed "s/.*/'&'/" "$T/$b.ids" | paste -sd,)
        wait_until "[ \$(psql_val \"select count(*) from workflow_events where id in ($ids)\") = $N ]" 30 ||
                fail "batch $b not written: $(psql_val "select count(*) from workflow_events where id in ($ids)") of $N"
        log "batch $b: $N events in workflow_events"
}

# check_ids FILE...: workflow_events holds exactly the ids of FILEs, each once.
check_ids() {
        local what=$1 out
        shift
        cat "$@" >"$T/expect.ids"
        out=$(psql_run <<SQL
create temp table exp_ids (id text primary key);
\copy exp_ids from '$T/expect.ids'
select count(*) || ' rows, ' || count(distinct id) || ' distinct, '
       || (select count(*) from exp_ids e where not exists
             (select 1 from workflow_events w where w.id::text = e.id)) || ' missing, '
       || count(*) filter (where not exists (select 1 from exp_ids e where e.id = w.id::text))
       || ' unexpected'
  from workflow_events w;
SQL
)
        assert_eq "$what" "$(cat "$@" | wc -l) rows, $(cat "$@" | wc -l) distinct, 0 missing, 0 unexpected" "$out"
}

start_ingress "${SESSION[@]}"
publish A
br backup --type=full >"$T/br-full.log" 2>&1 || fail "full backup: $(tail -n 5 "$T/br-full.log")"
log "full backup done"
publish B
br backup --type=incr >"$T/br-incr.log" 2>&1 || fail "incremental backup: $(tail -n 5 "$T/br-incr.log")"
log "incremental backup done"
publish C
# Where events.in ends at T, per partition (HIGH): the restored database must end
# exactly there.
"$SLUICECTL" ingress rewind --from-db --margin 0 --dry-run >"$T/plan-at-T.tsv" 2>"$T/plan-at-T.err" ||
        fail "rewind --dry-run: $(cat "$T/plan-at-T.err")"
psql_val "select pg_switch_wal()" >/dev/null
TARGET=$(psql_val "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
log "recovery target T = $TARGET"
sleep 0.2 # D's commits are later than T by more than the clocks' resolution
publish D
"$SLUICECTL" publish --raw "$T/D.hex" >"$T/pub-D-raw.log" 2>&1 || fail "publish D malformed"
wait_until "[ \$(psql_val 'select count(*) from dead_letters') = $N_BAD ]" 30 ||
        fail "D's dead letters: $(psql_val 'select count(*) from dead_letters') of $N_BAD"
check_ids "before the disaster: A+B+C+D" "$T"/[ABCD].ids
# Recovery needs WAL past T in the archive: a segment switch, then wait for it.
br check >>"$T/br-check.log" 2>&1 || fail "pgbackrest check after D: $(tail -n 5 "$T/br-check.log")"

# --- the disaster and the restore --------------------------------------------------------
stop_pid "$INGRESS_PID" || fail "sluice-ingress did not exit 0 on SIGTERM"
pg_sh stop >>"$T/pg-start.log" 2>&1 || fail "Postgres did not stop"
rm -rf "$T/pg/data"
log "Postgres stopped, data directory destroyed"
t0=$(date +%s%N)
br restore --type=time "--target=$TARGET" --target-action=promote >"$T/br-restore.log" 2>&1 ||
        fail "restore: $(tail -n 5 "$T/br-restore.log")"
pg_sh start >>"$T/pg-start.log" 2>&1 || fail "Postgres did not start after the restore"
wait_until "[ \"\$(psql_val 'select pg_is_in_recovery()')\" = f ]" 30 ||
        fail "Postgres still in recovery: $(tail -n 5 "$T/pg/postgres.log")"
log "restored to T and promoted in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

check_ids "after the restore: A+B+C exactly" "$T"/[ABC].ids
assert_eq "D's dead letters after the restore" 0 "$(psql_val 'select count(*) from dead_letters')"

# The group is past the database (ingress would skip D); the database ends where
# events.in ended at T.
"$SLUICECTL" ingress rewind --from-db --margin 0 --dry-run >"$T/plan.tsv" 2>"$T/plan.err" ||
        fail "rewind --dry-run after the restore: $(cat "$T/plan.err")"
awk -F'\t' 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1, $5 }' "$T/plan-at-T.tsv" >"$T/high-at-T"
awk -F'\t' 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1, $7 }' "$T/plan.tsv" >"$T/to"
[ -s "$T/to" ] || fail "no plan: $(cat "$T/plan.tsv")"
assert_eq "rewind targets (margin 0) = end of events.in at T" "$(cat "$T/high-at-T")" "$(cat "$T/to")"
behind=$(awk -F'\t' 'NR > 1 && $6 == "move" && $2 != "-" && $2 > $7' "$T/plan.tsv" | wc -l)
[ "$behind" -gt 0 ] || fail "no partition's committed offset is past the database: $(cat "$T/plan.tsv")"
log "ok: $behind partitions committed past the restored database"

"$SLUICECTL" "${SESSION[@]}" ingress rewind --from-db >"$T/rewind.out" 2>"$T/rewind.err" ||
        fail "rewind: $(cat "$T/rewind.err")"
grep -q "partitions of .* rewound" "$T/rewind.out" || fail "rewind: $(cat "$T/rewind.out")"
"$SLUICECTL" ingress rewind --from-db --dry-run >"$T/rewind-again.out" 2>&1 ||
        fail "rewind again: $(cat "$T/rewind-again.out")"
grep -qP '\tmove\t' "$T/rewind-again.out" && fail "a second rewind still moves: $(cat "$T/rewind-again.out")"
log "ok: group rewound; a second run keeps every partition"

# --- sluice resumes ---------------------------------------------------------------------
start_ingress "${SESSION[@]}"
written D
wait_until "[ \$(psql_val 'select count(*) from dead_letters') -ge $N_BAD ]" 30 ||
        fail "D's dead letters after the rewind: $(psql_val 'select count(*) from dead_letters') of $N_BAD"
ingress_sentinel resumed # everything re-read has landed: a duplicate would be here now
check_ids "after the rewind: A+B+C+D exactly once" "$T"/[ABCD].ids
assert_eq "D's dead letters, byte for byte, once" "$N_BAD $N_BAD" "$(psql_run <<SQL
create temp table exp_dl (raw_hex text primary key, reason text);
\copy exp_dl from '$T/D.tsv'
select (select count(*) from dead_letters) || ' ' ||
       (select count(*) from exp_dl e join dead_letters d
          on d.raw = decode(e.raw_hex, 'hex') and d.reason = e.reason);
SQL
)"
stop_pid "$INGRESS_PID" || fail "sluice-ingress did not exit 0 on SIGTERM"
log "PASS"
