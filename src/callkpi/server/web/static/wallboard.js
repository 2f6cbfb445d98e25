/* Wallboard: the live floor from /api/live/stream (server-sent events), one card per queue:
 * calls waiting, the longest wait, service level today and this interval against the
 * target, abandonment today, agents by state. Colors: on target / warning / critical. */
(function () {
  "use strict";
  const CK = window.CK;
  const { t, fmt, fmtWait, el } = CK;
  const STATES = ["talking", "ringing", "wrapup", "paused", "idle"];
  // Thresholds (docs/web.md): service level as the scorecard (5 % and 15 % short of the
  // target); abandonment against the industry's 5-8 %; the longest wait against 20 s / 60 s.
  function slStatus(value, target) {
    if (value === null || value === undefined) return "no-data";
    if (!target) return "plain"; // no target today: the number, without a verdict
    const short = (target - value) / target;
    return short <= 0.05 ? "on-track" : short <= 0.15 ? "warning" : "critical";
  }
  function abandonStatus(value) {
    if (value === null || value === undefined) return "no-data";
    return value <= 0.05 ? "on-track" : value <= 0.08 ? "warning" : "critical";
  }
  function waitStatus(waiting, longest) {
    if (!waiting) return "on-track";
    return longest <= 20 ? "on-track" : longest <= 60 ? "warning" : "critical";
  }
  const WORST = { critical: 3, warning: 2, "on-track": 1, plain: 0, "no-data": 0 };

  function metric(label, value, size, status, sub, key) {
    return el("div", { class: "wb-metric s-" + (status || "plain"), "data-metric": key },
      el("span", { class: "label", text: label }),
      el("span", { class: size, text: value }),
      sub ? el("span", { class: "sub", text: sub }) : null);
  }

  function card(q) {
    const today = q.today || {}, interval = q.interval || {}, agents = q.agents || {};
    const target = q.service_level_target;
    const sl = slStatus(today.service_level, target);
    const slNow = slStatus(interval.service_level, target);
    const ab = abandonStatus(today.abandon_rate);
    const wait = waitStatus(q.waiting, q.longest_wait_s);
    const worst = [sl, slNow, ab, wait].reduce((a, b) => (WORST[b] > WORST[a] ? b : a), "no-data");
    const targetText = target ? t("wb.target") + " " + fmt(target, "percent") : "";
    const total = STATES.reduce((n, s) => n + (agents[s] || 0), 0);
    const bar = el("div", { class: "wb-bar-agents" });
    for (const s of STATES) {
      if (!agents[s]) continue;
      const part = el("span", { class: s, title: t("state." + s) });
      part.style.flexGrow = String(agents[s]);
      bar.append(part);
    }
    return el("article", { class: "wb-queue s-" + worst, "data-queue": q.queue, "data-tenant": q.tenant,
      "data-waiting": q.waiting },
      el("header", {}, el("h2", { text: q.queue }), el("span", { class: "tenant", text: q.tenant || "" })),
      el("div", { class: "wb-metrics" },
        metric(t("wb.waiting"), fmt(q.waiting, "count"), "big", wait, null, "waiting"),
        metric(t("wb.longest"), q.waiting ? fmtWait(q.longest_wait_s) : "–", "big", wait, null, "longest"),
        metric(t("wb.sl_today"), fmt(today.service_level, "percent"), "big", sl, targetText, "sl_today"),
        metric(t("wb.sl_interval"), fmt(interval.service_level, "percent"), "mid", slNow, targetText, "sl_interval"),
        metric(t("wb.abandon"), fmt(today.abandon_rate, "percent"), "mid", ab,
          fmt(today.abandoned, "count") + " / " + fmt(today.offered, "count"), "abandon"),
        metric(t("wb.offered"), fmt(today.offered, "count"), "mid", null, null, "offered")),
      el("div", { class: "wb-agents", "data-agents": total },
        ...STATES.map((s) => el("div", { class: "state", "data-state": s },
          el("span", {}, el("i", { class: "dot " + s }), t("state." + s)),
          el("b", { text: fmt(agents[s] || 0, "count") })))),
      bar);
  }

  function render(snap) {
    const grid = document.getElementById("wb-grid");
    const queues = snap.queues || [];
    grid.replaceChildren(...queues.map(card));
    document.getElementById("wb-empty").hidden = queues.length > 0;
    const waiting = queues.reduce((n, q) => n + (q.waiting || 0), 0);
    const agents = {};
    for (const a of snap.agents || []) agents[a.state] = (agents[a.state] || 0) + 1;
    const totals = document.getElementById("wb-totals");
    totals.replaceChildren(
      el("span", {}, t("wb.waiting"), el("b", { id: "wb-total-waiting", text: fmt(waiting, "count") })),
      el("span", {}, t("state.idle"), el("b", { text: fmt(agents.idle || 0, "count") })),
      el("span", {}, t("state.talking"), el("b", { text: fmt(agents.talking || 0, "count") })));
    const at = snap.at ? new Date(snap.at) : new Date();
    document.getElementById("wb-status").textContent = t("wb.updated") + " " +
      new Intl.DateTimeFormat(CK.locale, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(at);
    grid.dataset.version = snap.version === undefined ? "" : String(snap.version);
    window.ckSnapshot = snap;
  }

  function clock() {
    document.getElementById("wb-clock").textContent =
      new Intl.DateTimeFormat(CK.locale, { hour: "2-digit", minute: "2-digit" }).format(new Date());
  }

  function connect() {
    const source = new EventSource("/api/live/stream");
    source.onmessage = (event) => render(JSON.parse(event.data));
    source.onerror = () => {
      document.getElementById("wb-status").textContent = t("wb.reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        // Closed for good (e.g. the session ended): check the login, then try again.
        CK.api("/api/me").then(() => setTimeout(connect, 3000), () => {});
      }
    };
  }

  document.getElementById("wb-fullscreen").addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else document.documentElement.requestFullscreen().catch(() => {});
  });
  clock();
  setInterval(clock, 1000);
  connect();
})();
