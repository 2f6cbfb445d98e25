/* Trends: one KPI over time at a grain (from /api/table: the KPI engine's rows in the
 * caller's scope), with the target that applies to the selection as a line, the industry
 * benchmark as a band, and optionally the previous period's series laid over it. */
(function () {
  "use strict";
  const CK = window.CK;
  const { t, fmt, el } = CK;
  const COLORS = { current: "#2458a6", previous: "#9aa5b5", target: "#b42318", band: "#1c7c4a" };
  const STEP = { "30min": 18e5, hour: 36e5, day: 864e5, week: 7 * 864e5, month: 28 * 864e5 };
  let seq = 0;

  async function fillKpis() {
    const select = document.getElementById("f-kpi");
    const kpis = await CK.api("/api/kpis");
    const groups = new Map();
    for (const k of kpis) {
      if (!groups.has(k.category)) groups.set(k.category, []);
      groups.get(k.category).push(k);
    }
    select.replaceChildren();
    for (const [category, items] of groups) {
      const group = el("optgroup", { label: t("category." + category, category) });
      for (const k of items) group.append(el("option", { value: k.id, text: t("kpi." + k.id, k.name) }));
      select.append(group);
    }
    select.value = "service_level";
  }

  function band(info, values) {
    const b = info.benchmark;
    if (!b) return null;
    if (b.value !== null) return { line: b.value, source: b.source };
    const known = values.filter((v) => !CK.missing(v));
    const top = Math.max(...known, info.target || 0, b.low || 0, b.high || 0);
    const low = b.low !== null ? b.low : 0;
    const high = b.high !== null ? b.high : (info.unit === "ratio" ? 1 : top * 1.15);
    return { low, high, source: b.source, open: b.low === null ? "low" : b.high === null ? "high" : null };
  }

  function describeBand(info, currency) {
    const b = info.benchmark;
    if (!b) return t("trends.no_benchmark");
    const f = (v) => fmt(v, info.unit, currency);
    const range = b.value !== null ? f(b.value) : b.low !== null && b.high !== null ? f(b.low) + " – " + f(b.high)
      : b.low !== null ? "≥ " + f(b.low) : "≤ " + f(b.high);
    return t("trends.benchmark") + ": " + range + " (" + t("benchmark." + info.kpi, b.source) + ")";
  }

  function draw(data, info, grain) {
    const key = info.kpi;
    const points = data.rows.map((r) => [CK.wall(r.period_start).getTime(), r[key]]);
    const series = [{
      name: CK.fmtPeriod(data.from, data.to), type: "line", data: points, showSymbol: points.length < 40,
      symbolSize: 5, connectNulls: false, lineStyle: { width: 2, color: COLORS.current },
      itemStyle: { color: COLORS.current },
    }];
    const marks = [];
    if (info.target !== null) {
      marks.push({ yAxis: info.target, name: t("tile.target"),
        lineStyle: { type: "dashed", color: COLORS.target, width: 1.5 },
        label: { formatter: t("tile.target") + " " + fmt(info.target, info.unit, data.currency),
          position: "insideEndTop", color: COLORS.target } });
    }
    const b = band(info, points.map((p) => p[1]));
    if (b && b.line !== undefined) {
      marks.push({ yAxis: b.line, lineStyle: { type: "dotted", color: COLORS.band },
        label: { formatter: t("trends.benchmark"), position: "insideStartTop", color: COLORS.band } });
    }
    series[0].markLine = { silent: true, symbol: "none", data: marks };
    if (b && b.line === undefined) {
      series[0].markArea = { silent: true, itemStyle: { color: COLORS.band, opacity: 0.09 },
        label: { show: true, position: "insideTopLeft", color: COLORS.band, formatter: t("trends.benchmark") },
        data: [[{ yAxis: b.low }, { yAxis: b.high }]] };
    }
    if (data.previous) {
      const shift = CK.wall(data.from).getTime() - CK.wall(data.previous.from).getTime();
      series.push({
        name: CK.fmtPeriod(data.previous.from, data.previous.to), type: "line",
        data: data.previous.rows.map((r) => [CK.wall(r.period_start).getTime() + shift, r[key]]),
        showSymbol: false, lineStyle: { width: 1.5, type: "dashed", color: COLORS.previous },
        itemStyle: { color: COLORS.previous },
      });
    }
    const node = document.getElementById("trend-chart");
    CK.clearCharts();
    const axis = CK.axisFmt(info.unit, data.currency);
    CK.chart(node, {
      grid: { left: 64, right: 24, top: 36, bottom: 40 },
      legend: { top: 0, data: series.map((s) => s.name) },
      tooltip: { trigger: "axis", valueFormatter: (v) => fmt(v, info.unit, data.currency),
        axisPointer: { label: { formatter: (p) => CK.fmtSlot(localIso(p.value), grain) } } },
      // No ticks finer than the grain (two days by day: two labels, not six "30 Oct").
      xAxis: { type: "time", minInterval: STEP[grain], axisLabel: { hideOverlap: true,
        formatter: (v) => CK.fmtSlot(localIso(v), grain) } },
      // The benchmark band stays in view (service level >= 80 % up to 100 %).
      yAxis: { type: "value", scale: info.unit !== "ratio", axisLabel: { formatter: axis },
        max: b && b.high !== undefined ? (v) => Math.max(v.max, b.high) : undefined },
      series,
    }, key);
  }

  /* Where a target is set: "center", or "queue=bank_vip" as "Queue bank_vip". */
  function scopeText(scope) {
    if (!scope || scope === "center") return t("scope.center", scope || "");
    const [dim, value] = String(scope).split("=");
    return value === undefined ? scope : t("dim." + dim, dim) + " " + value;
  }

  /* A timestamp made from a wall-clock Date back into "YYYY-MM-DDTHH:MM" for fmtSlot. */
  function localIso(ms) {
    const d = new Date(ms);
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  async function load() {
    const mine = ++seq;
    const panel = document.getElementById("trend-panel");
    panel.setAttribute("aria-busy", "true");
    const kpi = document.getElementById("f-kpi").value;
    const grain = document.getElementById("f-grain").value;
    const compare = document.getElementById("f-compare").checked;
    let data;
    try {
      data = await CK.api("/api/table", CK.filterParams({ kpis: kpi, grain: grain,
        previous: compare ? "true" : "" }));
    } catch (error) {
      CK.showError(error);
      return;
    }
    if (mine !== seq) return;
    CK.showError(null);
    panel.dataset.exportBase = "/api/table?kpis=" + encodeURIComponent(kpi) + "&grain=" + grain;
    CK.exportButtons(document.getElementById("values-head"), { id: "values", base: panel.dataset.exportBase });
    document.getElementById("subtitle").textContent = CK.fmtPeriod(data.from, data.to) + " · " + data.tz;
    const unavailable = document.getElementById("unavailable");
    unavailable.hidden = data.unavailable.length === 0;
    const info = data.kpis[0];
    const table = document.getElementById("trend-table");
    if (!info) {
      CK.clearCharts();
      CK.fillTable(table, [], []);
      panel.setAttribute("aria-busy", "false");
      return;
    }
    draw(data, info, grain);
    const legend = [];
    legend.push(info.target !== null ? t("tile.target") + " " + fmt(info.target, info.unit, data.currency) +
      " (" + scopeText(info.target_scope) + ")" : t("status.no target"));
    legend.push(describeBand(info, data.currency));
    document.getElementById("trend-legend").textContent = legend.join(" · ");
    const before = data.previous ? data.previous.rows : [];
    const rows = data.rows.map((r, i) => ({ when: CK.fmtSlot(r.period_start, grain), value: r[info.kpi],
      previous: before[i] ? before[i][info.kpi] : null }));
    const cols = [{ key: "when", label: t("trends.when") },
      { key: "value", label: CK.kpiName(info), unit: info.unit }];
    if (data.previous) cols.push({ key: "previous", label: t("trends.previous"), unit: info.unit });
    CK.fillTable(table, cols, rows, data.currency);
    panel.dataset.period = data.period;
    panel.setAttribute("aria-busy", "false");
  }

  CK.pageKeys("kpi", "grain", "compare");
  fillKpis().then(() => CK.initFilters(load), (error) => CK.showError(error));
})();
