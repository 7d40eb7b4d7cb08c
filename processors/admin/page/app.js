// sluice-admin's status page: health, paused and open entities, recent events with
// search, one event's trace, and the live stream.  Every value from the server goes
// into the DOM as text (textContent), never as markup.  The read token lives in
// sessionStorage and goes to the JSON routes as "Authorization: Bearer" and to the
// WebSocket as the subprotocol "bearer.<base64url(token)>" next to "sluice.v1".
"use strict";

const KEY = "sluice.admin.token";
const STREAM_MAX = 200;
const $ = (id) => document.getElementById(id);
let cursor = null;
let ws = null;

function token() { return sessionStorage.getItem(KEY) || ""; }

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function showError(msg) {
  const e = $("error");
  e.textContent = msg || "";
  e.hidden = !msg;
}

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: "Bearer " + token() }, cache: "no-store" });
  const body = await r.json().catch(() => null);
  if (!r.ok) {
    const detail = body && body.detail ? body.detail : r.statusText;
    throw new Error(r.status + " " + path.split("?")[0] + ": " + detail);
  }
  return body;
}

function row(cells, cls) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = el("td", c && c.badge ? null : (c && c.text !== undefined ? c.text : c), c && c.cls);
    if (c && c.badge) td.appendChild(el("span", c.badge, "badge " + c.badge));
    tr.appendChild(td);
  }
  if (cls) tr.className = cls;
  return tr;
}

async function loadHealth() {
  const h = await api("/admin/event-health");
  const badge = $("health-status");
  badge.textContent = h.status;
  badge.className = "badge " + h.status;
  $("health-taken").textContent = "taken at " + h.taken_at;
  const tbody = $("checks").tBodies[0];
  tbody.replaceChildren();
  for (const c of h.checks || []) {
    tbody.appendChild(row([c.name, { badge: c.status },
      c.value, c.threshold, c.message]));
  }
  const list = $("entities");
  list.replaceChildren();
  for (const s of h.paused_sources || []) {
    list.appendChild(el("li", "source " + s.id + " paused (" + s.kind + ")" +
      (s.until ? " until " + s.until : "")));
  }
  for (const t of h.paused_triggers || []) {
    list.appendChild(el("li", "trigger " + (t.name || t.id) + " paused"));
  }
  for (const b of h.breakers || []) {
    list.appendChild(el("li", "trigger " + (b.name || b.trigger_id) + " breaker " + b.breaker +
      (b.open_until ? " until " + b.open_until : "")));
  }
  if (!list.children.length) list.appendChild(el("li", "nothing paused, no breaker open", "muted"));
}

function searchQuery() {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData($("search"))) if (v) q.append(k, v);
  q.set("limit", "50");
  if (cursor) q.set("cursor", cursor);
  return q.toString();
}

async function loadEvents(more) {
  if (!more) cursor = null;
  const page = await api("/admin/events?" + searchQuery());
  const tbody = $("events").tBodies[0];
  if (!more) tbody.replaceChildren();
  for (const e of page.events) {
    const tr = row([e.occurred_at, e.type, e.source, e.status, { text: e.id, cls: "mono" }], "click");
    tr.addEventListener("click", () => trace(e.id));
    tbody.appendChild(tr);
  }
  cursor = page.next_cursor;
  $("more").hidden = !cursor;
}

async function trace(id) {
  try {
    const story = await api("/admin/events/" + encodeURIComponent(id));
    $("trace-id").textContent = id;
    $("trace").textContent = JSON.stringify(story, null, 2);
    $("trace-section").hidden = false;
    showError("");
  } catch (err) {
    showError(err.message);
  }
}

function b64url(s) {
  const bytes = new TextEncoder().encode(s);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function streamState(text, cls) {
  const s = $("stream-state");
  s.textContent = text;
  s.className = "badge " + (cls || "");
}

function stopStream() {
  if (ws) {
    ws.onclose = null;
    ws.close(1000);
    ws = null;
  }
  streamState("off");
}

function startStream() {
  stopStream();
  if (!token()) return;
  const q = new URLSearchParams();
  for (const [k, v] of new FormData($("stream-filter"))) {
    for (const part of String(v).split(",")) if (part.trim()) q.append(k, part.trim());
  }
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
    "/admin/stream" + (q.toString() ? "?" + q : "");
  const sock = new WebSocket(url, ["sluice.v1", "bearer." + b64url(token())]);
  ws = sock;
  streamState("connecting");
  sock.onopen = () => streamState("live", "live");
  sock.onmessage = (m) => {
    let e;
    try { e = JSON.parse(m.data); } catch (err) { return; }
    const tbody = $("stream").tBodies[0];
    const tr = row([e.occurred_at, e.type, e.source, { text: e.id, cls: "mono" },
      { text: JSON.stringify(e.payload), cls: "payload mono" }], "click");
    tr.addEventListener("click", () => trace(e.id));
    tbody.insertBefore(tr, tbody.firstChild);
    while (tbody.children.length > STREAM_MAX) tbody.removeChild(tbody.lastChild);
  };
  sock.onclose = (ev) => {
    if (ws !== sock) return;
    ws = null;
    streamState(ev.code === 1008 ? "dropped (too slow)" : "closed (" + ev.code + ")",
      ev.code === 1008 ? "dropped" : "");
  };
}

async function refresh() {
  if (!token()) {
    $("token-state").textContent = "no token: paste one with the read scope";
    return;
  }
  $("token-state").textContent = "token set for this tab";
  try {
    await Promise.all([loadHealth(), loadEvents(false)]);
    showError("");
  } catch (err) {
    showError(err.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    $("token").value = "";
    if (t) sessionStorage.setItem(KEY, t);
    refresh();
    startStream();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    stopStream();
    $("token-state").textContent = "token forgotten";
  });
  $("refresh").addEventListener("click", refresh);
  $("search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    loadEvents(false).then(() => showError(""), (err) => showError(err.message));
  });
  $("more").addEventListener("click", () => {
    loadEvents(true).catch((err) => showError(err.message));
  });
  $("stream-filter").addEventListener("submit", (ev) => {
    ev.preventDefault();
    startStream();
  });
  $("stream-stop").addEventListener("click", stopStream);
  refresh();
  startStream();
});
