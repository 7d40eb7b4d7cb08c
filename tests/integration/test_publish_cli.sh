#!/usr/bin/env bash
# The three publisher paths against a private devbroker, read back with `sluicectl tail`:
#   - 200 JSON lines through `sluicectl publish` (ids echoed on stdout),
#   - 50 events from examples/python/publish.py (python3-avro + confluent-kafka),
#   - 25 events from examples/c/publish.c (the C SDK, built as example-publish),
#   - 1 raw record through `sluicectl publish --raw` (KEY<TAB>HEX).
# Every id appears exactly once on sluice.events.in, decoded by the C codec; every record
# sits on the partition Java's murmur2 gives its key (checked by an independent Python
# murmur2), so all events of a source share one partition.  Bad input: a bad line is
# named by number and reason, the rest is still published, exit 1.
. "$(dirname "$0")/lib.sh"

PYEX=$SRC/examples/python/publish.py
[ -x "$BUILD/example-publish" ] || fail "$BUILD/example-publish not built"
start_devbroker

# --- sluicectl publish: 200 JSON lines ---------------------------------------------------
"$PY" "$SRC/tests/integration/gen_events.py" valid 200 --seed 21 --sources 17 >"$T/ctl.jsonl"
"$SLUICECTL" publish "$T/ctl.jsonl" >"$T/ctl.ids" 2>"$T/ctl.log" || fail "publish: $(tail -n 3 "$T/ctl.log")"
grep -q '^published 200 events (0 failed)$' "$T/ctl.log" || fail "summary: $(tail -n 1 "$T/ctl.log")"
"$PY" -c 'import json,sys
for l in sys.stdin: print(json.loads(l)["id"])' <"$T/ctl.jsonl" >"$T/ctl.want"
cmp -s "$T/ctl.want" "$T/ctl.ids" || fail "printed ids differ from the ids in the file"
log "ok: sluicectl publish 200 events, ids echoed"

# --- the Python example: 50 ---------------------------------------------------------------
"$PY" "$PYEX" --bootstrap "$SLUICE_KAFKA_BOOTSTRAP_SERVERS" --count 50 --source py-src \
        --type py.example --id-prefix "$TEST_NAME-" --ids-file "$T/py.ids" >"$T/py.log" 2>&1 ||
        fail "publish.py: $(tail -n 3 "$T/py.log")"
assert_eq "python ids" 50 "$(sort -u "$T/py.ids" | wc -l)"

# --- the C example: 25 ----------------------------------------------------------------------
"$BUILD/example-publish" -n 25 -s c-src -t c.example >"$T/c.ids" 2>"$T/c.log" ||
        fail "example-publish: $(tail -n 3 "$T/c.log")"
assert_eq "C example ids" 25 "$(sort -u "$T/c.ids" | wc -l)"

# --- raw: KEY<TAB>HEX -------------------------------------------------------------------------
printf 'raw-key\t%s\n' "$(printf 'not an envelope' | od -An -tx1 | tr -d ' \n')" |
        "$SLUICECTL" publish --raw >"$T/raw.log" 2>&1 || fail "publish --raw: $(cat "$T/raw.log")"

# --- bad input: named, skipped, exit 1 ----------------------------------------------------------
printf '%s\n' '{"type":"t","source":"s","payload":{"a":1},"id":"bad-1-2-3"}' 'not json' \
        '{"type":"t","source":"bad-src","payload":[1]}' '{"type":"ok.one","source":"s-ok","payload":{}}' \
        >"$T/bad.jsonl"
if "$SLUICECTL" publish --count-only "$T/bad.jsonl" >"$T/bad.out" 2>"$T/bad.log"; then
        fail "publish with bad lines exited 0"
fi
grep -q '^sluicectl publish: line 1: .*UUID' "$T/bad.log" || fail "line 1 not reported: $(cat "$T/bad.log")"
grep -q '^sluicectl publish: line 2: ' "$T/bad.log" || fail "line 2 not reported: $(cat "$T/bad.log")"
grep -q '^sluicectl publish: line 3: payload_not_object' "$T/bad.log" || fail "line 3 not reported: $(cat "$T/bad.log")"
grep -q '^published 1 events (0 failed)' "$T/bad.log" || fail "good line not published: $(cat "$T/bad.log")"
[ ! -s "$T/bad.out" ] || fail "--count-only printed ids"
log "ok: bad lines named by number and reason, the good one published, exit 1"

# --- read everything back ----------------------------------------------------------------------------
TOTAL=$((200 + 50 + 25 + 1 + 1))
"$SLUICECTL" tail events.in --from-beginning --max $TOTAL --timeout-ms 10000 >"$T/tail.jsonl" 2>"$T/tail.log" ||
        fail "tail: $(tail -n 3 "$T/tail.log")"
cat "$T/ctl.ids" "$T/py.ids" "$T/c.ids" >"$T/all.ids"
"$PY" - "$T/tail.jsonl" "$T/all.ids" "$T/ctl.jsonl" >"$T/check.out" <<'PY' || fail "$(cat "$T/check.out")"
import collections, json, sys

def murmur2(data):  # Kafka's Utils.murmur2, written independently of the C code
    m, r, h = 0x5BD1E995, 24, (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    n4 = len(data) // 4
    for i in range(n4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF; k ^= k >> r; k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF; h ^= k
    rest = data[4 * n4:]
    if len(rest) >= 3: h ^= rest[2] << 16
    if len(rest) >= 2: h ^= rest[1] << 8
    if len(rest) >= 1:
        h ^= rest[0]; h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13; h = (h * m) & 0xFFFFFFFF; h ^= h >> 15
    return h

recs = [json.loads(l) for l in open(sys.argv[1])]
want = [l.strip() for l in open(sys.argv[2]) if l.strip()]
sent = {}
for l in open(sys.argv[3]):
    e = json.loads(l); sent[e["id"]] = e
errors = []
ids = collections.Counter(r["id"] for r in recs if "id" in r)
for i in want:
    if ids[i] != 1:
        errors.append("id %s seen %d times" % (i, ids[i]))
raw = [r for r in recs if "_raw_hex" in r]
if len(raw) != 1 or raw[0]["_key"] != "raw-key" or bytes.fromhex(raw[0]["_raw_hex"]) != b"not an envelope" \
        or not raw[0]["_error"].startswith("framing"):
    errors.append("raw record wrong: %r" % raw)
parts_of = collections.defaultdict(set)
for r in recs:
    if "id" not in r:
        continue
    p = (murmur2(r["source"].encode()) & 0x7FFFFFFF) % 6
    if r["_partition"] != p or r["_key"] != r["source"]:
        errors.append("%s (source %s) on partition %d, murmur2 says %d" % (r["id"], r["source"], r["_partition"], p))
    parts_of[r["source"]].add(r["_partition"])
    e = sent.get(r["id"])
    if e:  # what sluicectl published decodes to what the line said
        if (e["type"], e["source"], e["occurred_at"], e.get("correlation_id"), e.get("metadata", {})) != \
           (r["type"], r["source"], r["occurred_at"], r["correlation_id"], r["metadata"]) or e["payload"] != r["payload"]:
            errors.append("%s decoded differently: %r" % (r["id"], r))
        if e.get("correlation_id") and r["_headers"].get("correlation_id") != e["correlation_id"]:
            errors.append("%s: correlation_id header missing" % r["id"])
split = [s for s, ps in parts_of.items() if len(ps) != 1]
if split:
    errors.append("sources on several partitions: %s" % split)
print("\n".join(errors[:20]) if errors else "records=%d sources=%d ok" % (len(recs), len(parts_of)))
sys.exit(1 if errors else 0)
PY
log "ok: $(cat "$T/check.out")"
# Nothing beyond the expected records.
if "$SLUICECTL" tail events.in --from-beginning --max $((TOTAL + 1)) --timeout-ms 1500 >/dev/null 2>&1; then
        fail "more than $TOTAL records on events.in"
fi
log "PASS"
