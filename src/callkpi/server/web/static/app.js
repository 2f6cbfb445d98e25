/* callkpi dashboard: shared code of every page (window.CK).
 *
 * - messages: the labels of the page's language (from the server's catalog, in #ck-boot);
 * - formatting: numbers, percentages, seconds, money and dates with Intl in that locale;
 * - api(): GET a JSON route; a lost session goes back to the login page;
 * - the filter bar: its state lives in the URL's query string (shareable), its choices
 *   come from /api/filters (only what the caller's scope allows);
 * - export links: the page's JSON route with the same filters and format=csv|xlsx, and
 *   per table CSV and Excel buttons (exportButtons: a route's, or written here from rows);
 * - the catalog's texts of recommendations (ruleText) and of the insights' labels.
 * Every number shown comes from the server; nothing here computes a KPI.
 */
(function () {
  "use strict";

  const boot = JSON.parse(document.getElementById("ck-boot").textContent);
  const locale = boot.locale;
  const FILTERS = ["period", "tenant", "site", "team", "queue", "campaign", "agent"];
  const PAGE_KEYS = ["by"]; // page options kept in the URL besides the filters (f-KEY)
  const pageDefaults = {};

  function t(key, fallback) {
    if (Object.prototype.hasOwnProperty.call(boot.messages, key)) return boot.messages[key];
    return fallback !== undefined ? fallback : key;
  }

  const formats = new Map();
  function nf(options) {
    const key = JSON.stringify(options);
    if (!formats.has(key)) formats.set(key, new Intl.NumberFormat(locale, options));
    return formats.get(key);
  }

  function missing(value) {
    return value === null || value === undefined || (typeof value === "number" && !isFinite(value));
  }

  /* A value in its catalog unit. */
  function fmt(value, unit, currency) {
    if (missing(value)) return "–";
    switch (unit) {
      case "ratio":
        return nf({ style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(value);
      case "percent": // a whole percentage, for a wall across the room
        return nf({ style: "percent", maximumFractionDigits: 0 }).format(value);
      case "seconds":
        if (Math.abs(value) >= 3600) {
          return nf({ style: "unit", unit: "hour", unitDisplay: "narrow", maximumFractionDigits: 1 })
            .format(value / 3600);
        }
        return nf({ style: "unit", unit: "second", unitDisplay: "narrow", maximumFractionDigits: 0 })
          .format(value);
      case "count":
        return nf({ maximumFractionDigits: 0 }).format(value);
      case "currency":
        if (currency) {
          try {
            return nf({ style: "currency", currency: currency, maximumFractionDigits: 0 }).format(value);
          } catch (e) { /* an unknown currency code: a plain number */ }
        }
        return nf({ maximumFractionDigits: 0 }).format(value);
      default:
        return nf({ maximumFractionDigits: 1 }).format(value);
    }
  }

  /* A signed relative deviation: +3.4 %. */
  function fmtSigned(value) {
    if (missing(value)) return "–";
    return nf({ style: "percent", signDisplay: "exceptZero", minimumFractionDigits: 1,
      maximumFractionDigits: 1 }).format(value);
  }

  /* A wait as m:ss (h:mm:ss past an hour). */
  function fmtWait(seconds) {
    if (missing(seconds)) return "–";
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h ? h + ":" + pad(m) + ":" + pad(r) : m + ":" + pad(r);
  }

  function fmtDay(iso) {
    const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
    return new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", year: "numeric" })
      .format(new Date(y, m - 1, d));
  }

  function fmtMonth(label) {
    const [y, m] = label.split("-").map(Number);
    return new Intl.DateTimeFormat(locale, { month: "long", year: "numeric" }).format(new Date(y, m - 1, 1));
  }

  /* A period as people read it: "October 2026", "1 Oct 2026 – 15 Oct 2026". */
  function fmtPeriod(from, to) {
    if (from === to) return fmtDay(from);
    const [y, m, d] = from.split("-").map(Number);
    const end = new Date(to.slice(0, 10) + "T00:00:00");
    const monthEnd = new Date(y, m, 0);
    if (d === 1 && end.getTime() === monthEnd.getTime()) return fmtMonth(from.slice(0, 7));
    return fmtDay(from) + " – " + fmtDay(to);
  }

  function statusClass(status) {
    return "s-" + String(status || "no data").replace(/\s+/g, "-");
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function loginUrl() {
    return "/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  async function api(path, params) {
    const query = params && String(params) ? "?" + params : "";
    const response = await fetch(path + query, {
      credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401) {
      location.assign(loginUrl());
      throw new Error("not logged in");
    }
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      throw new Error(detail);
    }
    return response.json();
  }

  /* The API's English error messages the pages meet, in the page's language. */
  function errorText(message) {
    const outside = /^(?:where )?(\w+)=(.*): outside your scope$/.exec(message);
    if (outside) return tf("error.outside_scope", { what: t("dim." + outside[1], outside[1]) + " " + outside[2] }, message);
    return message;
  }

  function showError(error) {
    const box = document.getElementById("ck-error");
    if (!box) return;
    if (!error) { box.hidden = true; return; }
    box.textContent = t("error.load") + ": " + errorText(String(error.message || error));
    box.hidden = false;
  }

  /* The URL's filters and page options, as query parameters for the data routes. */
  function dataParams() {
    const url = new URLSearchParams(location.search);
    const params = new URLSearchParams();
    for (const key of FILTERS.concat(PAGE_KEYS)) {
      const value = url.get(key);
      if (value) params.set(key, value);
    }
    return params;
  }

  function setParam(key, value, push) {
    const url = new URLSearchParams(location.search);
    if (value) url.set(key, value); else url.delete(key);
    url.delete("lang");
    const next = location.pathname + (String(url) ? "?" + url : "");
    if (push) history.pushState(null, "", next); else history.replaceState(null, "", next);
  }

  /* Links that carry the filters: the navigation and the export buttons. */
  function updateLinks() {
    const params = dataParams();
    const keep = new URLSearchParams();
    for (const key of FILTERS) if (params.get(key)) keep.set(key, params.get(key));
    document.querySelectorAll("a[data-nav]").forEach((a) => {
      a.href = a.pathname + (String(keep) ? "?" + keep : "");
    });
    const base = document.querySelector(":not(a)[data-export-base]"); // the page's main table
    document.querySelectorAll("a[data-export]").forEach((a) => {
      // The base may carry its own options (/api/table?kpis=...&by=agent).
      const [path, own] = (a.dataset.exportBase || (base && base.dataset.exportBase) || "").split("?");
      const p = new URLSearchParams(own || "");
      for (const key of FILTERS) if (params.get(key)) p.set(key, params.get(key));
      if (!own && params.get("by")) p.set("by", params.get("by"));
      p.set("format", a.dataset.export);
      a.href = path + "?" + p;
    });
    document.querySelectorAll("a[data-lang]").forEach((a) => {
      const p = new URLSearchParams(location.search);
      p.set("lang", a.dataset.lang);
      a.href = "?" + p;
    });
  }

  let options = null;

  function fillSelect(select, values, allLabel, labelOf) {
    select.replaceChildren();
    if (allLabel !== null) select.append(el("option", { value: "", text: allLabel }));
    for (const v of values) select.append(el("option", { value: v, text: labelOf ? labelOf(v) : v }));
  }

  /* Put the URL's state into the filter bar's controls. */
  function syncControls() {
    const url = new URLSearchParams(location.search);
    const period = url.get("period") || options.default_period;
    const select = document.getElementById("f-period");
    const custom = document.querySelectorAll("[data-custom]");
    const known = Array.from(select.options).some((o) => o.value === period);
    select.value = known ? period : "custom";
    custom.forEach((c) => { c.hidden = known; });
    if (!known) {
      const [from, to] = period.includes("..") ? period.split("..") : [period, period];
      document.getElementById("f-from").value = from.length === 10 ? from : "";
      document.getElementById("f-to").value = to.length === 10 ? to : "";
    }
    for (const [dim, info] of Object.entries(options.dimensions)) {
      const control = document.getElementById("f-" + dim);
      if (!control) continue;
      const value = url.get(dim) || "";
      if (value && !info.values.includes(value)) {
        control.append(el("option", { value: value, text: value }));
      }
      control.value = value || (info.all ? "" : info.values[0] || "");
    }
    for (const key of PAGE_KEYS) {
      const control = document.getElementById("f-" + key);
      if (!control) continue;
      const value = url.get(key) || pageDefaults[key] || "";
      if (control.type === "checkbox") control.checked = value === "1";
      else control.value = value;
    }
  }

  /* The filter bar: fills its choices, keeps them in the URL, calls onChange after each
   * change (and on back/forward). Without a filter bar, onChange runs once. */
  async function initFilters(onChange) {
    const bar = document.getElementById("ck-filters");
    const run = () => { updateLinks(); onChange(); };
    for (const key of PAGE_KEYS) {
      const control = document.getElementById("f-" + key);
      if (!control) continue;
      const url = new URLSearchParams(location.search);
      pageDefaults[key] = control.type === "checkbox" ? (control.checked ? "1" : "") : control.value;
      if (url.get(key) && key !== "by") {
        if (control.type === "checkbox") control.checked = url.get(key) === "1";
        else control.value = url.get(key);
      }
      control.addEventListener("change", () => {
        const value = control.type === "checkbox" ? (control.checked ? "1" : "") : control.value;
        setParam(key, value === pageDefaults[key] ? "" : value, true);
        run();
      });
    }
    if (!bar) { run(); return; }
    bar.addEventListener("submit", (e) => e.preventDefault());
    try {
      options = await api("/api/filters");
    } catch (error) {
      showError(error);
      return;
    }
    const url = new URLSearchParams(location.search);
    if (!url.get("period")) setParam("period", options.default_period, false);
    const periodSelect = document.getElementById("f-period");
    periodSelect.replaceChildren();
    for (const month of options.months) {
      periodSelect.append(el("option", { value: month, text: fmtMonth(month) }));
    }
    periodSelect.append(el("option", { value: "custom", text: t("filter.custom") }));
    for (const [dim, info] of Object.entries(options.dimensions)) {
      const field = bar.querySelector('[data-dim="' + dim + '"]');
      const control = document.getElementById("f-" + dim);
      if (!field || !control) continue;
      // Shown when there is a choice, or when the scope fixes it (then read-only).
      field.hidden = info.values.length === 0;
      fillSelect(control, info.values, info.all ? t("filter.all") : null);
      control.disabled = !info.all && info.values.length <= 1;
      if (!info.all && !url.get(dim) && info.values.length > 1) {
        setParam(dim, info.values[0], false); // a scope of several values: pick one
      }
    }
    syncControls();
    periodSelect.addEventListener("change", () => {
      const custom = periodSelect.value === "custom";
      document.querySelectorAll("[data-custom]").forEach((c) => { c.hidden = !custom; });
      if (!custom) { setParam("period", periodSelect.value, true); run(); }
    });
    for (const id of ["f-from", "f-to"]) {
      document.getElementById(id).addEventListener("change", () => {
        const from = document.getElementById("f-from").value;
        const to = document.getElementById("f-to").value;
        if (from && to && from <= to) { setParam("period", from + ".." + to, true); run(); }
      });
    }
    for (const dim of Object.keys(options.dimensions)) {
      const control = document.getElementById("f-" + dim);
      if (!control) continue;
      control.addEventListener("change", () => { setParam(dim, control.value, true); run(); });
    }
    window.addEventListener("popstate", () => { syncControls(); run(); });
    run();
  }

  function initAccount() {
    const logout = document.getElementById("ck-logout");
    if (logout) {
      logout.addEventListener("click", async () => {
        await fetch("/api/logout", { method: "POST", credentials: "same-origin" });
        location.assign("/login");
      });
    }
    updateLinks();
  }

  function kpiName(item) {
    return t("kpi." + item.kpi, item.name);
  }

  /* Page options kept in the URL (a control f-KEY each, read by initFilters). */
  function pageKeys(...keys) {
    for (const key of keys) if (!PAGE_KEYS.includes(key)) PAGE_KEYS.push(key);
  }

  /* The URL's filters (and the period) alone, for data routes with options of their own. */
  function filterParams(extra) {
    const all = dataParams();
    const params = new URLSearchParams();
    for (const key of FILTERS) if (all.get(key)) params.set(key, all.get(key));
    for (const [k, v] of Object.entries(extra || {})) {
      if (v !== null && v !== undefined && v !== "") params.set(k, v);
    }
    return params;
  }

  /* ECharts instances of the page (window.ckCharts, for tests and the console). */
  const charts = [];
  window.ckCharts = charts;
  function chart(node, option, key) {
    const instance = echarts.init(node, null, { renderer: "canvas" });
    instance.setOption(Object.assign({ animation: false }, option));
    instance.ckKey = key;
    charts.push(instance);
    return instance;
  }
  function clearCharts() { charts.splice(0).forEach((c) => c.dispose()); }
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));

  /* An axis label formatter for a unit (percent without decimals on an axis). */
  function axisFmt(unit, currency) {
    if (unit === "ratio") {
      return (v) => nf({ style: "percent", maximumFractionDigits: 0 }).format(v);
    }
    if (unit === "seconds") return (v) => fmt(v, "seconds");
    return (v) => nf({ notation: "compact", maximumFractionDigits: 1 }).format(v);
  }

  /* ISO weekday (Monday 1 ... Sunday 7) as a short name in the page's language. */
  function weekdayName(n) {
    return new Intl.DateTimeFormat(locale, { weekday: "short" }).format(new Date(2024, 0, n));
  }

  /* A local time from the engine's ISO timestamps ("2026-10-30T09:30:00+03:00"), read as
   * the wall clock of the server's zone (not the browser's). */
  function wall(iso) {
    const [d, tm] = iso.slice(0, 19).split("T");
    const [y, m, day] = d.split("-").map(Number);
    const [h, mi] = (tm || "00:00").split(":").map(Number);
    return new Date(y, m - 1, day, h, mi);
  }
  function fmtSlot(iso, grain) {
    const date = wall(iso);
    if (grain === "month") return new Intl.DateTimeFormat(locale, { month: "short", year: "numeric" }).format(date);
    if (grain === "day" || grain === "week") {
      return new Intl.DateTimeFormat(locale, { day: "numeric", month: "short" }).format(date);
    }
    return new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", hour: "2-digit",
      minute: "2-digit" }).format(date);
  }
  function fmtClock(iso) {
    return new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit" }).format(wall(iso));
  }

  /* A plain table: cols [{key, label, unit, num}], rows of objects; td[data-value] holds
   * the raw number (for tests and copy). */
  function fillTable(table, cols, rows, currency) {
    const head = table.querySelector("thead") || table.createTHead();
    head.replaceChildren(el("tr", {}, ...cols.map((c) =>
      el("th", { class: c.num || c.unit ? "num" : null, text: c.label }))));
    const body = table.tBodies[0] || table.createTBody();
    body.replaceChildren(...rows.map((row) => {
      const tr = el("tr");
      for (const c of cols) {
        const value = row[c.key];
        if (c.render) { tr.append(c.render(row)); continue; }
        if (c.unit) {
          tr.append(el("td", { class: "num", "data-key": c.key,
            "data-value": missing(value) ? "" : value }, fmt(value, c.unit, currency)));
        } else {
          tr.append(el("td", { "data-key": c.key, text: missing(value) ? "–" : String(value) }));
        }
      }
      return tr;
    }));
  }

  /* A message with {name} parameters: tf("insight.too_few", {n: 3, what: ...}). */
  function tf(key, params, fallback) {
    const text = t(key, fallback);
    return String(text).replace(/\{(\w+)\}/g, (all, name) =>
      Object.prototype.hasOwnProperty.call(params || {}, name) ? String(params[name]) : all);
  }
  function has(key) { return Object.prototype.hasOwnProperty.call(boot.messages, key); }

  /* A recommendation's text in the page's language: the shipped rule's from the catalog
   * (rule.<id>), else the rule file's own text for the language (texts), else the
   * server's English text. */
  function ruleText(rule, english, texts) {
    if (rule && has("rule." + rule)) return t("rule." + rule);
    if (texts && texts[boot.lang]) return texts[boot.lang];
    return english;
  }

  /* The insights' English labels (callkpi.insights) in the page's language, by a stable
   * key: a quadrant (analysis, high/low, high/low), its advice, the notes (with their
   * numbers as parameters), "team X" / "center", a CAC row's level. Unknown text is
   * shown as the server sent it. */
  const QUADRANT = /^(high|low) [^,]+, (high|low) /;
  function quadrantKey(analysis, label) {
    const m = QUADRANT.exec(label || "");
    return m ? "insight." + analysis + "." + m[1] + "." + m[2] : null;
  }
  function insightText(analysis, column, value) {
    if (value === null || value === undefined || value === "") return value;
    const text = String(value);
    if (column === "quadrant" || column === "advice") {
      const key = quadrantKey(analysis, column === "quadrant" ? text : null);
      if (key) return t(key, text);
      return text;
    }
    if (column === "compared_with") {
      if (text === "center") return t("insight.center", text);
      const team = /^team (.+)$/.exec(text);
      return team ? tf("insight.team", { team: team[1] }, text) : text;
    }
    if (column === "level") return t("insight.level." + text, text);
    if (column === "note") {
      let m = /^too few to rank \(([\d,.]+) (.+) < (\d+)\)$/.exec(text);
      if (m) {
        const n = Number(m[1].replace(/,/g, ""));
        return tf("insight.too_few", { n: fmt(n, "count"), what: t("insight.of." + m[2], m[2]), min: m[3] }, text);
      }
      m = /^(transfer rate|answer rate) ≈ (.+)'s \(within noise\)$/.exec(text);
      if (m) {
        return tf("insight.noise." + m[1].replace(" ", "_"), { who: insightText(analysis, "compared_with", m[2]) },
          text);
      }
      if (text === "no campaign dials: no CAC") return t("insight.no_cac", text);
      return text;
    }
    return text;
  }
  /* A quadrant's advice, by the quadrant it belongs to. */
  function adviceText(analysis, quadrant, advice) {
    const key = quadrantKey(analysis, quadrant);
    return key ? t(key + ".advice", advice) : advice;
  }

  /* -- exports ---------------------------------------------------------------------------
   * A table's CSV and Excel buttons. Tables a JSON route gives in full take that route
   * with the page's filters and format=csv|xlsx (the server writes the file, callkpi.export).
   * Tables put together in the page from scoped routes (the insights', the plan's) are
   * written here from the very rows shown: CSV as the server writes it (UTF-8 with a
   * byte-order mark), XLSX as a one-sheet workbook with the same number formats. */
  function exportButtons(host, spec) {
    const box = el("span", { class: "exports table-exports", "data-exports": spec.id });
    for (const [format, label] of [["csv", t("action.csv")], ["xlsx", t("action.xlsx")]]) {
      if (spec.base) {
        box.append(el("a", { class: "button small", "data-export": format, "data-export-base": spec.base,
          href: "#", download: "", title: t("action.export") }, label));
      } else {
        const button = el("button", { type: "button", class: "button small", "data-export-local": format,
          title: t("action.export") }, label);
        button.addEventListener("click", () => {
          const table = spec.get();
          if (table) download(table, format);
        });
        box.append(button);
      }
    }
    const old = host.querySelector(":scope > .table-exports");
    if (old) old.replaceWith(box); else host.append(box);
    if (spec.base) updateLinks();
    return box;
  }

  function csvCell(value) {
    if (value === null || value === undefined) return "";
    const text = Array.isArray(value) ? value.join("; ") : String(value);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function toCsv(table) {
    const lines = [table.columns.map(csvCell).join(",")];
    for (const row of table.rows) lines.push(table.columns.map((c) => csvCell(row[c])).join(","));
    return "\ufeff" + lines.join("\r\n") + "\r\n";
  }

  const XLSX_FORMATS = { ratio: 2, seconds: 3, hours: 3, days: 3, score: 3, number: 3, currency: 4,
    per_hour: 4, count: 5 };
  function xml(text) {
    return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c])
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "");
  }
  function colName(j) {
    let name = "";
    for (let n = j + 1; n > 0; n = Math.floor((n - 1) / 26)) name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
    return name;
  }
  function sheetXml(table) {
    const cell = (ref, value, style) => {
      if (value === null || value === undefined || value === "" ||
          (typeof value === "number" && !isFinite(value))) return "";
      if (typeof value === "number") return '<c r="' + ref + '" s="' + style + '"><v>' + value + "</v></c>";
      if (typeof value === "boolean") return '<c r="' + ref + '" t="b"><v>' + (value ? 1 : 0) + "</v></c>";
      const text = Array.isArray(value) ? value.join("\n") : String(value);
      return '<c r="' + ref + '" t="inlineStr" s="' + style + '"><is><t xml:space="preserve">' + xml(text) +
        "</t></is></c>";
    };
    const rows = ['<row r="1">' + table.columns.map((c, j) => cell(colName(j) + "1", c, 1)).join("") + "</row>"];
    table.rows.forEach((row, i) => {
      const r = i + 2;
      rows.push('<row r="' + r + '">' + table.columns.map((c, j) =>
        cell(colName(j) + r, row[c], XLSX_FORMATS[(table.units || {})[c]] || 0)).join("") + "</row>");
    });
    const widths = table.columns.map((c) => Math.min(60, Math.max(String(c).length,
      ...table.rows.map((row) => (row[c] === null || row[c] === undefined ? 0 : String(row[c]).length)))) + 2);
    const last = colName(Math.max(0, table.columns.length - 1)) + (table.rows.length + 1);
    return '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
      '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' +
      '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" ' +
      'state="frozen"/></sheetView></sheetViews>' +
      (widths.length ? "<cols>" + widths.map((w, j) => '<col min="' + (j + 1) + '" max="' + (j + 1) +
        '" width="' + w + '" customWidth="1"/>').join("") + "</cols>" : "") +
      "<sheetData>" + rows.join("") + "</sheetData>" +
      (table.rows.length ? '<autoFilter ref="A1:' + last + '"/>' : "") + "</worksheet>";
  }
  const STYLES = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' +
    '<numFmts count="4"><numFmt numFmtId="164" formatCode="0.0%"/><numFmt numFmtId="165" formatCode="#,##0.0"/>' +
    '<numFmt numFmtId="166" formatCode="#,##0.00"/><numFmt numFmtId="167" formatCode="#,##0"/></numFmts>' +
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/>' +
    '<name val="Calibri"/></font></fonts>' +
    '<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>' +
    '</fill><fill><patternFill patternType="solid"><fgColor rgb="FFDDEBF7"/></patternFill></fill></fills>' +
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>' +
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>' +
    '<cellXfs count="6"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>' +
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>' +
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>' +
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>' +
    '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>' +
    '<xf numFmtId="167" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>' +
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>';

  function toXlsx(table) {
    const sheet = String(table.name || "table").replace(/[[\]:*?/\\]/g, "-").slice(0, 31);
    const files = [
      ["[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
        '<Default Extension="xml" ContentType="application/xml"/>' +
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.' +
        'spreadsheetml.sheet.main+xml"/>' +
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-' +
        'officedocument.spreadsheetml.worksheet+xml"/>' +
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.' +
        'spreadsheetml.styles+xml"/></Types>'],
      ["_rels/.rels", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/' +
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'],
      ["xl/workbook.xml", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ' +
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">' +
        '<sheets><sheet name="' + xml(sheet) + '" sheetId="1" r:id="rId1"/></sheets>' +
        (table.rows.length ? '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" ' +
          'hidden="1">\'' + xml(sheet.replace(/'/g, "''")) + "'!$A$1:$" +
          colName(Math.max(0, table.columns.length - 1)) + "$" + (table.rows.length + 1) +
          "</definedName></definedNames>" : "") + "</workbook>"],
      ["xl/_rels/workbook.xml.rels", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/' +
        'worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.' +
        'openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>'],
      ["xl/styles.xml", STYLES],
      ["xl/worksheets/sheet1.xml", sheetXml(table)],
    ];
    return zip(files);
  }

  /* A ZIP archive of stored (uncompressed) entries: what an .xlsx is. */
  let crcTable = null;
  function crc32(bytes) {
    if (!crcTable) {
      crcTable = new Uint32Array(256);
      for (let n = 0; n < 256; n++) {
        let c = n;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        crcTable[n] = c >>> 0;
      }
    }
    let crc = 0xffffffff;
    for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
  }
  function zip(files) {
    const encoder = new TextEncoder();
    const parts = [], central = [];
    let offset = 0;
    for (const [name, text] of files) {
      const nameBytes = encoder.encode(name), data = encoder.encode(text), crc = crc32(data);
      const local = new DataView(new ArrayBuffer(30));
      local.setUint32(0, 0x04034b50, true); local.setUint16(4, 20, true); local.setUint16(6, 0x0800, true);
      local.setUint16(8, 0, true); local.setUint32(10, 0x00210000, true); local.setUint32(14, crc, true);
      local.setUint32(18, data.length, true); local.setUint32(22, data.length, true);
      local.setUint16(26, nameBytes.length, true); local.setUint16(28, 0, true);
      const entry = new DataView(new ArrayBuffer(46));
      entry.setUint32(0, 0x02014b50, true); entry.setUint16(4, 20, true); entry.setUint16(6, 20, true);
      entry.setUint16(8, 0x0800, true); entry.setUint16(10, 0, true); entry.setUint32(12, 0x00210000, true);
      entry.setUint32(16, crc, true); entry.setUint32(20, data.length, true); entry.setUint32(24, data.length, true);
      entry.setUint16(28, nameBytes.length, true); entry.setUint32(42, offset, true);
      parts.push(local.buffer, nameBytes, data);
      central.push(entry.buffer, nameBytes);
      offset += 30 + nameBytes.length + data.length;
    }
    const size = central.reduce((n, b) => n + b.byteLength, 0);
    const end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true); end.setUint16(8, files.length, true); end.setUint16(10, files.length, true);
    end.setUint32(12, size, true); end.setUint32(16, offset, true);
    return new Blob([...parts, ...central, end.buffer],
      { type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" });
  }

  /* Save {name, columns, rows, units} as NAME.csv or NAME.xlsx. */
  function download(table, format) {
    const blob = format === "csv" ? new Blob([toCsv(table)], { type: "text/csv;charset=utf-8" }) : toXlsx(table);
    const name = (String(table.name || "table").replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "") ||
      "table") + "." + format;
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: name, hidden: "" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  window.CK = { boot, locale, t, tf, ruleText, insightText, adviceText, exportButtons, download, fmt, fmtSigned, fmtWait, fmtDay, fmtMonth, fmtPeriod, statusClass,
    el, api, showError, dataParams, updateLinks, initFilters, kpiName, pageKeys, filterParams,
    chart, clearCharts, charts, axisFmt, weekdayName, wall, fmtSlot, fmtClock, fillTable, missing };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initAccount);
  else initAccount();
})();
