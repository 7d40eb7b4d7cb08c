#!/usr/bin/env bash
# sluice-devbroker: starts, prints its bootstrap line, writes the bootstrap file only
# when every catalogue topic exists (`sluicectl topics ensure` then passes without being
# able to create anything), honours topic.prefix / topic.partitions / devbroker.brokers,
# carries a load through, and on SIGTERM exits 0 and removes its file.
. "$(dirname "$0")/lib.sh"

# --- the default catalogue ------------------------------------------------------------
start_devbroker
bf=$SLUICE_DEVBROKER_BOOTSTRAP_FILE
line=$(grep -m1 '^bootstrap.servers=' "$T/devbroker.log") || fail "no bootstrap.servers= line on stdout"
assert_eq "stdout line matches the bootstrap file" "$line" "bootstrap.servers=$(head -n 1 "$bf")"
assert_eq "brokers in the list" 3 "$(head -n 1 "$bf" | tr ',' '\n' | grep -c ':')"
grep -q '"level":"info","component":"devbroker"' "$T/devbroker.log" || fail "devbroker does not log JSON lines"

"$SLUICECTL" topics ensure >"$T/ensure.out" 2>"$T/ensure.err" ||
        fail "topics ensure: $(cat "$T/ensure.out" "$T/ensure.err")"
for t in sluice.events.in sluice.events.accepted sluice.events.dlq; do
        grep -Eq "^$t +6 partitions" "$T/ensure.out" || fail "ensure did not report $t: $(cat "$T/ensure.out")"
done
n_topics=$(grep -c ' partitions' "$T/ensure.out")
log "ok: topics ensure exits 0 and lists all $n_topics catalogue topics (events.* with 6 partitions)"
"$SLUICECTL" topics list >"$T/list.out" 2>&1 || fail "topics list: $(cat "$T/list.out")"
assert_eq "topics list lines" "$n_topics" "$(grep -c ' partitions' "$T/list.out")"

# More partitions than exist: ensure cannot create them here and must say so (exit 1).
if "$SLUICECTL" -X topic.partitions=12 topics ensure >"$T/ensure12.out" 2>&1; then
        fail "ensure with 12 partitions passed against 6-partition topics"
fi
grep -q '6 partitions, not the 12 configured' "$T/ensure12.out" || fail "no clear message: $(cat "$T/ensure12.out")"
log "ok: too few partitions is reported"

# A load through the broker: 20,000 events in, all 20,000 read back.
"$PY" "$SRC/tests/integration/gen_events.py" valid 20000 --seed 3 --sources 100 >"$T/load.jsonl"
"$SLUICECTL" publish --count-only "$T/load.jsonl" 2>"$T/load-pub.log" || fail "publish: $(tail -n 3 "$T/load-pub.log")"
grep -q 'published 20000 events (0 failed)' "$T/load-pub.log" || fail "$(tail -n 1 "$T/load-pub.log")"
"$SLUICECTL" tail events.in --from-beginning --max 20000 --timeout-ms 10000 >"$T/load.out" 2>"$T/load-tail.log" ||
        fail "tail: $(tail -n 3 "$T/load-tail.log")"
assert_eq "records read back" 20000 "$(cut -d, -f1 "$T/load.out" | sort -u | wc -l)"

stop_pid "$DEVBROKER_PID" || fail "devbroker did not exit 0 on SIGTERM"
[ ! -e "$bf" ] || fail "bootstrap file $bf left behind"
log "ok: SIGTERM -> exit 0, bootstrap file removed"

# --- its own prefix, partitions and broker count ----------------------------------------
unset SLUICE_KAFKA_BOOTSTRAP_SERVERS # from start_devbroker: the file must be used now
bf2=$T/sub/dir/bootstrap2.txt
"$BUILD/sluice-devbroker" -X devbroker.bootstrap.file="$bf2" -X topic.prefix=t2. \
        -X topic.partitions=3 -X devbroker.brokers=1 >"$T/devbroker2.log" 2>&1 &
pid2=$!
track_pid $pid2
wait_until "[ -s '$bf2' ]" 20 || fail "second devbroker did not write $bf2"
assert_eq "single broker" 1 "$(head -n 1 "$bf2" | tr ',' '\n' | grep -c ':')"
"$SLUICECTL" -X devbroker.bootstrap.file="$bf2" -X topic.prefix=t2. -X topic.partitions=3 \
        topics ensure >"$T/ensure2.out" 2>&1 || fail "ensure (t2.): $(cat "$T/ensure2.out")"
grep -Eq '^t2.events.dlq +3 partitions' "$T/ensure2.out" || fail "t2.events.dlq: $(cat "$T/ensure2.out")"
if "$SLUICECTL" -X devbroker.bootstrap.file="$bf2" topics list >"$T/list2.out" 2>&1; then
        fail "topics list found sluice.* topics on a t2. broker"
fi
grep -q 'sluice.events.in .*missing' "$T/list2.out" || fail "missing topics not reported: $(cat "$T/list2.out")"
kill -INT $pid2
wait $pid2 || fail "devbroker did not exit 0 on SIGINT"
untrack_pid $pid2
[ ! -e "$bf2" ] || fail "bootstrap file $bf2 left behind"
log "ok: prefix/partitions/brokers honoured; SIGINT -> exit 0, file removed"

# --- bad flags are refused -------------------------------------------------------------
if "$BUILD/sluice-devbroker" -X devbroker.brokers=0 >"$T/bad.log" 2>&1; then
        fail "devbroker.brokers=0 accepted"
fi
grep -q 'devbroker.brokers' "$T/bad.log" || fail "error does not name the key: $(cat "$T/bad.log")"
"$BUILD/sluice-devbroker" --help | grep -q 'no compaction' || fail "--help does not state the limits"
log "PASS"
