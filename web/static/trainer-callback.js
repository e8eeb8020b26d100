// The trainer TPP's redirect URI: hands the whole URL this window came back
// at (the answer may be in the fragment) to the journey that waits for it.
"use strict";
(function () {
  const base = document.getElementById("callback").dataset.base || "";
  const status = document.getElementById("callback-status");
  document.getElementById("answer").textContent = location.href;
  fetch(base + "/trainer/callback", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ url: location.href }) }).then(async (res) => {
    if (res.ok) {
      status.textContent = "The journey goes on in the trainer's page: this window can close.";
      return;
    }
    const body = await res.json().catch(() => ({}));
    status.textContent = "The trainer's page did not take this answer: " + (body.error_description || res.status);
    status.className = "error";
  });
  document.getElementById("close").addEventListener("click", () => window.close());
})();
