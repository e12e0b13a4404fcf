// The indicator charts: each element with data-chart is drawn from the JSON of its data-spec
// attribute (ECharts, vendored). Bars are regions
// against the target (dashed line); a click opens the list behind the bar. Lines are quarters.
(function () {
  "use strict";
  function draw(el) {
    var spec = el.getAttribute("data-spec");
    if (!spec || typeof echarts === "undefined") { return; }
    var d = JSON.parse(spec);
    var chart = echarts.init(el, null, { renderer: "canvas" });
    // Many regions (a county's townships): horizontal bars, one line each, so every name reads.
    var flat = d.kind === "bar" && d.names.length > 12;
    if (flat) { el.style.height = Math.max(280, 22 * d.names.length + 60) + "px"; chart.resize(); }
    var line = { type: "dashed", color: "#b3261e" };
    var target = d.target === null || d.target === undefined ? [] :
      [flat ? { xAxis: d.target, lineStyle: line, label: { formatter: "目标 " + d.target + "%" } }
            : { yAxis: d.target, lineStyle: line, label: { formatter: "目标 " + d.target + "%" } }];
    var series = {
      type: d.kind === "bar" ? "bar" : "line",
      data: d.values,
      label: { show: true, position: flat ? "right" : "top", formatter: function (p) { return p.value === null ? "—" : p.value + "%"; } },
      markLine: { symbol: "none", silent: true, data: target },
      itemStyle: { color: "#1f5f8b" }
    };
    var names = { type: "category", data: d.names, axisLabel: { interval: 0 } };
    var percent = { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } };
    if (flat) { names.inverse = true; }
    chart.setOption({
      animation: false,
      grid: { left: flat ? 88 : 48, right: flat ? 56 : 24, top: 24, bottom: 32 },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return v === null ? "—" : v + "%"; } },
      xAxis: flat ? percent : names,
      yAxis: flat ? names : percent,
      series: [series]
    });
    if (d.links) {
      chart.on("click", function (p) { if (d.links[p.dataIndex]) { window.location.href = d.links[p.dataIndex]; } });
    }
    el.setAttribute("data-drawn", "1");
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function start() { document.querySelectorAll("[data-chart]:not([data-drawn])").forEach(draw); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
  // Parts loaded after the page (the trend) bring their own charts.
  new MutationObserver(function () { start(); }).observe(document.documentElement, { childList: true, subtree: true });
})();
