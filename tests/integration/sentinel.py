"""Sentinel records for the integration tests, published after what a test waits on
and waited for in its place (lib.sh: ingress_sentinel, retry_lib.sh: retry_sentinel):
for each partition of a topic, a key that Kafka's default partitioner (Java murmur2,
what sluice's publisher and librdkafka's murmur2_random use) puts on it.

    python3 sentinel.py TAG PARTITIONS
        "KEY<TAB>HEX" lines for `sluicectl publish --raw`: one malformed record per
        partition, bytes "sluice-sentinel:TAG:<partition>"
    python3 sentinel.py --retry-rows TAG PARTITIONS DUE_MS
        one retry intent per partition in the format of `sluice-it-retry_wakeups rows`
        (event id, source = the key, due time, envelope hex), the key's murmur2
        partition being the row's index
"""
import sys
import uuid


def murmur2(data):
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), unsigned."""
    m, r = 0x5BD1E995, 24
    n = len(data)
    h = (0x9747B28C ^ n) & 0xFFFFFFFF
    for i in range(0, n - n % 4, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail, rest = n & ~3, n % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition(key, partitions):
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def keys_for(tag, parts):
    """partition -> a key that lands on it."""
    keys, i = {}, 0
    while len(keys) < parts:
        k = "sentinel-%s-%d" % (tag, i)
        keys.setdefault(partition(k, parts), k)
        i += 1
    return keys


def main():
    if sys.argv[1] == "--retry-rows":
        tag, parts, due = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        keys = keys_for(tag, parts)
        for p in range(parts):
            eid = str(uuid.uuid4())
            print("%s\t%s\t%d\t%s" % (eid, keys[p], due, ("envelope:" + eid).encode().hex()))
        return
    tag, parts = sys.argv[1], int(sys.argv[2])
    keys = keys_for(tag, parts)
    for p in range(parts):
        print("%s\t%s" % (keys[p], ("sluice-sentinel:%s:%d" % (tag, p)).encode().hex()))


if __name__ == "__main__":
    main()
