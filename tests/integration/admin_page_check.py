"""The browser side of test_admin_page: drives headless Chromium over the DevTools
protocol (ws_client.py), loads sluice-admin's status page, pastes the read token,
publishes an event and waits for the page to show it in the live stream, in the
recent events after a search, and in its trace.  Every console message, uncaught
exception and browser log entry of level error fails the check, as does a JavaScript
dialog (an event's markup executed).  Keeps a screenshot.

Usage: admin_page_check.py DEVTOOLS_PORT WORKDIR SCREENSHOT
"""
import base64
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

import admin_client as ac
from ws_client import WebSocket

PORT, WORK, SHOT = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def log(msg):
    print("  " + msg, file=sys.stderr, flush=True)


class Cdp:
    def __init__(self, url):
        self.ws = WebSocket(url, timeout=20)
        self.n = 0
        self.events = []
        self.errors = []

    def _note(self, m):
        method, p = m.get("method"), m.get("params", {})
        self.events.append(m)
        if method == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert", "warning"):
            self.errors.append("console.%s: %s" % (p["type"], " ".join(
                str(a.get("value", a.get("description", ""))) for a in p.get("args", []))))
        elif method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            self.errors.append("uncaught: %s" % d.get("exception", {}).get("description", d.get("text")))
        elif method == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
            e = p["entry"]
            self.errors.append("log %s (%s): %s %s" % (e["level"], e["source"], e["text"], e.get("url", "")))
        elif method == "Page.javascriptDialogOpening":
            self.errors.append("a dialog opened: %s" % p.get("message"))
            self.call("Page.handleJavaScriptDialog", accept=True)

    def call(self, method, **params):
        self.n += 1
        my = self.n
        self.ws.send_text(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv(timeout=20))
            if m.get("id") == my:
                if "error" in m:
                    fail("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self._note(m)

    def pump(self, secs):
        end = time.time() + secs
        while time.time() < end:
            try:
                self._note(json.loads(self.ws.recv(timeout=max(0.01, end - time.time()))))
            except OSError:
                break

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            fail("evaluating %s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def wait(self, expr, secs, what):
        end = time.time() + secs
        while time.time() < end:
            if self.js(expr):
                return
            self.pump(0.1)
        fail("the page did not %s within %d s (errors: %s)" % (what, secs, self.errors))


def main():
    targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % PORT, timeout=10))
    page = next(t for t in targets if t["type"] == "page")
    cdp = Cdp(page["webSocketDebuggerUrl"])
    for domain in ("Runtime", "Log", "Page"):
        cdp.call(domain + ".enable")
    t0 = time.time()
    cdp.call("Page.navigate", url=ac.URL + "/")
    cdp.wait("document.readyState === 'complete' && !!document.getElementById('token-form')", 10, "load")
    # Without a token the page says so and calls nothing.
    cdp.wait("document.getElementById('token-state').textContent.includes('no token')", 5, "ask for a token")
    token = ac.TOKENS["read"]
    cdp.js("document.getElementById('token').value = %s; "
           "document.getElementById('token-form').requestSubmit(); true" % json.dumps(token))
    cdp.wait("sessionStorage.getItem('sluice.admin.token') !== null && "
             "document.getElementById('token').value === ''", 5, "keep the token")
    cdp.wait("document.getElementById('stream-state').textContent === 'live'", 10, "connect the stream")
    cdp.wait("document.querySelectorAll('#checks tbody tr').length > 0", 10, "show the health checks")
    log("ok: page loaded, token kept in sessionStorage, health shown, stream live in %.1f s" % (time.time() - t0))

    # An event whose text is markup: shown as text, never run.
    eid = str(uuid.uuid4())
    ev = {"id": eid, "type": "page.test", "source": "browser",
          "payload": {"html": "<img src=x onerror=alert(1)>", "n": 7}, "metadata": {}}
    path = os.path.join(WORK, "page-event.jsonl")
    with open(path, "w") as f:
        f.write(json.dumps(ev) + "\n")
    subprocess.run([os.environ["ADMIN_IT_SLUICECTL"], "-X", "log.level=warn", "publish", path],
                   check=True, stdout=subprocess.DEVNULL)
    cdp.wait("document.querySelector('#stream tbody').innerText.includes(%s)" % json.dumps(eid), 15,
             "show the published event in the live stream")
    row = cdp.js("Array.from(document.querySelectorAll('#stream tbody tr')).map(r => r.innerText)"
                 ".find(t => t.includes(%s))" % json.dumps(eid))
    if "page.test" not in row or "browser" not in row or "<img src=x onerror=alert(1)>" not in row:
        fail("the stream row does not show the event as published: %r" % row)
    log("ok: the event published during the test is in the live stream, its markup as text")

    # Recent events (after ingress wrote it) with a search, then its trace.
    cdp.js("document.querySelector('#search [name=source]').value = 'browser'; true")
    end = time.time() + 15
    while not cdp.js("document.querySelector('#events tbody').innerText.includes(%s)" % json.dumps(eid)):
        if time.time() > end:
            fail("the event never showed in the recent events (errors: %s)" % cdp.errors)
        cdp.js("document.getElementById('search').requestSubmit(); true")
        cdp.pump(0.3)
    cdp.js("Array.from(document.querySelectorAll('#events tbody tr'))"
           ".find(r => r.innerText.includes(%s)).click(); true" % json.dumps(eid))
    cdp.wait("document.getElementById('trace').textContent.includes('\"admission\"') && "
             "document.getElementById('trace-id').textContent === %s" % json.dumps(eid), 10, "show the trace")
    log("ok: the search finds the event and its trace shows")

    if cdp.js("document.querySelectorAll('main img').length") != 0:
        fail("event data became markup: an <img> is in the page")
    cdp.pump(0.5)
    shot = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    with open(SHOT, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    if cdp.errors:
        fail("the page logged errors:\n  " + "\n  ".join(cdp.errors))
    log("ok: no console error, no exception, no dialog; screenshot %s" % SHOT)


main()
