/* Queues and IVR: calls offered by hour and weekday, service level and abandonment by
 * 30-minute interval, waits of abandoned calls against all waits per queue, the IVR's
 * option shares and containment; every number from /api/table in the caller's scope. */
(function () {
  "use strict";
  const CK = window.CK;
  const { t, fmt, el } = CK;
  const QUEUE_KPIS = ["offered", "answered", "service_level", "abandon_rate", "asa", "avg_wait",
    "avg_abandon_wait", "aht"];
  let seq = 0;

  function heatmap(data) {
    const hours = [...new Set(data.rows.map((r) => r.hour_of_day))].sort((a, b) => a - b);
    const days = [1, 2, 3, 4, 5, 6, 7];
    const cells = data.rows.filter((r) => r.offered).map((r) => [hours.indexOf(r.hour_of_day), r.weekday - 1, r.offered]);
    const max = Math.max(1, ...cells.map((c) => c[2]));
    CK.chart(document.getElementById("heatmap-chart"), {
      grid: { left: 48, right: 84, top: 10, bottom: 28 },
      tooltip: { formatter: (p) => CK.weekdayName(p.value[1] + 1) + " " + hours[p.value[0]] + ":00 — " +
        fmt(p.value[2], "count") },
      xAxis: { type: "category", data: hours.map((h) => String(h).padStart(2, "0")), splitArea: { show: true } },
      yAxis: { type: "category", data: days.map(CK.weekdayName), inverse: true, splitArea: { show: true } },
      visualMap: { min: 0, max: max, calculable: true, orient: "vertical", right: 0, top: "middle",
        itemHeight: 140, inRange: { color: ["#e7eef9", "#2458a6"] } },
      series: [{ type: "heatmap", data: cells, label: { show: cells.length <= 60, fontSize: 10 } }],
    }, "heatmap");
  }

  function intervals(data) {
    const info = Object.fromEntries(data.kpis.map((k) => [k.kpi, k]));
    const x = data.rows.map((r) => CK.fmtSlot(r.period_start, "30min"));
    const line = (key, color) => ({ name: CK.kpiName(info[key]), type: "line", data: data.rows.map((r) => r[key]),
      showSymbol: false, connectNulls: false, lineStyle: { color: color, width: 2 }, itemStyle: { color: color } });
    const series = [
      { name: CK.kpiName(info.offered), type: "bar", yAxisIndex: 1, data: data.rows.map((r) => r.offered),
        itemStyle: { color: "#c9d3e3" } },
      line("service_level", "#2458a6"), line("abandon_rate", "#b42318")];
    if (info.service_level && info.service_level.target !== null) {
      series[1].markLine = { silent: true, symbol: "none", lineStyle: { type: "dashed", color: "#2458a6" },
        label: { formatter: t("tile.target"), position: "insideEndTop" },
        data: [{ yAxis: info.service_level.target }] };
    }
    CK.chart(document.getElementById("intervals-chart"), {
      grid: { left: 48, right: 48, top: 36, bottom: 48 },
      legend: { top: 0 },
      tooltip: { trigger: "axis", formatter: (items) => items[0].axisValue + "<br>" + items.map((i) =>
        i.marker + i.seriesName + ": " + fmt(i.value, i.seriesIndex === 0 ? "count" : "ratio")).join("<br>") },
      xAxis: { type: "category", data: x, axisLabel: { hideOverlap: true } },
      yAxis: [{ type: "value", min: 0, max: 1, axisLabel: { formatter: CK.axisFmt("ratio") } },
        { type: "value", splitLine: { show: false }, axisLabel: { formatter: CK.axisFmt("count") } }],
      dataZoom: data.rows.length > 60 ? [{ type: "inside" }] : [],
      series,
    }, "intervals");
  }

  function waits(data) {
    const rows = data.rows.filter((r) => r.offered);
    const info = Object.fromEntries(data.kpis.map((k) => [k.kpi, k]));
    const bar = (key, color) => ({ name: t(key === "avg_wait" ? "queues.avg_wait_all" : "queues.avg_wait_abandoned"),
      type: "bar", data: rows.map((r) => r[key]), itemStyle: { color: color } });
    CK.chart(document.getElementById("waits-chart"), {
      grid: { left: 56, right: 16, top: 36, bottom: 84 },
      legend: { top: 0 },
      tooltip: { trigger: "axis", valueFormatter: (v) => fmt(v, "seconds") },
      xAxis: { type: "category", data: rows.map((r) => r.queue), axisLabel: { rotate: 30, fontSize: 11 } },
      yAxis: { type: "value", axisLabel: { formatter: CK.axisFmt("seconds") } },
      series: info.avg_wait ? [bar("avg_wait", "#2458a6"), bar("avg_abandon_wait", "#b42318")] : [],
    }, "waits");
    const cols = [{ key: "queue", label: t("dim.queue") }].concat(data.kpis.map((k) =>
      ({ key: k.kpi, label: CK.kpiName(k), unit: k.unit })));
    const table = document.getElementById("queue-table");
    CK.fillTable(table, cols, rows, data.currency);
    table.querySelectorAll("tbody tr").forEach((tr, i) => { tr.dataset.queue = rows[i].queue; });
    document.getElementById("empty").hidden = rows.length > 0;
  }

  function ivr(options, totals) {
    const blocked = totals.unavailable.length > 0;
    document.getElementById("ivr-note").hidden = !blocked;
    document.getElementById("ivr-body").hidden = blocked;
    if (blocked) return;
    const numbers = document.getElementById("ivr-numbers");
    numbers.replaceChildren(...totals.kpis.map((k) => {
      const value = totals.rows[0] ? totals.rows[0][k.kpi] : null;
      return el("div", { "data-kpi": k.kpi, "data-value": CK.missing(value) ? "" : value },
        el("span", { text: CK.kpiName(k) }), el("b", { text: fmt(value, k.unit) }));
    }));
    const rows = options.rows.filter((r) => !CK.missing(r.ivr_option_share)).reverse();
    CK.chart(document.getElementById("ivr-chart"), {
      grid: { left: 150, right: 40, top: 8, bottom: 24 },
      tooltip: { trigger: "axis", valueFormatter: (v) => fmt(v, "ratio") },
      xAxis: { type: "value", max: 1, axisLabel: { formatter: CK.axisFmt("ratio") } },
      yAxis: { type: "category", data: rows.map((r) => r.node + " · " + r.option), axisLabel: { fontSize: 10 } },
      series: [{ type: "bar", name: t("kpi.ivr_option_share"), data: rows.map((r) => r.ivr_option_share),
        itemStyle: { color: "#36a2a2" }, label: { show: true, position: "right", fontSize: 10,
          formatter: (p) => fmt(p.value, "ratio") } }],
    }, "ivr");
    document.getElementById("ivr-chart").style.height = Math.max(220, rows.length * 18 + 40) + "px";
    CK.charts[CK.charts.length - 1].resize();
  }

  async function load() {
    const mine = ++seq;
    const box = document.getElementById("queues");
    box.setAttribute("aria-busy", "true");
    const get = (extra) => CK.api("/api/table", CK.filterParams(extra));
    let parts;
    try {
      parts = await Promise.all([
        get({ kpis: "offered", by: "hour_of_day,weekday" }),
        get({ kpis: "offered,service_level,abandon_rate", grain: "30min" }),
        get({ kpis: QUEUE_KPIS.join(","), by: "queue" }),
        get({ kpis: "ivr_option_share", by: "node,option" }),
        get({ kpis: "ivr_containment,ivr_abandon_rate" }),
      ]);
    } catch (error) {
      CK.showError(error);
      return;
    }
    if (mine !== seq) return;
    CK.showError(null);
    CK.clearCharts();
    const [heat, slots, queues, options, totals] = parts;
    heatmap(heat);
    intervals(slots);
    waits(queues);
    ivr(options, totals);
    const perQueue = "/api/table?kpis=" + QUEUE_KPIS.join(",") + "&by=queue";
    document.getElementById("queue-table").dataset.exportBase = perQueue;
    CK.exportButtons(document.getElementById("queue-head"), { id: "queues", base: perQueue });
    CK.exportButtons(document.getElementById("heatmap-head"), { id: "heatmap",
      base: "/api/table?kpis=offered&by=hour_of_day,weekday" });
    CK.exportButtons(document.getElementById("intervals-head"), { id: "intervals",
      base: "/api/table?kpis=offered,service_level,abandon_rate&grain=30min" });
    CK.exportButtons(document.getElementById("waits-head"), { id: "waits",
      base: "/api/table?kpis=offered,avg_wait,avg_abandon_wait&by=queue" });
    const ivrExports = CK.exportButtons(document.getElementById("ivr-head"), { id: "ivr",
      base: "/api/table?kpis=ivr_option_share&by=node,option" });
    ivrExports.hidden = totals.unavailable.length > 0;
    document.getElementById("subtitle").textContent = CK.fmtPeriod(heat.from, heat.to) + " · " + heat.tz;
    box.setAttribute("aria-busy", "false");
  }

  CK.initFilters(load);
})();
