// Row selection on the task list: the checkboxes live in the table (outside the selection form,
// joined to it by form="task-selection"), so the count and the buttons follow them here. Delegated
// from the document, because htmx replaces the results section on every page or filter change.
(function () {
  "use strict";

  function boxes(root) {
    return Array.prototype.slice.call(root.querySelectorAll('input[name="ids"][form="task-selection"]'));
  }

  function refresh() {
    var results = document.getElementById("task-results");
    if (!results) return;
    var all = boxes(results);
    var chosen = all.filter(function (b) { return b.checked; }).length;
    var out = results.querySelector("[data-selected-count]");
    if (out) out.textContent = String(chosen);
    results.querySelectorAll("[data-needs-selection]").forEach(function (button) { button.disabled = chosen === 0; });
    var head = results.querySelector("[data-select-all]");
    if (head) {
      head.checked = all.length > 0 && chosen === all.length;
      head.indeterminate = chosen > 0 && chosen < all.length;
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLInputElement)) return;
    if (target.hasAttribute("data-select-all")) {
      boxes(document).forEach(function (b) { b.checked = target.checked; });
    }
    if (target.hasAttribute("data-select-all") || target.name === "ids") refresh();
  });
  document.addEventListener("htmx:afterSettle", refresh);
  document.addEventListener("DOMContentLoaded", refresh);
})();
