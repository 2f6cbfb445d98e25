/* callkpi dashboard: shared code of every page (window.CK).
 *
 * - messages: the labels of the page's language (from the server's catalog, in #ck-boot);
 * - formatting: numbers, percentages, seconds, money and dates with Intl in that locale;
 * - api(): GET a JSON route; a lost session goes back to the login page;
 * - the filter bar: its state lives in the URL's query string (shareable), its choices
 *   come from /api/filters (only what the caller's scope allows);
 * - export links: the page's JSON route with the same filters and format=csv|xlsx.
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

  function showError(error) {
    const box = document.getElementById("ck-error");
    if (!box) return;
    if (!error) { box.hidden = true; return; }
    box.textContent = t("error.load") + ": " + (error.message || error);
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
    const base = document.querySelector("[data-export-base]");
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

  window.CK = { boot, locale, t, fmt, fmtSigned, fmtWait, fmtDay, fmtMonth, fmtPeriod, statusClass,
    el, api, showError, dataParams, updateLinks, initFilters, kpiName, pageKeys, filterParams,
    chart, clearCharts, charts, axisFmt, weekdayName, wall, fmtSlot, fmtClock, fillTable, missing };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initAccount);
  else initAccount();
})();
