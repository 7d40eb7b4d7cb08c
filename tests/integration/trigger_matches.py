#!/usr/bin/python3
"""The reference of test_trigger_match: trigger definitions, events, and what
sluice-trigger-match must make of them, computed here independently of sluice's C
code (the filters are hand-written Python predicates with the documented semantics,
the templates filled by a small Python filler of the documented rules, Avro and
murmur2 decoded/computed by hand).

  trigger_matches.py triggers DIR             one JSON definition per trigger (+ order)
  trigger_matches.py late-trigger FILE        the trigger created while the stage runs
  trigger_matches.py events N --seed S        events as JSON lines (sluicectl publish)
  trigger_matches.py late-events N --seed S   events only the late trigger takes
  trigger_matches.py garbage --bootstrap B --topic T
                                              one record that is no envelope, onto T
  trigger_matches.py drained --bootstrap B --group G --topic T --count N
                                              exit 0 once T holds N records and group G
                                              has committed all of them (else 1)
  trigger_matches.py triggers DIR --extra      the same plus EXTRA: 20 in all (e2e)
  trigger_matches.py deliveries --triggers TSV --rows TSV EVENTS...
                                              compare trigger_deliveries (launch_id,
                                              trigger_id, event_id, outcome, workflow,
                                              params) with the reference: a disabled or
                                              paused trigger's matches 'paused', every
                                              other one 'launched' (the triggers are
                                              unlimited), under UUIDv5(trigger, event)
  trigger_matches.py check --bootstrap B --prefix P --triggers TSV EVENTS...
                                              read P+trigger.matches and compare with
                                              the reference; prints a summary, exit 1
                                              on any difference

TSV: the triggers table as `psql -At -F $'\\t'` prints
  id, name, event_type, source, filter, workflow, params_template::text.
"""
import argparse
import json
import random
import re
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

MISSING = object()
PH = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")

# --- filter semantics (docs/triggers.md, "Semantics") -----------------------------------


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def eq(a, b):
    if a is MISSING or b is MISSING:
        return False
    if is_num(a) and is_num(b):
        return a == b
    if type(a) != type(b):
        return False
    return a == b


def ne(a, b):
    return not eq(a, b)


def order(a, b, op):
    if a is MISSING or b is MISSING:
        return False
    if (is_num(a) and is_num(b)) or (isinstance(a, str) and isinstance(b, str)):
        if isinstance(a, str):
            a, b = a.encode(), b.encode()
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    return False


def get(ev, path):
    """A field path over the event (the subset the triggers here use)."""
    steps = re.findall(r"[A-Za-z0-9_-]+|\[\d+\]", path)
    head = steps[0]
    if head == "payload":
        v = ev["payload"]
    elif head == "metadata":
        v = ev.get("metadata", {})
    elif head in ("id", "type", "source", "occurred_at"):
        return ev[head]
    elif head == "correlation_id":
        return ev.get("correlation_id", MISSING)
    else:
        raise ValueError(path)
    for s in steps[1:]:
        if s.startswith("["):
            i = int(s[1:-1])
            if not isinstance(v, list) or i >= len(v):
                return MISSING
            v = v[i]
        else:
            if not isinstance(v, dict) or s not in v:
                return MISSING
            v = v[s]
    return v


# --- template filling (src/trigger/template.h's rules) ----------------------------------


def esc(s):
    out = []
    for ch in s:
        c = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif c < 0x20:
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    return "".join(out)


def num(v):
    if isinstance(v, int):
        return str(v)
    s = "%.17g" % v
    return s if any(c in s for c in ".eEni") else s + ".0"


def dump(v):
    if v is None or v is MISSING:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if is_num(v):
        return num(v)
    if isinstance(v, str):
        return '"' + esc(v) + '"'
    if isinstance(v, list):
        return "[" + ",".join(dump(x) for x in v) + "]"
    return "{" + ",".join('"%s":%s' % (esc(k), dump(x)) for k, x in v.items()) + "}"


def as_text(v):
    if v is MISSING:
        return ""
    if isinstance(v, str):
        return v
    return dump(v)


def fill(t, ev):
    if isinstance(t, dict):
        return "{" + ",".join('"%s":%s' % (esc(k), fill(x, ev)) for k, x in t.items()) + "}"
    if isinstance(t, list):
        return "[" + ",".join(fill(x, ev) for x in t) + "]"
    if isinstance(t, str):
        m = PH.fullmatch(t)
        if m:  # exactly one placeholder: the typed value
            return dump(get(ev, m.group(1)))
        out, i = [], 0
        while i < len(t):
            if t.startswith("\\{{", i):  # an escaped, literal "{{"
                out.append("{{")
                i += 3
            elif t.startswith("{{", i):
                j = t.index("}}", i)
                out.append(as_text(get(ev, t[i + 2:j].strip())))
                i = j + 2
            else:
                out.append(t[i])
                i += 1
        return '"' + esc("".join(out)) + '"'
    return dump(t)


# --- the triggers ------------------------------------------------------------------------

TRIGGERS = [
    # name, definition (minus name and workflow), predicate over the event (the filter)
    ("orders-all", {"event_type": "order.created",
                    "params_template": {"order": "{{payload.order_id}}",
                                        "amount": "{{ payload.amount }}"}},
     lambda e: True),
    ("big-orders", {"event_type": "order.created", "filter": "payload.amount > 500",
                    "params_template": {"label": "order {{payload.order_id}} of "
                                                 "{{payload.amount}} {{payload.currency}}",
                                        "id": "{{id}}", "src": "{{source}}"}},
     lambda e: order(get(e, "payload.amount"), 500, ">")),
    ("eu-shop", {"event_type": "order.created", "source": "shop-eu",
                 "params_template": {"corr": "{{correlation_id}}",
                                     "tenant": "{{metadata.tenant}}",
                                     "at": "{{occurred_at}}", "t": "{{type}}"}},
     lambda e: True),
    ("euro-orders", {"event_type": "order.*", "filter": 'payload.currency == "EUR"',
                     "params_template": {"o": "{{payload.order_id}}"}},
     lambda e: eq(get(e, "payload.currency"), "EUR")),
    ("no-coupon", {"event_type": "order.*", "filter": "!(exists payload.coupon)"},
     lambda e: get(e, "payload.coupon") is MISSING),
    ("coupon-not-x", {"event_type": "order.created", "filter": 'payload.coupon != "X"'},
     lambda e: ne(get(e, "payload.coupon"), "X")),
    ("first-sku", {"event_type": "order.created",
                   "filter": 'payload.items[0].sku == "A-1" && payload.items[0].qty >= 2',
                   "params_template": {"first": "{{payload.items[0]}}",
                                       "items": "{{payload.items}}",
                                       "customer": "{{payload.customer}}",
                                       "note": "{{payload.note}}",
                                       "n2": "note: {{payload.note}}!",
                                       "lit": ["x", 1, True, None, {"k": "v"}],
                                       "esc": "\\{{not a placeholder}}"}},
     lambda e: eq(get(e, "payload.items[0].sku"), "A-1") and
     order(get(e, "payload.items[0].qty"), 2, ">=")),
    ("pro-signups", {"event_type": "user.signup", "filter": 'payload.plan in ["pro", "team"]',
                     "params_template": {"user": "{{payload.user}}", "plan": "{{payload.plan}}"}},
     lambda e: eq(get(e, "payload.plan"), "pro") or eq(get(e, "payload.plan"), "team")),
    ("signups-disabled", {"event_type": "user.signup", "enabled": False}, lambda e: True),
    ("paid-paused", {"event_type": "order.paid",
                     "params_template": {"amount": "{{payload.amount}}"}},
     lambda e: True),
    ("shipped-any", {"event_type": "*.shipped", "filter": 'source != "app"'},
     lambda e: ne(e["source"], "app")),
    ("user-one-char", {"event_type": "user.?"}, lambda e: True),
    ("vip-or-mid", {"event_type": "order.created",
                    "filter": 'payload.customer.tier == "vip" || '
                              '(payload.amount >= 100 && payload.amount < 200)'},
     lambda e: eq(get(e, "payload.customer.tier"), "vip") or
     (order(get(e, "payload.amount"), 100, ">=") and order(get(e, "payload.amount"), 200, "<"))),
    ("never", {"event_type": "nothing.ever"}, lambda e: True),
]
LATE = ("late-arrival", {"event_type": "late.event", "filter": "payload.n >= 0",
                         "params_template": {"n": "{{payload.n}}", "who": "{{source}}"}},
        lambda e: order(get(e, "payload.n"), 0, ">="))
# Six more for the end-to-end test (test_trigger_e2e): 20 triggers in all.
EXTRA = [
    ("orders-300", {"event_type": "order.created", "filter": "payload.amount >= 300",
                    "params_template": {"a": "{{payload.amount}}"}},
     lambda e: order(get(e, "payload.amount"), 300, ">=")),
    ("usd", {"event_type": "order.*", "filter": 'payload.currency == "USD"'},
     lambda e: eq(get(e, "payload.currency"), "USD")),
    ("web-anything", {"event_type": "*", "source": "web",
                      "params_template": {"t": "{{type}}"}},
     lambda e: True),
    ("acme", {"event_type": "order.created", "filter": 'metadata.tenant == "acme"'},
     lambda e: eq(get(e, "metadata.tenant"), "acme")),
    ("correlated-users", {"event_type": "user.*", "filter": "exists correlation_id"},
     lambda e: get(e, "correlation_id") is not MISSING),
    ("cheap-or-unpriced", {"event_type": "order.created",
                           "filter": "payload.amount < 50 || !(exists payload.amount)"},
     lambda e: order(get(e, "payload.amount"), 50, "<") or get(e, "payload.amount") is MISSING),
]
PREDICATES = {name: pred for name, _, pred in TRIGGERS + EXTRA + [LATE]}
DEFS = {name: d for name, d, _ in TRIGGERS + EXTRA + [LATE]}


def definition(name, d):
    out = {"name": name, "workflow": "wf." + name}
    out.update(d)
    return out


def glob_match(pat, s):
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pat)
    return re.fullmatch(rx, s, re.S) is not None


# --- events ----------------------------------------------------------------------------

SOURCES = ["shop-eu", "shop-us", "web", "app"]


def gen_events(n, seed, late=False):
    rnd = random.Random(seed)
    now = int(time.time() * 1000)
    for i in range(n):
        ev = {"id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
              "source": rnd.choice(SOURCES),
              "occurred_at": now - rnd.randrange(0, 3600 * 1000)}
        if late:
            ev["type"] = "late.event"
            ev["payload"] = {"n": rnd.randrange(-5, 50)}
        else:
            ev["type"] = rnd.choice(["order.created"] * 6 + ["order.paid", "order.shipped",
                                     "user.signup", "user.signup", "user.x", "user.login",
                                     "app.shipped", "misc.event"])
            ev["payload"] = payload(rnd, ev["type"], i)
        if rnd.random() < 0.5:
            ev["correlation_id"] = "corr-%d" % i
        meta = {}
        if rnd.random() < 0.4:
            meta["tenant"] = rnd.choice(["acme", "glob\u00e9x", 'q"uote'])
        if rnd.random() < 0.5:
            meta["traceparent"] = "00-%032x-%016x-01" % (rnd.getrandbits(128), rnd.getrandbits(64))
        if meta:
            ev["metadata"] = meta
        yield ev


def payload(rnd, typ, i):
    p = {}
    if typ.startswith("order."):
        p["order_id"] = "o-%d" % i
        r = rnd.random()
        if r < 0.05:
            pass  # no amount
        elif r < 0.1:
            p["amount"] = "lots"  # a string: no ordering comparison holds
        elif r < 0.15:
            p["amount"] = 150.5
        else:
            p["amount"] = rnd.randrange(0, 1000)
        c = rnd.random()
        if c < 0.5:
            p["currency"] = "EUR"
        elif c < 0.8:
            p["currency"] = "USD"
        k = rnd.random()
        if k < 0.3:
            p["coupon"] = "X"
        elif k < 0.5:
            p["coupon"] = "Y"
        elif k < 0.55:
            p["coupon"] = None  # present, null: exists is true, != "X" is true
        if rnd.random() < 0.6:
            p["items"] = [{"sku": rnd.choice(["A-1", "B-2"]), "qty": rnd.randrange(0, 4)}
                          for _ in range(rnd.randrange(0, 3))]
        if rnd.random() < 0.3:
            p["customer"] = {"tier": rnd.choice(["vip", "std"]), "since": rnd.randrange(2000, 2024)}
        if rnd.random() < 0.2:
            p["note"] = rnd.choice(['caf\u00e9 "best"\n\ttab', "back\\slash", "\u00fcber \U0001F600",
                                    "ctl\u0001x"])
    elif typ == "user.signup":
        p["user"] = "u-%d" % i
        p_ = rnd.random()
        if p_ < 0.3:
            p["plan"] = "pro"
        elif p_ < 0.5:
            p["plan"] = "team"
        elif p_ < 0.7:
            p["plan"] = "free"
        elif p_ < 0.8:
            p["plan"] = 5
    else:
        p["x"] = rnd.randrange(0, 10)
    return p


# --- Kafka -----------------------------------------------------------------------------


def consumer(bootstrap, group="trigger-matches-check"):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "enable.partition.eof": True})


def partitions(c, topic):
    md = c.list_topics(topic, timeout=10)
    return sorted(md.topics[topic].partitions)


def read_all(bootstrap, topic):
    """Every record of topic: [(partition, offset, key, value, timestamp)]."""
    c = consumer(bootstrap)
    parts = partitions(c, topic)
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    out, done = [], {p for p in parts if ends[p] == 0}
    deadline = time.time() + 30
    while len(done) < len(parts) and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                if m.offset() >= ends[m.partition()]:
                    done.add(m.partition())
                continue
            raise RuntimeError(str(m.error()))
        out.append((m.partition(), m.offset(), m.key(), m.value(), m.timestamp()[1]))
        if m.offset() + 1 >= ends[m.partition()]:
            done.add(m.partition())
    c.close()
    if len(done) < len(parts):
        raise RuntimeError("could not read %s to its end" % topic)
    return out, len(parts)


def cmd_drained(a):
    c = consumer(a.bootstrap, a.group)
    parts = partitions(c, a.topic)
    tps = [TopicPartition(a.topic, p) for p in parts]
    ends = [c.get_watermark_offsets(tp, timeout=10)[1] for tp in tps]
    committed = c.committed(tps, timeout=10)
    c.close()
    done = sum(max(tp.offset, 0) for tp in committed)
    print("%s: %d records, group %s committed %d" % (a.topic, sum(ends), a.group, done))
    # A partition that never had a record has no committed offset (-1001).
    return 0 if sum(ends) >= a.count and all(
        max(tp.offset, 0) >= e for tp, e in zip(committed, ends)) else 1


# --- Avro, by hand -----------------------------------------------------------------------


def read_long(b, i):
    shift = acc = 0
    while True:
        x = b[i]
        i += 1
        acc |= (x & 0x7F) << shift
        shift += 7
        if not x & 0x80:
            return (acc >> 1) ^ -(acc & 1), i


def read_str(b, i):
    n, i = read_long(b, i)
    return b[i:i + n].decode("utf-8"), i + n


MATCH_FIELDS = ["trigger_id", "trigger_name", "event_id", "event_type", "source",
                "?correlation_id", "?traceparent", "workflow", "params",
                "#occurred_at", "#accepted_at", "#matched_at"]


def decode_match(b):
    rec, i = {}, 0
    for f in MATCH_FIELDS:
        if f.startswith("#"):
            rec[f[1:]], i = read_long(b, i)
        elif f.startswith("?"):
            u, i = read_long(b, i)
            if u == 0:
                rec[f[1:]] = None
            else:
                rec[f[1:]], i = read_str(b, i)
        else:
            rec[f], i = read_str(b, i)
    if i != len(b):
        raise ValueError("%d trailing bytes" % (len(b) - i))
    return rec


def envelope_id(b):
    """The id of a single-object-encoded envelope: its first field."""
    if b[:2] != b"\xc3\x01":
        raise ValueError("not single-object encoded")
    return read_str(b, 10)[0]


def murmur2(data):
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    n4 = len(data) // 4
    for i in range(n4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest, t = len(data) % 4, n4 * 4
    if rest == 3:
        h ^= data[t + 2] << 16
    if rest >= 2:
        h ^= data[t + 1] << 8
    if rest >= 1:
        h ^= data[t]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


# --- the check ---------------------------------------------------------------------------


def load_triggers(path):
    out = []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line:
            continue
        tid, name, typ, src, flt, wf, tmpl = line.split("\t")
        d = DEFS[name]
        # What the table holds is what this file defined (the reference trusts nothing else).
        assert typ == d["event_type"], (name, typ)
        assert (src or None) == d.get("source"), (name, src)
        assert (flt or None) == d.get("filter"), (name, flt)
        assert json.loads(tmpl) == d.get("params_template", {}), (name, tmpl)
        out.append({"id": tid, "name": name, "type": typ, "source": src or None,
                    "workflow": wf, "template": json.loads(tmpl), "pred": PREDICATES[name]})
    return out


def expected(triggers, events):
    exp = {}
    for ev in events:
        for t in triggers:
            if not glob_match(t["type"], ev["type"]):
                continue
            if t["source"] is not None and t["source"] != ev["source"]:
                continue
            if not t["pred"](ev):
                continue
            exp[(t["id"], ev["id"])] = (t, ev, fill(t["template"], ev))
    return exp


def cmd_check(a):
    triggers = load_triggers(a.triggers)
    events = []
    for path in a.events:
        events += [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    exp = expected(triggers, events)
    accepted, _ = read_all(a.bootstrap, a.prefix + "events.accepted")
    accepted_ts = {}
    for _, _, _, value, ts in accepted:
        try:
            accepted_ts.setdefault(envelope_id(value), []).append(ts)
        except (ValueError, IndexError):
            pass  # the garbage record
    recs, nparts = read_all(a.bootstrap, a.prefix + "trigger.matches")
    seen, bad = {}, []

    def wrong(what):
        if len(bad) < 20:
            bad.append(what)

    for part, off, key, value, ts in recs:
        r = decode_match(value)
        k = (r["trigger_id"], r["event_id"])
        seen[k] = seen.get(k, 0) + 1
        if key != r["trigger_id"].encode():
            wrong("@%d/%d: key %r, trigger_id %s" % (part, off, key, r["trigger_id"]))
        want_part = (murmur2(key) & 0x7FFFFFFF) % nparts
        if part != want_part:
            wrong("@%d/%d: key %s on partition %d, murmur2 says %d" % (part, off, key, part, want_part))
        if k not in exp:
            wrong("unexpected match %s" % (k,))
            continue
        t, ev, params = exp[k]
        want = {"trigger_name": t["name"], "event_type": ev["type"], "source": ev["source"],
                "correlation_id": ev.get("correlation_id"),
                "traceparent": ev.get("metadata", {}).get("traceparent"),
                "workflow": t["workflow"], "params": params,
                "occurred_at": ev["occurred_at"]}
        for f, v in want.items():
            if r[f] != v:
                wrong("%s/%s: %s = %r, want %r" % (t["name"], ev["id"], f, r[f], v))
        if r["params"].encode() != params.encode():
            wrong("%s/%s: params bytes differ" % (t["name"], ev["id"]))
        if accepted_ts.get(ev["id"]) != [r["accepted_at"]]:
            wrong("%s/%s: accepted_at %d, events.accepted record(s) at %r"
                  % (t["name"], ev["id"], r["accepted_at"], accepted_ts.get(ev["id"])))
        if not r["accepted_at"] <= r["matched_at"] <= int(time.time() * 1000):
            wrong("%s/%s: matched_at %d, accepted_at %d" % (t["name"], ev["id"],
                                                             r["matched_at"], r["accepted_at"]))
    dups = sum(n - 1 for n in seen.values() if n > 1)
    missing = [k for k in exp if k not in seen]
    by_trigger = {}
    for t, _, _ in exp.values():
        by_trigger[t["name"]] = by_trigger.get(t["name"], 0) + 1
    print("events=%d expected=%d records=%d distinct=%d duplicates=%d missing=%d wrong=%d "
          "partitions=%d" % (len(events), len(exp), len(recs), len(seen), dups, len(missing),
                             len(bad), nparts))
    print("expected by trigger: " + " ".join("%s=%d" % kv for kv in sorted(by_trigger.items())))
    for b in bad:
        print("  " + b)
    for k in missing[:10]:
        print("  missing " + str(k))
    return 0 if not bad and not missing and not dups and len(recs) == len(exp) else 1


def cmd_deliveries(a):
    """trigger_deliveries (psql -At -F TAB: launch_id, trigger_id, event_id, outcome,
    workflow, params, enabled, paused) against the reference."""
    triggers = load_triggers(a.triggers)
    events = []
    for path in a.events:
        events += [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    exp = {}
    for (tid, eid), (t, ev, params) in expected(triggers, events).items():
        lid = str(uuid.uuid5(uuid.UUID(tid), eid.lower()))
        exp[lid] = (tid, eid, t, params)
    rows, bad = {}, []
    for line in open(a.rows, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line:
            continue
        lid, tid, eid, outcome, wf, params, enabled, paused = line.split("\t")
        rows[lid] = True
        if lid not in exp:
            bad.append("unexpected delivery %s (%s, %s)" % (lid, tid, eid))
            continue
        etid, eeid, t, eparams = exp[lid]
        want = "paused" if enabled != "t" or paused == "t" else "launched"
        got = (tid, eid, outcome, wf, params)
        if got != (etid, eeid, want, t["workflow"], eparams):
            bad.append("%s: %r, want %r" % (lid, got, (etid, eeid, want, t["workflow"], eparams)))
    missing = [lid for lid in exp if lid not in rows]
    names = {}
    for _, _, t, _ in exp.values():
        names[t["name"]] = names.get(t["name"], 0) + 1
    print("expected=%d rows=%d missing=%d wrong=%d triggers_matched=%d"
          % (len(exp), len(rows), len(missing), len(bad), len(names)))
    for b in bad[:10]:
        print("  " + b)
    for m in missing[:10]:
        print("  missing " + m)
    return 0 if not bad and not missing else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("triggers")
    p.add_argument("dir")
    p.add_argument("--extra", action="store_true")
    p = sub.add_parser("deliveries")
    p.add_argument("--triggers", required=True)
    p.add_argument("--rows", required=True)
    p.add_argument("events", nargs="+")
    p = sub.add_parser("late-trigger")
    p.add_argument("file")
    for name in ("events", "late-events"):
        p = sub.add_parser(name)
        p.add_argument("n", type=int)
        p.add_argument("--seed", type=int, required=True)
    p = sub.add_parser("garbage")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p = sub.add_parser("drained")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, required=True)
    p = sub.add_parser("check")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--prefix", default="sluice.")
    p.add_argument("--triggers", required=True)
    p.add_argument("events", nargs="+")
    a = ap.parse_args()

    if a.cmd == "triggers":
        for i, (name, d, _) in enumerate(TRIGGERS + (EXTRA if a.extra else [])):
            with open("%s/%02d-%s.json" % (a.dir, i, name), "w", encoding="utf-8") as f:
                json.dump(definition(name, d), f, ensure_ascii=False)
        return 0
    if a.cmd == "late-trigger":
        with open(a.file, "w", encoding="utf-8") as f:
            json.dump(definition(LATE[0], LATE[1]), f, ensure_ascii=False)
        return 0
    if a.cmd in ("events", "late-events"):
        out = sys.stdout
        for ev in gen_events(a.n, a.seed, late=a.cmd == "late-events"):
            out.write(json.dumps(ev, ensure_ascii=False) + "\n")
        return 0
    if a.cmd == "garbage":
        p = Producer({"bootstrap.servers": a.bootstrap})
        p.produce(a.topic, key=b"garbage", value=b"\xc3\x01 not an envelope at all")
        return 0 if p.flush(10) == 0 else 1
    if a.cmd == "drained":
        return cmd_drained(a)
    if a.cmd == "deliveries":
        return cmd_deliveries(a)
    return cmd_check(a)


if __name__ == "__main__":
    sys.exit(main())
