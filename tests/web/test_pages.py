"""The dashboard in a real browser (Debian's Chromium via Playwright) against a real
``callkpi serve`` on two days of the demo center: pages load without console errors,
charts have data, filters change the numbers to what the API says, the wallboard follows
posted events, a client sees only its tenant, the Russian interface renders."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

PASSWORD = "correct horse battery staple"
Tab = Any
Server = Any

pytestmark = pytest.mark.slow


def wait_ready(tab: Tab, selector: str) -> None:
    """Until the page's data has loaded (its container is no longer busy)."""
    tab.page.wait_for_selector(f"{selector}[aria-busy='false']", state="attached", timeout=30_000)


def tile_values(tab: Tab) -> dict[str, float | None]:
    values = tab.page.eval_on_selector_all(
        ".tile", "els => els.map(e => [e.dataset.kpi, e.querySelector('.value').dataset.value])")
    return {k: (float(v) if v else None) for k, v in values}


def test_every_page_loads_without_console_errors(open_as: Callable[..., Tab]) -> None:
    overview = open_as("boss", "/overview")
    wait_ready(overview, "#tiles")
    assert overview.page.locator(".tile").count() >= 8
    overview.shot("overview")
    scorecard = open_as("boss", "/scorecard")
    wait_ready(scorecard, "#scorecard")
    assert scorecard.page.locator("#scorecard-body tr").count() >= 10
    scorecard.shot("scorecard")
    wallboard = open_as("boss", "/wallboard")
    wallboard.page.wait_for_selector("#wb-grid[data-version]", state="attached", timeout=30_000)
    wallboard.shot("wallboard")
    login = open_as(None, "/login")
    login.page.wait_for_selector("#login-form")
    login.shot("login")
    for tab in (overview, scorecard, wallboard, login):
        assert tab.errors == [], tab.errors


def test_overview_charts_render_with_data(open_as: Callable[..., Tab]) -> None:
    tab = open_as("boss", "/overview")
    wait_ready(tab, "#tiles")
    charts = tab.page.evaluate(
        "() => window.ckCharts.map(c => ({kpi: c.ckKpi,"
        " canvas: !!c.getDom().querySelector('canvas'), data: c.getOption().series[0].data}))")
    assert len(charts) == tab.page.locator(".tile").count() >= 8
    for chart in charts:
        assert chart["canvas"], chart
        assert any(v is not None for v in chart["data"]), chart
    service = next(c for c in charts if c["kpi"] == "service_level")
    assert all(v is None or 0 <= v <= 1 for v in service["data"])
    assert tab.errors == []


def test_a_filter_change_shows_the_apis_numbers(open_as: Callable[..., Tab],
                                                server: Server) -> None:
    tab = open_as("boss", "/overview")
    wait_ready(tab, "#tiles")
    center = tile_values(tab)
    with tab.page.expect_response(lambda r: "/api/overview" in r.url and "queue=bank_vip" in r.url):
        tab.page.select_option("#f-queue", "bank_vip")
    wait_ready(tab, "#tiles")
    shown = tile_values(tab)
    assert "queue=bank_vip" in tab.page.url and "period=2026-10" in tab.page.url
    api = server.api("boss", "/api/overview", period="2026-10", queue="bank_vip")
    assert shown == {t["kpi"]: t["value"] for t in api["tiles"]}
    assert shown["service_level"] != center["service_level"]
    # The same number as the KPI query for that queue and month (the engine's own answer).
    kpi = server.api("boss", "/api/kpi", kpis="service_level,offered", tz="Europe/Moscow",
                     where="queue=bank_vip", **{"from": "2026-10-01", "to": "2026-11-01"})
    assert shown["service_level"] == pytest.approx(kpi[0]["service_level"])
    assert shown["offered"] == kpi[0]["offered"]
    # VIP's own service-level target (90 %) applies; the tile shows it.
    vip = next(t for t in api["tiles"] if t["kpi"] == "service_level")
    assert (vip["target"], vip["target_scope"]) == (0.9, "queue=bank_vip")
    # The URL is shareable: opened anew it shows the same numbers.
    again = open_as("boss", tab.page.url.replace(server.base, ""))
    wait_ready(again, "#tiles")
    assert tile_values(again) == shown
    assert again.page.input_value("#f-queue") == "bank_vip"
    tab.shot("overview-bank-vip")
    assert tab.errors == [] and again.errors == []


def test_scorecard_by_team_matches_the_api(open_as: Callable[..., Tab], server: Server) -> None:
    tab = open_as("boss", "/scorecard?period=2026-10")
    wait_ready(tab, "#scorecard")
    tab.page.select_option("#f-by", "team")
    tab.page.wait_for_function(
        "() => document.querySelector('#scorecard-body tr[data-group]') !== null")
    wait_ready(tab, "#scorecard")
    rows = tab.page.eval_on_selector_all(
        "#scorecard-body tr", "rs => rs.map(r => [r.dataset.group, r.dataset.kpi,"
        " r.querySelectorAll('td.num')[1].dataset.value])")
    api = server.api("boss", "/api/scorecard", period="2026-10", by="team")
    expected = [[r["team"], r["kpi"], r["actual"]] for r in api["rows"]]
    assert [[g, k, float(v) if v else None] for g, k, v in rows] == expected
    assert {r[0] for r in rows} >= {"bank_kzn", "retail_kzn"}
    tab.shot("scorecard-by-team")
    assert tab.errors == []


def _ago(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).isoformat()


def test_the_wallboard_follows_posted_events(open_as: Callable[..., Tab],
                                            server: Server) -> None:
    tab = open_as("boss", "/wallboard")
    tab.page.wait_for_selector("#wb-grid[data-version]", state="attached", timeout=30_000)
    events = [
        {"type": "agent_logged_in", "at": _ago(900), "agent": "PJSIP/1001", "queue": "bank_cards"},
        {"type": "agent_logged_in", "at": _ago(900), "agent": "PJSIP/1002", "queue": "bank_cards"},
        {"type": "call_entered", "at": _ago(200), "call_id": "w1", "queue": "bank_cards"},
        {"type": "call_answered", "at": _ago(190), "call_id": "w1", "queue": "bank_cards",
         "agent": "PJSIP/1001"},
        {"type": "call_entered", "at": _ago(75), "call_id": "w2", "queue": "bank_cards"},
        {"type": "call_entered", "at": _ago(20), "call_id": "w3", "queue": "bank_cards"},
    ]
    posted = httpx2.post(f"{server.base}/api/events", timeout=60,
                         headers={"Authorization": f"Bearer {server.tokens['boss']}"},
                         json={"tenant": "nordbank", "events": events})
    assert posted.status_code == 200, posted.text
    card = tab.page.locator('.wb-queue[data-queue="bank_cards"]')
    card.wait_for(timeout=30_000)
    tab.page.wait_for_function(
        "() => document.querySelector('.wb-queue[data-queue=\"bank_cards\"]')"
        "?.dataset.waiting === '2'", timeout=30_000)
    assert card.locator('[data-state="talking"] b').inner_text() == "1"
    longest = card.locator('[data-metric="longest"] .big').inner_text()
    assert re.fullmatch(r"1:(1[5-9]|[2-5]\d)", longest), longest  # about 75 s: m:ss
    assert "s-critical" in (card.get_attribute("class") or "")  # a caller waits over 60 s
    # Another call arrives: the board follows without a reload.
    more = httpx2.post(f"{server.base}/api/events", timeout=60,
                       headers={"Authorization": f"Bearer {server.tokens['boss']}"},
                       json={"tenant": "nordbank", "events": [
                           {"type": "call_entered", "at": _ago(1), "call_id": "w4",
                            "queue": "bank_cards"}]})
    assert more.status_code == 200, more.text
    tab.page.wait_for_function(
        "() => document.querySelector('.wb-queue[data-queue=\"bank_cards\"]')"
        "?.dataset.waiting === '3'", timeout=30_000)
    assert tab.page.inner_text("#wb-total-waiting") == "3"
    tab.shot("wallboard-live")
    assert tab.errors == []


def test_a_client_sees_only_its_tenant(open_as: Callable[..., Tab], server: Server) -> None:
    tab = open_as("nord", "/overview")
    wait_ready(tab, "#tiles")
    tenant = tab.page.locator("#f-tenant")
    assert tenant.is_disabled()
    assert tab.page.eval_on_selector_all("#f-tenant option", "os => os.map(o => o.value)") == [
        "nordbank"]
    queues = tab.page.eval_on_selector_all("#f-queue option", "os => os.map(o => o.value)")
    assert set(queues) == {"", "bank_cards", "bank_vip"}
    shown = tile_values(tab)
    mine = server.api("boss", "/api/overview", period="2026-10", tenant="nordbank")
    assert shown == {t["kpi"]: t["value"] for t in mine["tiles"]}
    everyone = server.api("boss", "/api/overview", period="2026-10")
    assert shown["offered"] < next(t["value"] for t in everyone["tiles"]
                                   if t["kpi"] == "offered")
    # Asking for another tenant by hand is refused, in the page's URL or at the API.
    other = httpx2.get(f"{server.base}/api/scorecard", params={"tenant": "telesfera"},
                       headers={"Authorization": f"Bearer {server.tokens['nord']}"}, timeout=60)
    assert other.status_code == 403 and "outside your scope" in other.json()["detail"]
    forced = open_as("nord", "/scorecard?tenant=telesfera")
    forced.page.wait_for_selector("#ck-error:not([hidden])", timeout=30_000)
    assert "outside your scope" in forced.page.inner_text("#ck-error")
    assert forced.page.locator("#scorecard-body tr").count() == 0
    board = open_as("nord", "/wallboard")
    board.page.wait_for_selector("#wb-grid[data-version]", state="attached", timeout=30_000)
    tenants = board.page.eval_on_selector_all(".wb-queue", "qs => qs.map(q => q.dataset.tenant)")
    assert set(tenants) <= {"nordbank"}
    tab.shot("client-overview")
    assert tab.errors == [] and board.errors == []


def test_a_manager_of_two_tenants_chooses_one(open_as: Callable[..., Tab]) -> None:
    tab = open_as("duo", "/overview")
    wait_ready(tab, "#tiles")
    assert "tenant=nordbank" in tab.page.url  # the first of the scope, never both at once
    assert not tab.page.locator("#f-tenant").is_disabled()
    tab.page.select_option("#f-tenant", "telesfera")
    tab.page.wait_for_url(re.compile("tenant=telesfera"))
    wait_ready(tab, "#tiles")
    assert tab.errors == []


def test_the_russian_interface(open_as: Callable[..., Tab], server: Server) -> None:
    tab = open_as("boss", "/overview?lang=ru", locale="ru-RU")
    wait_ready(tab, "#tiles")
    assert tab.page.locator("html").get_attribute("lang") == "ru"
    assert tab.page.inner_text("nav a[data-nav='overview']") == "Обзор"
    assert tab.page.inner_text("[data-dim='queue'] span") == "Очередь"
    service = tab.page.inner_text(".tile[data-kpi='service_level'] .value")
    assert re.fullmatch(r"\d{1,3},\d\s%", service), service  # 76,0 % (a no-break space)
    offered = tab.page.inner_text(".tile[data-kpi='offered'] .value")
    assert re.fullmatch(r"\d\s\d{3}", offered), offered  # 3 300
    assert tab.page.inner_text("#f-period option:first-child").startswith("октябрь 2026")
    assert tab.page.locator(".tile[data-kpi='service_level'] h2").inner_text() == (
        "Уровень сервиса")
    tab.shot("overview-ru")
    # The choice is remembered: the next page is Russian without ?lang.
    tab.page.click("nav a[data-nav='scorecard']")
    wait_ready(tab, "#scorecard")
    assert tab.page.inner_text("h1") == "Показатели и цели"
    assert tab.errors == []


def test_login_with_a_one_time_password(browser: Any, server: Server) -> None:
    _, one_time = server.store.add_user("newbie", "analyst", actor="test")
    context = browser.new_context(base_url=server.base, locale="en-GB")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/scorecard?period=2026-10")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("#login-name", "newbie")
    page.fill("#login-password", "wrong password!")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-error:not([hidden])")
    page.fill("#login-password", one_time)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#change-form:not([hidden])")
    page.fill("#change-new", "a brand new passphrase")
    page.fill("#change-repeat", "a brand new passphrase")
    page.click("#change-form button[type=submit]")
    page.wait_for_url(re.compile(r"/scorecard\?period=2026-10"))
    page.wait_for_selector("#scorecard[aria-busy='false']", state="attached", timeout=30_000)
    page.click("#ck-logout")
    page.wait_for_url(re.compile(r"/login$"))
    page.goto("/overview")
    page.wait_for_url(re.compile(r"/login\?next="))
    assert errors == []
    context.close()
