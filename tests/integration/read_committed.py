"""What a downstream consumer with isolation.level=read_committed sees on a topic: one
id per record, read from the beginning to the end of every partition (the last stable
offset: aborted transactions are skipped, open ones are not reached).

    python3 read_committed.py BOOTSTRAP TOPIC KIND [TIMEOUT_S [ISOLATION]]
        KIND: envelope  the event id of a single-object-encoded envelope (events.in,
                        events.accepted: Avro's C3 01 marker, an 8-byte fingerprint,
                        then the id, the first field of every envelope version)
              launch    the launch id of a WorkflowLaunch (Avro binary, first field)
        ISOLATION: read_committed (the default), or read_uncommitted to see every
        record in the log, those of aborted transactions included
        prints "<partition> <offset> <id>" per record; exits 1 on timeout
"""
import sys
import time

from confluent_kafka import Consumer, TopicPartition, KafkaError


def varint(buf, pos):
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return (result >> 1) ^ -(result & 1), pos


def first_string(buf, pos):
    n, pos = varint(buf, pos)
    return buf[pos:pos + n].decode()


def main():
    bootstrap, topic, kind = sys.argv[1], sys.argv[2], sys.argv[3]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 30
    isolation = sys.argv[5] if len(sys.argv) > 5 else "read_committed"
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "it-read-committed",
                  "isolation.level": isolation, "enable.auto.commit": False,
                  "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    md = c.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions)
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    left = set(parts)
    deadline = time.time() + timeout
    out = sys.stdout
    while left:
        if time.time() > deadline:
            sys.stderr.write("read_committed.py: timeout, partitions %s not at their "
                             "end\n" % sorted(left))
            sys.exit(1)
        for m in c.consume(10000, 0.5):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    left.discard(m.partition())
                    continue
                raise SystemExit("read_committed.py: %s" % m.error())
            v = m.value()
            if kind == "envelope":
                if v[:2] != b"\xc3\x01":
                    raise SystemExit("read_committed.py: not single-object encoded at "
                                     "%d/%d" % (m.partition(), m.offset()))
                rid = first_string(v, 10)
            else:
                rid = first_string(v, 0)
            out.write("%d %d %s\n" % (m.partition(), m.offset(), rid))
    c.close()


if __name__ == "__main__":
    main()
