// The security-operations page: runs incident drills and shows sealed
// secrets through the admin API (POST /sandbox/incidents, GET
// /sandbox/secrets), with the admin token the trainer pastes.
(function () {
  "use strict";
  var root = document.getElementById("incidents");
  var base = root.dataset.base || "";
  var note = document.getElementById("note");

  function el(tag, text) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function call(method, path, body) {
    var token = document.getElementById("admin").value.trim();
    var opts = { method: method, headers: { Authorization: "Bearer " + token } };
    if (body) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(base + path, opts).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(j.error_description || j.error || r.status);
        return j;
      });
    });
  }

  function busy(on) {
    document.querySelectorAll("button").forEach(function (b) { b.disabled = on; });
  }

  function showIncident(inc) {
    document.getElementById("incident").hidden = false;
    document.getElementById("incident-title").textContent = inc.scenario + " — " + inc.id + " (" + inc.status + ")";
    document.getElementById("incident-summary").textContent = inc.summary + (inc.error ? " Failed: " + inc.error : "");
    var phases = document.getElementById("phases");
    phases.replaceChildren();
    inc.phases.forEach(function (p) {
      var li = el("li");
      li.appendChild(el("strong", p.name));
      var ul = el("ul");
      (p.steps || []).forEach(function (s) { ul.appendChild(el("li", s)); });
      li.appendChild(ul);
      phases.appendChild(li);
    });
    var checks = document.getElementById("checks");
    checks.replaceChildren();
    inc.checks.forEach(function (c) {
      checks.appendChild(el("li", (c.ok ? "✔ " : "✘ ") + c.phase + ": " + c.what));
    });
    document.getElementById("report-html").href = "#";
    call("GET", "/sandbox/incidents/" + inc.id + "/report").then(function (rep) {
      document.getElementById("ttd").textContent = rep.time_to_detect;
      document.getElementById("ttc").textContent = rep.time_to_contain;
      var dl = document.getElementById("affected");
      dl.replaceChildren();
      ["clients", "psus", "consents", "payments"].forEach(function (k) {
        dl.appendChild(el("dt", k));
        dl.appendChild(el("dd", (rep.affected[k] || []).join(", ") || "—"));
      });
      var link = document.getElementById("report-html");
      link.onclick = function (ev) {
        ev.preventDefault();
        fetch(base + "/sandbox/incidents/" + inc.id + "/report?format=html", {
          headers: { Authorization: "Bearer " + document.getElementById("admin").value.trim() }
        }).then(function (r) { return r.blob(); }).then(function (b) {
          window.open(URL.createObjectURL(b), "_blank", "noopener");
        });
      };
    });
  }

  document.querySelectorAll("[data-drill]").forEach(function (b) {
    b.addEventListener("click", function () {
      busy(true);
      note.textContent = "Running the drill " + b.dataset.drill + "…";
      call("POST", "/sandbox/incidents", { scenario: b.dataset.drill }).then(function (inc) {
        note.textContent = "";
        showIncident(inc);
      }).catch(function (e) { note.textContent = "The drill could not run: " + e.message; })
        .finally(function () { busy(false); });
    });
  });

  document.getElementById("secrets").addEventListener("click", function () {
    call("GET", "/sandbox/secrets").then(function (j) {
      document.getElementById("sealed").hidden = false;
      var tb = document.getElementById("sealed-rows");
      tb.replaceChildren();
      j.secrets.forEach(function (s) {
        var tr = el("tr");
        tr.appendChild(el("td", s.table + "." + s.column));
        tr.appendChild(el("td", s.row));
        var sealed = el("td");
        sealed.appendChild(el("code", s.sealed));
        tr.appendChild(sealed);
        tr.appendChild(el("td", s.reads));
        tb.appendChild(tr);
      });
    }).catch(function (e) { note.textContent = "Secrets: " + e.message; });
  });
})();
