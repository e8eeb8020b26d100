// The trainer view: starts a journey of the reference TPP, runs it one step
// per click, and shows the bank's decisions as they are committed to the
// audit log. Plain DOM, no framework; every value is set as text.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const base = $("trainer").dataset.base || ""; // "/t/<tenant>" inside a tenant
  let journey = null; // {id, steps, done}
  let stream = null;  // AbortController of the open decision stream
  let busy = false;   // a journey is starting or a step runs

  // buttons enables exactly the buttons that can do something now: none
  // while a request runs, the steps only while a journey has steps left.
  function buttons() {
    for (const id of ["start-accounts", "start-payment", "start-ciba", "start-vrp", "watch-all"]) $(id).disabled = busy;
    const open = journey !== null && !journey.done;
    $("next").disabled = busy || !open;
    $("run-all").disabled = busy || !open;
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

  async function start(kind) {
    const res = await fetch(base + "/trainer/journeys", { method: "POST", headers: headers(true),
      body: JSON.stringify({ kind: kind, psu: $("psu").value, version: $("version").value }) });
    const body = await res.json();
    if (!res.ok) { status(body.error_description || body.error || "could not start", true); return; }
    journey = body;
    const steps = $("steps");
    steps.replaceChildren();
    journey.steps.forEach((s, i) => {
      const li = el("li", "step", s.title);
      li.id = "step-" + i;
      steps.append(li);
    });
    $("current").replaceChildren();
    status("Journey ready: " + journey.steps.length + " steps. Press Next step.");
    watch(base + "/trainer/stream?journey=" + encodeURIComponent(journey.id));
  }

  // next runs one step; it answers whether there is more to run.
  async function next() {
    if (!journey) return false;
    const res = await fetch(base + "/trainer/journeys/" + encodeURIComponent(journey.id) + "/next", { method: "POST", headers: headers(false) });
    const r = await res.json();
    if (!res.ok) { status(r.error_description || "the step could not run", true); return false; }
    if (r.title === undefined) { finish(); return false; }
    const li = $("step-" + r.index);
    li.classList.add(r.error ? "failed" : "done");
    const cur = $("current");
    cur.replaceChildren();
    cur.append(el("h2", "", (r.index + 1) + ". " + r.title), el("p", "explain", r.explain));
    if (r.error) cur.append(el("p", "error", "This step failed: " + r.error));
    else if (r.result) cur.append(el("p", "result", "Result: " + r.result));
    const xs = r.exchanges || [];
    xs.forEach((x) => {
      const d = el("details", "exchange " + (x.status < 400 ? "ok" : "bad"));
      d.open = xs.length <= 2; // a short step shows its bodies at once
      const sum = el("summary", "", x.method + " " + x.url + " → " + x.status);
      if (x.signed) sum.append(el("span", "badge", "signed"));
      d.append(sum);
      if (x.dpop) d.append(el("h3", "", "DPoP proof (decoded)"), el("pre", "", pretty(x.dpop)));
      if (x.request) d.append(el("h3", "", "Request"), el("pre", "", pretty(x.request)));
      d.append(el("h3", "", "Response"), el("pre", "", pretty(x.response)));
      cur.append(d);
    });
    (r.decoded || []).forEach((j) => {
      const d = el("details", "decoded");
      d.open = true;
      d.append(el("summary", "", j.title), el("pre", "", pretty(j.jwt)));
      cur.append(d);
    });
    if (r.error) { status("Step " + (r.index + 1) + " failed.", true); return false; }
    if (r.done) { finish(); return false; }
    status("Step " + (r.index + 1) + " of " + journey.steps.length + " done.");
    return true;
  }

  function finish() {
    journey.done = true;
    status("Journey complete.");
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
  $("run-all").addEventListener("click", () => guarded(async () => { while (await next()) { /* one step at a time */ } }));
  $("watch-all").addEventListener("click", () => {
    if (busy) return;
    journey = null;
    buttons();
    watch(base + "/trainer/stream");
    status("Watching every decision the bank makes.");
  });
  buttons();
})();
