"""The dashboard in Russian and its exports, in Debian's Chromium against a real
``callkpi serve`` on two demo days: the Russian scorecard shows the rules' Russian texts,
the insights' labels are translated, every table's CSV and Excel buttons download files
whose rows are the table's (parsed with ``csv`` and openpyxl), exports and the planning
page keep a client to its tenant, and every page is photographed at 1440x900 in English
and Russian (``test-artifacts/web/``) without an English label left on a Russian page."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml

from callkpi.goals.recommendations import builtin_rules

Tab = Any
Server = Any

WEB = Path(__file__).resolve().parents[2] / "src/callkpi/server/web"
BENCHMARKS = Path(__file__).resolve().parents[2] / "src/callkpi/kpi/catalog/benchmarks.yaml"
EN = json.loads((WEB / "messages/en.json").read_text("utf-8"))
RU = json.loads((WEB / "messages/ru.json").read_text("utf-8"))
PERIOD = "2026-10"
READY = {"overview": "#tiles", "scorecard": "#scorecard", "trends": "#trend-panel",
         "agents": "#board-panel", "queues": "#queues", "sales": "#sales",
         "planning": "#planning"}
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


def wait_ready(tab: Tab, selector: str) -> None:
    tab.page.wait_for_selector(f"{selector}[aria-busy='false']", state="attached",
                               timeout=60_000)


def number(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def download(tab: Tab, selector: str) -> tuple[str, bytes]:
    """Click an export button; the file's name and bytes."""
    with tab.page.expect_download(timeout=60_000) as caught:
        tab.page.click(selector)
    found = caught.value
    path = found.path()
    assert path is not None, found.failure()
    return found.suggested_filename, Path(path).read_bytes()


def read_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # a byte-order mark, for Excel and Cyrillic
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def read_xlsx(body: bytes) -> tuple[list[str], list[dict[str, Any]], Any]:
    sheet = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(c) for c in rows[0]]
    return header, [dict(zip(header, r, strict=True)) for r in rows[1:]], sheet


# -- the message catalogs ------------------------------------------------------------------


def test_the_catalogs_carry_every_shipped_rule_and_benchmark_source() -> None:
    # The English of the catalog is the rule library's own text (checked, never drifting);
    # the Russian is a translation of it.
    for rule in builtin_rules():
        assert EN[f"rule.{rule.id}"] == " ".join(rule.action.split()), rule.id
        russian = RU[f"rule.{rule.id}"]
        assert CYRILLIC.search(russian) and russian != EN[f"rule.{rule.id}"], rule.id
    sources: dict[str, set[str]] = {}
    for item in yaml.safe_load(BENCHMARKS.read_text("utf-8"))["benchmarks"]:
        sources.setdefault(item["kpi"], set()).add(item["source"])
    for kpi, texts in sources.items():
        assert texts == {EN[f"benchmark.{kpi}"]}, kpi
        assert CYRILLIC.search(RU[f"benchmark.{kpi}"]), kpi
    # Each insight quadrant of callkpi.insights has its label and advice in both languages.
    from callkpi.insights.aht_transfers import QUADRANTS as AHT_TRANSFERS
    from callkpi.insights.availability import QUADRANTS as AVAILABILITY

    for analysis, quadrants in (("aht-transfers", AHT_TRANSFERS), ("availability", AVAILABILITY)):
        for (first, second), (label, advice) in quadrants.items():
            key = (f"insight.{analysis}.{'high' if first else 'low'}."
                   f"{'high' if second else 'low'}")
            assert (EN[key], EN[key + ".advice"]) == (label, advice), key
            assert CYRILLIC.search(RU[key]) and CYRILLIC.search(RU[key + ".advice"]), key


# -- Russian -------------------------------------------------------------------------------


def test_the_russian_scorecard_shows_the_rules_in_russian(open_as: Callable[..., Tab],
                                                          server: Server) -> None:
    tab = open_as("boss", f"/scorecard?period={PERIOD}&lang=ru", locale="ru-RU")
    wait_ready(tab, "#scorecard")
    api = server.api("boss", "/api/scorecard", period=PERIOD)
    fired = list(dict.fromkeys(r["rule"] for r in api["recommendations"]))
    assert len(fired) >= 2, fired  # the demo month fires some rules
    advice = tab.page.eval_on_selector_all(
        "#advice-list li", "ls => ls.map(l => [l.dataset.rule, l.firstChild.textContent])")
    assert [rule for rule, _ in advice] == fired
    for rule, text in advice:
        assert text.strip() == RU[f"rule.{rule}"]
    # In the table, each KPI's row lists the Russian texts of the rules that fired on it.
    cells = tab.page.eval_on_selector_all(
        "#scorecard-body tr", "rs => rs.map(r => [r.dataset.kpi, Array.from("
        "r.querySelectorAll('td:last-child li')).map(l => [l.dataset.rule, l.textContent])])")
    expected = {row["kpi"]: [r["rule"] for r in api["recommendations"] if row["kpi"] in r["kpis"]]
                for row in api["rows"]}
    assert any(expected.values())
    for kpi, items in cells:
        assert [rule for rule, _ in items] == expected[kpi], kpi
        assert all(text == RU[f"rule.{rule}"] for rule, text in items), kpi
    body = tab.page.inner_text("main")
    for r in api["recommendations"]:
        assert r["action"] not in body  # no English text left
    tab.shot("scorecard-ru-recommendations")
    assert tab.errors == []


def test_the_russian_agents_page_translates_the_insights(open_as: Callable[..., Tab],
                                                         server: Server) -> None:
    tab = open_as("boss", f"/agents?period={PERIOD}&lang=ru", locale="ru-RU")
    wait_ready(tab, "#quadrant-panel")
    api = server.api("boss", "/api/insights/aht-transfers", period=PERIOD, tz="Europe/Moscow")
    english = {v for k, v in EN.items() if k.startswith("insight.aht-transfers.")}
    russian = {EN[k]: RU[k] for k in EN if k.startswith("insight.aht-transfers.")}
    rows = tab.page.eval_on_selector_all(
        "#quadrant-table tbody tr", "rs => rs.map(r => [r.dataset.agent,"
        " r.querySelector('td[data-key=quadrant]').textContent,"
        " r.querySelector('td[data-key=advice]').textContent])")
    assert [a for a, _, _ in rows] == [r["agent"] for r in api["rows"]]
    for (agent, quadrant, advice), row in zip(rows, api["rows"], strict=True):
        if row["quadrant"] is None:
            assert quadrant == advice == "", agent
            continue
        assert quadrant == russian[row["quadrant"]] and quadrant not in english, agent
        # Advice texts repeat between the two analyses ("fine"): by the quadrant's key.
        assert CYRILLIC.search(advice), agent
    legend = tab.page.evaluate(
        "() => window.ckCharts.find(c => c.ckKey === 'aht-transfers')"
        ".getOption().series.map(s => s.name)")
    assert legend and all(CYRILLIC.search(name) for name in legend), legend
    notes = tab.page.eval_on_selector_all(
        "#quadrant-table td[data-key=note], #availability-table td[data-key=note]",
        "tds => tds.map(td => td.textContent).filter(Boolean)")
    assert notes and all(CYRILLIC.search(n) and "within noise" not in n for n in notes), notes
    assert tab.errors == []


# -- exports ------------------------------------------------------------------------------


def test_an_insight_tables_csv_and_excel_are_its_rows(open_as: Callable[..., Tab],
                                                      server: Server) -> None:
    tab = open_as("boss", f"/agents?period={PERIOD}")
    wait_ready(tab, "#quadrant-panel")
    shown = tab.page.eval_on_selector_all(
        "#quadrant-table tbody tr", "rs => rs.map(r => [r.dataset.agent,"
        " ...['answered', 'aht', 'transfer_rate'].map(k =>"
        " r.querySelector(`td[data-key=${k}]`).dataset.value)])")
    assert len(shown) >= 20
    api = server.api("boss", "/api/insights/aht-transfers", period=PERIOD, tz="Europe/Moscow")
    name, body = download(tab, "[data-exports='aht-transfers'] [data-export-local='csv']")
    assert name == f"aht-transfers-{PERIOD}.csv"
    rows = read_csv(body)
    assert list(rows[0]) == api["columns"]
    assert [[r["agent"], number(r["answered"]), number(r["aht"]), number(r["transfer_rate"])]
            for r in rows] == [[a, number(n), number(h), number(t)] for a, n, h, t in shown]
    assert [r["quadrant"] for r in rows] == [r["quadrant"] or "" for r in api["rows"]]
    name, body = download(tab, "[data-exports='aht-transfers'] [data-export-local='xlsx']")
    assert name == f"aht-transfers-{PERIOD}.xlsx"
    header, book, sheet = read_xlsx(body)
    assert header == api["columns"]
    assert [[r["agent"], r["answered"], r["aht"], r["transfer_rate"]] for r in book] == [
        [a, number(n), number(h), number(t)] for a, n, h, t in shown]
    assert [r["note"] for r in book] == [r["note"] for r in api["rows"]]
    column = header.index("transfer_rate") + 1
    assert sheet.cell(row=2, column=column).number_format == "0.0%"  # a real number
    assert tab.errors == []


def test_the_plans_tables_export_their_rows(open_as: Callable[..., Tab]) -> None:
    tab = open_as("boss", f"/planning?period={PERIOD}")
    wait_ready(tab, "#planning")
    totals = tab.page.eval_on_selector_all(
        "#totals-table tbody tr", "rs => rs.map(r => [r.dataset.queue, r.dataset.day,"
        " ...['calls', 'required_hours', 'scheduled_hours', 'gap_hours', 'peak_agents'].map("
        "k => r.querySelector(`td[data-key=${k}]`).dataset.value)])")
    assert len(totals) >= 4
    _, body = download(tab, "[data-exports='plan-totals'] [data-export-local='csv']")
    rows = read_csv(body)
    keys = ["calls", "required_hours", "scheduled_hours", "gap_hours", "peak_agents"]
    assert [[r["queue"], r["day"], *(number(r[k]) for k in keys)] for r in rows] == [
        [q, d, *(number(v) for v in values)] for q, d, *values in totals]
    queue = tab.page.input_value("#f-pq")
    slots = tab.page.eval_on_selector_all(
        "#intervals-table tbody tr", "rs => rs.map(r => [r.dataset.slot,"
        " ...['calls', 'agents', 'scheduled', 'gap'].map(k =>"
        " r.querySelector(`td[data-key=${k}]`).dataset.value)])")
    assert len(slots) >= 48
    _, body = download(tab, "[data-exports='plan-intervals'] [data-export-local='xlsx']")
    header, book, _ = read_xlsx(body)
    assert {"queue", "slot_start", "agents", "scheduled", "gap"} <= set(header)
    assert {r["queue"] for r in book} == {queue}
    assert [[r["slot_start"], r["calls"], r["agents"], r["scheduled"], r["gap"]]
            for r in book] == [[s, *(number(v) for v in values)] for s, *values in slots]
    assert tab.errors == []


def test_a_table_of_a_route_exports_through_it(open_as: Callable[..., Tab],
                                               server: Server) -> None:
    tab = open_as("boss", f"/queues?period={PERIOD}")
    wait_ready(tab, "#queues")
    name, body = download(tab, "[data-exports='ivr'] a[data-export='csv']")
    assert name.endswith(".csv")
    api = server.api("boss", "/api/table", period=PERIOD, kpis="ivr_option_share",
                     by="node,option")
    rows = read_csv(body)
    assert [[r["node"], r["option"], number(r["ivr_option_share"])] for r in rows] == [
        [r["node"], r["option"], r["ivr_option_share"]] for r in api["rows"]]
    _, body = download(tab, "[data-exports='waits'] a[data-export='xlsx']")
    _, book, _ = read_xlsx(body)
    waits = server.api("boss", "/api/table", period=PERIOD, by="queue",
                       kpis="offered,avg_wait,avg_abandon_wait")
    assert [r["queue"] for r in book] == [r["queue"] for r in waits["rows"]]
    assert [r["avg_wait"] for r in book] == pytest.approx([r["avg_wait"] for r in waits["rows"]])
    assert tab.errors == []


# -- a client ------------------------------------------------------------------------------


def test_a_client_plans_only_its_tenants_queues(open_as: Callable[..., Tab],
                                                server: Server) -> None:
    tab = open_as("nord", f"/planning?period={PERIOD}")
    wait_ready(tab, "#planning")
    assert tab.page.locator("#plan-scope").is_hidden()  # a client may plan its queues
    mine = server.api("nord", "/api/table", period=PERIOD, kpis="offered", by="queue")
    queues = sorted(r["queue"] for r in mine["rows"] if r["offered"] and r["queue"])
    everyone = server.api("boss", "/api/table", period=PERIOD, kpis="offered", by="queue")
    others = {r["queue"] for r in everyone["rows"] if r["queue"]} - set(queues)
    assert queues == ["bank_cards", "bank_vip"] and others
    assert sorted(tab.page.eval_on_selector_all("#f-pq option", "os => os.map(o => o.value)")) \
        == queues
    plan = server.api("nord", "/api/plan", queue=queues, tz="Europe/Moscow", horizon_days=2)
    totals = tab.page.eval_on_selector_all(
        "#totals-table tbody tr", "rs => rs.map(r => [r.dataset.queue, r.dataset.day,"
        " r.querySelector('td[data-key=calls]').dataset.value,"
        " r.querySelector('td[data-key=required_hours]').dataset.value])")
    assert [[q, d, number(c), number(h)] for q, d, c, h in totals] == [
        [r["queue"], r["day"], r["calls"], r["required_hours"]]
        for r in plan["totals"] if r["day"] is not None]
    assert {q for q, *_ in totals} == set(queues)
    series = tab.page.evaluate(
        "() => window.ckCharts.find(c => c.ckKey === 'forecast').getOption().series"
        ".map(s => s.name)")
    assert len(series) == len(queues) + 1  # a forecast per queue, and the actual calls
    text = tab.page.inner_text("main")
    assert not [q for q in others if q in text]
    # The actual calls per interval are the client's (the API's in its scope).
    actual = server.api("nord", "/api/table", period=PERIOD, kpis="offered", grain="30min")
    drawn = tab.page.evaluate(
        "() => window.ckCharts.find(c => c.ckKey === 'forecast').getOption().series.at(-1)"
        ".data.filter(v => v !== null)")
    assert sum(drawn) == sum(r["offered"] for r in actual["rows"]) < sum(
        r["offered"] for r in everyone["rows"])
    tab.shot("planning-client")
    assert tab.errors == []


def test_a_client_sees_nothing_of_another_tenant_on_agents_and_sales(
        open_as: Callable[..., Tab], server: Server) -> None:
    theirs = server.api("boss", "/api/table", period=PERIOD, kpis="answered", by="agent",
                        tenant="telesfera")
    ours = server.api("boss", "/api/table", period=PERIOD, kpis="answered", by="agent",
                      tenant="nordbank")
    only_theirs = ({r["agent"] for r in theirs["rows"] if r["answered"]}
                   - {r["agent"] for r in ours["rows"]})
    assert only_theirs
    agents = open_as("nord", f"/agents?period={PERIOD}")
    wait_ready(agents, "#board-panel")
    shown = agents.page.eval_on_selector_all("#board tbody tr",
                                             "rs => rs.map(r => r.dataset.agent)")
    mine = server.api("nord", "/api/table", period=PERIOD, by="agent", samples="true",
                      kpis="answered,aht,fcr,transfer_rate,agent_answer_rate,availability,occupancy")
    assert sorted(shown) == sorted(r["agent"] for r in mine["rows"])
    assert not set(shown) & only_theirs
    assert agents.page.locator("#insight-tables").is_hidden()
    # The leaderboard's export is the route's in the client's scope.
    _, body = download(agents, "[data-exports='leaderboard'] a[data-export='csv']")
    assert sorted(r["agent"] for r in read_csv(body)) == sorted(shown)
    sales = open_as("nord", f"/sales?period={PERIOD}")
    wait_ready(sales, "#sales")
    campaigns = sales.page.eval_on_selector_all(
        "#campaign-table tbody tr", "rs => rs.map(r => r.dataset.campaign)")
    nord_campaigns = server.api("nord", "/api/table", period=PERIOD, kpis="leads_handled",
                                by="campaign")
    assert sorted(campaigns) == sorted(r["campaign"] or "" for r in nord_campaigns["rows"])
    other = server.api("boss", "/api/table", period=PERIOD, kpis="leads_handled",
                       by="campaign", tenant="telesfera")
    their_campaigns = {r["campaign"] for r in other["rows"] if r["campaign"]}
    assert their_campaigns
    text = sales.page.inner_text("main")
    assert not [c for c in their_campaigns if c in text]
    assert sales.page.locator("#cac-wrap").is_hidden()
    _, body = download(sales, "[data-exports='campaigns'] a[data-export='xlsx']")
    _, book, _ = read_xlsx(body)
    assert sorted(r["campaign"] or "" for r in book) == sorted(campaigns)
    _, body = download(sales, "[data-exports='best-time'] a[data-export='csv']")
    best = server.api("nord", "/api/table", period=PERIOD, kpis="connect_rate",
                      by="hour_of_day,weekday")
    assert [number(r["connect_rate"]) for r in read_csv(body)] == [
        r["connect_rate"] for r in best["rows"]]
    agents.shot("agents-client-scope")
    sales.shot("sales-client")
    assert agents.errors == [] and sales.errors == []


# -- every page, photographed in both languages -------------------------------------------


def _texts(tab: Tab) -> list[str]:
    """Every piece of text the page shows (text nodes and the choices of its selects)."""
    return tab.page.evaluate(
        """() => {
          const out = [];
          const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          for (let n = walk.nextNode(); n; n = walk.nextNode()) {
            const box = n.parentElement;
            // Labels only: not the data (a target's owner is whatever the user typed).
            const skip = '[hidden], script, style, option, td[data-key=owner]';
            if (!box || box.closest(skip)) continue;
            const text = n.textContent.trim();
            if (text) out.push(text);
          }
          document.querySelectorAll('select option').forEach(o => out.push(o.textContent.trim()));
          return out;
        }""")


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_page_photographed_and_nothing_left_in_english(
        open_as: Callable[..., Tab], lang: str) -> None:
    english = {v for k, v in EN.items() if RU[k] != v and len(v) > 3}
    for name in [*READY, "wallboard", "login"]:
        tab = open_as(None if name == "login" else "boss", f"/{name}?period={PERIOD}&lang={lang}",
                      locale="ru-RU" if lang == "ru" else "en-GB", width=1440, height=900)
        if name == "login":
            tab.page.wait_for_selector("#login-form")
        elif name == "wallboard":
            tab.page.wait_for_selector("#wb-grid[data-version]", state="attached",
                                       timeout=60_000)
        else:
            wait_ready(tab, READY[name])
        tab.page.wait_for_load_state("networkidle")
        tab.shot(f"page-{name}-{lang}")
        # Nothing sticks out sideways (cut off at 1440 pixels).
        assert tab.page.evaluate("document.documentElement.scrollWidth") <= 1440, name
        if lang == "ru":
            left = [text for text in _texts(tab) if text in english]
            assert not left, (name, left)
        assert tab.errors == [], (name, tab.errors)
        tab.page.context.close()


def test_a_refusal_in_russian(open_as: Callable[..., Tab]) -> None:
    tab = open_as("nord", f"/scorecard?period={PERIOD}&tenant=telesfera&lang=ru", locale="ru-RU")
    tab.page.wait_for_selector("#ck-error:not([hidden])", timeout=60_000)
    assert tab.page.inner_text("#ck-error") == (
        "Не удалось загрузить данные: Клиент telesfera: вне вашей области доступа")
    assert tab.page.locator("#scorecard-body tr").count() == 0
