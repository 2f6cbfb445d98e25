"""The analysis pages (Trends, Agents, Queues and IVR, Sales, Planning) in Debian's
Chromium against a real ``callkpi serve`` on two demo days: each loads without console
errors, its charts have data, a number shown equals the API's, and the Russian labels
render. Screenshots go to ``test-artifacts/web/``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

Tab = Any
Server = Any

pytestmark = pytest.mark.slow


def wait_ready(tab: Tab, selector: str) -> None:
    tab.page.wait_for_selector(f"{selector}[aria-busy='false']", state="attached", timeout=30_000)


def charts(tab: Tab) -> dict[str, list[Any]]:
    """Each chart's key and the data of its series (the ECharts instances of the page)."""
    found = tab.page.evaluate(
        "() => window.ckCharts.map(c => [c.ckKey, !!c.getDom().querySelector('canvas'),"
        " c.getOption().series.map(s => s.data)])")
    assert all(canvas for _, canvas, _ in found), found
    return {key: series for key, _, series in found}


def has_numbers(series: list[Any]) -> bool:
    def number(v: Any) -> bool:
        if isinstance(v, dict):
            v = v.get("value")
        if isinstance(v, list):
            return any(number(x) for x in v[1:] or v)
        return isinstance(v, int | float)
    return any(number(v) for data in series for v in data)


def cell_values(tab: Tab, table: str, key: str) -> list[float | None]:
    values = tab.page.eval_on_selector_all(
        f"{table} td[data-key='{key}']", "tds => tds.map(td => td.dataset.value)")
    return [float(v) if v else None for v in values]


def test_trends(open_as: Callable[..., Tab], server: Server) -> None:
    tab = open_as("boss", "/trends?period=2026-10&kpi=service_level&grain=hour")
    wait_ready(tab, "#trend-panel")
    shown = charts(tab)
    assert has_numbers(shown["service_level"])
    option = tab.page.evaluate("() => window.ckCharts[0].getOption().series[0]")
    assert option["markLine"]["data"][0]["yAxis"] == 0.8  # the center's target
    assert option["markArea"]["data"][0][0]["yAxis"] == 0.8  # the 80/20 benchmark
    api = server.api("boss", "/api/kpi", kpis="service_level", grain="hour",
                     tz="Europe/Moscow", **{"from": "2026-10-01", "to": "2026-11-01"})
    assert cell_values(tab, "#trend-table", "value") == pytest.approx(
        [r["service_level"] for r in api])
    tab.shot("trends")
    # Another KPI, compared with the previous period; the URL keeps the choices.
    tab.page.select_option("#f-kpi", "abandon_rate")
    tab.page.check("#f-compare")
    tab.page.wait_for_url(re.compile("compare=1"))
    wait_ready(tab, "#trend-panel")
    assert "kpi=abandon_rate" in tab.page.url
    series = tab.page.evaluate("() => window.ckCharts[0].getOption().series.length")
    assert series == 2
    export = tab.page.get_attribute("a[data-export='csv']", "href") or ""
    assert "kpis=abandon_rate" in export and "grain=hour" in export and "format=csv" in export
    assert tab.errors == []


def test_agents(open_as: Callable[..., Tab], server: Server) -> None:
    tab = open_as("boss", "/agents?period=2026-10")
    wait_ready(tab, "#board-panel")
    shown = charts(tab)
    for key in ("leaderboard", "aht-transfers", "availability"):
        assert has_numbers(shown[key]), key
    api = server.api("boss", "/api/kpi", kpis="answered,aht,transfer_rate", by="agent",
                     tz="Europe/Moscow", **{"from": "2026-10-01", "to": "2026-11-01"})
    by_agent = {r["agent"]: r for r in api}
    rows = tab.page.eval_on_selector_all(
        "#board tbody tr", "rs => rs.map(r => [r.dataset.agent,"
        " r.querySelector('td[data-key=answered]').dataset.value,"
        " r.querySelector('td[data-key=aht]').dataset.value])")
    assert len(rows) == len(by_agent) >= 20
    answered = [float(a) for _, a, _ in rows if a]
    assert answered == sorted(answered, reverse=True)  # sorted by calls answered
    for agent, a, aht in rows[:5]:
        assert float(a) == by_agent[agent]["answered"]
        assert float(aht) == pytest.approx(by_agent[agent]["aht"])
    assert tab.page.locator("#center-only").is_hidden()
    tab.shot("agents")
    # Sorted by AHT (lower is better first); the choice is in the URL.
    tab.page.select_option("#f-sort", "aht")
    tab.page.wait_for_url(re.compile("sort=aht"))
    wait_ready(tab, "#board-panel")
    aht = [float(v) for v in tab.page.eval_on_selector_all(
        "#board td[data-key=aht]", "tds => tds.map(td => td.dataset.value)") if v]
    assert aht == sorted(aht)
    # A client: its agents' numbers over its calls, and a note instead of the center-wide
    # analyses.
    nord = open_as("nord", "/agents?period=2026-10")
    wait_ready(nord, "#board-panel")
    assert nord.page.locator("#center-only").is_visible()
    assert nord.page.locator("#insights").is_hidden()
    assert set(charts(nord)) == {"leaderboard"}
    nord.shot("agents-client")
    assert tab.errors == [] and nord.errors == []


def test_queues_and_ivr(open_as: Callable[..., Tab], server: Server) -> None:
    tab = open_as("boss", "/queues?period=2026-10")
    wait_ready(tab, "#queues")
    shown = charts(tab)
    for key in ("heatmap", "intervals", "waits", "ivr"):
        assert has_numbers(shown[key]), key
    when = {"tz": "Europe/Moscow", "from": "2026-10-01", "to": "2026-11-01"}
    heat = server.api("boss", "/api/kpi", kpis="offered", by="hour_of_day,weekday", **when)
    assert sum(c[2] for c in shown["heatmap"][0]) == sum(r["offered"] for r in heat)
    queues = {r["queue"]: r for r in server.api(
        "boss", "/api/kpi", kpis="avg_abandon_wait,service_level", by="queue", **when)}
    vip = tab.page.get_attribute("#queue-table tr[data-queue='bank_vip'] "
                                 "td[data-key='avg_abandon_wait']", "data-value")
    assert float(vip or "nan") == pytest.approx(queues["bank_vip"]["avg_abandon_wait"])
    ivr = server.api("boss", "/api/kpi", kpis="ivr_containment", **when)
    shown_ivr = tab.page.get_attribute("#ivr-numbers [data-kpi='ivr_containment']", "data-value")
    assert float(shown_ivr or "nan") == pytest.approx(ivr[0]["ivr_containment"])
    assert tab.page.locator("#ivr-note").is_hidden()
    tab.shot("queues")
    # A client: no IVR (its steps have no tenant), a note says why; the rest is its own.
    nord = open_as("nord", "/queues?period=2026-10&lang=ru", locale="ru-RU")
    wait_ready(nord, "#queues")
    assert nord.page.locator("#ivr-note").is_visible()
    assert "IVR" in nord.page.inner_text("#ivr-note")
    assert nord.page.inner_text("h1") == "Очереди и IVR"
    assert nord.page.inner_text("nav a[data-nav='agents']") == "Операторы"
    names = nord.page.eval_on_selector_all("#queue-table tbody tr",
                                           "rs => rs.map(r => r.dataset.queue)")
    assert set(names) == {"bank_cards", "bank_vip"}
    nord.shot("queues-client-ru")
    assert tab.errors == [] and nord.errors == []


def test_sales(open_as: Callable[..., Tab], server: Server) -> None:
    tab = open_as("boss", "/sales?period=2026-10")
    wait_ready(tab, "#sales")
    shown = charts(tab)
    for key in ("funnel", "best-time"):
        assert has_numbers(shown[key]), key
    when = {"tz": "Europe/Moscow", "from": "2026-10-01", "to": "2026-11-01"}
    total = server.api("boss", "/api/kpi", kpis="conversion_rate,deals_won", **when)[0]
    value = tab.page.get_attribute("#sales-numbers [data-kpi='conversion_rate']", "data-value")
    assert float(value or "nan") == pytest.approx(total["conversion_rate"])
    assert [d["value"] for d in shown["funnel"][0]][-1] == total["deals_won"]
    campaigns = {r["campaign"]: r for r in server.api(
        "boss", "/api/kpi", kpis="avg_deal_size", by="campaign", **when)}
    deal = tab.page.get_attribute("#campaign-table tr[data-campaign='ts_winback'] "
                                  "td[data-key='avg_deal_size']", "data-value")
    assert float(deal or "nan") == pytest.approx(campaigns["ts_winback"]["avg_deal_size"])
    assert tab.page.locator("#cac-table tbody tr").count() > 0
    tab.shot("sales")
    nord = open_as("nord", "/sales?period=2026-10")
    wait_ready(nord, "#sales")
    assert nord.page.locator("#center-only").is_visible()
    assert has_numbers(charts(nord)["best-time"])
    nord.shot("sales-client")
    assert tab.errors == [] and nord.errors == []


def test_planning(open_as: Callable[..., Tab], server: Server) -> None:
    tab = open_as("boss", "/planning?period=2026-10&queue=bank_cards")
    wait_ready(tab, "#planning")
    shown = charts(tab)
    for key in ("forecast", "staffing"):
        assert has_numbers(shown[key]), key
    plan = server.api("boss", "/api/plan", tz="Europe/Moscow", horizon_days=2,
                      queue="bank_cards")
    assert shown["staffing"][0] == [r["agents"] for r in plan["rows"]]
    assert shown["staffing"][1] == pytest.approx([r["scheduled"] for r in plan["rows"]])
    assert [g["value"] for g in shown["staffing"][2]] == pytest.approx(
        [r["gap"] for r in plan["rows"]])
    first = next(r for r in plan["totals"] if r["day"] is not None)
    cell = tab.page.get_attribute("#totals-table tr[data-queue='bank_cards'] "
                                  "td[data-key='required_hours']", "data-value")
    assert float(cell or "nan") == pytest.approx(first["required_hours"])
    actual = server.api("boss", "/api/kpi", kpis="offered", grain="30min", tz="Europe/Moscow",
                        where="queue=bank_cards", **{"from": "2026-10-01", "to": "2026-11-01"})
    assert sum(v for v in shown["forecast"][-1] if v) == sum(r["offered"] for r in actual)
    tab.shot("planning")
    assert tab.errors == []
