/* Agents: a leaderboard per agent (from /api/table by agent, with each ratio's sample
 * size), and for callers without a scope the center-wide analyses AHT vs transfer rate
 * and availability vs answered of presented (/api/insights/...). */
(function () {
  "use strict";
  const CK = window.CK;
  const { t, fmt, el } = CK;
  const KPIS = ["answered", "aht", "fcr", "transfer_rate", "agent_answer_rate", "availability", "occupancy"];
  const GOOD = "#1c7c4a", BAD = "#b42318", MIXED = ["#b7791f", "#2458a6", "#8a94a3"];
  /* Both "high" is bad for AHT and transfers, good for availability and answering. */
  function quadrantColor(key, quadrant, i) {
    const high = /^high\b.*\bhigh\b/.test(quadrant || ""), low = /^low\b.*\blow\b/.test(quadrant || "");
    if (high) return key === "aht-transfers" ? BAD : GOOD;
    if (low) return key === "aht-transfers" ? GOOD : BAD;
    return MIXED[i % MIXED.length];
  }
  let seq = 0;

  function sorted(rows, key, direction) {
    const sign = direction === "lower_is_better" ? 1 : -1;
    return rows.slice().sort((a, b) => {
      if (CK.missing(a[key])) return 1;
      if (CK.missing(b[key])) return -1;
      return sign * (a[key] - b[key]);
    });
  }

  function agentCell(row, period) {
    const p = CK.filterParams({ agent: row.agent });
    return el("td", {}, el("a", { href: "/scorecard?" + p, title: t("nav.scorecard") }, row.agent));
  }

  function valueCell(row, info, currency) {
    const value = row[info.kpi];
    const td = el("td", { class: "num", "data-key": info.kpi, "data-value": CK.missing(value) ? "" : value },
      fmt(value, info.unit, currency));
    const n = row[info.kpi + "__n"];
    if (!CK.missing(n) && info.unit === "ratio") {
      td.append(el("div", { class: "kpi-id", title: t("agents.n") }, "n=" + fmt(n, "count")));
      if (n < 30) td.append(el("div", { class: "few", text: t("scorecard.few") }));
    }
    return td;
  }

  function drawBoard(rows, info, currency) {
    const top = rows.filter((r) => !CK.missing(r[info.kpi])).slice(0, 25);
    CK.chart(document.getElementById("board-chart"), {
      grid: { left: 64, right: 24, top: 30, bottom: 30 },
      tooltip: { trigger: "axis", valueFormatter: (v) => fmt(v, info.unit, currency) },
      xAxis: { type: "category", data: top.map((r) => r.agent), axisLabel: { rotate: 40, fontSize: 10 } },
      yAxis: { type: "value", name: CK.kpiName(info), nameTextStyle: { align: "left" },
        axisLabel: { formatter: CK.axisFmt(info.unit, currency) } },
      series: [{ type: "bar", data: top.map((r) => r[info.kpi]), itemStyle: { color: "#2458a6" },
        markLine: info.target === null ? undefined : { silent: true, symbol: "none",
          lineStyle: { type: "dashed", color: "#b42318" }, data: [{ yAxis: info.target }],
          label: { formatter: t("tile.target") } } }],
    }, "leaderboard");
  }

  function scatter(node, key, data, x, y) {
    const groups = new Map();
    for (const row of data.rows) {
      if (CK.missing(row[x]) || CK.missing(row[y])) continue;
      if (!groups.has(row.quadrant)) groups.set(row.quadrant, []);
      groups.get(row.quadrant).push({ value: [row[x], row[y]], name: row.agent,
        advice: CK.adviceText(key, row.quadrant, row.advice) });
    }
    const units = data.units;
    let mixed = 0;
    CK.chart(node, {
      grid: { left: 64, right: 20, top: 56, bottom: 48 },
      legend: { top: 0, type: "scroll" },
      tooltip: { trigger: "item", formatter: (p) => p.data.name + "<br>" + t("kpi." + x, x) + ": " +
        fmt(p.data.value[0], units[x]) + "<br>" + t("kpi." + y, y) + ": " + fmt(p.data.value[1], units[y]) +
        "<br>" + (p.data.advice || "") },
      xAxis: { type: "value", scale: true, name: t("kpi." + x, x), nameLocation: "middle", nameGap: 28,
        axisLabel: { formatter: CK.axisFmt(units[x]) } },
      yAxis: { type: "value", scale: true, name: t("kpi." + y, y), axisLabel: { formatter: CK.axisFmt(units[y]) } },
      series: Array.from(groups, ([quadrant, points]) => ({
        name: quadrant ? CK.insightText(key, "quadrant", quadrant) : t("insight.unranked"),
        type: "scatter", data: points,
        symbolSize: 9, itemStyle: { color: quadrantColor(key, quadrant, /^(high|low)\b.*\b\1\b/.test(quadrant || "") ? 0 : mixed++),
          opacity: 0.8 } })),
    }, key);
  }

  /* An insight's rows as a table (its values in the page's language) with CSV and Excel
   * of the rows as the route gave them. */
  function insightTable(id, key, data, numbers, interval) {
    const text = (column) => ({ key: column, label: t("col." + column),
      render: (r) => el("td", { "data-key": column, class: column === "note" ? "small" : null,
        text: CK.missing(r[column]) ? "" : (column === "advice" ? CK.adviceText(key, r.quadrant, r.advice)
          : CK.insightText(key, column, r[column])) }) });
    const cols = [{ key: "agent", label: t("col.agent") }, text("compared_with")]
      .filter((c) => data.columns.includes(c.key));
    for (const [column, label] of numbers) {
      const unit = data.units[column] === "hours" ? "number" : data.units[column];
      cols.push({ key: column, label: label, unit: unit });
    }
    cols.push({ key: interval + "_low", label: t("col.ci"), render: (r) => el("td", { class: "num small",
      "data-key": interval + "_low" }, CK.missing(r[interval + "_low"]) ? "–"
      : fmt(r[interval + "_low"], "ratio") + "–" + fmt(r[interval + "_high"], "ratio")) });
    cols.push(text("quadrant"), text("advice"), text("note"));
    const table = document.getElementById(id);
    CK.fillTable(table, cols, data.rows);
    table.querySelectorAll("tbody tr").forEach((tr, i) => { tr.dataset.agent = data.rows[i].agent; });
    const head = table.closest(".table-wrap").previousElementSibling;
    CK.exportButtons(head, { id: key, get: () => ({ name: key + " " + data.period, columns: data.columns,
      rows: data.rows, units: data.units }) });
  }

  /* Asked for together with the leaderboard (not after it): the filter bar's period. */
  function fetchInsights(period) {
    const params = new URLSearchParams({ period: period, tz: CK.boot.tz });
    const both = Promise.all([CK.api("/api/insights/aht-transfers", params),
      CK.api("/api/insights/availability", params)]);
    both.catch(() => {}); // shown when awaited
    return both;
  }

  async function loadInsights(asked) {
    const [quadrant, availability] = await asked;
    scatter(document.getElementById("quadrant-chart"), "aht-transfers", quadrant, "aht", "transfer_rate");
    scatter(document.getElementById("availability-chart"), "availability", availability, "availability",
      "agent_answer_rate");
    insightTable("quadrant-table", "aht-transfers", quadrant, [["answered", t("kpi.answered")],
      ["aht", t("kpi.aht")], ["transfer_rate", t("kpi.transfer_rate")]], "transfer_rate");
    insightTable("availability-table", "availability", availability, [["logged_in_h", t("col.logged_in_h")],
      ["availability", t("kpi.availability")], ["agent_answer_rate", t("kpi.agent_answer_rate")]],
    "agent_answer_rate");
    document.getElementById("insight-tables").hidden = false;
    document.getElementById("quadrant-panel").setAttribute("aria-busy", "false");
    document.getElementById("availability-panel").setAttribute("aria-busy", "false");
  }

  async function load() {
    const mine = ++seq;
    const panel = document.getElementById("board-panel");
    panel.setAttribute("aria-busy", "true");
    const user = CK.boot.user || {};
    const scoped = user.scope && Object.keys(user.scope.limits || user.scope).length > 0;
    const period = CK.dataParams().get("period");
    const insights = !scoped && period ? fetchInsights(period) : null;
    let data;
    try {
      data = await CK.api("/api/table", CK.filterParams({ kpis: KPIS.join(","), by: "agent", samples: "true" }));
    } catch (error) {
      CK.showError(error);
      return;
    }
    if (mine !== seq) return;
    CK.showError(null);
    CK.clearCharts();
    const sortKey = document.getElementById("f-sort").value;
    const info = data.kpis.find((k) => k.kpi === sortKey) || data.kpis[0];
    const rows = info ? sorted(data.rows, info.kpi, info.direction) : [];
    const cols = [{ key: "agent", label: t("col.agent"), render: (r) => agentCell(r, data.period) }];
    for (const k of data.kpis) cols.push({ key: k.kpi, label: CK.kpiName(k), render: (r) => valueCell(r, k, data.currency) });
    const table = document.getElementById("board");
    CK.fillTable(table, cols, rows, data.currency);
    table.querySelectorAll("tbody tr").forEach((tr, i) => { tr.dataset.agent = rows[i].agent; });
    table.dataset.exportBase = "/api/table?kpis=" + KPIS.join(",") + "&by=agent&samples=true";
    CK.exportButtons(document.getElementById("board-head"), { id: "leaderboard", base: table.dataset.exportBase });
    if (info) drawBoard(rows, info, data.currency);
    document.getElementById("subtitle").textContent = CK.fmtPeriod(data.from, data.to) + " · " + data.tz;
    document.getElementById("empty").hidden = rows.length > 0;
    const unavailable = document.getElementById("unavailable");
    unavailable.hidden = data.unavailable.length === 0;
    unavailable.textContent = t("page.unavailable") + ": " + data.unavailable.map((k) => t("kpi." + k, k)).join(", ");
    document.getElementById("center-only").hidden = !scoped;
    document.getElementById("insights").hidden = scoped;
    if (scoped) document.getElementById("insight-tables").hidden = true;
    if (!scoped) {
      try {
        await loadInsights(insights || fetchInsights(data.period));
      } catch (error) {
        CK.showError(error);
      }
    }
    panel.setAttribute("aria-busy", "false");
  }

  CK.pageKeys("sort");
  CK.initFilters(load);
})();
