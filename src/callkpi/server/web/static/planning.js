/* Planning: the forecast of calls per queue (/api/forecast, from the last day with calls
 * in the period on) against the calls that came (/api/table, grain 30 minutes), and the
 * plan (/api/plan): required against scheduled agents per interval for a queue, and the
 * totals per queue and day. Queues are those with calls under the filter bar's filters. */
(function () {
  "use strict";
  const CK = window.CK;
  const { t, fmt } = CK;
  const PALETTE = ["#6d97d6", "#36a2a2", "#b784f5", "#f5b841", "#3ecf7f", "#e07a5f", "#8a94a3"];
  const PLAN_UNITS = { calls: "number", calls_low: "number", calls_high: "number", aht_s: "seconds",
    patience_s: "seconds", agents: "count", scheduled_required: "count", scheduled: "number", gap: "number",
    service_level: "ratio", p_abandon: "ratio", occupancy: "ratio", service_level_scheduled: "ratio",
    lower: "number", upper: "number", required_hours: "number", scheduled_required_hours: "number",
    scheduled_hours: "number", gap_hours: "number", peak_agents: "count", short_slots: "count",
    over_slots: "count" };
  let seq = 0;
  let plan = null;

  function queueParams(queues, extra) {
    const params = new URLSearchParams(extra);
    for (const q of queues) params.append("queue", q);
    return params;
  }

  function forecastChart(actual, forecast, queues) {
    const slots = new Set(actual.rows.map((r) => r.period_start.slice(0, 16)));
    for (const r of forecast) slots.add(r.slot_start.slice(0, 16));
    const x = [...slots].sort();
    const index = new Map(x.map((s, i) => [s, i]));
    const series = queues.map((q, i) => {
      const data = new Array(x.length).fill(null);
      for (const r of forecast) if (r.queue === q) data[index.get(r.slot_start.slice(0, 16))] = r.calls;
      return { name: t("planning.forecast_series") + " · " + q, type: "line", stack: "forecast", data,
        showSymbol: false, lineStyle: { width: 0.5 }, areaStyle: { opacity: 0.55 },
        itemStyle: { color: PALETTE[i % PALETTE.length] } };
    });
    const real = new Array(x.length).fill(null);
    for (const r of actual.rows) real[index.get(r.period_start.slice(0, 16))] = r.offered;
    series.push({ name: t("planning.actual"), type: "line", data: real, showSymbol: false, connectNulls: false,
      lineStyle: { width: 2, color: "#1d2430" }, itemStyle: { color: "#1d2430" }, z: 5 });
    CK.chart(document.getElementById("forecast-chart"), {
      grid: { left: 48, right: 20, top: 56, bottom: 56 },
      legend: { top: 0, type: "scroll" },
      tooltip: { trigger: "axis", valueFormatter: (v) => fmt(v, "number") },
      xAxis: { type: "category", data: x.map((s) => CK.fmtSlot(s, "30min")), axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", axisLabel: { formatter: CK.axisFmt("count") } },
      dataZoom: [{ type: "inside" }, { type: "slider", height: 16, bottom: 8 }],
      series,
    }, "forecast");
  }

  function staffingChart() {
    const queue = document.getElementById("f-pq").value;
    const rows = plan.rows.filter((r) => r.queue === queue);
    const old = CK.charts.findIndex((c) => c.ckKey === "staffing");
    if (old >= 0) CK.charts.splice(old, 1)[0].dispose();
    CK.chart(document.getElementById("staffing-chart"), {
      grid: { left: 48, right: 20, top: 36, bottom: 48 },
      legend: { top: 0 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: rows.map((r) => CK.fmtSlot(r.slot_start, "30min")),
        axisLabel: { hideOverlap: true } },
      yAxis: { type: "value" },
      series: [
        { name: t("planning.required"), type: "bar", data: rows.map((r) => r.agents), itemStyle: { color: "#6d97d6" } },
        { name: t("planning.scheduled"), type: "line", step: "middle", data: rows.map((r) => r.scheduled),
          showSymbol: false, lineStyle: { width: 2, color: "#1c7c4a" }, itemStyle: { color: "#1c7c4a" } },
        { name: t("planning.gap"), type: "bar", itemStyle: { color: "#b42318" },
          data: rows.map((r) => ({ value: r.gap, itemStyle: { color: r.gap < 0 ? "#b42318" : "#b7791f" } })) },
      ],
    }, "staffing");
  }

  /* The rows as the route gave them, for CSV and Excel: every column of the first row. */
  function exported(name, rows) {
    const columns = rows.length ? Object.keys(rows[0]) : [];
    return { name: name, columns: columns, rows: rows, units: PLAN_UNITS };
  }

  function intervalsTable() {
    const queue = document.getElementById("f-pq").value;
    const rows = plan.rows.filter((r) => r.queue === queue);
    const cols = [{ key: "slot", label: t("col.interval") },
      { key: "calls", label: t("planning.forecast_series"), unit: "number" },
      { key: "agents", label: t("planning.required"), unit: "count" },
      { key: "scheduled", label: t("planning.scheduled"), unit: "number" },
      { key: "gap", label: t("planning.gap"), unit: "number" },
      { key: "service_level", label: t("kpi.service_level"), unit: "ratio" },
      { key: "occupancy", label: t("kpi.occupancy"), unit: "ratio" }];
    const table = document.getElementById("intervals-table");
    CK.fillTable(table, cols, rows.map((r) => Object.assign({}, r, { slot: CK.fmtSlot(r.slot_start, "30min") })));
    table.querySelectorAll("tbody tr").forEach((tr, i) => { tr.dataset.slot = rows[i].slot_start; });
    CK.exportButtons(document.getElementById("intervals-head"), { id: "plan-intervals",
      get: () => exported("plan " + queue + " " + (plan.start || ""), rows) });
  }

  function totalsTable() {
    const rows = plan.totals.filter((r) => r.day !== null);
    const hours = (key) => CK.tf("planning.hours", { what: t(key) });
    const cols = [{ key: "queue", label: t("planning.queue") }, { key: "day", label: t("col.day") },
      { key: "calls", label: t("planning.forecast_series"), unit: "number" },
      { key: "required_hours", label: hours("planning.required"), unit: "number" },
      { key: "scheduled_hours", label: hours("planning.scheduled"), unit: "number" },
      { key: "gap_hours", label: hours("planning.gap"), unit: "number" },
      { key: "peak_agents", label: t("planning.peak"), unit: "count" }];
    const table = document.getElementById("totals-table");
    CK.fillTable(table, cols, rows.map((r) => Object.assign({}, r, { day: CK.fmtDay(r.day) })));
    table.querySelectorAll("tbody tr").forEach((tr, i) => {
      tr.dataset.queue = rows[i].queue;
      tr.dataset.day = rows[i].day;
    });
    CK.exportButtons(document.getElementById("totals-head"), { id: "plan-totals",
      get: () => exported("plan totals " + (plan.start || ""), rows) });
  }

  async function load() {
    const mine = ++seq;
    const box = document.getElementById("planning");
    box.setAttribute("aria-busy", "true");
    const tz = CK.boot.tz;
    let actual, forecast;
    try {
      const [perQueue, total] = await Promise.all([
        CK.api("/api/table", CK.filterParams({ kpis: "offered", by: "queue" })),
        CK.api("/api/table", CK.filterParams({ kpis: "offered", grain: "30min" }))]);
      actual = total;
      const queues = perQueue.rows.filter((r) => r.offered && r.queue).map((r) => r.queue);
      const days = total.rows.filter((r) => r.offered).map((r) => r.period_start.slice(0, 10));
      const last = days.length ? days[days.length - 1] : total.to;
      try {
        [forecast, plan] = await Promise.all([
          CK.api("/api/forecast", queueParams(queues, { tz: tz, start: last, horizon_days: 3 })),
          CK.api("/api/plan", queueParams(queues, { tz: tz, horizon_days: 2 }))]);
        document.getElementById("plan-scope").hidden = true;
      } catch (error) {
        if (!/scope|403|role/i.test(error.message)) throw error;
        document.getElementById("plan-scope").hidden = false;
        forecast = []; plan = { rows: [], totals: [] };
      }
      if (mine !== seq) return;
      CK.showError(null);
      CK.clearCharts();
      forecastChart(actual, forecast, queues);
      const select = document.getElementById("f-pq");
      const planned = [...new Set(plan.rows.map((r) => r.queue))];
      const keep = new URLSearchParams(location.search).get("pq") || select.value;
      select.replaceChildren(...planned.map((q) => CK.el("option", { value: q, text: q })));
      if (planned.includes(keep)) select.value = keep;
      staffingChart();
      intervalsTable();
      totalsTable();
      CK.exportButtons(document.getElementById("forecast-head"), { id: "forecast",
        get: () => exported("forecast " + last, forecast) });
    } catch (error) {
      CK.showError(error);
      return;
    }
    document.getElementById("subtitle").textContent = CK.fmtPeriod(actual.from, actual.to) + " · " + actual.tz;
    box.setAttribute("aria-busy", "false");
  }

  document.getElementById("f-pq").addEventListener("change", () => {
    const url = new URLSearchParams(location.search);
    url.set("pq", document.getElementById("f-pq").value);
    history.replaceState(null, "", location.pathname + "?" + url);
    if (plan) { staffingChart(); intervalsTable(); }
  });
  CK.initFilters(load);
})();
