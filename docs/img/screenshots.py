"""Make the README's dashboard screenshots: the demo month, a live morning posted as events,
and the three pages in Debian's Chromium. Run from the repository:

    .venv/bin/python docs/img/screenshots.py   # docs/img/{wallboard,overview,scorecard}.png

It builds its own demo warehouse in a temporary directory (the 30-day demo, seed 7)."""

from __future__ import annotations

import datetime as dt
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
from playwright.sync_api import sync_playwright

from callkpi.demo import build_demo
from callkpi.goals.targets import TargetSpec, import_file, set_targets
from callkpi.server.auth import AuthStore, auth_path_for
from callkpi.store import Warehouse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PASSWORD = "correct horse battery staple"
QUEUES = {"nordbank": ["bank_cards", "bank_vip"], "marketplus": ["retail_orders"],
          "telesfera": ["telecom_support", "telecom_sales", "telecom_tier2"]}


def live_morning(now: dt.datetime, seed: int = 3) -> dict[str, list[dict[str, Any]]]:
    """Two hours of calls per queue, agents logged in, a few on a pause, calls waiting."""
    rng = random.Random(seed)
    batches: dict[str, list[dict[str, Any]]] = {}
    agent_no = 2000

    def at(seconds_ago: float) -> str:
        return (now - dt.timedelta(seconds=seconds_ago)).isoformat()

    for tenant, queues in QUEUES.items():
        events: list[dict[str, Any]] = []
        for queue in queues:
            agents = []
            for _ in range(rng.randint(4, 8)):
                agent_no += 1
                agent = f"PJSIP/{agent_no}"
                agents.append(agent)
                events.append({"type": "agent_logged_in", "at": at(7300), "agent": agent,
                               "queue": queue})
            paused = agents[-1]
            events.append({"type": "agent_paused", "at": at(rng.randint(60, 600)),
                           "agent": paused, "queue": queue, "reason": "break"})
            busy_until = {a: 7200.0 for a in agents[:-1]}  # seconds ago each is free from
            n = 0
            for start in sorted(rng.uniform(90, 7200) for _ in range(rng.randint(40, 90))):
                n += 1
                call = f"{queue}-{n}"
                entered = 7200 - start + 90  # seconds ago, oldest first
                events.append({"type": "call_entered", "at": at(entered), "call_id": call,
                               "queue": queue})
                patience = rng.expovariate(1 / 90)
                free = max(busy_until, key=lambda a: busy_until[a])
                wait = max(2.0, entered - busy_until[free] + rng.uniform(0, 25))
                if wait > patience and patience < entered:
                    events.append({"type": "call_abandoned", "at": at(entered - patience),
                                   "call_id": call, "queue": queue})
                    continue
                answered = entered - wait
                if answered <= 0:
                    continue  # still waiting
                talk = rng.lognormvariate(5.2, 0.5)
                events.append({"type": "call_answered", "at": at(answered), "call_id": call,
                               "queue": queue, "agent": free})
                if answered - talk > 0:
                    events.append({"type": "call_ended", "at": at(answered - talk),
                                   "call_id": call, "queue": queue, "agent": free})
                busy_until[free] = answered - talk
            for k in range(rng.randint(0, 4)):
                events.append({"type": "call_entered", "at": at(rng.uniform(3, 80)),
                               "call_id": f"{queue}-w{k}", "queue": queue})
        batches[tenant] = events
    return batches


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.duckdb"
        with Warehouse(db) as wh:
            build_demo(wh, days=30, seed=7, data_dir=Path(tmp) / "data")
            import_file(wh, ROOT / "src/callkpi/goals/examples/demo_targets.yaml")
            # Today's service-level target for the wallboard (the example's are October's).
            set_targets(wh, [TargetSpec(kpi="service_level", target=0.8,
                                        period=f"{dt.date.today():%Y-%m}")])
        store = AuthStore(auth_path_for(db))
        store.add_user("head", "manager", actor="screenshots", password=PASSWORD)
        store.add_user("feeder", "admin", actor="screenshots", password=PASSWORD)
        token, _ = store.new_token("feeder", actor="screenshots")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "-m", "callkpi", "serve", "--db", str(db),
                                   "--port", str(port), "--tz", "Europe/Moscow"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    if httpx2.get(f"{base}/api/health", timeout=1).status_code == 200:
                        break
                except httpx2.TransportError:
                    time.sleep(0.2)
            now = dt.datetime.now(dt.UTC)
            for tenant, events in live_morning(now).items():
                r = httpx2.post(f"{base}/api/events", json={"tenant": tenant, "events": events},
                                headers={"Authorization": f"Bearer {token}"}, timeout=120)
                r.raise_for_status()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium")
                context = browser.new_context(base_url=base, locale="en-GB",
                                              viewport={"width": 1440, "height": 900})
                context.request.post("/api/login", data={"name": "head", "password": PASSWORD})
                page = context.new_page()
                page.set_viewport_size({"width": 1920, "height": 1080})  # a TV on the floor
                page.goto("/wallboard")
                page.wait_for_selector(".wb-queue", timeout=60_000)
                time.sleep(1.5)
                page.screenshot(path=str(HERE / "wallboard.png"))
                page.set_viewport_size({"width": 1440, "height": 900})
                page.goto("/overview?period=2026-10")
                page.wait_for_selector("#tiles[aria-busy='false']", state="attached",
                                       timeout=60_000)
                page.screenshot(path=str(HERE / "overview.png"), full_page=True)
                page.goto("/scorecard?period=2026-10")
                page.wait_for_selector("#scorecard[aria-busy='false']", state="attached",
                                       timeout=60_000)
                page.screenshot(path=str(HERE / "scorecard.png"), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
