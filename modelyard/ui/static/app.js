// modelyard UI helpers: no framework, no dependencies. Exposed as window.modelyard.
(function () {
  "use strict";

  // POST/PATCH/DELETE/GET a JSON endpoint of the REST API (/ajax-api/2.0/mlflow/<path>, or a
  // path starting with "/" as it is, e.g. "/ajax-api/2.0/modelyard/retrain/approve").
  // Resolves with the parsed body; rejects with an Error whose message is the server's message.
  async function api(path, body, method) {
    method = method || (body === undefined ? "GET" : "POST");
    let url = path.charAt(0) === "/" ? path : "/ajax-api/2.0/mlflow/" + path;
    const init = { method: method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    const csrf = document.querySelector('meta[name="csrf-token"]');  // signed-in sessions only
    if (csrf && method !== "GET") { init.headers["X-CSRF-Token"] = csrf.content; }
    if (method === "GET" && body) {
      url += "?" + new URLSearchParams(body).toString();
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const text = await response.text();
    let data = {};
    try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { message: text }; }
    if (!response.ok) {
      const err = new Error(data.message || ("HTTP " + response.status));
      err.code = data.error_code; err.status = response.status;
      throw err;
    }
    return data;
  }

  // Show a message in the page's #flash box (kind: "error" or "info"). Text only, never HTML.
  function flash(message, kind) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = message;
    box.className = "flash" + (kind === "error" ? " error" : "");
    box.hidden = false;
  }

  // Run an async action from a button; shows its error in #flash and re-enables the button.
  async function act(button, fn) {
    if (button) button.disabled = true;
    try { await fn(); }
    catch (e) { flash(e.message, "error"); }
    finally { if (button) button.disabled = false; }
  }

  // Call fn(element) for each element when it first scrolls near the viewport (charts are drawn lazily).
  function whenVisible(elements, fn) {
    if (!("IntersectionObserver" in window)) { elements.forEach(fn); return; }
    const seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) { seen.unobserve(entry.target); fn(entry.target); }
      });
    }, { rootMargin: "200px" });
    elements.forEach(function (el) { seen.observe(el); });
  }

  window.modelyard = { api: api, flash: flash, act: act, whenVisible: whenVisible };
})();
