"""Fixtures for the dashboard tests: a small demo warehouse (two days of the demo center with
its example targets), users of several roles, a real ``callkpi serve`` on a free port, and
Debian's Chromium (``/usr/bin/chromium``, installed by ``make test``) driven by Playwright.

Screenshots go to ``test-artifacts/web/`` (git-ignored)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from callkpi.demo import build_demo
from callkpi.goals.targets import import_file
from callkpi.server.auth import AuthStore, Scope, auth_path_for
from callkpi.store import Warehouse

PASSWORD = "correct horse battery staple"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
TARGETS = Path(__file__).resolve().parents[2] / "src/callkpi/goals/examples/demo_targets.yaml"
USERS: dict[str, tuple[str, dict[str, list[str]]]] = {
    "boss": ("admin", {}),
    "nord": ("client", {"tenant": ["nordbank"]}),
    "duo": ("manager", {"tenant": ["nordbank", "telesfera"]}),
}


@dataclass
class Server:
    base: str
    db: Path
    store: AuthStore
    output: list[str] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)

    def api(self, user: str, path: str, **params: Any) -> Any:
        """GET a JSON route as ``user`` (with an API token), as a script would."""
        response = httpx2.get(f"{self.base}{path}", params=params, timeout=60,
                              headers={"Authorization": f"Bearer {self.tokens[user]}"})
        assert response.status_code == 200, response.text
        return response.json()



def _build_demo(root: Path) -> tuple[Path, AuthStore, dict[str, str]]:
    """The two-day demo with its example targets in ``root``, and USERS with their API
    tokens."""
    db = root / "demo.duckdb"
    with Warehouse(db) as wh:
        build_demo(wh, days=2, seed=7, data_dir=root / "data")
        import_file(wh, TARGETS)
    store = AuthStore(auth_path_for(db))
    tokens = {}
    for name, (role, scope) in USERS.items():
        store.add_user(name, role, Scope.of(**scope), actor="test", password=PASSWORD)
        tokens[name], _ = store.new_token(name, actor="test")
    return db, store, tokens


@contextlib.contextmanager
def _serving(db: Path, port: int, env: dict[str, str] | None = None) -> Iterator[list[str]]:
    """``callkpi serve`` on ``db`` (its environment plus ``env``) once it answers; yields
    its output as it comes, and stops it on exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "callkpi", "serve", "--db", str(db), "--port", str(port),
         "--tz", "Europe/Moscow"], env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(iter(process.stdout.readline, "")),  # type: ignore[union-attr]
                     daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/api/health",
                              timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("callkpi serve did not start:\n" + "".join(output))
            time.sleep(0.2)
        yield output
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def web_demo() -> Callable[[Path], tuple[Path, AuthStore, dict[str, str]]]:
    """Builds the dashboard tests' demo and users in a directory (for servers of a test's
    own: see ``serving``)."""
    return _build_demo


@pytest.fixture(scope="session")
def serving() -> Callable[..., contextlib.AbstractContextManager[list[str]]]:
    """``serving(db, port, env=None)``: a context running ``callkpi serve`` on ``db``."""
    return _serving


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory,
           free_port: Callable[[], int]) -> Iterator[Server]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (make test installs it)")
    db, store, tokens = _build_demo(tmp_path_factory.mktemp("web"))
    port = free_port()
    with _serving(db, port) as output:
        yield Server(f"http://127.0.0.1:{port}", db, store, output, tokens)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A browser page and what went wrong on it (console errors, page errors, failed
    requests)."""

    page: Any
    errors: list[str]

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def open_as(server: Server, browser: Any) -> Iterator[Callable[..., Tab]]:
    """``open_as(user, path, locale=...)``: a fresh browser context logged in as ``user``
    (through /api/login, as the login page does), showing ``path``."""
    contexts: list[Any] = []

    def make(user: str | None, path: str, *, locale: str = "en-GB",
             width: int = 1440, height: int = 900) -> Tab:
        context = browser.new_context(base_url=server.base, locale=locale,
                                      viewport={"width": width, "height": height})
        contexts.append(context)
        if user is not None:
            login = context.request.post("/api/login",
                                         data={"name": user, "password": PASSWORD})
            assert login.ok, login.text()
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(f"console: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}")
                if "/api/live/stream" not in r.url else None)
        page.goto(path)
        return Tab(page, errors)

    yield make
    for context in contexts:
        context.close()
