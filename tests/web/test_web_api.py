"""The dashboard's JSON and export routes with TestClient (no browser): scope checks and
their 4xx, the numbers against the KPI engine, CSV and XLSX exports, the pages' redirects,
the Content-Security-Policy, the message catalogs and the vendored chart library."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient

from callkpi.demo import build_demo
from callkpi.goals.periods import parse_period
from callkpi.goals.scorecard import build_scorecard
from callkpi.goals.targets import import_file
from callkpi.server.app import create_app
from callkpi.server.auth import AuthStore
from callkpi.server.web.routes import PAGES
from callkpi.store import Warehouse

PASSWORD = "correct horse battery staple"
WEB = Path(__file__).resolve().parents[2] / "src/callkpi/server/web"
TARGETS = Path(__file__).resolve().parents[2] / "src/callkpi/goals/examples/demo_targets.yaml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    root = tmp_path_factory.mktemp("web-api")
    wh = Warehouse(root / "demo.duckdb")
    build_demo(wh, days=2, seed=7, data_dir=root / "data")
    import_file(wh, TARGETS)
    yield wh
    wh.close()


@pytest.fixture
def app(demo: Warehouse, tmp_path: Path) -> Iterator[tuple[TestClient, AuthStore]]:
    store = AuthStore(tmp_path / "auth.sqlite")
    application = create_app(demo, auth=store, tz="Europe/Moscow", spool_dir=tmp_path / "spool")
    with TestClient(application, raise_server_exceptions=False) as client:
        yield client, store


@pytest.fixture
def as_user(app: tuple[TestClient, AuthStore],
            token_headers: Callable[..., dict[str, str]]) -> Callable[..., dict[str, str]]:
    _, store = app

    def make(name: str, role: str, **scope: list[str]) -> dict[str, str]:
        return token_headers(store, name, role, **scope)

    return make


def test_scorecard_in_a_clients_scope_is_its_tenants(
    app: tuple[TestClient, AuthStore], as_user: Callable[..., dict[str, str]], demo: Warehouse
) -> None:
    client, _ = app
    nord = as_user("nord", "client", tenant=["nordbank"])
    got = client.get("/api/scorecard", params={"period": "2026-10"}, headers=nord)
    assert got.status_code == 200, got.text
    data = got.json()
    assert data["where"] == {"tenant": "nordbank"}
    expected = build_scorecard(demo, parse_period("2026-10"), tz="Europe/Moscow",
                               where=[("tenant", "nordbank")])
    assert [(r["kpi"], r["actual"]) for r in data["rows"]] == [
        (r["kpi"], r["actual"]) for r in expected.rows]
    center = build_scorecard(demo, parse_period("2026-10"), tz="Europe/Moscow")
    assert {r["kpi"]: r["actual"] for r in data["rows"]}["service_level"] != {
        r["kpi"]: r["actual"] for r in center.rows}["service_level"]
    # Whatever cannot be limited to the tenant is listed as skipped, never shown unfiltered.
    assert not set(data["skipped"]) & {r["kpi"] for r in data["rows"]}
    for params, status, message in [
        ({"tenant": "telesfera"}, 403, "tenant=telesfera: outside your scope"),
        ({"by": "room"}, 400, "by 'room': expected one of"),
        ({"period": "2026-13"}, 400, "period '2026-13'"),
        ({"format": "pdf"}, 422, "format"),
    ]:
        bad = client.get("/api/scorecard", params=params, headers=nord)
        assert bad.status_code == status, bad.text
        assert message in bad.json()["detail"]
    assert client.get("/api/scorecard").status_code == 401


def test_several_tenants_must_choose_one(
    app: tuple[TestClient, AuthStore], as_user: Callable[..., dict[str, str]]
) -> None:
    client, _ = app
    duo = as_user("duo", "manager", tenant=["nordbank", "telesfera"])
    both = client.get("/api/overview", headers=duo)
    assert both.status_code == 400
    assert "several tenant values" in both.json()["detail"]
    one = client.get("/api/overview", params={"tenant": "telesfera"}, headers=duo)
    assert one.status_code == 200 and one.json()["where"] == {"tenant": "telesfera"}
    options = client.get("/api/filters", headers=duo).json()
    assert options["dimensions"]["tenant"] == {"values": ["nordbank", "telesfera"], "all": False}
    assert "retail_orders" not in options["dimensions"]["queue"]["values"]


def test_overview_equals_the_kpi_api(
    app: tuple[TestClient, AuthStore], as_user: Callable[..., dict[str, str]]
) -> None:
    client, _ = app
    admin = as_user("root", "admin")
    data = client.get("/api/overview", params={"period": "2026-10-30", "team": "bank_kzn"},
                      headers=admin).json()
    tiles = {t["kpi"]: t for t in data["tiles"]}
    kpi = client.get("/api/kpi", headers=admin, params={
        "kpis": ",".join(tiles), "tz": "Europe/Moscow", "from": "2026-10-30",
        "to": "2026-10-31", "where": "team=bank_kzn"}).json()[0]
    for kpi_id, tile in tiles.items():
        assert tile["value"] == pytest.approx(kpi[kpi_id]), kpi_id
        assert tile["series"] == [["2026-10-30", pytest.approx(kpi[kpi_id])]]
    assert data["period"] == "2026-10-30"
    # Conversion has no team (leads belong to campaigns): not shown for a team.
    assert "conversion_rate" in data["unavailable"]


def test_exports_csv_and_xlsx(
    app: tuple[TestClient, AuthStore], as_user: Callable[..., dict[str, str]]
) -> None:
    client, _ = app
    admin = as_user("root", "admin")
    card = client.get("/api/scorecard", params={"period": "2026-10", "by": "team"},
                      headers=admin).json()
    text = client.get("/api/scorecard", params={"period": "2026-10", "by": "team",
                                                "format": "csv"}, headers=admin)
    assert text.headers["content-type"].startswith("text/csv")
    assert 'filename="scorecard-2026-10.csv"' in text.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(text.content.decode("utf-8-sig"))))
    assert len(rows) == len(card["rows"])
    assert [(r["team"], r["kpi"]) for r in rows] == [(r["team"], r["kpi"]) for r in card["rows"]]
    book = client.get("/api/overview", params={"period": "2026-10", "format": "xlsx"},
                      headers=admin)
    assert book.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    values = list(sheet.iter_rows(values_only=True))
    overview = client.get("/api/overview", params={"period": "2026-10"}, headers=admin).json()
    assert values[0][:4] == ("kpi", "name", "unit", "value")
    assert [(v[0], v[3]) for v in values[1:]] == [
        (t["kpi"], pytest.approx(t["value"])) for t in overview["tiles"]]
    board = client.get("/api/wallboard", params={"format": "csv"}, headers=admin)
    assert board.status_code == 200
    assert board.content.decode("utf-8-sig").startswith("tenant,queue,waiting,longest_wait_s")


def test_pages_need_a_session_and_send_a_strict_csp(
    app: tuple[TestClient, AuthStore],
) -> None:
    client, store = app
    for path in ("/overview", "/scorecard", "/wallboard"):
        page = client.get(path + "?period=2026-10", follow_redirects=False)
        assert page.status_code == 303
        here = path.replace("/", "%2F")
        assert page.headers["location"] == f"/login?next={here}%3Fperiod%3D2026-10"
    assert client.get("/", follow_redirects=False).headers["location"] == "/overview"
    _, one_time = store.add_user("fresh", "analyst", actor="test")
    login = client.post("/api/login", json={"name": "fresh", "password": one_time})
    assert login.status_code == 200
    # A one-time password still to change: back to the login page, which asks for it.
    assert client.get("/overview", follow_redirects=False).status_code == 303
    form = client.get("/login")
    boot = json.loads(re.search(r'id="ck-boot">(.*?)</script>', form.text).group(1))  # type: ignore[union-attr]
    assert boot["user"]["must_change_password"] is True
    client.post("/api/me/password", json={"old": one_time, "new": PASSWORD})
    page = client.get("/overview")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "unsafe" not in csp
    assert "http" not in re.sub(r"https?://www\.w3\.org", "", page.text)  # nothing from a CDN
    ru = client.get("/overview?lang=ru")
    assert '<html lang="ru">' in ru.text and "Обзор" in ru.text
    assert ru.cookies.get("callkpi_lang") == "ru" or "callkpi_lang=ru" in ru.headers.get(
        "set-cookie", "")
    assert client.get("/static/vendor/echarts/echarts.min.js").status_code == 200


def test_message_catalogs_have_the_same_keys_and_every_label_used() -> None:
    en = json.loads((WEB / "messages/en.json").read_text("utf-8"))
    ru = json.loads((WEB / "messages/ru.json").read_text("utf-8"))
    assert set(en) == set(ru)
    assert all(ru[k].strip() for k in ru)
    used: set[str] = set()
    pattern = re.compile(r"""\bt\[['"]([\w. ]+)['"]\]|\bt\(['"]([\w. ]+)['"]""")
    for path in [*(WEB / "templates").glob("*.html"), *(WEB / "static").glob("*.js")]:
        used |= {a or b for a, b in pattern.findall(path.read_text("utf-8"))}
    assert {"overview.title", "wb.waiting", "login.change_title"} <= used
    used |= {key for _, _, key in PAGES}
    missing = {k for k in used if not k.endswith(".") and k not in en}
    assert not missing, missing


def test_the_chart_library_is_vendored_with_its_licence() -> None:
    vendor = WEB / "static/vendor/echarts"
    assert (vendor / "echarts.min.js").stat().st_size > 500_000
    assert "Apache License" in (vendor / "LICENSE").read_text("utf-8")
    assert "Apache ECharts" in (vendor / "NOTICE").read_text("utf-8")


def test_the_kpi_table_route_is_the_engines_in_the_scope(
    app: tuple[TestClient, AuthStore], as_user: Callable[..., dict[str, str]]
) -> None:
    client, _ = app
    nord = as_user("nord", "client", tenant=["nordbank"])
    got = client.get("/api/table", params={"period": "2026-10", "kpis": "offered,service_level,"
                                           "ivr_containment", "by": "queue"}, headers=nord)
    assert got.status_code == 200, got.text
    data = got.json()
    assert data["where"] == {"tenant": "nordbank"}
    assert data["unavailable"] == ["ivr_containment"]  # IVR steps have no tenant
    api = client.get("/api/kpi", params={"kpis": "offered,service_level", "by": "queue",
                                         "tz": "Europe/Moscow", "from": "2026-10-01",
                                         "to": "2026-11-01"}, headers=nord).json()
    assert data["rows"] == api
    service = next(k for k in data["kpis"] if k["kpi"] == "service_level")
    assert (service["target"], service["benchmark"]["low"]) == (0.8, 0.8)
    vip = client.get("/api/table", params={"kpis": "service_level", "queue": "bank_vip"},
                     headers=nord).json()
    assert (vip["kpis"][0]["target"], vip["kpis"][0]["target_scope"]) == (0.9, "queue=bank_vip")
    text = client.get("/api/table", params={"kpis": "offered", "by": "queue", "format": "csv"},
                      headers=nord)
    rows = list(csv.DictReader(io.StringIO(text.content.decode("utf-8-sig"))))
    assert {r["queue"] for r in rows} == {"bank_cards", "bank_vip"}
    for params, status, message in [
        ({"tenant": "telesfera"}, 403, "outside your scope"),
        ({"kpis": "nope"}, 400, "unknown KPI"),
        ({"kpis": "offered", "by": "room"}, 400, "room"),
        ({"kpis": "offered", "grain": "fortnight"}, 400, "fortnight"),
        ({"kpis": ",".join(["offered"] * 13)}, 400, "at most"),
    ]:
        bad = client.get("/api/table", params=params, headers=nord)
        assert bad.status_code == status, bad.text
        assert message in bad.json()["detail"]
