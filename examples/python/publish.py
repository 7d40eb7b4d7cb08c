#!/usr/bin/python3
"""Publish sluice event envelopes from Python (Debian's python3-confluent-kafka and
python3-avro; run with /usr/bin/python3).

Each event is an Avro single-object encoded envelope (schemas/envelope.avsc):
  0xC3 0x01 | CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form (8 bytes,
  little-endian) | Avro binary body
keyed by the event's source, with librdkafka's murmur2_random partitioner (the same
partition Java clients and sluice pick), and the correlation id (and a W3C traceparent
from metadata, if any) as Kafka headers.

  publish.py [FILE|-] [--bootstrap HOST:PORT] [--topic sluice.events.in]
             [--count N --source S --type T [--id-prefix P] [--payload JSON]]
             [--ids-file OUT]

FILE holds JSON lines ({"type","source","payload", optional "id","occurred_at" (ms or
RFC 3339),"correlation_id","ttl_ms","metadata"}), as `sluicectl publish` takes them.
Without FILE, --count events are generated (ids random UUIDv4, or with --id-prefix the
UUIDv5 of "P<n>" so a test can predict them).  --ids-file writes every published id.
Bootstrap servers: --bootstrap, else SLUICE_KAFKA_BOOTSTRAP_SERVERS, else the first line
of the devbroker's bootstrap file (SLUICE_DEVBROKER_BOOTSTRAP_FILE or
.sluice/bootstrap.txt).  Prints "published N events (M failed)" on stderr; exit 1 if
anything failed.
"""
import argparse
import datetime
import io
import json
import os
import struct
import sys
import time
import uuid

import avro.io
import avro.schema
from confluent_kafka import Producer

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.normpath(os.path.join(HERE, "..", "..", "schemas", "envelope.avsc"))
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

# ---- the single-object header ----------------------------------------------------------
# python3-avro 1.11.1's Schema.canonical_form keeps {"type":"string"} where a logical type
# was stripped, which the specification reduces to "string"; its fingerprint would not
# match other languages'.  So the Parsing Canonical Form is built here, per the spec.

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _fullname(name, ns):
    return name if "." in name or not ns else ns + "." + name


def canonical_form(schema, ns=None):
    """Parsing Canonical Form (Avro specification): names made full, only the
    attributes that matter for parsing, in order, primitives in simple form, no
    whitespace."""
    if isinstance(schema, str):
        return json.dumps(schema if schema in PRIMITIVES else _fullname(schema, ns))
    if isinstance(schema, list):
        return "[" + ",".join(canonical_form(s, ns) for s in schema) + "]"
    t = schema["type"]
    if not isinstance(t, str) or t not in ("record", "enum", "fixed", "array", "map"):
        return canonical_form(t, ns)  # {"type": "string", "logicalType": ...} -> "string"
    if t in ("record", "enum", "fixed"):
        name = _fullname(schema["name"], schema.get("namespace", ns))
        inner_ns = name.rsplit(".", 1)[0] if "." in name else None
        parts = ['"name":' + json.dumps(name), '"type":' + json.dumps(t)]
        if t == "record":
            parts.append('"fields":[' + ",".join(
                '{"name":%s,"type":%s}' % (json.dumps(f["name"]), canonical_form(f["type"], inner_ns))
                for f in schema["fields"]) + "]")
        elif t == "enum":
            parts.append('"symbols":' + json.dumps(schema["symbols"], separators=(",", ":")))
        else:
            parts.append('"size":%d' % schema["size"])
        return "{" + ",".join(parts) + "}"
    if t == "array":
        return '{"type":"array","items":%s}' % canonical_form(schema["items"], ns)
    return '{"type":"map","values":%s}' % canonical_form(schema["values"], ns)


_CRC_EMPTY = 0xC15D213AA4D7A795
_CRC_TABLE = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_CRC_EMPTY & -(_fp & 1))
    _CRC_TABLE.append(_fp)


def crc64_avro(data):
    """CRC-64-AVRO (the Rabin fingerprint of the Avro specification)."""
    fp = _CRC_EMPTY
    for b in data:
        fp = (fp >> 8) ^ _CRC_TABLE[(fp ^ b) & 0xFF]
    return fp


class EnvelopeEncoder:
    def __init__(self, schema_path):
        with open(schema_path) as f:
            text = f.read()
        self.schema = avro.schema.parse(text)
        self.writer = avro.io.DatumWriter(self.schema)
        pcf = canonical_form(json.loads(text))
        self.header = b"\xc3\x01" + struct.pack("<Q", crc64_avro(pcf.encode()))

    def encode(self, ev):
        buf = io.BytesIO()
        buf.write(self.header)
        record = dict(ev)
        record["occurred_at"] = EPOCH + datetime.timedelta(milliseconds=ev["occurred_at"])
        self.writer.write(record, avro.io.BinaryEncoder(buf))
        return buf.getvalue()


# ---- events -------------------------------------------------------------------------------

def now_ms():
    return int(time.time() * 1000)


def parse_time(v):
    if isinstance(v, int):
        return v
    dt = datetime.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return int((dt - EPOCH).total_seconds() * 1000)


def envelope_from_json(obj):
    """A JSON-lines event -> the envelope record (the rules of sl_envelope_from_json)."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    for k in ("type", "source"):
        if not isinstance(obj.get(k), str) or not obj[k]:
            raise ValueError('"%s" must be a non-empty string' % k)
    payload = obj.get("payload", {})
    if not isinstance(payload, str):
        payload = json.dumps(payload, separators=(",", ":"))
    meta = obj.get("metadata") or {}
    if not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("metadata values must be strings")
    ev_id = obj.get("id") or str(uuid.uuid4())
    uuid.UUID(ev_id)  # ValueError when it is not a UUID
    return {
        "id": ev_id.lower(),
        "type": obj["type"],
        "source": obj["source"],
        "occurred_at": parse_time(obj["occurred_at"]) if "occurred_at" in obj else now_ms(),
        "payload": payload,
        "correlation_id": obj.get("correlation_id"),
        "ttl_ms": obj.get("ttl_ms"),
        "metadata": meta,
    }


def generated(args):
    for i in range(args.count):
        ev_id = (str(uuid.uuid5(uuid.NAMESPACE_URL, "%s%d" % (args.id_prefix, i)))
                 if args.id_prefix else str(uuid.uuid4()))
        payload = args.payload if args.payload is not None else json.dumps({"n": i})
        yield {"id": ev_id, "type": args.type, "source": args.source, "payload": payload}


def from_lines(path):
    f = sys.stdin if path == "-" else open(path)
    for lineno, line in enumerate(f, 1):
        line = line.strip()
        if line:
            yield lineno, line


def bootstrap_servers(args):
    if args.bootstrap:
        return args.bootstrap
    if os.environ.get("SLUICE_KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["SLUICE_KAFKA_BOOTSTRAP_SERVERS"]
    path = os.environ.get("SLUICE_DEVBROKER_BOOTSTRAP_FILE", ".sluice/bootstrap.txt")
    try:
        with open(path) as f:
            line = f.readline().strip()
    except OSError as e:
        sys.exit("publish.py: no --bootstrap and no devbroker bootstrap file (%s)" % e)
    if line.startswith("bootstrap.servers="):
        line = line[len("bootstrap.servers="):]
    return line


def main():
    ap = argparse.ArgumentParser(description="Publish sluice envelopes (Avro single-object).")
    ap.add_argument("file", nargs="?", help="JSON-lines events ('-': stdin); default: generate")
    ap.add_argument("--bootstrap", help="bootstrap servers HOST:PORT,...")
    ap.add_argument("--topic", default="sluice.events.in")
    ap.add_argument("--schema", default=DEFAULT_SCHEMA, help="envelope schema (.avsc)")
    ap.add_argument("--count", type=int, default=10, help="events to generate (no FILE)")
    ap.add_argument("--source", default="python-example")
    ap.add_argument("--type", default="example.published")
    ap.add_argument("--payload", help="payload JSON object of generated events")
    ap.add_argument("--id-prefix", default="", help='generated ids: UUIDv5 of "<prefix><n>"')
    ap.add_argument("--ids-file", help="write each published id here, one a line")
    args = ap.parse_args()

    enc = EnvelopeEncoder(args.schema)
    producer = Producer({
        "bootstrap.servers": bootstrap_servers(args),
        "partitioner": "murmur2_random",  # Java's partitioner: same partition as sluice's
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
    })
    stats = {"ok": 0, "failed": 0}

    def on_delivery(err, msg):
        if err is None:
            stats["ok"] += 1
        else:
            stats["failed"] += 1
            if stats["failed"] <= 10:
                print("publish.py: not delivered: %s" % err, file=sys.stderr)

    if args.file:
        def events():
            for lineno, line in from_lines(args.file):
                try:
                    yield envelope_from_json(json.loads(line))
                except ValueError as e:
                    stats["bad"] = stats.get("bad", 0) + 1
                    print("publish.py: line %d: %s" % (lineno, e), file=sys.stderr)
    else:
        def events():
            for obj in generated(args):
                yield envelope_from_json(obj)

    ids = open(args.ids_file, "w") if args.ids_file else None
    for ev in events():
        headers = []
        if ev["correlation_id"]:
            headers.append(("correlation_id", ev["correlation_id"]))
        if "traceparent" in ev["metadata"]:
            headers.append(("traceparent", ev["metadata"]["traceparent"]))
        value = enc.encode(ev)
        while True:
            try:
                producer.produce(args.topic, value=value, key=ev["source"].encode(),
                                 headers=headers or None, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.1)
        producer.poll(0)
        if ids:
            ids.write(ev["id"] + "\n")
    left = producer.flush(60)
    if ids:
        ids.close()
    failed = stats["failed"] + left
    print("published %d events (%d failed)" % (stats["ok"], failed), file=sys.stderr)
    sys.exit(1 if failed or stats.get("bad") else 0)


if __name__ == "__main__":
    main()
