/* Scorecard: target / actual / deviation / status / impact / what to do, for the selection
 * (the center, a client, a team, an agent...) or one group of rows per "Rows per" value. */
(function () {
  "use strict";
  const CK = window.CK;
  const { t, fmt, fmtSigned, el, statusClass } = CK;
  let seq = 0;

  function columns(by) {
    const cols = [];
    if (by) cols.push({ key: by, label: t("dim." + by, by) });
    cols.push({ key: "kpi", label: t("col.kpi") }, { key: "target", label: t("col.target"), num: true },
      { key: "actual", label: t("col.actual"), num: true },
      { key: "deviation", label: t("col.deviation"), num: true },
      { key: "status", label: t("col.status") }, { key: "impact", label: t("col.impact") },
      { key: "n", label: t("col.n"), num: true }, { key: "owner", label: t("col.owner") },
      { key: "recommendations", label: t("col.recommendations") });
    return cols;
  }

  /* Each recommendation's rule, by its English text (a row lists the texts of the rules
   * that fired on its KPI; the route's "recommendations" name their rules). */
  let rules = new Map();
  function advice(text) {
    const rec = rules.get(text) || {};
    return el("li", { "data-rule": rec.rule || null, text: CK.ruleText(rec.rule, text, rec.texts) });
  }

  function cell(col, row, currency, firstOfGroup) {
    const cls = statusClass(row.status);
    switch (col.key) {
      case "kpi":
        return el("td", {}, el("div", { class: "kpi-name", text: CK.kpiName(row) }),
          el("div", { class: "kpi-id", text: row.kpi }));
      case "target":
      case "actual":
        return el("td", { class: "num", "data-value": row[col.key] === null ? "" : row[col.key] },
          fmt(row[col.key], row.unit, currency));
      case "deviation":
        return el("td", { class: "num dev " + cls }, fmtSigned(row.deviation));
      case "status":
        return el("td", {}, el("span", { class: "pill " + cls, text: t("status." + row.status, row.status) }));
      case "impact":
        return el("td", { text: t("impact." + row.impact, row.impact || "") });
      case "n": {
        const td = el("td", { class: "num" }, row.n === null ? "–" : fmt(row.n, "count"));
        if (row.ci_low !== null && row.ci_high !== null) {
          td.append(el("div", { class: "kpi-id" }, fmt(row.ci_low, "ratio") + "–" + fmt(row.ci_high, "ratio")));
          td.title = t("col.ci");
        }
        if (row.few_observations) td.append(el("div", { class: "few", text: t("scorecard.few") }));
        return td;
      }
      case "owner":
        return el("td", { class: "small", "data-key": "owner", text: row.owner || "" });
      case "recommendations": {
        const list = el("ul");
        for (const r of row.recommendations || []) list.append(advice(r));
        return el("td", { class: "small" }, list);
      }
      default:
        return el("td", { class: "group", text: firstOfGroup ? row[col.key] : "" });
    }
  }

  async function load() {
    const mine = ++seq;
    const table = document.getElementById("scorecard");
    table.setAttribute("aria-busy", "true");
    let data;
    try {
      data = await CK.api("/api/scorecard", CK.dataParams());
    } catch (error) {
      CK.showError(error);
      return;
    }
    if (mine !== seq) return;
    CK.showError(null);
    rules = new Map(data.recommendations.map((r) => [r.action, r]));
    const cols = columns(data.by);
    document.getElementById("scorecard-head").replaceChildren(
      ...cols.map((c) => el("th", { class: c.num ? "num" : null, text: c.label })));
    const body = document.getElementById("scorecard-body");
    body.replaceChildren();
    let group;
    for (const row of data.rows) {
      const first = data.by && row[data.by] !== group;
      group = data.by ? row[data.by] : undefined;
      const tr = el("tr", { "data-kpi": row.kpi, class: first ? "first-of-group" : null });
      if (data.by) tr.dataset.group = row[data.by];
      for (const col of cols) tr.append(cell(col, row, data.currency, first));
      body.append(tr);
    }
    document.getElementById("subtitle").textContent = CK.fmtPeriod(data.from, data.to) + " · " + data.tz;
    document.getElementById("empty").hidden = data.rows.length > 0;
    const skipped = document.getElementById("skipped");
    skipped.hidden = data.skipped.length === 0;
    skipped.textContent = t("scorecard.skipped") + ": " + data.skipped.map((k) => t("kpi." + k, k)).join(", ");
    const list = document.getElementById("advice-list");
    list.replaceChildren();
    const seen = new Set();
    for (const r of data.recommendations) {
      if (seen.has(r.action)) continue;
      seen.add(r.action);
      list.append(el("li", { "data-rule": r.rule }, CK.ruleText(r.rule, r.action, r.texts) + " ",
        el("span", { class: "muted small",
        text: "(" + r.kpis.map((k) => t("kpi." + k, k)).join(", ") + ")" })));
    }
    document.getElementById("advice").hidden = seen.size === 0 || Boolean(data.by);
    table.dataset.period = data.period;
    table.setAttribute("aria-busy", "false");
  }

  CK.initFilters(load);
})();
