"""The pages' answers are kept per data version: a repeat request gets the same answer
without computing it again; new data (posted events) or a changed target shows at once,
with the numbers a cache-less computation gives; and a kept answer never reaches a caller
of another scope."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callkpi.demo import build_demo
from callkpi.server.app import create_app
from callkpi.server.auth import AuthStore
from callkpi.server.web.cache import AnswerCache, data_version
from callkpi.store import Warehouse

PERIOD = "2026-11"


@pytest.fixture
def served(wh: Warehouse, tmp_path: Path) -> Iterator[tuple[TestClient, AuthStore]]:
    store = AuthStore(tmp_path / "auth.sqlite")
    with TestClient(create_app(wh, auth=store, spool_dir=tmp_path / "spool")) as c:
        yield c, store


def _abandoned(call_id: str, queue: str, minute: int = 0) -> list[dict[str, object]]:
    at = dt.datetime(2026, 11, 2, 9, minute, tzinfo=dt.UTC)
    return [{"type": "call_entered", "at": at.isoformat(), "call_id": call_id, "queue": queue},
            {"type": "call_abandoned", "at": (at + dt.timedelta(seconds=30)).isoformat(),
             "call_id": call_id, "queue": queue}]


def _post(c: TestClient, headers: dict[str, str], tenant: str,
          calls: list[tuple[str, str]]) -> None:
    events = [e for i, (call_id, queue) in enumerate(calls)
              for e in _abandoned(call_id, queue, i)]
    got = c.post("/api/events", headers=headers, json={"tenant": tenant, "events": events})
    assert got.status_code == 200, got.text


def _tile(body: dict[str, Any], kpi: str) -> dict[str, Any]:
    return next(t for t in body["tiles"] if t["kpi"] == kpi)


def test_a_repeat_request_is_answered_from_the_cache(
    served: tuple[TestClient, AuthStore], token_headers: Callable[..., dict[str, str]]
) -> None:
    c, store = served
    admin = token_headers(store, "root", "admin")
    _post(c, admin, "acme", [("a1", "q1"), ("a2", "q1"), ("a3", "q2")])
    answers: AnswerCache = c.app.state.page_answers  # type: ignore[attr-defined]
    urls = [f"/api/overview?period={PERIOD}", f"/api/scorecard?period={PERIOD}",
            f"/api/table?period={PERIOD}&kpis=offered,abandon_rate&by=queue"]
    first = [c.get(u, headers=admin) for u in urls]
    assert all(r.status_code == 200 for r in first), [r.text for r in first]
    misses, hits = answers.misses, answers.hits
    second = [c.get(u, headers=admin) for u in urls]
    assert [r.content for r in second] == [r.content for r in first]
    assert answers.misses == misses  # nothing computed again
    assert answers.hits >= hits + len(urls)
    assert _tile(first[0].json(), "offered")["value"] == 3
    rows = {r["queue"]: r for r in first[2].json()["rows"]}
    assert (rows["q1"]["offered"], rows["q2"]["offered"]) == (2, 1)


def test_new_data_and_new_targets_show_at_once(
    served: tuple[TestClient, AuthStore], token_headers: Callable[..., dict[str, str]]
) -> None:
    c, store = served
    admin = token_headers(store, "root", "admin")
    _post(c, admin, "acme", [("a1", "q1"), ("a2", "q1")])

    def overview() -> dict[str, Any]:
        got = c.get(f"/api/overview?period={PERIOD}", headers=admin)
        assert got.status_code == 200, got.text
        return dict(got.json())

    def queue_table() -> dict[str, int]:
        got = c.get(f"/api/table?period={PERIOD}&kpis=offered&by=queue", headers=admin)
        assert got.status_code == 200, got.text
        return {r["queue"]: r["offered"] for r in got.json()["rows"]}

    assert _tile(overview(), "offered")["value"] == 2
    assert queue_table() == {"q1": 2}
    _post(c, admin, "acme", [("a3", "q1"), ("a4", "q3"), ("a5", "q3")])
    assert _tile(overview(), "offered")["value"] == 5  # 2 + 3 new calls
    assert queue_table() == {"q1": 3, "q3": 2}

    # A target changes no data batch: the answers follow it all the same. Every call
    # abandoned: abandon rate 1.0 (lower is better).
    assert _tile(overview(), "abandon_rate")["target"] is None
    put = c.put("/api/targets", headers=admin, json={"targets": [
        {"kpi": "abandon_rate", "target": 0.5, "period": PERIOD}]})
    assert put.status_code == 200, put.text
    tile = _tile(overview(), "abandon_rate")
    assert (tile["value"], tile["target"], tile["deviation"], tile["status"]) == (
        1.0, 0.5, 1.0, "critical")  # (1.0 - 0.5) / 0.5
    card = c.get(f"/api/scorecard?period={PERIOD}", headers=admin).json()
    assert [(r["kpi"], r["target"], r["status"]) for r in card["rows"]] == [
        ("abandon_rate", 0.5, "critical")]
    c.put("/api/targets", headers=admin, json={"targets": [
        {"kpi": "abandon_rate", "target": 2.0, "period": PERIOD}]})
    tile = _tile(overview(), "abandon_rate")
    assert (tile["target"], tile["deviation"], tile["status"]) == (2.0, -0.5, "on track")
    assert c.delete("/api/targets", headers=admin, params={
        "kpi": "abandon_rate", "period": PERIOD}).status_code == 200
    assert _tile(overview(), "abandon_rate")["target"] is None


def test_a_kept_answer_never_reaches_another_scope(
    served: tuple[TestClient, AuthStore], token_headers: Callable[..., dict[str, str]]
) -> None:
    c, store = served
    admin = token_headers(store, "root", "admin")
    acme = token_headers(store, "ac", "client", tenant=["acme"])
    beta = token_headers(store, "be", "client", tenant=["beta"])
    _post(c, admin, "acme", [("a1", "q_acme"), ("a2", "q_acme")])
    _post(c, admin, "beta", [("b1", "q_beta"), ("b2", "q_beta"), ("b3", "q_beta")])

    def offered(headers: dict[str, str], **filters: str) -> Any:
        got = c.get("/api/overview", headers=headers, params={"period": PERIOD, **filters})
        return _tile(got.json(), "offered")["value"] if got.status_code == 200 \
            else got.status_code

    def queues(headers: dict[str, str]) -> list[str]:
        got = c.get("/api/table", headers=headers,
                    params={"period": PERIOD, "kpis": "offered", "by": "queue"})
        assert got.status_code == 200, got.text
        return [r["queue"] for r in got.json()["rows"]]

    # Each order: the first caller's answer is kept, the other still gets its own.
    assert offered(acme) == 2
    assert offered(beta) == 3
    assert offered(admin) == 5
    assert offered(admin, tenant="beta") == 3
    assert offered(acme) == 2 and offered(beta) == 3
    assert queues(beta) == ["q_beta"]
    assert queues(acme) == ["q_acme"]
    assert queues(admin) == ["q_acme", "q_beta"]
    # The admin's kept answer for tenant=beta is no way around the scope check.
    assert offered(acme, tenant="beta") == 403
    card = c.get("/api/scorecard", headers=acme, params={"period": PERIOD, "tenant": "beta"})
    assert card.status_code == 403


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    root = tmp_path_factory.mktemp("page-cache-demo")
    wh = Warehouse(root / "demo.duckdb")
    build_demo(wh, days=2, seed=7, data_dir=root / "data")
    yield wh
    wh.close()


def test_plans_follow_new_data_and_scopes(
    demo: Warehouse, tmp_path: Path, token_headers: Callable[..., dict[str, str]]
) -> None:
    store = AuthStore(tmp_path / "auth.sqlite")
    params = {"tz": "Europe/Moscow", "horizon_days": 1}
    with TestClient(create_app(demo, auth=store, spool_dir=tmp_path / "spool")) as c:
        admin = token_headers(store, "root", "admin")
        bank = token_headers(store, "bank", "client", tenant=["nordbank"])
        answers: AnswerCache = c.app.state.ops_answers  # type: ignore[attr-defined]
        before = c.get("/api/plan", headers=admin, params=params)
        assert before.status_code == 200, before.text
        misses = answers.misses
        assert c.get("/api/plan", headers=admin, params=params).content == before.content
        assert answers.misses == misses
        # The bank's client gets the plan of its own queues, not the admin's kept one.
        mine = c.get("/api/plan", headers=bank, params=params).json()
        assert {r["queue"] for r in mine["rows"]} == {"bank_cards", "bank_vip"}
        assert {r["queue"] for r in before.json()["rows"]} > {"bank_cards", "bank_vip"}
        # Forty more calls to bank_cards on the last day with calls, each waiting 30 s
        # and abandoning.
        last = demo.sql("SELECT max(entered_at) FROM calls")[0][0]
        at = last.replace(hour=7, minute=0, second=0, microsecond=0, tzinfo=dt.UTC)
        events = []
        for i in range(40):
            start = at + dt.timedelta(minutes=i)
            events += [{"type": "call_entered", "at": start.isoformat(), "call_id": f"n{i}",
                        "queue": "bank_cards"},
                       {"type": "call_abandoned", "call_id": f"n{i}", "queue": "bank_cards",
                        "at": (start + dt.timedelta(seconds=30)).isoformat()}]
        got = c.post("/api/events", headers=admin,
                     json={"tenant": "nordbank", "events": events})
        assert got.status_code == 200, got.text
        after = c.get("/api/plan", headers=admin, params=params)
        assert after.status_code == 200 and after.content != before.content
        mine_after = c.get("/api/plan", headers=bank, params=params).json()
        assert mine_after != mine
    # The new answers are those of a server that never kept anything.
    with TestClient(create_app(demo, auth=store, spool_dir=tmp_path / "spool2")) as fresh:
        assert fresh.get("/api/plan", headers=admin, params=params).json() == after.json()
        assert fresh.get("/api/plan", headers=bank, params=params).json() == mine_after


def test_the_data_version_changes_with_batches_and_targets(wh: Warehouse) -> None:
    from callkpi.goals.periods import parse_period
    from callkpi.goals.targets import TargetSpec, remove_target, set_targets

    first = data_version(wh)
    assert data_version(wh) == first  # reading changes nothing
    spec = TargetSpec(kpi="aht", target=300, period="2026-11")
    set_targets(wh, [spec])
    with_target = data_version(wh)
    assert with_target != first
    set_targets(wh, [spec])  # the same target again: nothing stored, nothing changed
    assert data_version(wh) == with_target
    set_targets(wh, [TargetSpec(kpi="aht", target=280, period="2026-11")])
    assert data_version(wh) not in (first, with_target)
    assert remove_target(wh, "aht", parse_period("2026-11"))
    assert data_version(wh) == first


def test_the_cache_is_bounded_copies_and_keeps_no_failure() -> None:
    cache = AnswerCache(size=2)
    calls: list[str] = []

    def compute(name: str) -> Callable[[], dict[str, list[str]]]:
        def run() -> dict[str, list[str]]:
            calls.append(name)
            return {"rows": [name]}
        return run

    assert cache.get("a", compute("a")) == {"rows": ["a"]}
    cache.get("a", compute("a"))["rows"].append("changed by a caller")
    assert cache.get("a", compute("a")) == {"rows": ["a"]}
    cache.get("b", compute("b"))
    cache.get("a", compute("a"))  # a is now the most recently used
    cache.get("c", compute("c"))  # b goes
    assert len(cache) == 2 and "b" not in cache and "a" in cache
    assert calls == ["a", "b", "c"]

    def fail() -> dict[str, list[str]]:
        raise ValueError("no")

    with pytest.raises(ValueError):
        cache.get("d", fail)
    assert "d" not in cache
    assert cache.get("d", compute("d")) == {"rows": ["d"]}


def test_the_warm_up_computes_answers_before_they_are_asked_for(
    wh: Warehouse, tmp_path: Path, token_headers: Callable[..., dict[str, str]],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLKPI_WARM_UP", "1")
    store = AuthStore(tmp_path / "auth.sqlite")
    app = create_app(wh, auth=store, spool_dir=tmp_path / "spool")
    warmer = app.state.warmer
    answers: AnswerCache = app.state.page_answers
    with TestClient(app) as c:
        admin = token_headers(store, "root", "admin")
        _post(c, admin, "acme", [("a1", "q1"), ("a2", "q1"), ("a3", "q2")])
        assert warmer.wait(120)  # the new data's default month, computed ahead
        assert c.get("/api/warm-up", headers=admin).json()["ready"] is True
        misses = answers.misses
        tiles = c.get("/api/overview", headers=admin).json()  # the default month: 2026-11
        assert tiles["period"] == PERIOD and _tile(tiles, "offered")["value"] == 3
        card = c.get("/api/scorecard", headers=admin, params={"period": PERIOD})
        assert card.status_code == 200
        assert answers.misses == misses  # both were kept before they were asked for
        table = f"/api/table?period={PERIOD}&kpis=offered,abandoned&by=queue"
        assert [r["offered"] for r in c.get(table, headers=admin).json()["rows"]] == [2, 1]
        assert answers.misses == misses + 1  # not a page's starting answer: computed now
        # New data: the recent request is computed again ahead of time, with the new data.
        _post(c, admin, "acme", [("a4", "q2"), ("a5", "q3")])
        assert warmer.wait(120)
        misses = answers.misses
        rows = c.get(table, headers=admin).json()["rows"]
        assert {r["queue"]: r["offered"] for r in rows} == {"q1": 2, "q2": 2, "q3": 1}
        assert answers.misses == misses
    assert warmer._thread is not None and not warmer._thread.is_alive()  # stops with the app


def test_no_warm_up_unless_asked(wh: Warehouse, tmp_path: Path,
                                 token_headers: Callable[..., dict[str, str]],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLKPI_WARM_UP", raising=False)
    store = AuthStore(tmp_path / "auth.sqlite")
    app = create_app(wh, auth=store, spool_dir=tmp_path / "spool")
    assert not hasattr(app.state, "warmer")
    with TestClient(app) as c:
        got = c.get("/api/warm-up", headers=token_headers(store, "root", "admin")).json()
        assert got == {"enabled": False, "ready": False, "runs": 0, "computed": 0}


@pytest.mark.parametrize("limits", [
    {}, {"tenant": ["nordbank"]}, {"tenant": ["nordbank", "telesfera"]},
    {"team": ["bank_kzn"]}])
def test_filter_choices_from_one_query_per_source_are_those_of_one_per_dimension(
    demo: Warehouse, limits: dict[str, list[str]]
) -> None:
    import threading

    from callkpi.kpi import KpiQuery, QueryError, builtin_catalog
    from callkpi.kpi.semantic import semantic_model
    from callkpi.server.auth import Scope
    from callkpi.server.scopes import ScopeChoice, ScopeError
    from callkpi.server.web import data

    engine = data.Engine(demo, threading.Lock(), builtin_catalog(), semantic_model(), "UTC")
    scope = Scope.of(**limits)
    many = [d for d, v in scope.limits.items() if len(v) > 1]
    expected: dict[str, Any] = {}
    for dim in data.FILTER_DIMENSIONS:  # each dimension on its own, from each source KPI
        if dim in scope.limits:
            expected[dim] = {"values": list(scope.limits[dim]), "all": False}
            continue
        values: set[str] = set()
        for kpi in ("offered",) if dim != "site" and dim != "campaign" else (
                ("logged_in_time",) if dim == "site" else ("dials", "leads_handled")):
            try:
                rows = engine.run(KpiQuery(kpis=(kpi,), by=(dim, *many)), scope)
            except (ScopeError, ScopeChoice, QueryError):
                continue
            values |= {str(r[dim]) for r in rows if r[dim] is not None}
        expected[dim] = {"values": sorted(values), "all": True}
    got = data.filter_options(engine, scope)["dimensions"]
    assert got == expected
    assert len(got["agent"]["values"]) > 1


def test_a_kept_answer_does_not_wait_for_another_computation(
    served: tuple[TestClient, AuthStore], token_headers: Callable[..., dict[str, str]]
) -> None:
    import threading

    c, store = served
    admin = token_headers(store, "root", "admin")
    _post(c, admin, "acme", [("a1", "q1")])
    url = f"/api/overview?period={PERIOD}"
    first = c.get(url, headers=admin)
    assert first.status_code == 200
    got: list[bytes] = []
    lock = c.app.state.live.reader_lock  # type: ignore[attr-defined]
    with lock:  # as a plan being computed holds it
        asker = threading.Thread(target=lambda: got.append(c.get(url, headers=admin).content))
        asker.start()
        asker.join(timeout=30)
        answered_meanwhile = not asker.is_alive()
    asker.join()
    assert answered_meanwhile and got == [first.content]
