// Sort a table.sortable by the column whose header is clicked (again: the other way).
// Cells carry data-sort (a number as text, or a string; "" for no value, always last)
// and data-numeric. Plain DOM, no library: the page works offline and from file://.
(function () {
  "use strict";
  function sortBy(table, col, th) {
    var heads = table.tHead.rows[0].cells;
    var asc = th.getAttribute("aria-sort") !== "ascending";
    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute("aria-sort");
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var numeric = rows.every(function (r) {
      var c = r.cells[col];
      return c.dataset.sort === "" || c.dataset.numeric === "1";
    });
    rows.sort(function (ra, rb) {
      var a = ra.cells[col].dataset.sort, b = rb.cells[col].dataset.sort;
      if (a === "" || b === "") return (a === "") - (b === "");
      var d;
      if (numeric) {
        var x = parseFloat(a), y = parseFloat(b);
        d = x < y ? -1 : x > y ? 1 : 0;
      } else {
        d = a.localeCompare(b, undefined, { numeric: true });
      }
      return asc ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.tabIndex = 0;
      th.classList.add("sort");
      th.addEventListener("click", function () { sortBy(table, col, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, col, th); }
      });
    });
  });
})();
