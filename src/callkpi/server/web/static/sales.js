/* Sales: the funnel leads -> contacts -> conversations -> deals, conversion and the
 * average deal, a table per campaign (from /api/table), the best time to call (the
 * center-wide analysis for unscoped callers, else the connect rate by hour and weekday in
 * the scope) and CAC and LTV per agent and supervisor (unscoped callers). */
(function () {
  "use strict";
  const CK = window.CK;
  const { t, fmt, el } = CK;
  const TOTAL_KPIS = ["leads_handled", "connects", "conversations", "deals_won", "conversion_rate",
    "avg_deal_size", "sales_amount"];
  const CAMPAIGN_KPIS = ["leads_handled", "dials", "connects", "connect_rate", "conversations", "deals_won",
    "conversion_rate", "sales_amount", "avg_deal_size", "cost_per_sale"];
  let seq = 0;

  function scoped() {
    const user = CK.boot.user || {};
    return Boolean(user.scope && Object.keys(user.scope).length);
  }

  function numbers(data) {
    const row = data.rows[0] || {};
    const box = document.getElementById("sales-numbers");
    box.replaceChildren(...data.kpis.filter((k) => ["deals_won", "conversion_rate", "avg_deal_size",
      "sales_amount"].includes(k.kpi)).map((k) => el("div", { "data-kpi": k.kpi,
      "data-value": CK.missing(row[k.kpi]) ? "" : row[k.kpi] },
    el("span", { text: CK.kpiName(k) }), el("b", { text: fmt(row[k.kpi], k.unit, data.currency) }))));
    const steps = [["leads_handled", "sales.leads"], ["connects", "sales.contacts"],
      ["conversations", "kpi.conversations"], ["deals_won", "sales.deals"]]
      .filter(([k]) => !CK.missing(row[k]));
    CK.chart(document.getElementById("funnel-chart"), {
      tooltip: { trigger: "item", formatter: (p) => p.name + ": " + fmt(p.value, "count") },
      series: [{ type: "funnel", left: "10%", width: "80%", top: 10, bottom: 10, sort: "none", gap: 2,
        minSize: "12%", label: { position: "inside", formatter: (p) => p.name + " " + fmt(p.value, "count") },
        data: steps.map(([k, label], i) => ({ name: t(label), value: row[k],
          itemStyle: { color: ["#2458a6", "#3d73c4", "#6d97d6", "#1c7c4a"][i] } })) }],
    }, "funnel");
  }

  function bestTime(rows, key, source) {
    const hours = [...new Set(rows.map((r) => r.hour_of_day))].sort((a, b) => a - b);
    const cells = rows.filter((r) => !CK.missing(r[key]))
      .map((r) => [hours.indexOf(r.hour_of_day), r.weekday - 1, r[key]]);
    const max = Math.max(0.01, ...cells.map((c) => c[2]));
    CK.chart(document.getElementById("best-chart"), {
      grid: { left: 48, right: 84, top: 10, bottom: 28 },
      tooltip: { formatter: (p) => CK.weekdayName(p.value[1] + 1) + " " + hours[p.value[0]] + ":00 — " +
        fmt(p.value[2], "ratio") },
      xAxis: { type: "category", data: hours.map((h) => String(h).padStart(2, "0")), splitArea: { show: true } },
      yAxis: { type: "category", data: [1, 2, 3, 4, 5, 6, 7].map(CK.weekdayName), inverse: true,
        splitArea: { show: true } },
      visualMap: { min: 0, max: max, calculable: true, orient: "vertical", right: 0, top: "middle",
        itemHeight: 140, formatter: (v) => fmt(v, "percent"), inRange: { color: ["#fdf0d5", "#1c7c4a"] } },
      series: [{ type: "heatmap", data: cells, label: { show: cells.length <= 60, fontSize: 10,
        formatter: (p) => fmt(p.value[2], "percent") } }],
    }, "best-time");
    document.getElementById("best-source").textContent = source;
  }

  function cacTable(data, currency) {
    const text = (key) => (r) => el("td", { "data-key": key, class: key === "note" ? "small" : null,
      text: CK.missing(r[key]) ? "" : CK.insightText("cac-ltv", key, r[key]) });
    const cols = [{ key: "level", label: t("col.level"), render: text("level") },
      { key: "agent", label: t("col.agent") }, { key: "supervisor", label: t("col.supervisor") }];
    for (const key of ["deals_won", "sales_amount", "marketing_cost", "cac", "ltv", "ltv_cac"]) {
      cols.push({ key: key, label: t("kpi." + key, key), unit: data.units[key] === "times" ? "number" : data.units[key] });
    }
    cols.push({ key: "note", label: t("col.note"), render: text("note") });
    const table = document.getElementById("cac-table");
    CK.fillTable(table, cols, data.rows, currency);
    table.querySelectorAll("tbody tr").forEach((tr, i) => {
      tr.dataset.level = data.rows[i].level;
      tr.dataset.name = data.rows[i].agent || data.rows[i].supervisor || "";
    });
    CK.exportButtons(document.getElementById("cac-head"), { id: "cac-ltv", get: () => ({
      name: "cac-ltv " + data.period, columns: data.columns, rows: data.rows, units: data.units }) });
  }

  async function load() {
    const mine = ++seq;
    const box = document.getElementById("sales");
    box.setAttribute("aria-busy", "true");
    const get = (extra) => CK.api("/api/table", CK.filterParams(extra));
    const center = !scoped();
    let parts;
    try {
      parts = await Promise.all([
        get({ kpis: TOTAL_KPIS.join(",") }),
        get({ kpis: CAMPAIGN_KPIS.join(","), by: "campaign" }),
        center ? null : get({ kpis: "connect_rate", by: "hour_of_day,weekday" }),
      ]);
      if (center) {
        const params = new URLSearchParams({ period: parts[0].period, tz: CK.boot.tz });
        const [best, cac] = await Promise.all([CK.api("/api/insights/best-time", params),
          CK.api("/api/insights/cac-ltv", params)]);
        parts.push(best, cac);
      }
    } catch (error) {
      CK.showError(error);
      return;
    }
    if (mine !== seq) return;
    CK.showError(null);
    CK.clearCharts();
    const [totals, campaigns, scopedBest, best, cac] = parts;
    numbers(totals);
    const cols = [{ key: "campaign", label: t("dim.campaign") }].concat(campaigns.kpis.map((k) =>
      ({ key: k.kpi, label: CK.kpiName(k), unit: k.unit })));
    const table = document.getElementById("campaign-table");
    CK.fillTable(table, cols, campaigns.rows, campaigns.currency);
    table.querySelectorAll("tbody tr").forEach((tr, i) => { tr.dataset.campaign = campaigns.rows[i].campaign || ""; });
    table.dataset.exportBase = "/api/table?kpis=" + CAMPAIGN_KPIS.join(",") + "&by=campaign";
    CK.exportButtons(document.getElementById("campaign-head"), { id: "campaigns", base: table.dataset.exportBase });
    CK.exportButtons(document.getElementById("funnel-head"), { id: "funnel",
      base: "/api/table?kpis=" + TOTAL_KPIS.join(",") });
    if (center) {
      bestTime(best.rows, "connect_rate", t("insight.best-time.title", best.title));
      CK.exportButtons(document.getElementById("best-head"), { id: "best-time", get: () => ({
        name: "best-time " + best.period, columns: best.columns, rows: best.rows, units: best.units }) });
    } else {
      bestTime(scopedBest.rows, "connect_rate", CK.kpiName(scopedBest.kpis[0] || { kpi: "connect_rate" }));
      CK.exportButtons(document.getElementById("best-head"), { id: "best-time",
        base: "/api/table?kpis=connect_rate&by=hour_of_day,weekday" });
    }
    document.getElementById("center-only").hidden = center;
    document.getElementById("cac-wrap").hidden = !center;
    const cacExports = document.querySelector("#cac-head .table-exports");
    if (cacExports) cacExports.hidden = !center;
    if (center) cacTable(cac, totals.currency);
    const unavailable = document.getElementById("unavailable");
    const missing = totals.unavailable.concat(campaigns.unavailable.filter((k) => !totals.unavailable.includes(k)));
    unavailable.hidden = missing.length === 0;
    unavailable.textContent = t("page.unavailable") + ": " + missing.map((k) => t("kpi." + k, k)).join(", ");
    document.getElementById("subtitle").textContent = CK.fmtPeriod(totals.from, totals.to) + " · " + totals.tz;
    box.setAttribute("aria-busy", "false");
  }

  CK.initFilters(load);
})();
