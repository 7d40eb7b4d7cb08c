"""The HTTP side of test_admin_hardening.sh.  argv: the parts to run (injection, slow)."""
import socket
import sys
import threading
import time
import urllib.parse
import uuid

from admin_client import URL, TOKENS, check, fail, get, is_problem, post, request, sql


def log(msg):
    print("[admin_hardening_checks] " + msg, file=sys.stderr)


STATE_SQL = ("select md5(string_agg(x, '|' order by x)) from ("
             " select table_name || '.' || column_name || ':' || data_type || ':' || is_nullable x"
             " from information_schema.columns where table_schema = 'public'"
             " union all select indexname || ':' || indexdef from pg_indexes where schemaname = 'public'"
             " union all select conname || ':' || pg_get_constraintdef(oid) from pg_constraint"
             " where connamespace = 'public'::regnamespace"
             " union all select tgname from pg_trigger where not tgisinternal) s")
COUNTS_SQL = ("select string_agg(t || '=' || (xpath('/row/c/text()', query_to_xml("
              "format('select count(*) c from %I', t), false, true, '')))[1]::text, ',' order by t) "
              "from (select tablename t from pg_tables where schemaname = 'public') x")

# Payloads (raw strings; percent-encoded where they go into a URL).
SQLI = ["' OR '1'='1", "' OR 1=1 --", "'; DROP TABLE workflow_events; --", "1; DELETE FROM pauses",
        "\") OR true --", "' UNION SELECT id, type FROM workflow_events --", "%' OR source LIKE '%",
        "admin'--", "1' AND pg_sleep(2)::text = '", "$1", "$$; DROP TABLE sources; $$",
        "'||(SELECT version())||'", "\\'; TRUNCATE dead_letters; --", "1 OR 1=1",
        "00000000-0000-0000-0000-000000000000' OR '1'='1", "*/ OR /*", "';COMMIT;DROP TABLE triggers;--"]
TRAVERSAL = ["../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/", "....//....//",
             "..\\..\\windows", "/admin/../metrics", "%00../../", "%252e%252e%252f"]
OVERSIZED = ["A" * 1001, "é" * 600, "'" * 5000, "x" * 20000]
BADUTF8 = ["%ff%fe", "%c3%28", "%e2%82", "%ed%a0%80", "%f8%88%80%80%80", "%c0%af", "abc%80"]
CONTROL = ["%00", "a%00b", "%0d%0aX-Injected: 1", "%1b[31m", "%7f", "\t"]


def enc(p):
    """URL form of a payload: already-encoded ones stay, others are quoted."""
    if any(p.startswith(x) or ("%" in p and x in p) for x in ("%ff", "%c3", "%e2", "%ed", "%f8", "%c0",
                                                                "%00", "%0d", "%1b", "%7f", "%80", "%2e",
                                                                "%2f", "%25")):
        return p.replace(" ", "%20")
    return urllib.parse.quote(p, safe="")


ALL = SQLI + TRAVERSAL + OVERSIZED + BADUTF8 + CONTROL
EID = None
results = {"4xx": 0, "200-empty": 0}


def expect(s, h, js, raw, what, empty_ok):
    if 400 <= s < 500:
        check(is_problem(s, h, js), "%s: %d without a problem body %r" % (what, s, raw[:200]))
        results["4xx"] += 1
        return
    if s == 200 and empty_ok and empty_ok(js):
        results["200-empty"] += 1
        return
    fail("%s: answered %d %r" % (what, s, raw[:300]))


def injection():
    global EID
    EID = sql("select id from workflow_events limit 1")
    counts0, schema0 = sql(COUNTS_SQL), sql(STATE_SQL)
    n = 0
    # free-text filters: a valid text payload may be a 200 that matched nothing
    list_empty = {"events": lambda j: j["events"] == [], "dlq": lambda j: j["dead_letters"] == [],
                  "rollups": lambda j: j["rows"] == []}
    for p in ALL:
        e = enc(p)
        for route, params, free in (("events", ("type", "source", "correlation_id"), True),
                                    ("events", ("status", "from", "to", "limit", "cursor"), False),
                                    ("dlq", ("reason", "source", "type", "event_id"), True),
                                    ("dlq", ("from", "to", "limit", "cursor"), False),
                                    ("rollups", ("type", "source", "status", "trigger", "outcome"), True),
                                    ("rollups", ("table", "bucket", "from", "to", "limit"), False),
                                    # no upgrade asked: 400 for a bad filter, else 426
                                    ("stream", ("type", "source"), False)):
            for prm in params:
                s, h, js, raw = get("/admin/%s?%s=%s" % (route, prm, e), token="read")
                expect(s, h, js, raw, "%s %s=%r" % (route, prm, p[:40]), list_empty[route] if free else None)
                n += 1
        # path parameters
        for path, method, tok in (("/admin/events/%s", "GET", "read"),
                                  ("/admin/sources/%s/resume", "POST", "operate"),
                                  ("/admin/triggers/%s/pause", "POST", "operate"),
                                  ("/admin/triggers/%s/resume", "POST", "operate"),
                                  ("/admin/retries/%s/cancel", "POST", "operate"),
                                  ("/admin/replay-jobs/%s", "GET", "read"),
                                  ("/admin/replay-jobs/%s/cancel", "POST", "operate")):
            body = {"reason": "injection test"} if path.endswith("pause") else None
            s, h, js, raw = request(method, path % e, token=tok, body=body)
            expect(s, h, js, raw, "%s %r" % (path, p[:40]), None)
            n += 1
        # body fields (invalid UTF-8 and control bytes go in raw)
        raw_p = urllib.parse.unquote_to_bytes(p) if "%" in p else p.encode()
        for field in ("until", "for_ms"):
            s, h, js, raw = post("/admin/sources/hardening/pause", token="operate",
                                 raw_body=b'{"reason": "x", "' + field.encode() + b'": "' +
                                 raw_p.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"}')
            expect(s, h, js, raw, "pause %s=%r" % (field, p[:40]), None)
            n += 1
        for body in ({"ids": [p], "dry_run": True}, {"ids": [EID, p], "dry_run": True},
                     {"filter": {"type": "order.created", "from": p, "to": "2100-01-01T00:00:00Z"}, "dry_run": True},
                     {"filter": {"type": "order.created", "from": "2000-01-01T00:00:00Z", "to": p}, "dry_run": True},
                     {"ids": [EID], "limit": p, "dry_run": True}, {"ids": [EID], "dry_run": p}):
            s, h, js, raw = post("/admin/replay", body, token="operate")
            expect(s, h, js, raw, "replay %r" % str(body)[:60], None)
            n += 1
        # free text in replay filters: valid text matches nothing (dry run)
        for f in ("type", "source", "correlation_id", "status"):
            s, h, js, raw = post("/admin/replay", {"filter": {f: p, "from": "2000-01-01T00:00:00Z",
                                                              "to": "2100-01-01T00:00:00Z"}, "dry_run": True},
                                 token="operate")
            expect(s, h, js, raw, "replay filter %s=%r" % (f, p[:40]), lambda j: j["count"] == 0)
            n += 1
        # reason text that is not valid (control, oversized): refused
        if p in OVERSIZED or p in CONTROL or p in BADUTF8:
            s, h, js, raw = post("/admin/sources/hardening/pause", token="operate",
                                 raw_body=b'{"reason": "' + raw_p.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"}')
            expect(s, h, js, raw, "pause reason %r" % p[:40], None)
            n += 1
    # a body that is not JSON, or not UTF-8
    for rb in (b"\xff\xfe{}", b"{'a': 1}", b"[]", b"null", b'{"reason": "\xc3\x28"}', b"{" * 5000):
        for path in ("/admin/replay", "/admin/sources/hardening/pause", "/admin/retries/%s/cancel" % uuid.uuid4()):
            s, h, js, raw = post(path, raw_body=rb, token="operate")
            expect(s, h, js, raw, "raw body %r on %s" % (rb[:20], path), None)
            n += 1
    check(n >= 500, "only %d payloads" % n)
    counts1, schema1 = sql(COUNTS_SQL), sql(STATE_SQL)
    check(counts0 == counts1, "row counts changed:\n%s\n%s" % (counts0, counts1))
    check(schema0 == schema1, "schema changed")
    check(get("/admin/events", token="read")[0] == 200, "still serving")
    log("ok: %d injection payloads: %d answered 4xx problems, %d 200 with nothing matched; "
        "row counts and schema unchanged" % (n, results["4xx"], results["200-empty"]))


def slow():
    u = urllib.parse.urlsplit(URL)
    socks = []
    for i in range(200):
        s = socket.create_connection((u.hostname, u.port), timeout=5)
        if i % 2:
            s.sendall(b"GET /admin/events HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    stop = threading.Event()

    def drip():
        while not stop.is_set():
            for i, s in enumerate(socks):
                if i % 2:
                    try:
                        s.sendall(b"X")
                    except OSError:
                        pass
            time.sleep(0.3)

    t = threading.Thread(target=drip)
    t.start()
    time.sleep(0.3)
    worst = 0
    for _ in range(5):
        t0 = time.time()
        s, h, js, raw = get("/admin/events?limit=5", token="read")
        dt = time.time() - t0
        worst = max(worst, dt)
        check(s == 200, "normal request under load: %d" % s)
        time.sleep(0.1)
    stop.set()
    t.join()
    for s in socks:
        s.close()
    check(worst < 1.0, "a normal request took %.3f s with 200 idle or slow connections open" % worst)
    log("ok: with 200 idle or slow connections open, normal requests took at most %.3f s" % worst)


for part in sys.argv[1:]:
    globals()[part]()
