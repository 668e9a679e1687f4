// The operator console: every figure comes from the engine API (/v1/...) with the admin
// token, so it shows what `keel workflow ...` shows. Plain modules, no build step.
// Routes (the URL hash): #/workflows?type=&status=&prefix=, #/workflow/ID,
// #/queues, #/queue/NAME, #/orders, #/health.

import { callApi, errorBox, esc, status, toast } from "./common.js";

const TOKEN_KEY = "keel.admin-token";
const REFRESH_MS = 3000;
const main = document.getElementById("main");
let refreshTimer = null;

const api = (path, opts = {}) => callApi(path, { ...opts, token: sessionStorage.getItem(TOKEN_KEY) || "" });
const json = (v) => `<pre>${esc(JSON.stringify(v, null, 2))}</pre>`;
const when = (iso) => (iso ? esc(iso.replace("T", " ").replace("Z", "")) : "—");
const wfLink = (id) => `<a href="#/workflow/${encodeURIComponent(id)}">${esc(id)}</a>`;

function every(ms, fn) {
  clearInterval(refreshTimer);
  refreshTimer = setInterval(() => { if (!document.hidden) fn(); }, ms);
}

function parseHash() {
  const h = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = h.split("?");
  const parts = path.split("/").map(decodeURIComponent);
  return { route: parts[0] || "workflows", arg: parts.slice(1).join("/"), params: new URLSearchParams(query) };
}

// ---- log in ------------------------------------------------------------------------

function renderLogin(message) {
  document.getElementById("nav").hidden = true;
  main.innerHTML = `
    <h1>Log in</h1>
    <p class="muted">The console uses the engine API's admin token (<code>keel serve --admin-token</code>,
    or the token file <code>keel serve</code> names when it starts). It is kept in this tab only.</p>
    ${message ? errorBox(message) : ""}
    <form id="login" class="row">
      <label>Admin token <input id="token" type="password" autocomplete="current-password" required size="40"></label>
      <button class="primary" type="submit">Log in</button>
    </form>`;
  document.getElementById("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    try {
      await api("/v1/workflow-counts");
      route();
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      renderLogin(e);
    }
  });
}

// ---- workflows ---------------------------------------------------------------------

const STATUSES = ["running", "completed", "failed", "cancelled", "terminated", "continued_as_new", "timed_out"];

async function renderWorkflows(params) {
  const type = params.get("type") || "";
  const st = params.get("status") || "";
  const prefix = params.get("prefix") || "";
  const since = params.get("since") || "";
  main.innerHTML = `
    <h1>Workflows</h1>
    <form class="filters" id="filters">
      <label>Type <input name="type" value="${esc(type)}" placeholder="checkout_saga"></label>
      <label>Status <select name="status"><option value="">any</option>
        ${STATUSES.map((s) => `<option ${s === st ? "selected" : ""}>${s}</option>`).join("")}</select></label>
      <label>Id prefix <input name="prefix" value="${esc(prefix)}" placeholder="checkout-"></label>
      <label>Started in the last <select name="since">
        ${[["", "any time"], ["3600", "hour"], ["86400", "day"], ["604800", "week"]]
          .map(([v, t]) => `<option value="${v}" ${v === since ? "selected" : ""}>${t}</option>`).join("")}</select></label>
      <button class="primary" type="submit">Filter</button>
      <label class="check"><input type="checkbox" id="live" checked> refresh every 3 s</label>
    </form>
    <div id="counts" class="chips"></div>
    <div id="list"><p class="muted">Loading…</p></div>`;
  document.getElementById("filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const q = new URLSearchParams();
    for (const k of ["type", "status", "prefix", "since"]) if (f.get(k)) q.set(k, f.get(k));
    location.hash = "#/workflows?" + q;
  });
  const filter = new URLSearchParams();
  if (type) filter.set("type", type);
  if (prefix) filter.set("id_prefix", prefix);
  if (since) filter.set("start_after_ms", String(Date.now() - Number(since) * 1000));
  const pages = [""];  // cursors of the pages shown so far
  let page = 0;
  const load = async () => {
    try {
      const [counts, list] = await Promise.all([
        api("/v1/workflow-counts?" + filter),
        api("/v1/workflows?size=50&" + filter + (st ? "&status=" + st : "") +
            (pages[page] ? "&cursor=" + encodeURIComponent(pages[page]) : "")),
      ]);
      drawCounts(counts, params, st);
      drawList(list, () => { pages[page + 1] = list.next_cursor; page++; load(); },
               page > 0 ? () => { page--; load(); } : null);
    } catch (e) {
      if (e.status === 401 || e.status === 403) return renderLogin(e);
      document.getElementById("list").innerHTML = errorBox(e);
    }
  };
  await load();
  const live = document.getElementById("live");
  every(REFRESH_MS, () => { if (live.checked && page === 0) load(); });
}

function drawCounts(counts, params, current) {
  const link = (s) => {
    const q = new URLSearchParams(params);
    if (s) q.set("status", s); else q.delete("status");
    return "#/workflows?" + q;
  };
  const chip = (s, n) => `<a class="chip" href="${link(s)}" aria-current="${s === current}">` +
    `${s ? status(s) : "all"} ${n}</a>`;
  document.getElementById("counts").innerHTML = chip("", counts.total) +
    Object.entries(counts.by_status).filter(([, n]) => n > 0).map(([s, n]) => chip(s, n)).join("");
}

function drawList(list, next, prev) {
  const rows = list.workflows.map((w) => `<tr>
      <td>${wfLink(w.workflow_id)}</td><td>${esc(w.type)}</td><td>${status(w.status)}</td>
      <td class="opt">${when(w.start_time)}</td><td class="opt">${when(w.close_time)}</td></tr>`).join("");
  const el = document.getElementById("list");
  el.innerHTML = list.workflows.length === 0 ? `<p class="muted">No workflow matches.</p>` : `
    <div class="scroll"><table><thead><tr><th>Workflow id</th><th>Type</th><th>Status</th>
    <th class="opt">Started (UTC)</th><th class="opt">Closed (UTC)</th></tr></thead><tbody>${rows}</tbody></table></div>
    <div class="row">${prev ? `<button id="prev" type="button">← Newer</button>` : ""}
    ${list.next_cursor ? `<button id="next" type="button">Older →</button>` : ""}</div>`;
  if (prev) document.getElementById("prev").addEventListener("click", prev);
  if (list.next_cursor) document.getElementById("next").addEventListener("click", next);
}

// ---- one workflow ------------------------------------------------------------------

const eventKind = (e) => Object.keys(e).find((k) => k !== "event_id" && k !== "event_time_ms");

async function renderWorkflow(id) {
  main.innerHTML = `<p class="muted">Loading ${esc(id)}…</p>`;
  const load = async () => {
    const [d, h] = await Promise.all([
      api("/v1/workflows/" + encodeURIComponent(id)),
      api("/v1/workflows/" + encodeURIComponent(id) + "/history"),
    ]);
    drawWorkflow(d, h.events || []);
    return d;
  };
  try {
    const d = await load();
    if (d.status === "running") every(REFRESH_MS, () => load().catch(() => {}));
  } catch (e) {
    if (e.status === 401 || e.status === 403) return renderLogin(e);
    main.innerHTML = `<h1>${esc(id)}</h1>` + errorBox(e);
  }
}

function drawWorkflow(d, events) {
  const open = new Set([...main.querySelectorAll("details[open]")].map((x) => x.dataset.key));
  const started = events.length ? events[0].workflow_execution_started : null;
  const input = started && started.input ? started.input.decoded : null;
  const running = d.status === "running";
  main.innerHTML = `
    <p><a href="#/workflows">← Workflows</a></p>
    <h1>${esc(d.workflow_id)} ${status(d.status)}</h1>
    <div class="row" id="actions">
      <button type="button" data-act="signal" ${running ? "" : "disabled"}>Signal…</button>
      <button type="button" data-act="cancel" ${running ? "" : "disabled"}>Cancel…</button>
      <button type="button" data-act="terminate" class="danger" ${running ? "" : "disabled"}>Terminate…</button>
      <button type="button" data-act="reset">Reset…</button>
      <button type="button" data-act="query">Query state</button>
    </div>
    <div class="grid2">
      <section class="panel"><h2>Summary</h2><dl class="kv">
        <dt>Type</dt><dd>${esc(d.type)}</dd>
        <dt>Run id</dt><dd class="mono">${esc(d.run_id)}</dd>
        <dt>Task queue</dt><dd>${esc(d.task_queue)}</dd>
        <dt>Started</dt><dd>${when(d.start_time)}</dd>
        <dt>Closed</dt><dd>${when(d.close_time)}</dd>
        <dt>Events</dt><dd>${esc(d.history_length)}</dd>
        ${d.parent ? `<dt>Parent</dt><dd>${wfLink(d.parent.workflow_id)}</dd>` : ""}
        ${children(events)}
      </dl></section>
      <section class="panel"><h2>Input</h2>${json(input)}
        <h2>${d.failure ? "Failure" : "Result"}</h2>${json(d.failure || d.result)}
        ${d.workflow_task_failure ? `<h2>Workflow task failure</h2>${json(d.workflow_task_failure)}` : ""}
      </section>
    </div>
    <section id="query-out"></section>
    <h2>Saga</h2><div class="saga">${sagaGraph(events)}</div>
    <h2>Pending activities</h2>${pendingActivities(d.pending_activities || [])}
    <h2>Pending timers</h2>${pendingTimers(events)}
    <h2>History</h2><ol class="timeline">${events.map((e) => eventItem(e, open)).join("")}</ol>`;
  for (const b of main.querySelectorAll("#actions button")) {
    b.addEventListener("click", () => act(b.dataset.act, d, events));
  }
}

function children(events) {
  const ids = events.map((e) => e.child_workflow_execution_initiated || e.child_workflow_execution_started)
    .filter(Boolean).map((c) => c.workflow_id).filter((v, i, a) => v && a.indexOf(v) === i);
  return ids.length ? `<dt>Children</dt><dd>${ids.map(wfLink).join(", ")}</dd>` : "";
}

function eventItem(e, open) {
  const kind = eventKind(e);
  const t = new Date(Number(e.event_time_ms)).toISOString().slice(11, 23);
  const attrs = e[kind] || {};
  const label = attrs.activity_type || attrs.signal_name || attrs.timer_id || attrs.workflow_type || "";
  return `<li><details data-key="${esc(e.event_id)}" ${open.has(String(e.event_id)) ? "open" : ""}>
    <summary><span class="eid">${esc(e.event_id)}</span> ${esc(kind)} <span class="muted">${esc(label)} · ${t}</span></summary>
    ${json(attrs)}</details></li>`;
}

function pendingActivities(list) {
  if (!list.length) return `<p class="muted">None.</p>`;
  return `<div class="scroll"><table><thead><tr><th>Activity</th><th>State</th><th>Attempt</th>
    <th>Next attempt</th><th>Last failure</th></tr></thead><tbody>${list.map((a) => `<tr>
    <td>${esc(a.activity_type)} <span class="muted">#${esc(a.activity_id)}</span></td><td>${status(a.state)}</td>
    <td>${esc(a.attempt)}</td><td>${when(a.next_attempt_at)}</td>
    <td>${a.last_failure ? esc(a.last_failure.type + ": " + a.last_failure.message) : "—"}</td></tr>`).join("")}
    </tbody></table></div>`;
}

// Timers started and neither fired nor cancelled, from the history.
function pendingTimers(events) {
  const timers = new Map();
  for (const e of events) {
    if (e.timer_started) timers.set(e.timer_started.timer_id, e.timer_started);
    if (e.timer_fired) timers.delete(e.timer_fired.timer_id);
    if (e.timer_canceled) timers.delete(e.timer_canceled.timer_id);
  }
  if (!timers.size) return `<p class="muted">None.</p>`;
  return `<table><thead><tr><th>Timer</th><th>Fires at (UTC)</th></tr></thead><tbody>${[...timers.values()]
    .map((t) => `<tr><td>${esc(t.timer_id)}</td><td>${when(new Date(Number(t.fire_at_ms)).toISOString())}</td></tr>`)
    .join("")}</tbody></table>`;
}

// The saga as the history tells it: each activity a step, in the order scheduled. The
// ones scheduled after the first failure or cancel request are its compensations,
// drawn on a second row from right to left, as they undo the steps above them.
function sagaSteps(events) {
  const steps = [];
  const byId = new Map();
  let unwinding = false;
  for (const e of events) {
    const k = eventKind(e);
    const a = e[k] || {};
    if (k === "activity_task_scheduled") {
      const s = { id: a.activity_id, type: a.activity_type, state: "pending", comp: unwinding };
      steps.push(s);
      byId.set(a.activity_id, s);
    } else if (k === "activity_task_completed" && byId.has(a.activity_id)) {
      byId.get(a.activity_id).state = "done";
    } else if ((k === "activity_task_failed" || k === "activity_task_timed_out" || k === "activity_task_canceled") &&
               byId.has(a.activity_id)) {
      byId.get(a.activity_id).state = "failed";
      unwinding = true;
    } else if (k === "workflow_execution_cancel_requested") {
      unwinding = true;
    }
  }
  return steps;
}

function sagaGraph(events) {
  const steps = sagaSteps(events);
  if (!steps.length) return `<p class="muted">No activity has been scheduled.</p>`;
  const fwd = steps.filter((s) => !s.comp);
  const comp = steps.filter((s) => s.comp);
  const W = 150, H = 44, GAP = 30, cols = Math.max(fwd.length, comp.length);
  const width = cols * (W + GAP) + GAP, height = comp.length ? 2 * H + 3 * GAP : H + 2 * GAP;
  const word = { done: "✓ done", failed: "✗ failed", pending: "◷ pending" };
  const node = (s, x, y) => `<g class="node ${s.state} ${s.comp ? "comp" : ""}" data-step="${esc(s.type)}">
      <rect x="${x}" y="${y}" width="${W}" height="${H}" rx="6"></rect>
      <text x="${x + 8}" y="${y + 18}">${esc(s.type.slice(0, 20))}</text>
      <text x="${x + 8}" y="${y + 35}">${s.comp ? "undo · " : ""}${word[s.state]}</text></g>`;
  let svg = "";
  fwd.forEach((s, i) => {
    const x = GAP + i * (W + GAP);
    if (i > 0) svg += `<path class="edge" d="M${x - GAP} ${GAP + H / 2} H${x - 2}"></path>`;
    svg += node(s, x, GAP);
  });
  // Compensations run right to left, under the steps they undo.
  comp.forEach((s, i) => {
    const x = GAP + (cols - 1 - i) * (W + GAP), y = 2 * GAP + H;
    if (i === 0) svg += `<path class="edge" d="M${GAP + (fwd.length - 1) * (W + GAP) + W / 2} ${GAP + H} V${y - 2}"></path>`;
    else svg += `<path class="edge" d="M${x + W + GAP} ${y + H / 2} H${x + W + 2}"></path>`;
    svg += node(s, x, y);
  });
  const text = steps.map((s) => `${s.comp ? "undo " : ""}${s.type}: ${s.state}`).join("; ");
  return `<svg role="img" aria-label="${esc(text)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
    <path d="M0 0 L10 5 L0 10 z" fill="#5b6470"></path></marker></defs>${svg}</svg>
    <p class="muted">${steps.filter((s) => !s.comp && s.state === "done").length} of ${fwd.length} steps done;
    ${comp.length} compensation${comp.length === 1 ? "" : "s"} ${comp.some((s) => s.state === "pending") ? "running" : "run"}.</p>`;
}

// ---- actions -----------------------------------------------------------------------

function confirmDialog(title, text, extraHtml) {
  const dlg = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-extra").innerHTML = extraHtml || "";
  document.getElementById("confirm-reason").value = "";
  document.getElementById("confirm-error").hidden = true;
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => {
      if (dlg.returnValue !== "ok") return resolve(null);
      const form = new FormData(document.getElementById("confirm-form"));
      resolve(Object.fromEntries(form.entries()));
    }, { once: true });
  });
}

async function act(kind, d, events) {
  const id = encodeURIComponent(d.workflow_id);
  const key = crypto.randomUUID();
  try {
    if (kind === "query") {
      const r = await api(`/v1/workflows/${id}/queries/state`);
      document.getElementById("query-out").innerHTML = `<h2>Query: state</h2>${json(r.result)}`;
      return;
    }
    let f;
    if (kind === "signal") {
      f = await confirmDialog("Signal " + d.workflow_id, "The workflow receives the signal on its next task.",
        `<label>Signal name <input name="name" required maxlength="200"></label>
         <label>Input (JSON) <textarea name="input" rows="3">null</textarea></label>`);
      if (!f) return;
      let input;
      try { input = JSON.parse(f.input || "null"); } catch { return toast("The input is not JSON."); }
      await api(`/v1/workflows/${id}/signals/${encodeURIComponent(f.name)}`, { method: "POST", body: input, idempotencyKey: key });
    } else if (kind === "cancel" || kind === "terminate") {
      f = await confirmDialog(`${kind === "cancel" ? "Cancel" : "Terminate"} ${d.workflow_id}?`,
        kind === "cancel" ? "The workflow is asked to stop; a saga runs its compensations."
                          : "The run ends now. No compensation runs: holds and charges stay as they are.");
      if (!f) return;
      await api(`/v1/workflows/${id}/${kind}`, { method: "POST", body: { reason: f.reason }, idempotencyKey: key });
    } else if (kind === "reset") {
      const points = events.filter((e) => e.workflow_task_completed);
      f = await confirmDialog("Reset " + d.workflow_id, "A new run replays the history up to the chosen workflow task and goes on from there.",
        `<label>Workflow task <select name="event_id">${points.map((e) =>
          `<option value="${esc(e.event_id)}">event ${esc(e.event_id)}</option>`).join("")}</select></label>`);
      if (!f) return;
      const r = await api(`/v1/workflows/${id}/reset`, { method: "POST", body: { event_id: Number(f.event_id), reason: f.reason } });
      toast("Reset: new run " + r.run_id);
    }
    toast(kind + " sent");
    renderWorkflow(d.workflow_id);
  } catch (e) {
    main.insertAdjacentHTML("afterbegin", errorBox(e));
  }
}

// ---- task queues -------------------------------------------------------------------

async function renderQueues() {
  main.innerHTML = `<h1>Task queues</h1><div id="queues"><p class="muted">Loading…</p></div>`;
  const load = async () => {
    try {
      const r = await api("/v1/task-queues");
      document.getElementById("queues").innerHTML = r.queues.length === 0 ? `<p class="muted">No queue has tasks or pollers.</p>` :
        `<div class="scroll"><table><thead><tr><th>Queue</th><th>Ready</th><th>Leased</th><th>Delayed</th>
         <th>Oldest ready</th><th>Pollers</th></tr></thead><tbody>${r.queues.map((q) => `<tr>
         <td><a href="#/queue/${encodeURIComponent(q.queue)}">${esc(q.queue)}</a></td><td>${q.ready}</td><td>${q.leased}</td>
         <td>${q.delayed}</td><td>${(q.oldest_ready_age_ms / 1000).toFixed(1)} s</td>
         <td>${pollerSummary(q.pollers)}</td></tr>`).join("")}</tbody></table></div>`;
    } catch (e) {
      document.getElementById("queues").innerHTML = errorBox(e);
    }
  };
  await load();
  every(REFRESH_MS, load);
}

// "2 (1 workflow, 1 activity)": worker processes heard from lately, by task kind.
function pollerSummary(pollers) {
  if (!pollers.length) return `<span class="flag">none</span>`;
  const procs = new Set(pollers.map((p) => p.identity)).size;
  const of = (k) => pollers.filter((p) => p.kind === k).length;
  return `${procs} (${of("workflow")} workflow, ${of("activity")} activity)`;
}

function pollerTable(pollers) {
  if (!pollers.length) return `<p class="flag">No worker has polled this queue in the last minute: its tasks wait.</p>`;
  return `<h2>Pollers</h2><div class="scroll"><table><thead><tr><th>Worker process</th><th>Kind</th><th>Last poll</th>
    </tr></thead><tbody>${pollers.map((p) => `<tr><td>${esc(p.identity)}</td><td>${esc(p.kind)}</td>
    <td>${(p.last_poll_age_ms / 1000).toFixed(0)} s ago</td></tr>`).join("")}</tbody></table></div>`;
}

async function renderQueue(name) {
  main.innerHTML = `<p><a href="#/queues">← Task queues</a></p><h1>${esc(name)}</h1><div id="q"></div>`;
  try {
    const r = await api("/v1/task-queues/" + encodeURIComponent(name));
    document.getElementById("q").innerHTML = `<p>${r.ready} ready, ${r.leased} leased, ${r.delayed} delayed.</p>
      ${pollerTable(r.pollers)}<h2>Next tasks</h2><div class="scroll"><table><thead><tr><th>Task</th><th>Kind</th><th>Workflow</th><th>Activity</th><th>State</th>
      <th>Attempt</th><th>Lease owner</th></tr></thead><tbody>${(r.tasks || []).map((t) => `<tr><td>${t.task_id}</td>
      <td>${esc(t.kind)}</td><td>${wfLink(t.workflow_id)}</td><td>${esc(t.activity_type)}</td><td>${status(t.state)}</td>
      <td>${t.attempt}</td><td>${esc(t.lease_owner) || "—"}</td></tr>`).join("")}</tbody></table></div>`;
  } catch (e) {
    document.getElementById("q").innerHTML = errorBox(e);
  }
}

// ---- orders ------------------------------------------------------------------------

// Any order by id, or a buyer's orders (/v1/orders, the admin token), each with its
// status history and its checkout saga; the saga's page lists the tracking child.
async function renderOrders(params) {
  const q = params.get("q") || "";
  main.innerHTML = `<h1>Orders</h1>
    <form class="filters" id="find"><label>Order id or buyer id <input name="q" value="${esc(q)}" required></label>
    <button class="primary" type="submit">Find</button></form><div id="orders"></div>`;
  document.getElementById("find").addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = "#/orders?q=" + encodeURIComponent(new FormData(ev.target).get("q").trim());
  });
  if (!q) return;
  const out = document.getElementById("orders");
  try {
    const one = await api("/v1/orders/" + encodeURIComponent(q)).catch((e) => {
      if (e.status === 404) return null;
      throw e;
    });
    if (one) return drawOrder(out, one);
    const list = await api("/v1/orders?size=50&buyer_id=" + encodeURIComponent(q));
    if (!list.orders.length) {
      out.innerHTML = `<p class="muted">No order "${esc(q)}", and no order of a buyer "${esc(q)}".</p>`;
      return;
    }
    out.innerHTML = `<p>Orders of buyer <span class="mono">${esc(q)}</span>, newest first:</p>
      <div class="scroll"><table><thead><tr><th>Order</th><th>Status</th><th>Total</th><th>Checkout saga</th></tr></thead><tbody>
      ${list.orders.map((o) => `<tr><td><a href="#/orders?q=${encodeURIComponent(o.order_id)}">${esc(o.order_id)}</a></td>
      <td>${status(o.status)}</td><td>${(o.total / 100).toFixed(2)} ${esc(o.currency)}</td>
      <td>${wfLink(o.workflow_id)}</td></tr>`).join("")}</tbody></table></div>`;
  } catch (e) {
    out.innerHTML = errorBox(e);
  }
}

function drawOrder(out, o) {
  out.innerHTML = `<section class="panel"><h2>${esc(o.order_id)} ${status(o.status)}</h2>
    <dl class="kv"><dt>Buyer</dt><dd><a href="#/orders?q=${encodeURIComponent(o.buyer_id)}">${esc(o.buyer_id)}</a></dd>
    <dt>Total</dt><dd>${(o.total / 100).toFixed(2)} ${esc(o.currency)}</dd>
    <dt>Checkout saga</dt><dd>${wfLink(o.workflow_id)} (its children include the shipment tracking)</dd>
    ${o.reason ? `<dt>Reason</dt><dd>${esc(o.reason)}</dd>` : ""}</dl>
    <h3>Status history</h3><table><thead><tr><th>From</th><th>To</th><th>When (UTC)</th><th>Why</th></tr></thead><tbody>
    ${(o.status_history || []).map((h) => `<tr><td>${h.from ? status(h.from) : "—"}</td><td>${status(h.to)}</td>
    <td>${when(new Date(h.at).toISOString())}</td><td>${esc(h.reason)}</td></tr>`).join("")}</tbody></table></section>`;
}

// ---- health ------------------------------------------------------------------------

function parseMetrics(text) {
  const m = new Map();
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const sp = line.lastIndexOf(" ");
    const name = line.slice(0, sp), v = Number(line.slice(sp + 1));
    const base = name.replace(/\{.*$/, "");
    m.set(name, v);
    m.set(base + "#sum", (m.get(base + "#sum") || 0) + (name.includes("_bucket{") ? 0 : v));
  }
  return m;
}

const HEALTH = [
  ["Workflows started /s", "keel_workflows_started_total#sum", "rate"],
  ["Workflows closed /s", "keel_workflows_closed_total#sum", "rate"],
  ["Transitions /s", "keel_store_transactions_total#sum", "rate"],
  ["Activity failures /s", "activity_failed", "rate"],
  ["Workflow task ms", "wt_ms", "value"],
  ["HTTP 5xx /s", "http5xx", "rate"],
  ["Ready tasks", "keel_task_queue_tasks_ready", "value"],
  ["Timers pending", "keel_timers_pending#sum", "value"],
];

async function renderHealth() {
  main.innerHTML = `<h1>Health</h1><p class="muted">From <code>/metrics</code>, every 3 s.</p><div class="cards" id="cards"></div>`;
  const series = HEALTH.map(() => []);
  let last = null;
  const load = async () => {
    let text;
    try { text = await api("/metrics"); } catch (e) { document.getElementById("cards").innerHTML = errorBox(e); return; }
    const m = parseMetrics(text);
    let s5 = 0, ready = 0, failed = 0;
    for (const [k, v] of m) {
      if (k.startsWith("keel_http_requests_total{") && /status="5/.test(k)) s5 += v;
      if (k.startsWith("keel_task_queue_tasks{") && k.includes('state="ready"')) ready += v;
      if (k.startsWith("keel_activity_attempts_total{") && k.includes('outcome="failed"')) failed += v;
    }
    m.set("activity_failed", failed);
    // The mean workflow task time since the last sample.
    const wtSum = m.get("keel_workflow_task_seconds_sum#sum") || 0, wtN = m.get("keel_workflow_task_seconds_count#sum") || 0;
    const dN = last ? wtN - (last.m.get("keel_workflow_task_seconds_count#sum") || 0) : 0;
    m.set("wt_ms", dN > 0 ? (1000 * (wtSum - (last.m.get("keel_workflow_task_seconds_sum#sum") || 0))) / dN : 0);
    m.set("http5xx", s5);
    m.set("keel_task_queue_tasks_ready", ready);
    const now = Date.now();
    HEALTH.forEach(([, key, kind], i) => {
      const v = m.get(key) || 0;
      const y = kind === "rate" ? (last ? Math.max(0, (v - (last.m.get(key) || 0)) / ((now - last.t) / 1000)) : null) : v;
      if (y !== null) series[i].push(y);
      if (series[i].length > 40) series[i].shift();
    });
    last = { m, t: now };
    document.getElementById("cards").innerHTML = HEALTH.map(([label], i) => {
      const s = series[i], max = Math.max(1, ...s);
      const pts = s.map((v, j) => `${(j * 160) / 39},${34 - (v / max) * 32}`).join(" ");
      const cur = s.length ? s[s.length - 1] : null;
      return `<div class="card"><h3>${esc(label)}</h3><div class="figure">${cur === null ? "…" : cur.toFixed(cur < 10 ? 1 : 0)}</div>
        <svg class="spark" viewBox="0 0 160 36" role="img" aria-label="${esc(label)} over the last two minutes"><polyline points="${pts}"></polyline></svg></div>`;
    }).join("");
  };
  await load();
  every(REFRESH_MS, load);
}

// ---- routing -----------------------------------------------------------------------

async function route() {
  clearInterval(refreshTimer);
  if (!sessionStorage.getItem(TOKEN_KEY)) return renderLogin();
  document.getElementById("nav").hidden = false;
  const { route: r, arg, params } = parseHash();
  const pages = {
    workflows: () => renderWorkflows(params),
    workflow: () => renderWorkflow(arg),
    queues: renderQueues,
    queue: () => renderQueue(arg),
    orders: () => renderOrders(params),
    health: renderHealth,
  };
  await (pages[r] || pages.workflows)();
}

document.getElementById("logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  route();
});
window.addEventListener("hashchange", route);
route();
