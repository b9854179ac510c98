/* The console's small script: local times, live-feed upkeep, SSE status and fallback, panel focus.
 * Everything works without it; it only improves what the server rendered. */
(function () {
  "use strict";

  var zone = "UTC";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* keep UTC */ }

  var FORMATS = {
    datetime: { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" },
    time: { hour: "2-digit", minute: "2-digit", second: "2-digit" },
    hm: { hour: "2-digit", minute: "2-digit" }
  };
  var formatters = {};

  function format(iso, kind) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) { return null; }
    var key = FORMATS[kind] ? kind : "datetime";
    if (!formatters[key]) { formatters[key] = new Intl.DateTimeFormat(undefined, FORMATS[key]); }
    return formatters[key].format(date);
  }

  /* <time datetime="…Z" data-fmt="…"> and SVG labels with data-ts: UTC from the server → the viewer's zone. */
  function localize(root) {
    var scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll("time[datetime][data-fmt]:not([data-localized])").forEach(function (el) {
      var text = format(el.getAttribute("datetime"), el.dataset.fmt);
      if (text) { el.textContent = text; el.setAttribute("data-localized", ""); }
    });
    scope.querySelectorAll("[data-ts]:not([data-localized])").forEach(function (el) {
      var iso = el.getAttribute("data-ts");
      if (!iso) { return; }
      var text = format(iso, el.getAttribute("data-fmt") || "time");
      if (text) { el.textContent = text + (el.getAttribute("data-rest") || ""); el.setAttribute("data-localized", ""); }
    });
    scope.querySelectorAll("[data-tz-note]").forEach(function (el) { el.textContent = "your time zone (" + zone + ")"; });
    scope.querySelectorAll("input[data-tz-field]").forEach(function (el) { if (!el.value) { el.value = zone; } });
  }

  /* The live feed keeps at most data-feed-limit rows. */
  function trimFeed() {
    var feed = document.getElementById("live-feed");
    if (!feed) { return; }
    var limit = parseInt(feed.dataset.feedLimit || "50", 10);
    while (feed.children.length > limit) { feed.removeChild(feed.lastElementChild); }
  }

  function maxSeq(feed) {
    var best = 0;
    feed.querySelectorAll("[data-seq]").forEach(function (el) {
      var n = parseInt(el.getAttribute("data-seq"), 10);
      if (n > best) { best = n; }
    });
    return best;
  }

  /* SSE status, and polling the same fragments only while the stream is down. */
  var pollTimer = null;
  var POLL_MS = 5000;

  function setStatus(state, text) {
    var el = document.querySelector("[data-live-status]");
    if (!el) { return; }
    el.setAttribute("data-state", state);
    var label = el.querySelector("[data-live-text]");
    if (label) { label.textContent = text; }
  }

  /* One panel from its data-poll-url; the feed only what is newer, unless `whole` (after a reset). */
  function reload(el, whole) {
    var url = el.dataset.pollUrl;
    var isFeed = el.id === "live-feed";
    if (isFeed && !whole) { url += "?after=" + maxSeq(el); }
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } }).then(function (res) {
      if (!res.ok || res.redirected) { throw new Error("HTTP " + res.status); }
      return res.text();
    }).then(function (html) {
      if (isFeed && !whole) {
        if (html.trim()) { el.insertAdjacentHTML("afterbegin", html); trimFeed(); }
      } else {
        el.innerHTML = html;
      }
      localize(el);
    }).catch(function () {
      setStatus("offline", "Updates unavailable; reload the page to see the latest state.");
    });
  }

  function pollOnce() {
    var root = document.querySelector("[data-live-root]");
    if (!root) { stopPolling(); return; }
    root.querySelectorAll("[data-poll-url]").forEach(function (el) { reload(el, false); });
  }

  /* `reset`: the stream may have skipped changes. The server re-sends its snapshots; the feed,
   * built from changes, is reloaded whole from the database. */
  function onReset() {
    var feed = document.getElementById("live-feed");
    if (feed && feed.dataset.pollUrl) { reload(feed, true); }
  }

  function startPolling() {
    if (pollTimer) { return; }
    setStatus("polling", "Live stream unavailable: refreshing every " + POLL_MS / 1000 + " s.");
    pollTimer = window.setInterval(pollOnce, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; }
  }

  document.addEventListener("htmx:sseOpen", function (evt) {
    stopPolling();
    setStatus("live", "Live: updates arrive as they happen.");
    var source = evt.detail && evt.detail.source;
    // Open fires again on every reconnect of the same EventSource: listen once per source.
    if (source && !source.jobsResetListener) {
      source.jobsResetListener = true;
      source.addEventListener("reset", onReset);
    }
  });
  document.addEventListener("htmx:sseError", startPolling);
  document.addEventListener("htmx:sseMessage", function (evt) {
    if (evt.target && evt.target.id === "live-feed") { trimFeed(); }
  });

  /* Newly swapped content: localise its times; move focus to panels the user opened. */
  var lastOpener = null;
  document.addEventListener("htmx:load", function (evt) { localize(evt.target); });
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail && evt.detail.elt;
    if (elt && elt.getAttribute && elt.getAttribute("hx-target") === "#detail-panel") { lastOpener = elt; }
  });
  document.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail && evt.detail.target;
    if (!target) { return; }
    if (target.id === "detail-panel" || target.id === "bulk-panel") {
      var heading = target.querySelector("h2[tabindex]");
      if (heading) { heading.focus(); }
    }
    var secret = document.querySelector("[data-new-key]");
    if (secret && target.id === "keys-panel") { secret.focus(); }
  });
  document.addEventListener("htmx:responseError", function (evt) {
    var status = evt.detail && evt.detail.xhr ? evt.detail.xhr.status : 0;
    var box = document.getElementById("messages");
    if (!box) { return; }
    var p = document.createElement("p");
    p.className = "message error";
    p.textContent = status === 403 ? "You do not have permission to do that." :
      "The request failed (HTTP " + status + "). Nothing was changed by this page; reload to see the current state.";
    box.replaceChildren(p);
  });

  document.addEventListener("click", function (evt) {
    var close = evt.target.closest && evt.target.closest("[data-close-panel]");
    if (close) {
      var panel = document.getElementById("detail-panel");
      if (panel) { panel.replaceChildren(); }
      if (lastOpener && document.body.contains(lastOpener)) { lastOpener.focus(); }
      return;
    }
    var copy = evt.target.closest && evt.target.closest("[data-copy]");
    if (copy) {
      var field = document.querySelector(copy.getAttribute("data-copy"));
      if (!field) { return; }
      field.select();
      if (navigator.clipboard) {
        navigator.clipboard.writeText(field.value).then(function () { copy.textContent = "Copied"; });
      }
    }
  });
  document.addEventListener("focusin", function (evt) {
    if (evt.target.matches && evt.target.matches("[data-select-on-focus]")) { evt.target.select(); }
  });
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape") {
      var panel = document.getElementById("detail-panel");
      if (panel && panel.children.length && panel.contains(document.activeElement)) {
        panel.replaceChildren();
        if (lastOpener && document.body.contains(lastOpener)) { lastOpener.focus(); }
      }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    if (document.querySelector("[data-live-root]")) {
      setStatus("connecting", "Connecting to the live stream…");
      if (typeof window.EventSource === "undefined") { startPolling(); }
    }
  });
})();
