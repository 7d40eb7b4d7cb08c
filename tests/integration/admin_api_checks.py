"""The HTTP side of test_admin_api.sh: every route of sluice-admin against Postgres.

argv[1]: the JSON lines the test published (60 events).
"""
import json
import re
import sys
import threading
import time
import uuid

from admin_client import (all_pages, check, fail, get, is_problem, post, publish, q,
                          request, sql, wait_for)

published = [json.loads(l) for l in open(sys.argv[1])]
by_id = {e["id"]: e for e in published}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def log(msg):
    print("[admin_api_checks] " + msg, file=sys.stderr)


def ids(items):
    return [e["id"] for e in items]


# --- GET /admin/events: every filter equals its SQL --------------------------------
s, h, js, raw = get("/admin/events")
check(s == 200 and h["content-type"] == "application/json", "events: %d %s" % (s, raw[:200]))
check(len(js["events"]) == 60 and js["next_cursor"] is None, "events: 60 on one page")
ev = js["events"][0]
for f in ("id", "type", "source", "occurred_at", "received_at", "status", "reason", "attempt",
          "decided_at", "correlation_id", "replay_of", "kafka"):
    check(f in ev, "event field %s" % f)
check(RFC3339.match(ev["occurred_at"]) and RFC3339.match(ev["received_at"]), "RFC 3339 times")
newest = sql("select id from workflow_events order by occurred_at desc, id desc limit 1")
check(ev["id"] == newest, "newest first")

filters = [
    ({"type": "order.paid"}, "type = 'order.paid'"),
    ({"source": "limited"}, "source = 'limited'"),
    ({"status": "accepted"}, "status = 'accepted'"),
    ({"correlation_id": "corr-0"}, "correlation_id = 'corr-0'"),
    ({"type": "order.created", "source": "shop"}, "type = 'order.created' and source = 'shop'"),
]
mid = sql("select to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
          "from workflow_events order by occurred_at limit 1 offset 20")
late = sql("select to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
           "from workflow_events order by occurred_at limit 1 offset 40")
filters += [({"from": mid}, "occurred_at >= '%s'" % mid), ({"to": mid}, "occurred_at < '%s'" % mid),
            ({"from": mid, "to": late}, "occurred_at >= '%s' and occurred_at < '%s'" % (mid, late)),
            ({"from": mid.replace("Z", "+02:00")},
             "occurred_at >= '%s'" % mid.replace("Z", "+02:00"))]
for params, where in filters:
    got, _ = all_pages("/admin/events", "events", limit=7, **params)
    want = sql("select coalesce(string_agg(id::text, ',' order by occurred_at desc, id desc), '') "
               "from workflow_events where " + where).split(",")
    want = [w for w in want if w]
    check(ids(got) == want, "filter %r: %d items, SQL %d" % (params, len(got), len(want)))
    check(len(want) > 0, "filter %r matched nothing" % params)
log("ok: GET /admin/events with %d filter sets equals SQL, page by page" % len(filters))

# --- pagination while events arrive --------------------------------------------------
before = set(sql("select string_agg(id::text, ',') from workflow_events").split(","))
stop = threading.Event()
arrived = []


def arrive():
    n = 0
    now = int(time.time() * 1000)
    while not stop.is_set() and n < 200:
        batch = []
        for k in range(10):
            e = {"id": str(uuid.uuid4()), "type": "late.arrival", "source": "crm",
                 # half older than every page (late arrivals), half newer
                 "occurred_at": now - 3600_000 + (n * 17_000) % 3600_000 if k % 2 else now + n,
                 "payload": {"n": n}}
            batch.append(e)
            n += 1
        publish(batch)
        arrived.extend(e["id"] for e in batch)
        time.sleep(0.05)


t = threading.Thread(target=arrive)
t.start()
seen, pages = [], 0
cursor = None
while True:
    p = {"limit": 3}
    if cursor:
        p["cursor"] = cursor
    s, h, js, raw = get(q("/admin/events", **p))
    check(s == 200, "page: %d %r" % (s, raw[:200]))
    seen += ids(js["events"])
    pages += 1
    cursor = js["next_cursor"]
    if not cursor:
        break
    time.sleep(0.02)
stop.set()
t.join()
check(len(seen) == len(set(seen)), "a page repeated an event")
missing = before - set(seen)
check(not missing, "pagination skipped %d events that were there: %s" % (len(missing), list(missing)[:3]))
check(set(seen) <= before | set(arrived), "pagination showed unknown ids")
log("ok: %d pages of 3 while %d events arrived: no duplicate, no gap (%d seen)" %
    (pages, len(arrived), len(seen)))
wait_for(lambda: sql("select count(*) from workflow_events") == str(60 + len(arrived)), 30,
         "the arrivals in Postgres")

# --- limits and cursors --------------------------------------------------------------
for bad in ({"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"cursor": "bm90LWEtY3Vyc29y"},
            {"cursor": "!!"}, {"status": "rejected"}, {"from": "yesterday"}, {"nope": "1"}):
    s, h, js, raw = get(q("/admin/events", **bad))
    check(s == 400 and is_problem(s, h, js), "%r -> %d %r" % (bad, s, raw[:200]))
s, h, js, raw = get("/admin/events?limit=1000")
check(s == 200, "limit=1000 allowed")
log("ok: bad limit, cursor, status, time and unknown parameters are 400 problems")

# --- GET /admin/events/{id} ----------------------------------------------------------
for e in published[:5]:
    s, h, js, raw = get("/admin/events/" + e["id"])
    check(s == 200, "event %s -> %d" % (e["id"], s))
    got = js["event"]
    check(got["id"] == e["id"] and got["type"] == e["type"] and got["source"] == e["source"],
          "event envelope fields")
    check(got["payload"] == e["payload"] and got["metadata"] == e["metadata"], "payload/metadata")
    check(got["correlation_id"] == e["correlation_id"], "correlation id")
    ms = int(sql("select (extract(epoch from occurred_at)*1000)::bigint from workflow_events "
                 "where id = '%s'" % e["id"]))
    check(ms == e["occurred_at"], "occurred_at")
    adm = js["admission"]
    check(adm["status"] == "accepted" and adm["attempt"] == 0 and RFC3339.match(adm["decided_at"]),
          "admission %r" % adm)
    check(js["retry"] is None and js["deliveries"] == [] and js["dead_letters"] == [], "story")
s, h, js, raw = get("/admin/events/" + str(uuid.uuid4()))
check(s == 404 and is_problem(s, h, js), "unknown event 404")
s, h, js, raw = get("/admin/events/not-a-uuid")
check(s == 404 and is_problem(s, h, js), "non-uuid 404")
log("ok: GET /admin/events/{id} has the envelope as published and its decision")

# --- GET /admin/dlq ------------------------------------------------------------------
dl, _ = all_pages("/admin/dlq", "dead_letters", limit=1)
check(len(dl) == 2, "2 dead letters, got %d" % len(dl))
check([d["id"] for d in dl] == [int(x) for x in sql(
    "select string_agg(id::text, ',' order by received_at desc, id desc) from dead_letters").split(",")],
    "dlq order")
for d in dl:
    want = sql("select reason || '|' || encode(raw, 'hex') from dead_letters where id = %d" % d["id"])
    import base64
    check(want == d["reason"] + "|" + base64.b64decode(d["raw_base64"]).hex(), "dlq raw bytes")
reason = dl[0]["reason"]
got, _ = all_pages("/admin/dlq", "dead_letters", reason=reason)
check(len(got) == int(sql("select count(*) from dead_letters where reason = '%s'" % reason)), "dlq reason filter")
got, _ = all_pages("/admin/dlq", "dead_letters", source="nobody")
check(got == [], "dlq source filter")
log("ok: GET /admin/dlq pages and filters equal SQL, raw bytes included")

# --- sources and triggers ------------------------------------------------------------
s, h, js, raw = get("/admin/sources")
check(s == 200, "sources")
src = {x["id"]: x for x in js["sources"]}
check(src["limited"]["configured"] and src["limited"]["limits"]["rate_limit"] == 1000, "limited configured")
wait_for(lambda: {x["id"]: x for x in get("/admin/sources")[2]["sources"]}.get("shop", {}).get("state"),
         10, "the admission mirror of shop")
s, h, js, raw = get("/admin/triggers")
check(s == 200 and [t["name"] for t in js["triggers"]] == ["trg-one"], "triggers %r" % raw[:200])
check(js["triggers"][0]["pause"] is None, "trigger not paused")
log("ok: GET /admin/sources and /admin/triggers with config and mirrored state")

# --- operate: pause / resume a source --------------------------------------------------
s, h, js, raw = post("/admin/sources/crm/pause", {"reason": "maintenance", "for_ms": 600000},
                     token="operate")
check(s == 200 and js["pause"]["reason"] == "maintenance" and js["by"] == "operator",
      "pause crm: %d %r" % (s, raw[:300]))
check(sql("select paused_by || '|' || reason from pauses where source = 'crm'") == "operator|maintenance",
      "pauses row")
# ingress learns of the pause through NOTIFY: publish until an event is decided 'paused'
pe = None
for _ in range(60):
    e = {"id": str(uuid.uuid4()), "type": "user.seen", "source": "crm", "payload": {}}
    publish([e])
    st = wait_for(lambda: sql("select status from workflow_events where id = '%s'" % e["id"]), 30, "a decision")
    if st == "paused":
        pe = e
        break
    time.sleep(0.2)
check(pe is not None, "no event of the paused source was decided 'paused'")
s, h, js, raw = get("/admin/events/" + pe["id"])
check(js["admission"]["status"] == "paused" and js["retry"]["state"] in ("scheduled", "due", "rescheduled"),
      "paused event story: %r" % raw[:400])
s, h, js, raw = get("/admin/sources")
crm = {x["id"]: x for x in js["sources"]}["crm"]
check(crm["pause"]["kind"] == "manual" and crm["pause"]["active"] and crm["pause"]["paused_by"] == "operator",
      "crm shown paused")
# cancel its retry
s, h, js, raw = post("/admin/retries/%s/cancel" % pe["id"], {"reason": "not needed"}, token="operate")
check(s == 200 and js["state"] == "cancelled", "cancel: %d %r" % (s, raw[:200]))
check(sql("select state || '|' || updated_by || '|' || cancel_reason from event_ingress_retries "
          "where event_id = '%s'" % pe["id"]) == "cancelled|operator|not needed", "retry row cancelled")
s, h, js, raw = post("/admin/retries/%s/cancel" % pe["id"], token="operate")
check(s == 409 and is_problem(s, h, js), "second cancel 409")
s, h, js, raw = post("/admin/retries/%s/cancel" % uuid.uuid4(), token="operate")
check(s == 404 and is_problem(s, h, js), "cancel unknown 404")
s, h, js, raw = post("/admin/sources/crm/resume", token="operate")
check(s == 200 and js["action"] == "resumed", "resume crm")
check(sql("select count(*) from pauses where source = 'crm'") == "0", "pause removed")
check(sql("select resumed_by from pause_history where source = 'crm'") == "operator", "pause_history")
s, h, js, raw = post("/admin/sources/crm/resume", token="operate")
check(s == 409 and is_problem(s, h, js), "resume of an unpaused source is 409")
for bad in ({}, {"reason": ""}, {"reason": "x", "until": "2001-01-01T00:00:00Z"},
            {"reason": "x", "for_ms": -1}, {"reason": "x", "extra": 1},
            {"reason": "x", "until": "2099-01-01T00:00:00Z", "for_ms": 5}):
    s, h, js, raw = post("/admin/sources/crm/pause", bad, token="operate")
    check(s == 400 and is_problem(s, h, js), "pause body %r -> %d" % (bad, s))
s, h, js, raw = post("/admin/sources/crm/pause", raw_body=b"{not json", token="operate",
                     headers={"Content-Type": "application/json"})
check(s == 400 and is_problem(s, h, js), "bad JSON 400")
log("ok: source pause/resume, retry cancel (pauses, pause_history, event_ingress_retries)")

# --- operate: pause / resume a trigger -----------------------------------------------
s, h, js, raw = post("/admin/triggers/trg-one/pause",
                     {"reason": "breaker drill", "until": "2099-01-01T00:00:00Z"}, token="operate")
check(s == 200 and js["pause"]["until"] == "2099-01-01T00:00:00.000Z", "pause trigger: %r" % raw[:300])
check(sql("select by from trigger_audit where action = 'pause'") == "operator", "trigger_audit pause")
s, h, js, raw = get("/admin/triggers")
check(js["triggers"][0]["pause"]["reason"] == "breaker drill", "trigger shown paused")
s, h, js, raw = post("/admin/triggers/trg-one/resume", token="operate")
check(s == 200, "resume trigger")
check(sql("select by from trigger_audit where action = 'resume'") == "operator", "trigger_audit resume")
s, h, js, raw = post("/admin/triggers/no-such/pause", {"reason": "x"}, token="operate")
check(s == 404 and is_problem(s, h, js), "unknown trigger 404")
log("ok: trigger pause/resume audited in trigger_audit by the token's name")

# --- replay -----------------------------------------------------------------------------
orig = published[7]
s, h, js, raw = post("/admin/replay", {"ids": [orig["id"]], "reason": "re-run"}, token="operate")
check(s == 200 and js["count"] == 1 and js["events"][0]["original_id"] == orig["id"], "replay: %r" % raw[:300])
new_id = js["events"][0]["id"]
check(new_id != orig["id"], "a replay is a new event")
wait_for(lambda: sql("select status from workflow_events where id = '%s'" % new_id), 30, "the replay in Postgres")
row = sql("select type || '|' || source || '|' || (payload = '%s'::jsonb) || '|' || (metadata->>'sluice.replay_of') "
          "|| '|' || (metadata->>'sluice.replayed_by') from workflow_events where id = '%s'"
          % (json.dumps(orig["payload"]).replace("'", "''"), new_id))
check(row == "%s|%s|true|%s|operator" % (orig["type"], orig["source"], orig["id"]), "replayed row: %s" % row)
s, h, js, raw = get("/admin/events/" + orig["id"])
check([r["id"] for r in js["replays"]] == [new_id], "the original names its replay")
s, h, js, raw = get("/admin/events/" + new_id)
check(js["event"]["replay_of"] == orig["id"], "the replay names its original")
# by filter, dry run then for real
want = int(sql("select count(*) from workflow_events where type = 'order.paid' and occurred_at >= '%s' "
               "and occurred_at < '%s'" % (mid, late)))
flt = {"type": "order.paid", "from": mid, "to": late}
s, h, js, raw = post("/admin/replay", {"filter": flt, "dry_run": True}, token="operate")
check(s == 200 and js["dry_run"] and js["count"] == want and want > 0, "dry run %r want %d" % (raw[:200], want))
n0 = int(sql("select count(*) from workflow_events"))
s, h, js, raw = post("/admin/replay", {"filter": flt, "limit": 2}, token="operate")
check(s == 200 and js["count"] == 2, "replay by filter limit 2")
wait_for(lambda: int(sql("select count(*) from workflow_events")) == n0 + 2, 30, "2 replays")
check(sql("select count(*) from admin_audit where action = 'replay' and by = 'operator'") == "2", "replays audited")
for bad in ({}, {"ids": []}, {"ids": ["x"]}, {"filter": {"type": "a"}}, {"ids": [orig["id"]], "filter": {}},
            {"filter": {"from": mid, "to": late, "bogus": 1}}, {"ids": [orig["id"]], "limit": 0}):
    s, h, js, raw = post("/admin/replay", bad, token="operate")
    check(s == 400 and is_problem(s, h, js), "replay body %r -> %d" % (bad, s))
log("ok: replay by id and by filter: new events naming the original, decided by ingress, audited")
check(sql("select string_agg(distinct by, ',') from admin_audit") == "operator", "audit names the token")
check(sql("select string_agg(action, ',' order by id) from admin_audit") == "pause_source,cancel_retry,resume_source,pause_trigger,resume_trigger,replay,replay", "every change audited: %s" % sql("select string_agg(action, ',' order by id) from admin_audit"))

# --- auth matrix on every route ------------------------------------------------------------
eid = published[0]["id"]
routes = [("GET", "/admin/events", "read"), ("GET", "/admin/events/" + eid, "read"),
          ("GET", "/admin/dlq", "read"), ("GET", "/admin/sources", "read"),
          ("GET", "/admin/triggers", "read"), ("GET", "/admin/event-health", "read"),
          ("POST", "/admin/sources/authm/pause", "operate"), ("POST", "/admin/sources/authm/resume", "operate"),
          ("POST", "/admin/triggers/trg-one/pause", "operate"), ("POST", "/admin/triggers/trg-one/resume", "operate"),
          ("POST", "/admin/retries/%s/cancel" % uuid.uuid4(), "operate"), ("POST", "/admin/replay", "operate"),
          ("GET", "/admin/rollups", "read"), ("GET", "/admin/replay-jobs", "read"),
          ("POST", "/admin/replay-jobs", "operate"), ("GET", "/admin/replay-jobs/999999", "read"),
          ("POST", "/admin/replay-jobs/999999/cancel", "operate")]
bodies = {"pause": {"reason": "auth matrix"}, "replay": {"ids": [eid], "dry_run": True},
          "replay-jobs": {"ids": [eid], "dry_run": True}}
for method, path, scope in routes:
    body = next((v for k, v in bodies.items() if path.endswith(k)), None) if method == "POST" else None
    s, h, js, raw = request(method, path, token=None, body=body)
    check(s == 401 and is_problem(s, h, js) and h.get("www-authenticate") == 'Bearer realm="sluice-admin"',
          "%s %s no token -> %d %r" % (method, path, s, h))
    s, h, js, raw = request(method, path, token="not-a-configured-token-at-all", body=body)
    check(s == 401 and is_problem(s, h, js) and 'error="invalid_token"' in h.get("www-authenticate", ""),
          "%s %s bad token -> %d" % (method, path, s))
    s, h, js, raw = request(method, path, token="Basic abc", body=body,
                            headers={"Authorization": "Basic dXNlcjpwYXNz"})
    wrong = "operate" if scope == "read" else "read"
    s, h, js, raw = request(method, path, token=wrong, body=body)
    check(s == 403 and is_problem(s, h, js) and 'error="insufficient_scope"' in h.get("www-authenticate", "")
          and ('scope="%s"' % scope) in h["www-authenticate"], "%s %s wrong scope -> %d" % (method, path, s))
    s, h, js, raw = request(method, path, token=scope, body=body)
    ok = s in (200, 404, 409) if ("cancel" in path or "999999" in path) else s == 200
    check(ok, "%s %s right scope -> %d %r" % (method, path, s, raw[:200]))
    s2, h2, js2, raw2 = request(method, path, token="both", body=body)
    check(s2 not in (401, 403), "read+operate token on %s" % path)
# a prefix of a token, and the token with one byte changed, are bad tokens
from admin_client import TOKENS
for t in (TOKENS["read"][:-1], TOKENS["read"] + "x", TOKENS["read"][:-1] + "!"):
    s, h, js, raw = get("/admin/events", token=t)
    check(s == 401, "near-miss token accepted")
log("ok: auth matrix on %d routes (none, bad, wrong scope, right scope)" % len(routes))

# --- methods, 404, 413, metrics, healthz, readyz ---------------------------------------------
s, h, js, raw = request("DELETE", "/admin/events")
check(s == 405 and is_problem(s, h, js) and h.get("allow") == "GET", "405 with Allow")
s, h, js, raw = get("/admin/nothing-here")
check(s == 404 and is_problem(s, h, js), "unknown route 404 problem")
big = {"reason": "x" * 70000}
s, h, js, raw = post("/admin/sources/crm/pause", big, token="operate")
check(s == 413 and is_problem(s, h, js), "oversized body -> %d" % s)
s, h, js, raw = post("/admin/replay", raw_body=b"{" + b" " * 70000 + b"}", token="operate",
                     headers={"Content-Type": "application/json"})
check(s == 413 and is_problem(s, h, js), "oversized replay body -> %d" % s)
for path in ("/metrics", "/healthz", "/readyz"):
    s, h, js, raw = get(path, token=None)
    check(s == 200, "%s -> %d" % (path, s))
s, h, js, raw = get("/metrics", token=None)
check(b"sluice_admin_requests_total" in raw and b"sluice_admin_auth_failures_total" in raw, "admin metrics")
log("ok: 405 with Allow, 404 and 413 problems; /metrics, /healthz, /readyz")

# --- event-health ------------------------------------------------------------------------
s, h, js, raw = get("/admin/event-health")
check(s == 200, "event-health %d" % s)
check(js["status"] == "ok" and js["flipped"] == [], "health ok: %r" % js.get("checks"))
check(RFC3339.match(js["taken_at"]), "taken_at")
stages = {x["stage"]: x for x in js["stages"]}
check("ingress" in stages and stages["ingress"]["running"] >= 1, "ingress heartbeat: %r" % js["stages"])
check(RFC3339.match(stages["ingress"]["newest_event_at"] or ""), "newest event time")
inst = [i for i in js["instances"] if i["stage"] == "ingress"]
check(inst and inst[0]["records_total"] > 0 and inst[0]["restore"]["partitions"] == 0, "instance %r" % inst)
grp = {g["group"]: g for g in js["lag"]}
check(grp["sluice-ingress"]["active"] and grp["sluice-ingress"]["lag"] == 0, "ingress lag 0: %r" % grp["sluice-ingress"])
check(len(grp["sluice-ingress"]["partitions"]) == 6, "ingress partitions")
check(js["dlq"]["last_hour"] == 2 and js["dlq"]["last_day"] == 2, "dlq counts %r" % js["dlq"])
check(js["retries"]["scheduled"] == int(sql("select count(*) from event_ingress_retries where open")), "retries")
dec = {(d["source"], d["status"]): d["count"] for d in js["decisions"]["sources"]}
want = dict((tuple(r.split("|")[:2]), int(r.split("|")[2])) for r in sql(
    "select source || '|' || status || '|' || count(*) from workflow_events where decided_at >= now() - interval '5 minutes' "
    "group by source, status").split("\n"))
check(dec == want, "decision counts %r vs %r" % (dec, want))
names = [c["name"] for c in js["checks"]]
check("postgres" in names and "kafka" in names and "lag:sluice-ingress" in names and "heartbeat:ingress" in names,
      "checks %r" % names)
log("ok: event-health: ok, heartbeats, lag, dlq, retries, decision counts equal SQL")
