"""The warm-up computes exactly what the pages ask for: on a server started with
``CALLKPI_WARM_UP=1``, once ``/api/warm-up`` says ready, opening every page in Chromium (as
an unscoped admin, a one-tenant client and a two-tenant manager, whose scopes the server
saw when they signed in) computes no answer: every request of every page's default view
was kept ahead. When a page's script asks for something new, this test fails until
:mod:`callkpi.server.web.page_requests` follows.

The warmed answers are those a server without the warm-up computes for the same requests
(a second server, on a copy of the same warehouse made before either started)."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from callkpi.server.auth import auth_path_for

PASSWORD = "correct horse battery staple"
USERS = ("boss", "nord", "duo")
"""The web fixtures' users: an admin, a one-tenant client and a two-tenant manager."""
PAGES = ("overview", "scorecard", "trends", "agents", "queues", "sales", "planning")


class Warm:
    def __init__(self, base: str, fresh_base: str, tokens: dict[str, str]) -> None:
        self.base = base
        self.fresh_base = fresh_base
        self.tokens = tokens

    def get(self, user: str, url: str, *, fresh: bool = False) -> httpx2.Response:
        """``url`` as ``user`` from the warmed server (``fresh``: the unwarmed one)."""
        base = self.fresh_base if fresh else self.base
        return httpx2.get(f"{base}{url}", timeout=120,
                          headers={"Authorization": f"Bearer {self.tokens[user]}"})

    def state(self) -> dict[str, Any]:
        got = self.get("boss", "/api/warm-up")
        assert got.status_code == 200, got.text
        return dict(got.json())

    def ready(self, timeout: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if state["ready"]:
                return state
            assert time.monotonic() < deadline, "the warm-up did not finish"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory, free_port: Callable[[], int],
         web_demo: Callable[[Path], tuple[Path, Any, dict[str, str]]],
         serving: Callable[..., contextlib.AbstractContextManager[list[str]]]) -> Iterator[Warm]:
    db, _, tokens = web_demo(tmp_path_factory.mktemp("warm"))
    fresh_db = db.with_name("fresh.duckdb")
    shutil.copyfile(db, fresh_db)
    shutil.copyfile(auth_path_for(db), auth_path_for(fresh_db))
    warm_port, fresh_port = free_port(), free_port()
    with serving(db, warm_port, {"CALLKPI_WARM_UP": "1"}), \
            serving(fresh_db, fresh_port, {"CALLKPI_WARM_UP": "0"}):
        yield Warm(f"http://127.0.0.1:{warm_port}", f"http://127.0.0.1:{fresh_port}", tokens)


def _same(a: Any, b: Any) -> bool:
    """Equal JSON, floats to 1e-9 relative: two servers' DuckDB sum doubles in parallel,
    in an order of their own, so the last bits of a ratio may differ between them."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and (
            a == pytest.approx(b, rel=1e-9))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _open(browser: Any, warm: Warm, user: str, path: str,
          requested: list[str]) -> list[str]:
    """Open ``path`` as ``user`` and wait until its requests are answered; the page's
    /api/ requests are added to ``requested``; its errors returned."""
    context = browser.new_context(base_url=warm.base, locale="en-GB")
    try:
        login = context.request.post("/api/login", data={"name": user, "password": PASSWORD})
        assert login.ok, login.text()
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requested.append(r.url.removeprefix(warm.base))
                if "/api/" in r.url and "/api/live/" not in r.url else None)
        page.goto(path)
        page.wait_for_load_state("networkidle", timeout=120_000)
        return errors
    finally:
        context.close()


def test_every_page_finds_its_answers_kept_by_the_warm_up(
        warm: Warm, browser: Any) -> None:
    # The scoped users sign in (their first page: the server learns their scopes).
    for user in ("nord", "duo"):
        assert _open(browser, warm, user, "/overview", []) == []
    before = warm.ready()
    requested: dict[str, list[str]] = {}
    for user in USERS:
        for page in PAGES:
            asked: list[str] = []
            assert _open(browser, warm, user, f"/{page}", asked) == [], (user, page)
            assert asked, (user, page)
            requested[f"{user} {page}"] = asked
    after = warm.state()
    assert after["ready"] and after["runs"] == before["runs"]  # the same data meanwhile
    # No answer computed for any page: every one was kept ahead.
    assert after["computed"] == before["computed"], requested
    seen = {u for urls in requested.values() for u in urls}
    for kind in ("/api/filters", "/api/overview", "/api/scorecard", "/api/table",
                 "/api/insights/", "/api/forecast", "/api/plan"):
        assert any(u.startswith(kind) for u in seen), kind
    # Each page's tables, plans and analyses as a server without the warm-up computes them.
    for key, urls in requested.items():
        user = key.split()[0]
        for url in urls:
            if url.startswith(("/api/table", "/api/forecast", "/api/plan", "/api/insights",
                               "/api/overview", "/api/scorecard")):
                warmed = warm.get(user, url)
                fresh = warm.get(user, url, fresh=True)
                assert warmed.status_code == fresh.status_code == 200, url
                assert _same(warmed.json(), fresh.json()), url
