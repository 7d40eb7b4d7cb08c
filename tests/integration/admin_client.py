"""A small HTTP client of sluice-admin for the test_admin_* tests.

Reads ADMIN_IT_URL and the tokens ADMIN_IT_TOKEN_{READ,OPERATE,BOTH}.  Every
call returns (status, headers dict with lower-case names, parsed JSON body or None,
raw body bytes).  http.client, not urllib: raw paths and bytes go out unchanged.
"""
import http.client
import json
import os
import sys
import urllib.parse

URL = os.environ.get("ADMIN_IT_URL", "")
TOKENS = {
    "read": os.environ.get("ADMIN_IT_TOKEN_READ"),
    "operate": os.environ.get("ADMIN_IT_TOKEN_OPERATE"),
    "both": os.environ.get("ADMIN_IT_TOKEN_BOTH"),
}


def request(method, path, token="both", body=None, headers=None, raw_body=None, timeout=10):
    u = urllib.parse.urlsplit(URL)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + (TOKENS.get(token) or token)
    data = raw_body
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if data is not None and "Content-Length" not in h:
        h["Content-Length"] = str(len(data))
    conn.putrequest(method, path, skip_accept_encoding=True)
    for k, v in h.items():
        conn.putheader(k, v)
    conn.endheaders()
    if data:
        conn.send(data)
    r = conn.getresponse()
    raw = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    try:
        js = json.loads(raw) if raw else None
    except ValueError:
        js = None
    return r.status, hdrs, js, raw


def get(path, token="both", **kw):
    return request("GET", path, token, **kw)


def post(path, body=None, token="both", **kw):
    return request("POST", path, token, body=body, **kw)


def q(path, **params):
    return path + ("?" + urllib.parse.urlencode(params) if params else "")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def is_problem(status, hdrs, js):
    return (hdrs.get("content-type", "").startswith("application/problem+json")
            and isinstance(js, dict) and js.get("status") == status
            and isinstance(js.get("type"), str) and isinstance(js.get("title"), str))


def all_pages(path, key, token="both", limit=None, **params):
    """Every item of a paginated listing, and the number of pages."""
    items, pages, cursor = [], 0, None
    while True:
        p = dict(params)
        if limit:
            p["limit"] = limit
        if cursor:
            p["cursor"] = cursor
        s, h, js, raw = get(q(path, **p), token)
        check(s == 200, "%s -> %d %r" % (path, s, raw[:300]))
        items += js[key]
        pages += 1
        cursor = js["next_cursor"]
        if not cursor:
            return items, pages


def sql(query):
    """One value (or rows joined by newlines) from the test's Postgres, via psql."""
    import subprocess
    out = subprocess.run(
        ["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
         os.environ["SLUICE_PG_PORT"], "-U", "sluice", "-d", "sluice", "-c", query],
        check=True, capture_output=True, text=True, env=dict(os.environ, PGCONNECT_TIMEOUT="5"))
    return out.stdout.strip()


def publish(lines):
    """Publish JSON envelopes (dicts) with sluicectl publish."""
    import subprocess
    data = "".join(json.dumps(e) + "\n" for e in lines)
    subprocess.run([os.environ["ADMIN_IT_SLUICECTL"], "-X", "log.level=warn", "publish", "-"],
                   input=data, text=True, check=True, capture_output=True)


def wait_for(fn, timeout=30, what="condition"):
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    fail("timed out waiting for " + what)
