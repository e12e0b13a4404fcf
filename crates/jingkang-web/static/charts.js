// The indicator charts: each element with data-chart="ID" is drawn from the JSON in the
// <script type="application/json" id="ID"> beside it (ECharts, vendored). Bars are regions
// against the target (dashed line); a click opens the list behind the bar. Lines are quarters.
(function () {
  "use strict";
  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source || typeof echarts === "undefined") { return; }
    var d = JSON.parse(source.textContent);
    var chart = echarts.init(el, null, { renderer: "canvas" });
    var target = d.target === null || d.target === undefined ? [] :
      [{ yAxis: d.target, name: "目标", label: { formatter: "目标 " + d.target + "%" }, lineStyle: { type: "dashed", color: "#b3261e" } }];
    var series = {
      type: d.kind === "bar" ? "bar" : "line",
      data: d.values,
      label: { show: d.values.length <= 12, position: "top", formatter: function (p) { return p.value === null ? "—" : p.value + "%"; } },
      markLine: { symbol: "none", silent: true, data: target },
      itemStyle: { color: "#1f5f8b" }
    };
    chart.setOption({
      animation: false,
      grid: { left: 48, right: 24, top: 24, bottom: d.names.length > 6 ? 72 : 32 },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return v === null ? "—" : v + "%"; } },
      xAxis: { type: "category", data: d.names, axisLabel: { interval: 0, rotate: d.names.length > 6 ? 40 : 0 } },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      series: [series]
    });
    if (d.links) {
      chart.on("click", function (p) { if (d.links[p.dataIndex]) { window.location.href = d.links[p.dataIndex]; } });
    }
    el.setAttribute("data-drawn", "1");
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function start() { document.querySelectorAll("[data-chart]").forEach(draw); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
