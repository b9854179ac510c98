// Live task rows and task pages: every few seconds (while the tab is visible) ask the server what
// changed among the waiting and running tasks shown, and swap in only those, keeping keyboard focus
// and row selection. "Running for" ticks between polls from the server's own figure.
(function () {
  "use strict";
  var POLL_MS = 4000;
  var LIVE = { pending: true, scheduled: true, blocked: true, running: true };

  function focusKey(root) {
    var active = document.activeElement;
    if (!active || !root.contains(active)) return null;
    return active.getAttribute("aria-label") || active.id || active.name || null;
  }

  function refocus(root, key) {
    if (!key) return;
    var all = root.querySelectorAll("a, button, input, select, textarea, [tabindex]");
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      if (el.getAttribute("aria-label") === key || el.id === key || el.name === key) { el.focus(); return; }
    }
    var first = root.querySelector("a, button, [tabindex]");
    if (first) first.focus();
  }

  function replace(old, fresh) {
    var key = focusKey(old);
    var box = old.querySelector('input[name="ids"]');
    var checked = box && box.checked;
    old.replaceWith(fresh);
    if (window.htmx) window.htmx.process(fresh);
    var newBox = fresh.querySelector('input[name="ids"]');
    if (newBox && checked) newBox.checked = true;
    refocus(fresh, key);
    fresh.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function pollRows() {
    var results = document.getElementById("task-results");
    if (!results) return;
    var rows = Array.prototype.filter.call(results.querySelectorAll("tr[data-task-id]"),
      function (tr) { return LIVE[tr.getAttribute("data-status")]; });
    if (!rows.length) return;
    var shown = rows.map(function (tr) { return tr.getAttribute("data-task-id") + ":" + tr.getAttribute("data-rev"); });
    var url = results.getAttribute("data-live-rows") + "?rows=" + encodeURIComponent(shown.join(",")) +
      "&here=" + encodeURIComponent(location.pathname + location.search);
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } }).then(function (r) {
      if (r.status !== 200) return null;
      return r.text();
    }).then(function (text) {
      if (!text) return;
      var holder = document.createElement("div");
      holder.innerHTML = text;
      var tpl = holder.querySelector("template");
      if (!tpl) return;
      Array.prototype.forEach.call(tpl.content.querySelectorAll("tr[data-task-id]"), function (fresh) {
        var old = document.getElementById(fresh.id);
        if (old) replace(old, document.importNode(fresh, true));
      });
    }).catch(function () { /* the next poll tries again */ });
  }

  function pollDetail() {
    var detail = document.getElementById("task-detail");
    if (!detail || !detail.getAttribute("data-live-url")) return;
    var url = detail.getAttribute("data-live-url") + "?rev=" + encodeURIComponent(detail.getAttribute("data-rev"));
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } }).then(function (r) {
      return r.status === 200 ? r.text() : null;
    }).then(function (text) {
      if (!text) return;
      var holder = document.createElement("div");
      holder.innerHTML = text;
      var fresh = holder.querySelector("#task-detail");
      var current = document.getElementById("task-detail");
      if (fresh && current) replace(current, fresh);
    }).catch(function () { /* the next poll tries again */ });
  }

  function tick() {
    document.querySelectorAll("[data-ticking-ms]").forEach(function (el) {
      if (!el.dataset.shownAt) el.dataset.shownAt = String(Date.now());
      var ms = Number(el.getAttribute("data-ticking-ms")) + (Date.now() - Number(el.dataset.shownAt));
      var s = ms / 1000;
      el.textContent = s < 60 ? s.toFixed(0) + " s" : s < 3600 ? (s / 60).toFixed(1) + " min" : (s / 3600).toFixed(1) + " h";
    });
  }

  setInterval(function () {
    if (document.visibilityState !== "visible") return;
    pollRows();
    pollDetail();
  }, POLL_MS);
  setInterval(tick, 1000);
})();
