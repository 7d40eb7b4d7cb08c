#!/usr/bin/python3
"""Event generator for the integration tests.

Writes valid envelopes as JSON lines (for `sluicectl publish`, the Python example and
the C SDK path) and malformed ones as raw Kafka values, Avro single-object encoded by
hand here (independent of sluice's own codec), one per line as hex, together with the
reason code sluice-ingress must give each.

  gen_events.py valid N --seed S [--sources K] [--type-mix] > events.jsonl
  gen_events.py malformed --seed S --out raw.hex --expect expect.tsv [--scale F]
  gen_events.py produce-raw raw.hex --bootstrap HOST:PORT [--topic sluice.events.in]
  gen_events.py encode < events.jsonl > raw.hex      (JSON lines -> hex values, unchecked)
  gen_events.py fingerprint                          (hex CRC-64-AVRO of the envelope)

Malformed kinds (reason codes of src/envelope/envelope.h): framing, unknown_schema,
decode, bad_id, empty_type, empty_source, bad_text, bad_occurred_at, ttl_expired,
bad_ttl, payload_not_json, payload_not_object, payload_schema (type "order.created"
with a payload that breaks ORDER_SCHEMA, which the test registers).
Every record is unique, so a test can match dead_letters.raw byte for byte.
"""
import argparse
import datetime
import json
import os
import random
import struct
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SLUICE_SOURCE_DIR", os.path.normpath(os.path.join(HERE, "..", "..")))

# The payload schema the tests register for "order.created".
ORDER_SCHEMA = {
    "type": "record", "name": "OrderCreated", "namespace": "io.sluice.test",
    "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "amount", "type": "long"},
        {"name": "currency", "type": "string", "default": "EUR"},
    ],
}

# ---- Avro single-object encoding, by hand -------------------------------------------

_CRC_EMPTY = 0xC15D213AA4D7A795
_CRC_TABLE = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_CRC_EMPTY & -(_fp & 1))
    _CRC_TABLE.append(_fp)


def crc64_avro(data):
    fp = _CRC_EMPTY
    for b in data:
        fp = (fp >> 8) ^ _CRC_TABLE[(fp ^ b) & 0xFF]
    return fp


PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _fullname(name, ns):
    return name if "." in name or not ns else ns + "." + name


def pcf(schema, ns=None):
    """Parsing Canonical Form, as the Avro specification defines it (logical types and
    docs dropped, names made full, keys in order, no whitespace)."""
    if isinstance(schema, str):
        return json.dumps(schema if schema in PRIMITIVES else _fullname(schema, ns))
    if isinstance(schema, list):
        return "[" + ",".join(pcf(s, ns) for s in schema) + "]"
    t = schema["type"]
    if t in PRIMITIVES or not isinstance(t, str) or t not in ("record", "enum", "fixed", "array", "map"):
        return pcf(t, ns)
    if t in ("record", "enum", "fixed"):
        name = _fullname(schema["name"], schema.get("namespace", ns))
        ns2 = name.rsplit(".", 1)[0] if "." in name else None
        parts = ['"name":' + json.dumps(name), '"type":' + json.dumps(t)]
        if t == "record":
            parts.append('"fields":[' + ",".join(
                '{"name":%s,"type":%s}' % (json.dumps(f["name"]), pcf(f["type"], ns2))
                for f in schema["fields"]) + "]")
        elif t == "enum":
            parts.append('"symbols":' + json.dumps(schema["symbols"], separators=(",", ":")))
        else:
            parts.append('"size":%d' % schema["size"])
        return "{" + ",".join(parts) + "}"
    if t == "array":
        return '{"type":"array","items":%s}' % pcf(schema["items"], ns)
    return '{"type":"map","values":%s}' % pcf(schema["values"], ns)


def canonical_form(schema_path):
    with open(schema_path) as f:
        return pcf(json.load(f))


def envelope_fingerprint():
    pcf = canonical_form(os.path.join(SRC, "schemas", "envelope.avsc"))
    return struct.pack("<Q", crc64_avro(pcf.encode()))


def zz_long(n):
    n = (n << 1) ^ (n >> 63)
    n &= (1 << 64) - 1
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def a_bytes(b):
    return zz_long(len(b)) + b


def a_str(s):
    return a_bytes(s if isinstance(s, bytes) else s.encode())


def encode_body(ev):
    """ev: dict with id, type, source, occurred_at (ms), payload (text), and optional
    correlation_id, ttl_ms, metadata.  Strings may be bytes (for invalid UTF-8)."""
    out = bytearray()
    out += a_str(ev["id"]) + a_str(ev["type"]) + a_str(ev["source"])
    out += zz_long(ev["occurred_at"]) + a_str(ev["payload"])
    cid = ev.get("correlation_id")
    out += zz_long(0) if cid is None else zz_long(1) + a_str(cid)
    ttl = ev.get("ttl_ms")
    out += zz_long(0) if ttl is None else zz_long(1) + zz_long(ttl)
    meta = ev.get("metadata") or {}
    if meta:
        out += zz_long(len(meta))
        for k, v in meta.items():
            out += a_str(k) + a_str(v)
    out += zz_long(0)
    return bytes(out)


def encode(ev, fp):
    return b"\xc3\x01" + fp + encode_body(ev)


# ---- valid events --------------------------------------------------------------------

def valid_events(n, seed, sources, now_ms):
    rnd = random.Random(seed)
    for i in range(n):
        src = "src-%03d" % rnd.randrange(sources)
        kind = i % 3
        if kind == 0:
            typ = "order.created"
            payload = {"order_id": "o-%d-%d" % (seed, i), "amount": rnd.randrange(1, 100000),
                       "currency": rnd.choice(["EUR", "USD", "JPY"])}
        elif kind == 1:
            typ = "user.signed_up"
            payload = {"user": "u%d" % rnd.randrange(10**6), "plan": rnd.choice(["free", "team"]),
                       "tags": ["a", "b"], "n": i}
        else:
            typ = "build.finished"
            payload = {"repo": "r%d" % rnd.randrange(50), "ok": rnd.random() < 0.9,
                       "duration_s": rnd.random() * 600}
        ev = {"id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)), "type": typ,
              "source": src, "occurred_at": now_ms - rnd.randrange(600000),
              "payload": payload}
        if i % 4 == 0:
            ev["correlation_id"] = "corr-%d" % rnd.randrange(1000)
        if i % 5 == 0:
            ev["metadata"] = {"team": "t%d" % (i % 7), "region": "eu"}
        if i % 7 == 0:
            ev["ttl_ms"] = 86400000
        yield ev


def cmd_valid(args):
    now_ms = int(time.time() * 1000)
    w = sys.stdout
    for ev in valid_events(args.n, args.seed, args.sources, now_ms):
        w.write(json.dumps(ev, separators=(",", ":")) + "\n")


def cmd_encode(args):
    fp = envelope_fingerprint()
    for line in sys.stdin:
        if not line.strip():
            continue
        ev = json.loads(line)
        ev["payload"] = json.dumps(ev["payload"]) if not isinstance(ev["payload"], str) else ev["payload"]
        ev.setdefault("id", str(uuid.uuid4()))
        ev.setdefault("occurred_at", int(time.time() * 1000))
        if isinstance(ev["occurred_at"], str):  # RFC 3339, as sluicectl publish takes it
            ev["occurred_at"] = int(datetime.datetime.fromisoformat(
                ev["occurred_at"].replace("Z", "+00:00")).timestamp() * 1000)
        sys.stdout.write(encode(ev, fp).hex() + "\n")


# ---- malformed events ----------------------------------------------------------------

KINDS = [  # (reason, count at scale 1)
    ("framing", 50), ("unknown_schema", 40), ("decode", 40), ("bad_id", 40),
    ("empty_type", 40), ("empty_source", 40), ("bad_text", 20),
    ("bad_occurred_at", 40), ("ttl_expired", 40), ("bad_ttl", 30),
    ("payload_not_json", 40), ("payload_not_object", 40), ("payload_schema", 40),
]


def malformed(seed, scale, now_ms, fp):
    rnd = random.Random(seed)
    for reason, count in KINDS:
        for i in range(max(1, int(count * scale))):
            uid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
            ev = {"id": uid, "type": "user.signed_up", "source": "bad-%02d" % (i % 17),
                  "occurred_at": now_ms - rnd.randrange(60000),
                  "payload": json.dumps({"i": i, "seed": seed})}
            if reason == "framing":
                if i % 2:
                    raw = ("garbage %d %s" % (i, uid)).encode()
                else:
                    raw = b"\xc3\x01" + struct.pack("<I", rnd.getrandbits(32))  # too short
            elif reason == "unknown_schema":
                raw = b"\xc3\x01" + struct.pack("<Q", rnd.getrandbits(64)) + encode_body(ev)
            elif reason == "decode":
                body = encode_body(ev)
                raw = b"\xc3\x01" + fp + body[: 20 + i % 10]  # cut inside a string
            else:
                if reason == "bad_id":
                    ev["id"] = "not-a-uuid-%d-%d" % (seed, i)
                elif reason == "empty_type":
                    ev["type"] = ""
                elif reason == "empty_source":
                    ev["source"] = ""
                elif reason == "bad_text":
                    ev["type"] = b"user.\xff\xfe" + str(i).encode()
                elif reason == "bad_occurred_at":
                    ev["occurred_at"] = 631152000000 + i * 1000  # 1990
                elif reason == "ttl_expired":
                    ev["occurred_at"] = now_ms - 3600000 - i
                    ev["ttl_ms"] = 1000
                elif reason == "bad_ttl":
                    ev["ttl_ms"] = -(i % 3)  # 0, -1, -2
                elif reason == "payload_not_json":
                    ev["payload"] = "{not json %d" % i
                elif reason == "payload_not_object":
                    ev["payload"] = "[%d, \"%s\"]" % (i, uid)
                elif reason == "payload_schema":
                    ev["type"] = "order.created"
                    ev["payload"] = json.dumps({"order_id": "bad-%d" % i, "amount": "lots"})
                raw = encode(ev, fp)
            yield reason, raw


def cmd_malformed(args):
    now_ms = int(time.time() * 1000)
    fp = envelope_fingerprint()
    seen = set()
    with open(args.out, "w") as out, open(args.expect, "w") as exp:
        for reason, raw in malformed(args.seed, args.scale, now_ms, fp):
            h = raw.hex()
            if h in seen:
                sys.exit("gen_events: duplicate malformed record (%s)" % reason)
            seen.add(h)
            out.write(h + "\n")
            exp.write("%s\t%s\n" % (h, reason))


def cmd_produce_raw(args):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": args.bootstrap, "partitioner": "murmur2_random",
                  "enable.idempotence": True, "linger.ms": 5})
    n = 0
    with open(args.file) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            while True:
                try:
                    p.produce(args.topic, value=bytes.fromhex(line), key=b"raw-%d" % (n % 31))
                    break
                except BufferError:
                    p.poll(0.1)
            n += 1
            p.poll(0)
    left = p.flush(30)
    if left:
        sys.exit("gen_events: %d records not delivered" % left)
    print(n)


def cmd_fingerprint(_args):
    print(envelope_fingerprint().hex())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("valid")
    p.add_argument("n", type=int)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sources", type=int, default=200)
    p.set_defaults(fn=cmd_valid)
    p = sub.add_parser("malformed")
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--out", required=True)
    p.add_argument("--expect", required=True)
    p.set_defaults(fn=cmd_malformed)
    p = sub.add_parser("produce-raw")
    p.add_argument("file")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", default="sluice.events.in")
    p.set_defaults(fn=cmd_produce_raw)
    p = sub.add_parser("encode")
    p.set_defaults(fn=cmd_encode)
    p = sub.add_parser("pcf")
    p.set_defaults(fn=lambda a: print(canonical_form(os.path.join(SRC, "schemas", "envelope.avsc"))))
    p = sub.add_parser("fingerprint")
    p.set_defaults(fn=cmd_fingerprint)
    p = sub.add_parser("order-schema")
    p.set_defaults(fn=lambda a: print(json.dumps(ORDER_SCHEMA, indent=2)))
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
