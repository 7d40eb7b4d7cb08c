"""The WebSocket side of test_admin_stream (see the script for the story).

Usage: admin_stream_checks.py WORKDIR.  Publishes with sluicectl (ADMIN_IT_SLUICECTL)
and checks every message against what it published, field by field and the payload's
bytes; reads sluice-admin's /metrics only for what no data can show (a client dropped).
"""
import json
import os
import socket
import subprocess
import sys
import time
import uuid

import admin_client as ac
from ws_client import Closed, Refused, WebSocket, b64url

WORK = sys.argv[1]
WS = ac.URL.replace("http://", "ws://") + "/admin/stream"
N = 200             # events a round, published while the clients are connected
PAYLOAD_PAD = 10000  # bytes of padding per payload: the slow client's buffers fill fast
ROUNDS_MAX = 6


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def log(msg):
    print("  " + msg, file=sys.stderr, flush=True)


def metric(name):
    _, _, _, raw = ac.get("/metrics", token=None)
    for line in raw.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return None


def refused(url, expect, slug, **kw):
    try:
        ws = WebSocket(url, **kw)
    except Refused as r:
        p = r.problem()
        if r.status != expect or p["type"] != "urn:sluice:problem:" + slug or p["status"] != expect:
            fail("%s: expected %d %s, got %d %s" % (url, expect, slug, r.status, r.body))
        if r.headers.get("content-type") != "application/problem+json":
            fail("refusal is not a problem body: %s" % r.headers)
        return r
    ws.close()
    fail("%s: the upgrade was accepted, expected %d" % (url, expect))


def publish(events):
    path = os.path.join(WORK, "publish-%s.jsonl" % uuid.uuid4().hex[:8])
    with open(path, "w") as f:
        for e in events:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    subprocess.run([os.environ["ADMIN_IT_SLUICECTL"], "-X", "log.level=warn", "publish", path],
                   check=True, stdout=subprocess.DEVNULL)


def rfc3339(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def check_message(raw, sent):
    """raw: the message text; sent: the event as published."""
    m = json.loads(raw)
    for k in ("id", "type", "source", "correlation_id", "ttl_ms"):
        if m[k] != sent.get(k):
            fail("event %s: %s is %r, published %r" % (sent["id"], k, m[k], sent.get(k)))
    if m["occurred_at"] != rfc3339(sent["occurred_at"]):
        fail("event %s: occurred_at %s, published %s" % (sent["id"], m["occurred_at"], sent["occurred_at"]))
    if m["metadata"] != sent["metadata"]:
        fail("event %s: metadata %r" % (sent["id"], m["metadata"]))
    # The payload's bytes as published (sluicectl sends it compact, in key order).
    text = json.dumps(sent["payload"], ensure_ascii=False, separators=(",", ":"))
    if ('"payload":' + text) not in raw:
        fail("event %s: payload bytes differ from what was published" % sent["id"])
    if m["replay_of"] is not None or m["kafka"]["topic"] != "sluice.events.accepted":
        fail("event %s: replay_of/kafka %r %r" % (sent["id"], m["replay_of"], m["kafka"]))
    return m


def round_check(a, c, rnd, now, sent):
    """Publish N events; C must get each, A exactly those its filter allows."""
    events = []
    types = ["order.created", "order.paid", "user.seen"]
    sources = ["shop", "crm", "shop", "web"]
    for i in range(N):
        k = rnd * N + i
        e = {"id": str(uuid.uuid4()), "type": types[i % 3], "source": sources[i % 4],
             "occurred_at": now - 10000 + k, "payload": {"n": k, "text": "ünïcode ✓ <b>&amp;", "pad": "x" * PAYLOAD_PAD},
             "correlation_id": "corr-%d" % k if i % 5 == 0 else None,
             "ttl_ms": 3600000 if i % 7 == 0 else None, "metadata": {"i": str(k)}}
        events.append(e)
    publish(events)
    sent.update({e["id"]: e for e in events})
    want_a = {e["id"] for e in events if e["type"] in ("order.created", "order.paid") and e["source"] == "shop"}
    got_c = {}
    while len(got_c) < N:
        try:
            raw = c.recv(timeout=20)
        except socket.timeout:
            fail("client C got %d of %d events in 20 s" % (len(got_c), N))
        m = check_message(raw, sent[json.loads(raw)["id"]])
        got_c[m["id"]] = m
    got_a, order = {}, []
    deadline = time.time() + 20
    while len(got_a) < len(want_a):
        try:
            raw = a.recv(timeout=max(0.1, deadline - time.time()))
        except socket.timeout:
            fail("client A got %d of %d events" % (len(got_a), len(want_a)))
        m = json.loads(raw)
        if m["id"] not in want_a:
            fail("client A got an event its filter excludes: %s %s" % (m["type"], m["source"]))
        check_message(raw, sent[m["id"]])
        got_a[m["id"]] = m
        order.append(sent[m["id"]]["payload"]["n"])
    if order != sorted(order):
        fail("client A got shop's events out of order")
    try:
        raw = a.recv(timeout=0.3)
        fail("client A got one more event than its filter allows: %s" % raw[:200])
    except socket.timeout:
        pass
    return len(got_a), len(got_c)


def main():
    read, operate = ac.TOKENS["read"], ac.TOKENS["operate"]
    bearer = lambda t: {"Authorization": "Bearer " + t}

    # Refusals, before any upgrade: each an RFC 9457 problem.
    r = refused(WS, 401, "unauthorized")
    if "Bearer" not in r.headers.get("www-authenticate", ""):
        fail("401 without a Bearer challenge")
    refused(WS, 401, "invalid-token", headers=bearer("not-a-configured-token-123"))
    refused(WS, 401, "invalid-token", protocols=["sluice.v1", "bearer." + b64url("wrong-token-0123456789")])
    r = refused(WS, 403, "insufficient-scope", headers=bearer(operate))
    if 'error="insufficient_scope"' not in r.headers.get("www-authenticate", ""):
        fail("403 without insufficient_scope")
    refused(WS + "?status=accepted", 400, "invalid-parameter", headers=bearer(read))
    refused(WS + "?type=", 400, "invalid-parameter", headers=bearer(read))
    refused(WS + "?type=%01x", 400, "invalid-parameter", headers=bearer(read))
    st, hdrs, body, _ = ac.get("/admin/stream", token="read")
    if st != 426 or body["type"] != "urn:sluice:problem:upgrade-required" or hdrs.get("upgrade") != "websocket":
        fail("a plain GET /admin/stream: %d %r" % (st, body))
    st, _, _, _ = ac.get("/admin/stream", token=None)
    if st != 401:
        fail("a plain GET /admin/stream without a token: %d" % st)
    log("ok: no token, unknown tokens (header and subprotocol), operate-only, bad filters and a plain GET are refused with problems")

    # A: filtered, token in the Authorization header.  C: no filter, token as a
    # subprotocol (the browser's way); the server selects sluice.v1, never the token.
    a = WebSocket(WS + "?type=order.created&type=order.paid&source=shop", headers=bearer(read))
    c = WebSocket(WS, protocols=["sluice.v1", "bearer." + b64url(read)])
    if c.protocol != "sluice.v1":
        fail("selected subprotocol %r, expected sluice.v1" % c.protocol)
    # B: never reads, with a small receive buffer.
    b = WebSocket(WS, headers=bearer(read), rcvbuf=4096)
    # A fourth client is over admin.stream.max.clients (3).
    refused(WS, 503, "unavailable", headers=bearer(read))
    if metric("sluice_admin_stream_clients") != 3:
        fail("gauge: %r clients, expected 3" % metric("sluice_admin_stream_clients"))
    log("ok: three clients connected (one by subprotocol), a fourth refused 503")

    # Rounds of events until B's socket buffers (the kernel sizes them: up to
    # net.ipv4.tcp_wmem's max on the server's side) and then its queue are full.
    now = int(time.time() * 1000)
    sent, total_a, t0 = {}, 0, time.time()
    for rnd in range(ROUNDS_MAX):
        got_a, got_c = round_check(a, c, rnd, now, sent)
        total_a += got_a
        if metric("sluice_admin_stream_dropped_total") == 1:
            break
    log("ok: in %d rounds C got all %d events, A exactly the %d its filter allows, byte "
        "for byte, in %.1f s" % (rnd + 1, len(sent), total_a, time.time() - t0))

    # B was dropped (its queue of 50 filled), while A and C kept receiving; its
    # connection ends (close 1008 or, with its window full, once a write times out).
    dropped = metric("sluice_admin_stream_dropped_total")
    if dropped != 1:
        fail("sluice_admin_stream_dropped_total is %r, expected 1" % dropped)
    deadline = time.time() + 15
    while metric("sluice_admin_stream_clients") != 2:
        if time.time() > deadline:
            fail("the dropped client is still connected: %r clients" % metric("sluice_admin_stream_clients"))
        time.sleep(0.2)
    n_b, end = 0, None
    try:
        while True:
            b.recv(timeout=5)
            n_b += 1
    except Closed as e:
        end = "close %s" % e.code
    except (socket.timeout, ConnectionError, ValueError, UnicodeDecodeError, struct_error()) as e:
        end = type(e).__name__
    if n_b >= len(sent):
        fail("the slow client got every event (%d): it was never dropped" % n_b)
    log("ok: the slow client was dropped after %d events (%s); A and C got everything" % (n_b, end))

    # A and C still live: one more event reaches both.
    last = {"id": str(uuid.uuid4()), "type": "order.paid", "source": "shop", "occurred_at": now,
            "payload": {"last": True}, "correlation_id": None, "ttl_ms": None, "metadata": {}}
    sent[last["id"]] = last
    publish([last])
    for ws, name in ((a, "A"), (c, "C")):
        m = check_message(ws.recv(timeout=10), last)
        if m["id"] != last["id"]:
            fail("client %s: %s instead of the last event" % (name, m["id"]))
    a.close()
    c.close()
    deadline = time.time() + 10
    while metric("sluice_admin_stream_clients") != 0:
        if time.time() > deadline:
            fail("clients still counted after closing: %r" % metric("sluice_admin_stream_clients"))
        time.sleep(0.1)
    log("ok: after the drop A and C still receive; closed clients leave the gauge")


def struct_error():
    import struct
    return struct.error


main()
