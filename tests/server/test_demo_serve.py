"""``callkpi demo --serve`` (what ``make run`` runs): the demo center, then the server on
it, with the URL and the admin's one-time password printed; ``--fresh`` starts the users
over too, so a second run prints a new password."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest


def _demo_serving(tmp_path: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    server = subprocess.Popen(
        [sys.executable, "-m", "callkpi", "demo", "--days", "1", "--seed", "3", "--fresh",
         "--db", str(tmp_path / "d.duckdb"), "--data-dir", str(tmp_path / "data"),
         "--serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(iter(server.stdout.readline, "")),
                     daemon=True).start()  # type: ignore[union-attr]
    deadline = time.monotonic() + 240
    while "callkpi serving" not in "".join(output):
        assert server.poll() is None, "".join(output)
        assert time.monotonic() < deadline, "".join(output)
        time.sleep(0.2)
    return server, output


@pytest.mark.slow
def test_demo_serve_prints_the_url_and_a_working_password(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    passwords = []
    for _ in range(2):
        port = free_port()
        server, output = _demo_serving(tmp_path, port)
        try:
            text = "".join(output)
            assert "Agents required from" in text  # the demo's own output came first
            assert f"on http://127.0.0.1:{port}" in text
            found = re.search(r"one-time password\s+(\S+)", text)
            assert found, text
            passwords.append(found.group(1))
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    login = httpx2.post(f"{base}/api/login", timeout=30,
                                        json={"name": "admin", "password": found.group(1)})
                    break
                except httpx2.TransportError:
                    time.sleep(0.1)
            assert login.status_code == 200, login.text
            assert login.json()["user"]["must_change_password"]
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert passwords[0] != passwords[1]  # --fresh: new users file, new password
