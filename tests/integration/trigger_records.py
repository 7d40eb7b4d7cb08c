"""The trigger stage's records for the integration tests, written from the Avro
schemas (schemas/trigger_match.avsc, workflow_launch.avsc, workflow_result.avsc)
independently of the C codec, plus the launch id (uuid5 of trigger id and event id).

    python3 trigger_records.py feed BOOTSTRAP TOPIC [RATE] < matches.jsonl
        produce one TriggerMatch per JSON line (its fields), keyed by trigger_id, with
        librdkafka's murmur2_random partitioner (Java's); RATE: at most that many a
        second (each sent at once, accepted_at/matched_at set to the send time)
    python3 trigger_records.py dump BOOTSTRAP TOPIC KIND N TIMEOUT_S
        read N records of KIND (match, launch, result) from the beginning of TOPIC,
        print one JSON line each (+ key, partition, offset); exits 1 on timeout.
        N "all": every record up to the partitions' high watermarks at the start
    python3 trigger_records.py answer BOOTSTRAP LAUNCHES RESULTS STATUS < ids
        produce one WorkflowResult (STATUS) per "launch_id trigger_id" line
"""
import json
import sys
import time
import uuid

MATCH = [("trigger_id", "s"), ("trigger_name", "s"), ("event_id", "s"),
         ("event_type", "s"), ("source", "s"), ("correlation_id", "o"),
         ("traceparent", "o"), ("workflow", "s"), ("params", "s"),
         ("occurred_at", "l"), ("accepted_at", "l"), ("matched_at", "l")]
LAUNCH = [("launch_id", "s"), ("trigger_id", "s"), ("trigger_name", "s"),
          ("workflow", "s"), ("params", "s"), ("event_id", "s"),
          ("correlation_id", "o"), ("traceparent", "o"), ("accepted_at", "l"),
          ("launched_at", "l")]
RESULT = [("launch_id", "s"), ("trigger_id", "s"), ("status", "s"), ("error", "o"),
          ("finished_at", "l")]
KINDS = {"match": MATCH, "launch": LAUNCH, "result": RESULT}


def launch_id(trigger_id, event_id):
    return str(uuid.uuid5(uuid.UUID(trigger_id), event_id.lower()))


def zigzag(v):
    z = (v << 1) ^ (v >> 63)
    z &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def encode(fields, rec):
    out = bytearray()
    for name, kind in fields:
        v = rec.get(name)
        if kind == "l":
            out += zigzag(int(v))
            continue
        if kind == "o":
            if v is None:
                out += zigzag(0)
                continue
            out += zigzag(1)
        b = v.encode()
        out += zigzag(len(b)) + b
    return bytes(out)


def decode(fields, buf):
    rec, off = {}, 0

    def long_():
        nonlocal off
        z, shift = 0, 0
        while True:
            b = buf[off]
            off += 1
            z |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return (z >> 1) ^ -(z & 1)

    for name, kind in fields:
        if kind == "l":
            rec[name] = long_()
            continue
        if kind == "o" and long_() == 0:
            rec[name] = None
            continue
        n = long_()
        rec[name] = bytes(buf[off:off + n]).decode()
        off += n
    if off != len(buf):
        raise ValueError("trailing bytes")
    return rec


def producer(bootstrap):
    from confluent_kafka import Producer
    return Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                     "enable.idempotence": True, "linger.ms": 5})


def feed(bootstrap, topic, rate=0.0):
    p = producer(bootstrap)
    n = 0
    t0 = time.time()
    for line in sys.stdin:
        if not line.strip():
            continue
        rec = json.loads(line)
        if rate:
            wait = t0 + n / rate - time.time()
            if wait > 0:
                time.sleep(wait)
            rec["accepted_at"] = rec["matched_at"] = int(time.time() * 1000)
            p.poll(0)
        p.produce(topic, key=rec["trigger_id"].encode(), value=encode(MATCH, rec))
        n += 1
        if n % 1000 == 0:
            p.poll(0)
    if p.flush(30):
        sys.exit("feed: not every record was delivered")
    print(n)


def dump(bootstrap, topic, kind, n, timeout):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "dump-%d" % time.time_ns(),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    if n == "all":  # every record between the watermarks as they are now
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        marks = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in parts]
        n = sum(hi - lo for lo, hi in marks)
        c.assign([TopicPartition(topic, p, lo) for p, (lo, _) in zip(parts, marks)])
    else:
        n = int(n)
        c.subscribe([topic])
    got, end = 0, time.time() + timeout
    while got < n and time.time() < end:
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        rec = decode(KINDS[kind], m.value())
        rec["_key"] = m.key().decode() if m.key() else None
        rec["_partition"] = m.partition()
        rec["_offset"] = m.offset()
        rec["_headers"] = {k: v.decode() for k, v in (m.headers() or [])}
        print(json.dumps(rec))
        got += 1
    c.close()
    sys.exit(0 if got >= n else 1)


def answer(bootstrap, results, status):
    p = producer(bootstrap)
    for line in sys.stdin:
        lid, tid = line.split()
        p.produce(results, key=tid.encode(),
                  value=encode(RESULT, {"launch_id": lid, "trigger_id": tid,
                                        "status": status,
                                        "error": None if status == "succeeded" else "boom",
                                        "finished_at": int(time.time() * 1000)}))
    p.flush(30)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "feed":
        feed(sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 0.0)
    elif cmd == "dump":
        dump(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]))
    elif cmd == "answer":
        answer(sys.argv[2], sys.argv[4], sys.argv[5])
    else:
        sys.exit("unknown command " + cmd)
