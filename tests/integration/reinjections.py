"""What sluice-retry re-injected into events.in, for the retry stage's integration
tests: reads the JSON lines of `sluicectl tail events.in`, whose records carry the
stand-in envelopes of sluice-it-retry_wakeups (b"envelope:<event id>")."""
import binascii
import collections
import json


def read(path):
    """event id -> its records on events.in, in the order they were read."""
    recs = collections.defaultdict(list)
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            recs[binascii.unhexlify(r["_raw_hex"]).decode().split(":", 1)[1]].append(r)
    return recs


def counts(recs):
    """event id -> how many times it came back (0 for one that never did)."""
    return collections.Counter({eid: len(rs) for eid, rs in recs.items()})


def first_seen(recs):
    """event id -> the timestamp of its first re-injection."""
    return {eid: rs[0]["_timestamp"] for eid, rs in recs.items()}
