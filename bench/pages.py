"""Dashboard benchmark: each page's data for the demo month, as the page asks for it.

    .venv/bin/python bench/pages.py [--repeat 3]

Builds the 30-day demo center once (bench/data/demo30.duckdb, with the shipped example
targets), starts a real ``callkpi serve`` on it, signs in an admin in Debian's headless
Chromium (``/usr/bin/chromium`` through Playwright), opens every page of the navigation on
the demo month and records every ``/api/...`` request the page makes (the live stream
excepted: it never ends) with the browser's own timing (request start to response end).
A page's data time is the time from its first API request's start to its last API
response's end, measured twice:

* COLD: the page's first load on a freshly started server (one server per page: no
  answer kept, no warm-up), what the first visitor after a restart or a new ingest waits;
* AFTER WARM-UP: on a server started with ``CALLKPI_WARM_UP=1``, once ``/api/warm-up``
  says ready, each page's first load (the warm-up computed every page's default view);
* WARM: on one server, every page loaded once, then the best of ``--repeat`` more loads of
  each (a repeat visit: the server keeps the pages' answers until the data changes).

``--cases cold,warm-up,warm`` chooses the cases (default all three).

Prints a Markdown table and writes it to bench/results/pages.md.

Target (issue 7): every page's data for the demo month in under 300 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
PASSWORD = "bench password 2026"
PERIOD = "2026-10"


def _demo(db: Path) -> None:
    if db.exists():
        return
    DATA.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "callkpi", "demo", "--days", "30", "--db", str(db),
                    "--data-dir", str(DATA / "demo30-data")], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)


def _user(db: Path) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from callkpi.server.auth import AuthStore, Scope, auth_path_for

    store = AuthStore(auth_path_for(db))
    if "bench" not in {u.name for u in store.users()}:
        store.add_user("bench", "admin", Scope(), actor="bench", password=PASSWORD)


def _load(page: Any, url: str, name: str) -> dict[str, Any] | None:
    """Open one page on the demo month; its data time from the browser's own timing."""
    spans: list[tuple[float, float, str]] = []

    def done(request: Any) -> None:
        if "/api/" not in request.url or "/api/live/stream" in request.url:
            return
        t = request.timing
        start = t["startTime"]
        spans.append((start, start + t["responseEnd"], request.url.split("?")[0].replace(url, "")))

    page.on("requestfinished", done)
    page.goto(f"{url}/{name}?period={PERIOD}", wait_until="networkidle", timeout=300_000)
    page.wait_for_timeout(300)
    page.remove_listener("requestfinished", done)
    if not spans:
        return None
    total = max(e for _, e, _ in spans) - min(s for s, _, _ in spans)
    slowest = max(spans, key=lambda x: x[1] - x[0])
    return {"ms": total, "requests": len(spans), "slowest": slowest[2],
            "slowest_ms": slowest[1] - slowest[0]}


@contextlib.contextmanager
def _server(db: Path, warm_up: bool = False) -> Iterator[str]:
    """A real ``callkpi serve`` on the demo, freshly started (nothing kept yet); with
    ``warm_up`` (``CALLKPI_WARM_UP=1``) once its warm-up has computed its answers."""
    import httpx2

    from server import _free_port  # bench/server.py, beside this script

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "CALLKPI_WARM_UP"}
    if warm_up:
        env["CALLKPI_WARM_UP"] = "1"
    server = subprocess.Popen(
        [sys.executable, "-m", "callkpi", "serve", "--db", str(db), "--port", str(port),
         "--tz", "Europe/Moscow"], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env=env)
    try:
        for _ in range(600):
            with contextlib.suppress(httpx2.HTTPError):
                if httpx2.get(f"{url}/api/health").status_code == 200:
                    break
            time.sleep(0.1)
        if warm_up:
            with httpx2.Client(base_url=url, timeout=60) as client:
                client.post("/api/login", json={"name": "bench", "password": PASSWORD})
                for _ in range(1200):
                    if client.get("/api/warm-up").json().get("ready"):
                        break
                    time.sleep(0.25)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextlib.contextmanager
def _browser(url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.request.post(f"{url}/api/login", data={"name": "bench", "password": PASSWORD})
        try:
            yield context.new_page()
        finally:
            browser.close()


def _cold(db: Path, pages: list[str]) -> dict[str, dict[str, Any]]:
    """Each page's first load on its own freshly started server: nothing kept."""
    results = {}
    for name in pages:
        with _server(db) as url, _browser(url) as page:
            found = _load(page, url, name)
        if found is not None:
            results[name] = found
    return results


def _warm(db: Path, pages: list[str], repeat: int) -> dict[str, dict[str, Any]]:
    """On one server, every page once (its answers are then kept), then ``repeat`` more
    loads of each: the best of those (a repeat visit while the data has not changed)."""
    results: dict[str, dict[str, Any]] = {}
    with _server(db) as url, _browser(url) as page:
        for name in pages:
            _load(page, url, name)
        for name in pages:
            for _ in range(repeat):
                found = _load(page, url, name)
                if found is not None and (name not in results
                                          or found["ms"] < results[name]["ms"]):
                    results[name] = found
    return results


def _warmed(db: Path, pages: list[str]) -> dict[str, dict[str, Any]]:
    """On a server started with its warm-up, once the warm-up is done: each page's first
    load (every page's default view was computed ahead)."""
    results = {}
    with _server(db, warm_up=True) as url, _browser(url) as page:
        for name in pages:
            found = _load(page, url, name)
            if found is not None:
                results[name] = found
    return results


def _ms(run: dict[str, Any] | None) -> str:
    return "—" if run is None else f"{run['ms']:,.0f} ms"


def _slowest(run: dict[str, Any] | None) -> str:
    return "—" if run is None else f"{run['slowest']} ({run['slowest_ms']:,.0f} ms)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", type=Path, default=DATA / "demo30.duckdb",
                        help="the demo warehouse (built there when missing)")
    parser.add_argument("--cases", default="cold,warm-up,warm",
                        help="which cases to run (comma-separated: cold, warm-up, warm)")
    args = parser.parse_args()
    cases = {c.strip() for c in args.cases.split(",")}
    db = args.db
    _demo(db)
    _user(db)
    sys.path.insert(0, str(ROOT / "src"))
    from callkpi.server.web.routes import PAGES

    pages = [path.strip("/") for _, path, _ in PAGES if path != "/wallboard"]
    loads: dict[str, tuple[float, float]] = {}

    def run(case: str, measure: Any) -> dict[str, dict[str, Any]]:
        if case not in cases:
            return {}
        before = os.getloadavg()[0]
        found: dict[str, dict[str, Any]] = measure()
        loads[case] = (before, os.getloadavg()[0])
        return found

    load_before = os.getloadavg()
    cold = run("cold", lambda: _cold(db, pages))
    warmed = run("warm-up", lambda: _warmed(db, pages))
    warm = run("warm", lambda: _warm(db, pages, args.repeat))
    lines = [
        f"Demo month {PERIOD} (30 days, ~53k calls), admin (no scope). COLD: the page's "
        "first load on a freshly started server (nothing kept, no warm-up). WARM: best of "
        f"{args.repeat} repeat loads after a first load (the answers kept until the data "
        "changes). AFTER WARM-UP: the first load of each page on a server started with "
        "CALLKPI_WARM_UP=1 once its warm-up is done (every page's default view of an "
        "unscoped caller computed ahead: filter choices, overview, scorecard, the analysis "
        "pages' tables and analyses, Planning's forecast and plan).",
        "",
        "| page | API requests | COLD data time | COLD slowest request | AFTER WARM-UP | "
        "AFTER WARM-UP slowest request | WARM data time | WARM slowest request | "
        "< 300 ms | date |",
        "|---|---:|---:|---|---:|---|---:|---|---|---|",
    ]
    for name in pages:
        c, u, w = cold.get(name), warmed.get(name), warm.get(name)
        met = [label for label, run in (("cold", c), ("after warm-up", u), ("warm", w))
               if run is not None and run["ms"] < 300]
        verdict = ", ".join(met) + ": met" if met else "MISSED"
        requests = (c or u or w or {}).get("requests", "—")
        lines.append(f"| {name} | {requests} | {_ms(c)} | {_slowest(c)} | {_ms(u)} | "
                     f"{_slowest(u)} | {_ms(w)} | {_slowest(w)} | {verdict} | "
                     f"{dt.date.today()} |")
    lines += ["", f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}; load average before: "
              f"{', '.join(f'{x:.2f}' for x in load_before)}; after: "
              f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; 1-minute load before "
              "and after each case: " + "; ".join(
                  f"{case} {a:.2f} → {b:.2f}" for case, (a, b) in loads.items())]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    out = HERE / "results" / "pages.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
