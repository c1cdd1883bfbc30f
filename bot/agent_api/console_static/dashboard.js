/* The shop's complaint dashboard (issue 12): figures, early warnings, charts and tables.
 *
 * Served at /console/dashboard by bot/agent_api/console_ui.py. One call,
 * GET /api/analytics/dashboard?since=&until= (dates, Asia/Shanghai), gives the key figures, the
 * warnings and every table as {title, columns, rows}; a table with a chart names it, and the
 * chart is an SVG drawn on the server (GET /api/analytics/charts/<name>.svg). Every table has a
 * CSV export (GET /api/analytics/export/<name>.csv), fetched with the token and saved as a file.
 */
(function () {
  "use strict";
  var C = window.Console, $ = C.$, el = C.el;

  function iso(date) {
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate());
  }

  function range() { return "since=" + $("since").value + "&until=" + $("until").value; }

  function message(text, kind) {
    $("dash-message").className = "message" + (kind ? " " + kind : "");
    $("dash-message").textContent = text || "";
  }

  function load() {
    message("正在计算……");
    return C.api("GET", "/api/analytics/dashboard?" + range()).then(function (data) {
      message("");
      $("range-note").textContent = "共 " + data.tickets + " 张工单 · 计算于 " + C.clock(data.generated_at);
      renderWarnings(data.warnings);
      renderKpis(data.kpis);
      renderPanels(data.tables);
    }).catch(function (error) { message(error.message, "error"); });
  }

  function renderWarnings(warnings) {
    var box = C.clear($("warning-list"));
    if (!warnings.length) { box.appendChild(el("p", { class: "hint" }, "没有异常：各商品类别和原因的投诉量都在平常水平。")); return; }
    warnings.forEach(function (w) { box.appendChild(el("div", { class: "warning" }, w.text)); });
  }

  function renderKpis(kpis) {
    var box = C.clear($("kpis"));
    kpis.forEach(function (k) {
      box.appendChild(el("div", { class: "kpi" }, el("div", { class: "value" }, k.value), el("div", { class: "label" }, k.label)));
    });
  }

  function cell(value, column) {
    if (value === null || value === undefined) return "—";
    if (column.format === "percent") return C.percent(value);
    if (column.format === "time") return C.clock(value);
    return String(value);
  }

  function download(name) {
    C.blobUrl("/api/analytics/export/" + name + ".csv?" + range()).then(function (url) {
      var link = el("a", { href: url, download: name + "-" + $("since").value + "-" + $("until").value + ".csv" });
      document.body.appendChild(link);
      link.click();
      link.remove();
    }).catch(function (error) { message(error.message, "error"); });
  }

  function renderPanels(tables) {
    var box = C.clear($("panels"));
    tables.forEach(function (t) {
      var chart = t.chart ? el("div", { class: "chart" }, el("img", { alt: t.title + "（图）", "data-chart": t.chart })) : null;
      var table = el("table", { class: "grid" },
        el("thead", {}, el("tr", {}, t.columns.map(function (c) { return el("th", { class: c.format ? "num" : null, scope: "col" }, c.label); }))),
        el("tbody", {}, t.rows.length ? t.rows.map(function (r) {
          return el("tr", {}, t.columns.map(function (c) { return el("td", { class: c.format ? "num" : null }, cell(r[c.key], c)); }));
        }) : el("tr", {}, el("td", { colspan: t.columns.length, class: "hint" }, "这段时间没有数据"))));
      var wide = t.columns.length > 8 || t.name === "trend";  // heat maps by day and the daily trend
      box.appendChild(el("section", { class: "card" + (wide ? " wide" : ""), id: "panel-" + t.name, "aria-label": t.title },
        el("div", { class: "panel-head" }, el("h2", {}, t.title),
          el("button", { type: "button", class: "quiet", onclick: function () { download(t.name); } }, "导出 CSV")),
        t.note ? el("p", { class: "hint" }, t.note) : null,
        chart, el("div", { class: "table-wrap" }, table)));
    });
    Array.prototype.forEach.call(document.querySelectorAll("img[data-chart]"), function (img) {
      C.blobUrl("/api/analytics/charts/" + img.getAttribute("data-chart") + ".svg?" + range())
        .then(function (url) { img.src = url; })
        .catch(function () { img.alt = "图表暂时画不出来"; });
    });
  }

  $("range").addEventListener("submit", function (event) { event.preventDefault(); load(); });

  C.login(function () {
    var today = new Date();
    $("until").value = iso(today);
    $("since").value = iso(new Date(today.getTime() - 29 * 86400000));
    load();
  });
})();
