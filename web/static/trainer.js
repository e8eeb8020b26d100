// The trainer view: starts a journey of the reference TPP, runs it one step
// per click and draws it — a sequence diagram with one arrow per exchange,
// the consent's state machine, the tokens decoded, a payment settling —
// with an attack to try after each step, and the bank's decisions live
// from the audit log. Plain DOM, no framework; every value is set as text.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const root = $("trainer");
  const base = root.dataset.base || ""; // "/t/<tenant>" inside a tenant
  // The diagram's actors, left to right: the PSU and the app send, the
  // bank's servers answer.
  const actors = ["PSU", "TPP", "Authorization server", "Gateway", "Resource server"];
  let journey = null; // {id, steps, next, done, kind, psu}
  let stream = null;  // AbortController of the open decision stream
  let busy = false;   // a journey is starting, a step or an attack runs
  let authURL = "";   // where the PSU's window goes
  let summary = [];   // what the printable summary lists: steps and attacks
  let polling = 0;    // the payment poll's generation

  // buttons enables exactly the buttons that can do something now: none
  // while a request runs, the steps only while a journey has steps left.
  function buttons() {
    for (const id of ["start-accounts", "start-payment", "start-ciba", "start-vrp", "watch-all"]) $(id).disabled = busy;
    const open = journey !== null && !journey.done;
    $("next").disabled = busy || !open;
    $("run-all").disabled = busy || !open;
    for (const b of $("attack-buttons").querySelectorAll("button")) b.disabled = busy;
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function headers(json) {
    const h = {};
    if (json) h["Content-Type"] = "application/json";
    const tok = $("admin-token").value.trim();
    if (tok) h["Authorization"] = "Bearer " + tok;
    return h;
  }

  function status(text, bad) {
    const s = $("status");
    s.textContent = text;
    s.className = bad ? "error" : "notice";
  }

  function pretty(body) {
    if (!body) return "";
    try { return JSON.stringify(JSON.parse(body), null, 2); } catch (e) { return body; }
  }

  // pathOf is an exchange's URL as the diagram labels it: its path under
  // the sandbox, without the query (the request object would fill the page).
  function pathOf(u) {
    try {
      const p = new URL(u).pathname;
      return base && p.startsWith(base) ? p.slice(base.length) : p;
    } catch (e) { return u; }
  }

  // watch streams audit entries (Server-Sent Events) into the timeline; a
  // stream cut by the network is opened again.
  async function watch(url) {
    if (stream) stream.abort();
    const ctl = new AbortController();
    stream = ctl;
    $("timeline").replaceChildren();
    while (!ctl.signal.aborted) {
      try {
        const res = await fetch(url, { headers: headers(false), signal: ctl.signal });
        if (!res.ok) { status("The decision stream was refused (" + res.status + "): " + await res.text(), true); return; }
        await read(res.body.getReader());
      } catch (e) { /* aborted or cut: retry below unless aborted */ }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  async function read(reader) {
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) return;
      buf += dec.decode(chunk.value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) decision(JSON.parse(data));
      }
    }
  }

  function decision(e) {
    const li = el("li", "decision " + e.decision);
    li.dataset.rule = e.rule;
    const time = new Date(e.at).toISOString().slice(11, 19);
    li.append(el("span", "when", time + " "), el("strong", "", e.method + " " + e.path + " → " + e.status));
    li.append(el("div", "verdict", e.decision + " · rule " + e.rule));
    if (e.detail) li.append(el("div", "detail", e.detail));
    $("timeline").prepend(li);
  }

  // --- The sequence diagram -------------------------------------------

  // follow keeps the newest arrow in sight (the diagram scrolls, not the page).
  function follow() {
    const d = $("diagram");
    d.scrollTop = d.scrollHeight;
  }

  function clearDiagram() {
    for (const e of [...$("lanes").children]) if (!e.classList.contains("lifeline")) e.remove();
  }

  // mark starts a part of the diagram: a step, or an attack.
  function mark(text, cls) {
    $("lanes").append(el("div", "mark " + (cls || ""), text));
    follow();
  }

  // arrow draws one exchange, from the actor that sent it to the one that
  // answered: green if the bank allowed it, red with the rule if not.
  function arrow(x, group, attack) {
    let from = actors.indexOf(x.from), to = actors.indexOf(x.to);
    if (from < 0) from = 1;
    if (to < 0) to = 2;
    const lo = Math.min(from, to), hi = Math.max(from, to);
    const refused = x.decision === "refused";
    const row = el("div", "arrow " + (refused ? "refused" : "allowed") + (attack ? " attack" : "") + (to < from ? " rtl" : ""));
    row.dataset.group = group;
    row.dataset.from = actors[from];
    row.dataset.to = actors[to];
    row.dataset.status = String(x.status);
    row.dataset.rule = x.rule || "";
    const label = el("div", "label");
    label.style.paddingLeft = "calc(" + (lo * 20 + 10) + "% + .4rem)";
    label.append(el("span", "what", x.method + " " + pathOf(x.url) + " → " + x.status));
    if (refused) label.append(el("span", "why", "✗ refused · " + (x.rule || "HTTP " + x.status)));
    else if (x.rule && x.rule !== "ok") label.append(el("span", "why", x.rule));
    label.title = x.method + " " + x.url;
    const line = el("div", "line");
    line.style.marginLeft = (lo * 20 + 10) + "%";
    line.style.width = ((hi - lo) * 20) + "%";
    // A call the gateway let through crosses its lifeline: it checked it.
    const gw = actors.indexOf("Gateway");
    if (!refused && lo < gw && hi > gw) {
      const via = el("span", "via");
      via.style.left = ((gw - lo) / (hi - lo) * 100) + "%";
      via.title = "checked by the gateway";
      line.append(via);
    }
    row.append(label, line);
    $("lanes").append(row);
    follow();
  }

  // --- The consent's state machine, the payment, the tokens ------------

  function machine(c) {
    const m = $("machine");
    if (!c) return;
    m.hidden = false;
    m.replaceChildren(el("span", "machine-title", "Consent " + c.id));
    c.states.forEach((s, i) => {
      if (i > 0) m.append(el("span", "to", "→"));
      const st = el("span", "state", s);
      st.dataset.state = s;
      if (c.visited.includes(s)) st.classList.add("visited");
      if (s === c.status) st.classList.add("current");
      m.append(st);
    });
  }

  // payment polls the journey's payment until it settles on the sandbox
  // clock, showing each status it passes.
  async function payment(id) {
    const gen = ++polling;
    const p = $("payment");
    p.hidden = false;
    for (let i = 0; i < 60 && gen === polling; i++) {
      const res = await fetch(base + "/trainer/journeys/" + encodeURIComponent(journey.id) + "/payment");
      if (!res.ok) return;
      const v = await res.json();
      p.replaceChildren(el("strong", "", "Payment " + v.payment_id + ": "), el("span", "pay-status " + v.status, v.status));
      const ol = el("ol", "history");
      for (const h of v.history || []) ol.append(el("li", "", h.status + " at " + h.at));
      p.append(ol, el("div", "muted", "Sandbox clock " + v.now + " · settles " + v.settlement_delay + " after acceptance"));
      p.dataset.status = v.status;
      if (v.status !== "Pending" && v.status !== "AcceptedSettlementInProcess") return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  function value(v) {
    return typeof v === "string" ? v : JSON.stringify(v);
  }

  // token shows a decoded JWT: its header and claims beside what each means.
  function token(d, group) {
    const card = el("article", "token");
    card.dataset.group = group;
    card.append(el("h3", "", d.title));
    if (!d.claims) { card.append(el("pre", "", pretty(d.jwt))); $("tokens").prepend(card); return; }
    const table = el("table", "claims");
    const cg = el("colgroup");
    cg.append(el("col", "name"), el("col", "value"), el("col", "meaning"));
    table.append(cg);
    const head = el("tr");
    head.append(el("th", "", "Claim"), el("th", "", "Value"), el("th", "", "What it is for"));
    table.append(head);
    for (const [part, obj] of [["Header", d.header], ["Claims", d.claims]]) {
      const sec = el("tr", "part");
      const td = el("td", "", part);
      td.colSpan = 3;
      sec.append(td);
      table.append(sec);
      for (const k of Object.keys(obj || {}).sort()) {
        const tr = el("tr");
        tr.append(el("td", "k", k), el("td", "v", value(obj[k])), el("td", "m", (d.meanings || {})[k] || ""));
        table.append(tr);
      }
    }
    card.append(table);
    $("tokens").prepend(card);
  }

  // --- Attacks ----------------------------------------------------------

  function attacks(list) {
    const box = $("attack-buttons");
    box.replaceChildren();
    $("attacks").hidden = !list || list.length === 0;
    for (const a of list || []) {
      const b = el("button", "danger", a.title);
      b.type = "button";
      b.dataset.attack = a.kind;
      b.addEventListener("click", () => guarded(() => attack(a.kind)));
      box.append(b);
    }
  }

  async function attack(kind) {
    const res = await fetch(base + "/trainer/journeys/" + encodeURIComponent(journey.id) + "/attacks/" + kind, { method: "POST", headers: headers(false) });
    const r = await res.json();
    if (!res.ok) { status(r.error_description || "the attack could not run", true); return; }
    const group = "attack-" + kind + "-" + summary.length;
    mark("⚡ Attack: " + r.title, "attack");
    (r.exchanges || []).forEach((x) => arrow(x, group, true));
    const out = $("attack-result");
    out.replaceChildren();
    const verdict = r.refused ? "The bank refused it — rule " + r.rule : "The bank did NOT refuse it";
    const box = el("div", "attack-box " + (r.refused ? "refused" : "allowed"));
    box.dataset.kind = kind;
    box.dataset.rule = r.rule || "";
    box.append(el("h3", "", "⚡ " + r.title), el("p", "verdict", verdict), el("p", "explain", r.explain));
    if (r.note) box.append(el("p", "muted", r.note));
    if (r.error) box.append(el("p", "error", r.error));
    box.append(exchanges(r.exchanges || []));
    out.append(box);
    attacks(r.attacks);
    summary.push({ title: "Attack: " + r.title, result: verdict, exchanges: r.exchanges || [] });
    renderSummary();
    status(r.refused ? "Attack refused: " + r.rule + "." : "The attack was not refused.", !r.refused);
  }

  // exchanges lists a step's exchanges with their bodies.
  function exchanges(xs) {
    const frag = document.createDocumentFragment();
    xs.forEach((x) => {
      const d = el("details", "exchange " + (x.decision === "refused" ? "bad" : "ok"));
      d.dataset.from = x.from;
      d.dataset.to = x.to;
      d.dataset.status = String(x.status);
      d.open = xs.length <= 2; // a short step shows its bodies at once
      const sum = el("summary", "", x.method + " " + x.url + " → " + x.status);
      if (x.signed) sum.append(el("span", "badge", "signed"));
      sum.append(el("span", "who", " " + x.from + " → " + x.to + (x.rule ? " · " + x.rule : "")));
      d.append(sum);
      if (x.dpop) d.append(el("h3", "", "DPoP proof (decoded)"), el("pre", "", pretty(x.dpop)));
      if (x.request) d.append(el("h3", "", "Request"), el("pre", "", pretty(x.request)));
      if (x.response) d.append(el("h3", "", "Response"), el("pre", "", pretty(x.response)));
      frag.append(d);
    });
    return frag;
  }

  // --- The printable summary ---------------------------------------------

  function renderSummary() {
    const rows = $("summary-rows");
    rows.replaceChildren();
    summary.forEach((s, i) => {
      const tr = el("tr");
      const what = el("td");
      what.append(el("strong", "", s.title));
      if (s.result) what.append(el("div", "", s.result.length > 160 ? s.result.slice(0, 120) + "…" : s.result));
      const how = el("td");
      const ul = el("ul");
      for (const x of s.exchanges) {
        ul.append(el("li", x.decision === "refused" ? "refused" : "", x.from + " → " + x.to + ": " + x.method + " " + pathOf(x.url) +
          " → " + x.status + (x.decision === "refused" ? " (refused: " + (x.rule || "HTTP " + x.status) + ")" : "")));
      }
      how.append(ul);
      tr.append(el("td", "", String(i + 1)), what, how);
      rows.append(tr);
    });
    if (journey) {
      $("summary-meta").textContent = "Journey " + journey.kind + " for " + journey.psu + " · profile " + root.dataset.profile +
        " · " + new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC";
    }
  }

  // --- Journeys -----------------------------------------------------------

  async function start(kind) {
    const box = $("psu-window");
    const body = { kind: kind, psu: $("psu").value, version: $("version").value };
    if (box && box.checked) body.psu_mode = "window";
    const res = await fetch(base + "/trainer/journeys", { method: "POST", headers: headers(true), body: JSON.stringify(body) });
    const r = await res.json();
    if (!res.ok) { status(r.error_description || r.error || "could not start", true); return; }
    journey = { id: r.id, steps: r.steps, next: 0, done: false, kind: kind, psu: body.psu };
    authURL = "";
    polling++;
    summary = [];
    const steps = $("steps");
    steps.replaceChildren();
    journey.steps.forEach((s, i) => {
      const li = el("li", "step", s.title);
      li.id = "step-" + i;
      if (s.psu) {
        li.dataset.psu = "window";
        li.append(el("span", "badge", "second window"));
      }
      steps.append(li);
    });
    for (const id of ["current", "attack-result", "tokens"]) $(id).replaceChildren();
    clearDiagram();
    $("machine").hidden = true;
    $("payment").hidden = true;
    attacks([]);
    renderSummary();
    status("Journey ready: " + journey.steps.length + " steps. Press Next step.");
    watch(base + "/trainer/stream?journey=" + encodeURIComponent(journey.id));
  }

  // psuNext reports whether the next step is the PSU's, in a window.
  function psuNext() {
    return journey !== null && !journey.done && journey.steps[journey.next] && journey.steps[journey.next].psu;
  }

  // next runs one step; it answers whether there is more to run. Before the
  // PSU's step it opens the second window on the bank's pages (from the
  // click, so that no popup blocker stops it).
  async function next() {
    if (!journey) return false;
    const index = journey.next;
    if (psuNext()) {
      if (!window.open(authURL, "sandbox-psu", "popup=yes,width=620,height=780")) {
        status("The browser blocked the second window: allow pop-ups for this page, then press Next step again.", true);
        return false;
      }
      status("The bank's login page is open in a second window: log in as " + journey.psu + " and decide there.");
      mark((index + 1) + ". " + journey.steps[index].title + " — in the second window");
    } else {
      mark((index + 1) + ". " + journey.steps[index].title);
    }
    const res = await fetch(base + "/trainer/journeys/" + encodeURIComponent(journey.id) + "/next", { method: "POST", headers: headers(false) });
    const r = await res.json();
    if (!res.ok) { status(r.error_description || "the step could not run", true); return false; }
    if (r.title === undefined) { finish(); return false; }
    const li = $("step-" + r.index);
    li.classList.add(r.error ? "failed" : "done");
    const xs = r.exchanges || [];
    li.dataset.exchanges = String(xs.length);
    xs.forEach((x) => arrow(x, "step-" + r.index, false));
    const cur = $("current");
    cur.replaceChildren();
    cur.append(el("h2", "", (r.index + 1) + ". " + r.title), el("p", "explain", r.explain));
    if (r.error) cur.append(el("p", "error", "This step failed: " + r.error));
    else if (r.result) cur.append(el("p", "result", "Result: " + r.result));
    cur.append(exchanges(xs));
    (r.decoded || []).forEach((d) => token(d, "step-" + r.index));
    machine(r.consent);
    if (r.authorize_url) authURL = r.authorize_url;
    attacks(r.attacks);
    $("attack-result").replaceChildren();
    summary.push({ title: r.title, result: r.error ? "failed: " + r.error : r.result, exchanges: xs });
    renderSummary();
    if (r.payment) payment(r.payment);
    if (r.error) { status("Step " + (r.index + 1) + " failed.", true); return false; }
    journey.next = r.index + 1;
    if (r.done) { finish(); return false; }
    if (psuNext()) {
      status("Step " + (r.index + 1) + " of " + journey.steps.length + " done. Next, the PSU: press Next step to open the bank's login page in a second window.");
      return true;
    }
    status("Step " + (r.index + 1) + " of " + journey.steps.length + " done.");
    return true;
  }

  function finish() {
    journey.done = true;
    status("Journey complete.");
  }

  // runAll runs the steps to the end, stopping before the PSU's step in a
  // window (its window opens from a click on Next step).
  async function runAll() {
    for (let first = true; ; first = false) {
      if (!first && psuNext()) return;
      if (!await next()) return;
    }
  }

  // guarded runs one action at a time, with the buttons disabled meanwhile.
  async function guarded(fn) {
    if (busy) return;
    busy = true;
    buttons();
    try { await fn(); } catch (e) { status(String(e), true); } finally { busy = false; buttons(); }
  }

  $("start-accounts").addEventListener("click", () => guarded(() => start("accounts")));
  $("start-payment").addEventListener("click", () => guarded(() => start("payment")));
  $("start-ciba").addEventListener("click", () => guarded(() => start("ciba")));
  $("start-vrp").addEventListener("click", () => guarded(() => start("vrp")));
  $("next").addEventListener("click", () => guarded(next));
  $("run-all").addEventListener("click", () => guarded(runAll));
  $("print").addEventListener("click", () => { renderSummary(); window.print(); });
  $("watch-all").addEventListener("click", () => {
    if (busy) return;
    journey = null;
    buttons();
    watch(base + "/trainer/stream");
    status("Watching every decision the bank makes.");
  });
  buttons();
})();
