// The Janus console's page: renders what the server pushes over server-sent events (no
// polling) and sends the buttons' requests as JSON. The server holds all the logic.
"use strict";

const MAX_EVENTS = 1000;
let state = null;
let events = [];

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k === "onclick") node.onclick = v;
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
}

function num(v, places = 2) {
  return v === null || v === undefined ? "-" :
    Number(v).toLocaleString("en-US", {minimumFractionDigits: places, maximumFractionDigits: places});
}

function qty(v) { return Number(v).toLocaleString("en-US", {maximumFractionDigits: 4}); }

function age(ts) {
  if (!ts || !state) return "-";
  const s = Math.max(0, (state.now - ts) / 1e9);
  return s < 60 ? s.toFixed(1) + "s" : s < 3600 ? (s / 60).toFixed(0) + "m" : (s / 3600).toFixed(0) + "h";
}

function hhmmss(ts) { return new Date(ts / 1e6).toISOString().slice(11, 19); }

function historyLink(account, intent) {
  return el("a", {href: `/orders/${encodeURIComponent(account)}/${encodeURIComponent(intent)}`,
                  class: "history"}, intent);
}

function say(text, isError) {
  const m = $("#message");
  m.textContent = text;
  m.className = "message" + (isError ? " error" : "");
}

async function act(path, body, what) {
  say(what + "…");
  try {
    const reply = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify(body)});
    const data = await reply.json();
    if (!reply.ok) say(`${what}: ${data.error}: ${data.message}`, true);
    else if (data.refused) say(`${what}: refused ${data.reason}`, true);
    else say(`${what}: ${data.outcome}`);
  } catch (e) {
    say(`${what}: the console did not answer (${e})`, true);
  }
}

function renderAccounts() {
  const box = $("#accounts");
  box.replaceChildren();
  for (const a of state.accounts) {
    const trading = a.trading.state;
    const head = el("h3", {},
      el("span", {}, `${a.account} (${a.broker})`),
      el("span", {class: "trading-state", "data-state": trading}, trading),
      el("span", {class: "note"}, a.trading.reason ? `${a.trading.reason} — by ${a.trading.by}` : ""),
      el("span", {class: "note"}, a.connection ? `gateway ${a.connection}` : ""),
      el("button", {class: "halt", onclick: () => act("/api/halt", {account: a.account}, `halt ${a.account}`)}, "Halt"),
      el("button", {class: "resume", onclick: () => act("/api/resume", {account: a.account}, `resume ${a.account}`)}, "Resume"));
    const rows = a.positions.map((p) => el("tr", {class: "position", "data-account": a.account,
                                                   "data-symbol": p.symbol, "data-valued": p.valued},
      el("td", {}, p.symbol), el("td", {class: "num qty"}, qty(p.qty)), el("td", {class: "num"}, num(p.avg_cost)),
      el("td", {class: "num"}, num(p.price)), el("td", {class: "num value"}, num(p.market_value)),
      el("td", {class: "num pnl"}, num(p.unrealized_pnl)), el("td", {}, p.price_source || "-"),
      el("td", {class: "num"}, age(p.price_ts)),
      el("td", {class: "flags"}, ...p.flags.map((f) => el("span", {class: "flag " + f}, f)))));
    const total = el("tr", {class: "total", "data-account": a.account},
      el("td", {}, "TOTAL"), el("td"), el("td"), el("td"), el("td", {class: "num"}, num(a.market_value)),
      el("td", {class: "num"}, num(a.unrealized_pnl)), el("td"), el("td"),
      el("td", {}, a.complete ? "" : el("span", {class: "flag unvalued"}, "partial")));
    const table = el("table", {class: "positions"},
      el("thead", {}, el("tr", {}, ...["symbol", "qty", "avg cost", "price", "mkt value", "unrl pnl",
                                       "source", "age", "flags"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows, total));
    box.append(el("div", {class: "account", "data-account": a.account}, head,
                  a.positions.length ? table : el("p", {class: "empty"}, "no positions")));
  }
}

function renderOrders() {
  const body = $("#orders tbody");
  body.replaceChildren(...state.orders.map((o) => el("tr", {class: "order", "data-account": o.account,
                                                            "data-intent": o.intent_id},
    el("td", {}, o.account), el("td", {}, historyLink(o.account, o.intent_id)), el("td", {}, o.symbol),
    el("td", {}, o.side), el("td", {class: "num"}, qty(o.qty)), el("td", {class: "num"}, qty(o.filled)),
    el("td", {}, o.type), el("td", {class: "num"}, num(o.limit_price)), el("td", {class: "order-status"}, o.status),
    el("td", {}, el("button", {class: "cancel", onclick: () =>
      act("/api/cancel", {account: o.account, intent_id: o.intent_id}, `cancel ${o.intent_id}`)}, "Cancel")))));
  $("#no-orders").hidden = state.orders.length > 0;
}

function renderServices() {
  $("#services tbody").replaceChildren(...state.services.map((s) => el("tr", {class: "service",
                                                                              "data-name": s.name},
    el("td", {}, s.name), el("td", {}, s.id), el("td", {}, s.version), el("td", {}, s.nats || "-"),
    el("td", {class: "num"}, String(s.consumers)),
    el("td", {class: s.ok ? "" : "error"}, s.ok ? "ok" :
      (s.failure || "dead consumers: " + s.dead_consumers.join(", "))))));
}

function filters() {
  return {account: $("#filter-account").value, kind: $("#filter-kind").value.trim().toLowerCase(),
          intent: $("#filter-intent").value.trim()};
}

function shown(e, f) {
  return (!f.account || e.account === f.account) && (!f.kind || e.kind.toLowerCase().includes(f.kind))
    && (!f.intent || e.intent_id === f.intent);
}

function eventRow(e) {
  const detail = Object.entries(e.body).filter(([k]) => !["kind", "event_id", "ts", "account", "intent_id",
                                                         "prev_hash", "hash"].includes(k))
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
  return el("tr", {class: "event", "data-kind": e.kind, "data-account": e.account, "data-intent": e.intent_id || ""},
    el("td", {class: "num"}, String(e.seq)), el("td", {}, hhmmss(e.ts)), el("td", {}, e.account),
    el("td", {}, e.kind), el("td", {}, e.intent_id ? historyLink(e.account, e.intent_id) : ""),
    el("td", {}, el("code", {}, detail.slice(0, 400))));
}

function renderEvents() {
  const f = filters();
  const rows = [];
  for (let i = events.length - 1; i >= 0 && rows.length < 300; i--) {
    if (shown(events[i], f)) rows.push(eventRow(events[i]));
  }
  $("#events tbody").replaceChildren(...rows);
}

function addEvent(e) {
  events.push(e);
  if (events.length > MAX_EVENTS) events.shift();
  if (shown(e, filters())) {
    const body = $("#events tbody");
    body.prepend(eventRow(e));
    while (body.children.length > 300) body.lastChild.remove();
  }
}

function setStatus(kind, text) {
  const s = $("#status");
  s.dataset.state = kind;
  s.textContent = text;
}

function render() {
  const accounts = $("#filter-account");
  if (accounts.options.length === 1) {
    for (const a of state.accounts) accounts.append(el("option", {value: a.account}, a.account));
  }
  renderAccounts();
  renderOrders();
  renderServices();
}

function connect() {
  // EventSource reconnects by itself after an error; each (re)connection starts with a full state.
  const source = new EventSource("/api/stream");
  source.addEventListener("open", () => setStatus("connecting", "loading…"));
  source.addEventListener("error", () => setStatus("down", "console unreachable — reconnecting…"));
  source.addEventListener("loading", (m) => setStatus("connecting",
    `loading history (${JSON.parse(m.data).events} events so far)…`));
  source.addEventListener("nats", (m) => {
    const nats = JSON.parse(m.data).nats;
    if (nats === "connected") setStatus("live", "live");
    else setStatus("nats-down", `NATS ${nats}: what is shown may be behind`);
  });
  source.addEventListener("state", (m) => {
    state = JSON.parse(m.data);
    if (state.nats === "connected") setStatus("live", "live");
    render();
  });
  source.addEventListener("events", (m) => { events = JSON.parse(m.data); renderEvents(); });
  source.addEventListener("event", (m) => addEvent(JSON.parse(m.data)));
}

for (const id of ["#filter-account", "#filter-kind", "#filter-intent"]) {
  $(id).addEventListener("input", renderEvents);
}
connect();
