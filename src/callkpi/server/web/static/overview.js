/* Overview: one tile per KPI with data in the scope: the period's value, its target, the
 * deviation and status (from /api/overview, the scorecard's logic) and a sparkline by day. */
(function () {
  "use strict";
  const CK = window.CK;
  const { t, fmt, fmtSigned, fmtDay, fmtPeriod, el, statusClass } = CK;
  const charts = [];
  window.ckCharts = charts; // for tests and the console: the ECharts instances shown
  const STATUS_COLORS = { "on track": "#1c7c4a", warning: "#b7791f", critical: "#b42318" };
  let seq = 0;

  function sparkline(node, tile, currency) {
    const chart = echarts.init(node, null, { renderer: "canvas" });
    const dates = tile.series.map((p) => p[0]);
    const values = tile.series.map((p) => p[1]);
    const color = STATUS_COLORS[tile.status] || "#2458a6";
    const series = {
      type: "line", data: values, showSymbol: values.length < 3, symbolSize: 4,
      connectNulls: false, lineStyle: { width: 2, color: color }, itemStyle: { color: color },
      areaStyle: { color: color, opacity: 0.08 },
    };
    if (tile.target !== null && tile.target !== undefined) {
      series.markLine = { silent: true, symbol: "none", label: { show: false },
        lineStyle: { type: "dashed", color: "#8a94a3", width: 1 }, data: [{ yAxis: tile.target }] };
    }
    const known = values.filter((v) => v !== null);
    const bounds = tile.target !== null && tile.target !== undefined ? known.concat([tile.target]) : known;
    chart.setOption({
      animation: false,
      grid: { left: 2, right: 2, top: 6, bottom: 2 },
      xAxis: { type: "category", show: false, data: dates, boundaryGap: false },
      yAxis: { type: "value", show: false, min: Math.min(...bounds), max: Math.max(...bounds) },
      tooltip: {
        trigger: "axis", confine: true,
        formatter: (items) => items.map((i) => fmtDay(i.name) + ": " + fmt(i.value, tile.unit, currency)).join("<br>"),
      },
      series: [series],
    });
    chart.ckKpi = tile.kpi;
    charts.push(chart);
  }

  function tileNode(tile, currency) {
    const cls = statusClass(tile.status);
    const meta = el("div", { class: "meta" });
    if (tile.target !== null && tile.target !== undefined) {
      meta.append(el("span", {}, t("tile.target") + " " + fmt(tile.target, tile.unit, currency)));
      meta.append(el("span", { class: "dev", "data-deviation": tile.deviation },
        fmtSigned(tile.deviation) + " " + t("tile.deviation")));
    }
    if (tile.n !== null && tile.n !== undefined) {
      meta.append(el("span", {}, t("tile.n") + " " + fmt(tile.n, "count")));
    }
    const spark = el("div", { class: "spark", "aria-label": t("overview.trend") });
    const node = el("article", { class: "tile " + cls, "data-kpi": tile.kpi },
      el("header", {}, el("h2", { text: CK.kpiName(tile) }),
        el("span", { class: "pill " + cls, text: t("status." + tile.status, tile.status) })),
      el("div", { class: "value", "data-value": tile.value === null ? "" : tile.value },
        fmt(tile.value, tile.unit, currency)),
      meta, spark);
    return { node, spark };
  }

  async function load() {
    const mine = ++seq;
    const grid = document.getElementById("tiles");
    grid.setAttribute("aria-busy", "true");
    let data;
    try {
      data = await CK.api("/api/overview", CK.dataParams());
    } catch (error) {
      CK.showError(error);
      return;
    }
    if (mine !== seq) return; // a newer filter change is loading
    CK.showError(null);
    charts.splice(0).forEach((c) => c.dispose());
    grid.replaceChildren();
    const sparks = [];
    for (const tile of data.tiles) {
      const { node, spark } = tileNode(tile, data.currency);
      grid.append(node);
      sparks.push([spark, tile]);
    }
    for (const [spark, tile] of sparks) sparkline(spark, tile, data.currency);
    document.getElementById("subtitle").textContent = fmtPeriod(data.from, data.to) +
      " · " + data.tz;
    document.getElementById("empty").hidden = data.tiles.length > 0;
    const unavailable = document.getElementById("unavailable");
    unavailable.hidden = data.unavailable.length === 0;
    unavailable.textContent = t("overview.unavailable") + ": " +
      data.unavailable.map((k) => t("kpi." + k, k)).join(", ");
    grid.dataset.period = data.period;
    grid.setAttribute("aria-busy", "false");
  }

  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  CK.initFilters(load);
})();
