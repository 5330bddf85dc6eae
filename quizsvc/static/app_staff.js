// The results table sorts in place when a column heading is chosen. Without this script the
// headings are links the server sorts by, so the table works either way; with it, the page
// keeps its place and the address still names the order (a reload shows the same table).
"use strict";
(function () {
  function compare(a, b, numeric) {
    if (a === "" && b === "") return 0;
    if (a === "") return 1;  // rows without a value go last in either direction, as on the server
    if (b === "") return -1;
    if (numeric) return parseFloat(a) - parseFloat(b);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  function sortTable(table, header, descending) {
    var headers = Array.prototype.slice.call(table.querySelectorAll("thead th"));
    var column = headers.indexOf(header);
    var numeric = header.dataset.key === "score" || header.dataset.key === "passed";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var present = rows.filter(function (row) { return row.cells[column].dataset.value !== ""; });
    var missing = rows.filter(function (row) { return row.cells[column].dataset.value === ""; });
    present.sort(function (x, y) {
      var order = compare(x.cells[column].dataset.value, y.cells[column].dataset.value, numeric);
      return descending ? -order : order;
    });
    present.concat(missing).forEach(function (row) { body.appendChild(row); });
    headers.forEach(function (other) {
      var link = other.querySelector("a.sort-link");
      var mark = other.querySelector(".sort-mark");
      var current = other === header;
      other.setAttribute("aria-sort", current ? (descending ? "descending" : "ascending") : "none");
      mark.textContent = current ? (descending ? " \u25BC" : " \u25B2") : "";
      var url = new URL(link.href, window.location.href);
      url.searchParams.set("dir", current && !descending ? "desc" : "asc");
      link.href = url.toString();
    });
    var caption = table.querySelector("caption");
    if (caption) {
      caption.textContent = caption.textContent.replace(/sorted by .*$/,
        "sorted by " + header.textContent.replace(/[\u25B2\u25BC]/g, "").trim().toLowerCase() +
        " (" + (descending ? "descending" : "ascending") + ")");
    }
    var here = new URL(window.location.href);
    here.searchParams.set("sort", header.dataset.key);
    here.searchParams.set("dir", descending ? "desc" : "asc");
    window.history.replaceState(null, "", here.toString());
  }

  document.querySelectorAll("table[data-sortable]").forEach(function (table) {
    table.querySelectorAll("thead a.sort-link").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        var header = link.closest("th");
        var descending = header.getAttribute("aria-sort") === "ascending";
        sortTable(table, header, descending);
        link.focus();
      });
    });
  });
})();
