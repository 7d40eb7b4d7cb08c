"""The workflow topics from outside sluice's C code, for sluice-runner's integration
test (test_runner.sh): WorkflowLaunch records produced and WorkflowResult records read
back with an Avro binary codec of their own, written from schemas/workflow_launch.avsc
and workflow_result.avsc (so the runner's records are checked against the schemas, not
against the C codec that made them), over confluent_kafka with Kafka's murmur2
partitioner.

    python3 workflow_io.py gen PHASE N TRIGGERS... [--seed S]
        N launches as JSON lines: launch_id = UUIDv5(trigger id, event id) as sluice
        names them, triggers taken in turn, params a small JSON object; "phase" PHASE
    python3 workflow_io.py produce FILE
        produce each JSON line of FILE to <prefix>workflow.launches, key = its
        trigger_id (a line {"raw_hex", "key"} is produced as those bytes); prints
        "produced N"
    python3 workflow_io.py dump TOPIC
        every record of TOPIC (a full name) from the beginning to the current end, as
        JSON lines {"partition", "offset", "key", "value"}: value decoded as the
        topic's record type, or {"_undecodable": hex}
    python3 workflow_io.py fails LAUNCH_ID RATE
        prints 1 when sluice-runner answers LAUNCH_ID "failed" at RATE, else 0

Bootstrap from SLUICE_KAFKA_BOOTSTRAP_SERVERS (lib.sh exports it), topic prefix
"sluice.".
"""
import argparse
import io
import json
import os
import random
import sys
import time
import uuid

PREFIX = "sluice."
LAUNCH_FIELDS = [("launch_id", "str"), ("trigger_id", "str"), ("trigger_name", "str"),
                 ("workflow", "str"), ("params", "str"), ("event_id", "str"),
                 ("correlation_id", "opt"), ("traceparent", "opt"),
                 ("accepted_at", "long"), ("launched_at", "long")]
RESULT_FIELDS = [("launch_id", "str"), ("trigger_id", "str"), ("status", "str"),
                 ("error", "opt"), ("finished_at", "long")]
MASK = 0xFFFFFFFFFFFFFFFF


def put_long(out, v):
    v = (v << 1) ^ (v >> 63)  # zigzag
    while v & ~0x7F:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def put_str(out, s):
    b = s.encode()
    put_long(out, len(b))
    out.extend(b)


def encode(fields, rec):
    out = bytearray()
    for name, kind in fields:
        v = rec.get(name)
        if kind == "long":
            put_long(out, v)
        elif kind == "str":
            put_str(out, v)
        elif v is None:
            put_long(out, 0)  # union branch 0: null
        else:
            put_long(out, 1)
            put_str(out, v)
    return bytes(out)


def get_long(f):
    shift = v = 0
    while True:
        b = f.read(1)
        if not b:
            raise ValueError("truncated long")
        v |= (b[0] & 0x7F) << shift
        shift += 7
        if not b[0] & 0x80:
            return (v >> 1) ^ -(v & 1)


def get_str(f):
    n = get_long(f)
    b = f.read(n)
    if n < 0 or len(b) != n:
        raise ValueError("truncated string")
    return b.decode()


def decode(fields, data):
    f = io.BytesIO(data)
    rec = {}
    for name, kind in fields:
        if kind == "long":
            rec[name] = get_long(f)
        elif kind == "str":
            rec[name] = get_str(f)
        else:
            branch = get_long(f)
            if branch not in (0, 1):
                raise ValueError("bad union branch %d" % branch)
            rec[name] = get_str(f) if branch else None
    if f.read(1):
        raise ValueError("trailing bytes")
    return rec


def fails(launch_id, rate):
    """sluice-runner's rule (tools/runner/options.h): fmix64(FNV-1a 64) -> [0, 1)."""
    h = 0xCBF29CE484222325
    for b in launch_id.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK
    h ^= h >> 33
    return (h >> 11) / 2.0**53 < rate


def gen(args):
    rnd = random.Random(args.seed)
    now = int(time.time() * 1000)
    for i in range(args.n):
        trigger = args.triggers[i % len(args.triggers)]
        event = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        params = {"phase": args.phase, "n": i, "items": [rnd.randrange(100), "x"],
                  "nested": {"ok": i % 2 == 0, "none": None, "text": "é \"q\""}}
        print(json.dumps({
            "phase": args.phase,
            "launch_id": str(uuid.uuid5(uuid.UUID(trigger), event)),
            "trigger_id": trigger,
            "trigger_name": "trigger-" + trigger[:8],
            "workflow": "wf.%s.%d" % (args.phase, i % 3),
            "params": json.dumps(params, separators=(",", ":")),
            "event_id": event,
            "correlation_id": None if i % 3 == 0 else "corr-%s-%d" % (args.phase, i),
            "traceparent": None if i % 2 else "00-%032x-%016x-01" % (
                rnd.getrandbits(128), rnd.getrandbits(64)),
            "accepted_at": now - 20,
            "launched_at": now,
        }, separators=(",", ":")))


def produce(args):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": os.environ["SLUICE_KAFKA_BOOTSTRAP_SERVERS"],
                  "partitioner": "murmur2_random", "enable.idempotence": True})
    errors = []

    def report(err, msg):
        if err:
            errors.append(str(err))

    n = 0
    for line in open(args.file):
        if not line.strip():
            continue
        rec = json.loads(line)
        if "raw_hex" in rec:
            key, value = rec["key"], bytes.fromhex(rec["raw_hex"])
        else:
            key, value = rec["trigger_id"], encode(LAUNCH_FIELDS, rec)
        p.produce(PREFIX + "workflow.launches", key=key.encode(), value=value,
                  on_delivery=report)
        n += 1
    if p.flush(30) or errors:
        sys.exit("not delivered: %s" % (errors[:3] or "flush timed out"))
    print("produced %d" % n)


def dump(args):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
    c = Consumer({"bootstrap.servers": os.environ["SLUICE_KAFKA_BOOTSTRAP_SERVERS"],
                  "group.id": "workflow-io-dump", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    md = c.list_topics(args.topic, timeout=10).topics[args.topic]
    if md.error:
        sys.exit("%s: %s" % (args.topic, md.error))
    parts = sorted(md.partitions)
    c.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in parts])
    fields = RESULT_FIELDS if args.topic.endswith("workflow.results") else LAUNCH_FIELDS
    at_end, deadline = set(), time.time() + 20
    while len(at_end) < len(parts):
        if time.time() > deadline:
            sys.exit("dump %s: no end of partitions %s within 20 s"
                     % (args.topic, sorted(set(parts) - at_end)))
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                at_end.add(m.partition())
                continue
            sys.exit("dump %s: %s" % (args.topic, m.error()))
        try:
            value = decode(fields, m.value())
        except (ValueError, UnicodeDecodeError):
            value = {"_undecodable": m.value().hex()}
        print(json.dumps({"partition": m.partition(), "offset": m.offset(),
                          "key": m.key().decode() if m.key() is not None else None,
                          "value": value}, separators=(",", ":")))
    c.close()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("phase")
    g.add_argument("n", type=int)
    g.add_argument("triggers", nargs="+")
    g.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("produce")
    p.add_argument("file")
    d = sub.add_parser("dump")
    d.add_argument("topic")
    f = sub.add_parser("fails")
    f.add_argument("launch_id")
    f.add_argument("rate", type=float)
    args = ap.parse_args()
    if args.cmd == "gen":
        gen(args)
    elif args.cmd == "produce":
        produce(args)
    elif args.cmd == "dump":
        dump(args)
    else:
        print(1 if fails(args.launch_id, args.rate) else 0)


if __name__ == "__main__":
    main()
