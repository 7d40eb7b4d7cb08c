#!/usr/bin/env bash
# test_kafka_topics: `sluicectl topics ensure` on Apache Kafka itself (fidelity tier;
# always the real broker, whatever SLUICE_TEST_BROKER says).
#   1. ensure on an empty cluster creates every catalogue topic ("created" per topic);
#   2. describe-configs (the Admin API, through confluent-kafka) shows
#      cleanup.policy=compact on every changelog and delete on every other topic, and
#      each topic has the configured partition count;
#   3. ensure again exits 0, creates nothing, and leaves partitions and configs as they
#      were (the describe dumps are byte-for-byte equal);
#   4. under another topic.prefix, a topic made beforehand with the wrong partition
#      count and a changelog made without compaction are reported by name, and ensure
#      exits 1 (nothing is silently used).
SLUICE_TEST_BROKER=kafka
. "$(dirname "$0")/lib.sh"

describe() { # describe PREFIX -> "name partitions cleanup.policy" per topic, sorted
        "$PY" - "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" "$1" <<'PYEOF'
import sys
from confluent_kafka.admin import AdminClient, ConfigResource
a = AdminClient({"bootstrap.servers": sys.argv[1]})
md = a.list_topics(timeout=10)
names = sorted(t for t in md.topics if t.startswith(sys.argv[2]))
res = a.describe_configs([ConfigResource("topic", n) for n in names])
for r, f in sorted(res.items(), key=lambda kv: kv[0].name):
    cfg = f.result()
    print(r.name, len(md.topics[r.name].partitions), cfg["cleanup.policy"].value)
PYEOF
}

start_devbroker # Apache Kafka; lib.sh ran `sluicectl topics ensure` once
n_topics=$("$SLUICECTL" topics list | wc -l)
[ "$n_topics" -ge 8 ] || fail "topics list shows $n_topics topics"
assert_eq "topics created by the first ensure" "$n_topics" \
        "$(grep -c '^created ' "$T/topics-ensure.log")"

describe sluice. >"$T/describe1.txt"
assert_eq "topics described" "$n_topics" "$(wc -l <"$T/describe1.txt")"
assert_eq "changelogs not compacted" "" \
        "$(awk '$1 ~ /-changelog$/ && $3 != "compact"' "$T/describe1.txt")"
assert_eq "other topics not on delete" "" \
        "$(awk '$1 !~ /-changelog$/ && $3 != "delete"' "$T/describe1.txt")"
assert_eq "topics without 6 partitions" "" "$(awk '$2 != 6' "$T/describe1.txt")"
grep -q -- '-changelog 6 compact$' "$T/describe1.txt" || fail "no changelog in: $(cat "$T/describe1.txt")"

"$SLUICECTL" topics ensure >"$T/ensure2.log" 2>&1 || fail "second ensure: $(cat "$T/ensure2.log")"
assert_eq "topics created by the second ensure" 0 "$(grep -c '^created ' "$T/ensure2.log" || true)"
describe sluice. >"$T/describe2.txt"
cmp -s "$T/describe1.txt" "$T/describe2.txt" ||
        fail "the second ensure changed something: $(diff "$T/describe1.txt" "$T/describe2.txt")"
log "ok: the second ensure changed nothing"

# Wrong partition count and a changelog without compaction, made beforehand.
"$PY" - "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" <<'PYEOF' || fail "could not pre-create the wrong topics"
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
fs = a.create_topics([NewTopic("w.events.dlq", 2, 1),
                      NewTopic("w.ingress.admission-changelog", 6, 1)])
for f in fs.values():
    f.result()
PYEOF
if "$SLUICECTL" -X topic.prefix=w. topics ensure >"$T/ensure-w.log" 2>&1; then
        fail "ensure accepted a wrong topic: $(cat "$T/ensure-w.log")"
fi
grep -q 'w.events.dlq .*2 partitions, not the 6 configured' "$T/ensure-w.log" ||
        fail "wrong partition count not reported: $(cat "$T/ensure-w.log")"
grep -q 'w.ingress.admission-changelog .*cleanup.policy=delete, not compact' "$T/ensure-w.log" ||
        fail "uncompacted changelog not reported: $(cat "$T/ensure-w.log")"
log "ok: wrong partition count and missing compaction reported, exit 1"
log "PASS"
