"""Server benchmark: live events posted in batches while clients hold a live stream.

    .venv/bin/python bench/server.py [--rate 2000] [--seconds 60] [--clients 50]
                                     [--batches-per-s 10]

Starts ``callkpi serve`` on a fresh warehouse (a real uvicorn process, as users run it),
then, from this process (asyncio, httpx2):

* ``--clients`` subscribers hold ``GET /api/live/stream`` (server-sent events) open;
* ``--sources`` posters (PBXs or CTI bridges, each with its own calls) send ``--rate``
  events per second in all to ``POST /api/events``, ``--batches-per-s`` batches per second
  in all; a source posts one batch at a time, each with the events of the time since its
  last, so a slow answer makes its next batch bigger. The calls enter a queue, are
  answered 5 s later and end
  60 s later (three events per call; 12 queues; 80 agents logged in first). Each batch
  also carries a *marker*: a call entering the queue ``bench_marker`` whose id is the
  batch number, and abandons the previous marker; so once batch k is loaded the marker
  queue has offered k calls today.

Measured: events accepted per second (sustained over the run), the time a batch takes to
be accepted, and the event-to-stream latency: for every client and every marker it sees,
the time from the start of batch k's POST to the arrival of the first snapshot whose
marker queue has offered at least k calls (same machine, same clock). Memory: the server's peak
RSS (VmHWM). Prints a Markdown table and writes it to bench/results/server.md.

Target (issue 6): sustained 2,000 events/s with p99 latency under 1 s while 50 clients
hold a live stream, on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUEUES = [f"q{i:02d}" for i in range(12)]
TENANT = "bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _callkpi(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "callkpi", *args], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    return out.stdout


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Calls:
    """A stream of call events at real time: enter, answer after 5 s, end after 60 s."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.next_id = 0
        self.pending: list[tuple[float, dict[str, Any]]] = []

    def events(self, count: int, now: float) -> list[dict[str, Any]]:
        due = [e for t, e in self.pending if t <= now]
        self.pending = [(t, e) for t, e in self.pending if t > now]
        out = due[:count]
        self.pending += [(now, e) for e in due[count:]]
        while len(out) < count:  # each new call brings its answer and end later
            n = self.next_id
            self.next_id += 1
            queue = QUEUES[n % len(QUEUES)]
            call = f"{self.prefix}{n}"
            at = dt.datetime.fromtimestamp(now, dt.UTC)
            out.append({"type": "call_entered", "at": at.isoformat(), "call_id": call,
                        "queue": queue})
            self.pending.append((now + 5, {
                "type": "call_answered", "at": (at + dt.timedelta(seconds=5)).isoformat(),
                "call_id": call, "queue": queue, "agent": f"A{n % 80}"}))
            self.pending.append((now + 65, {
                "type": "call_ended", "at": (at + dt.timedelta(seconds=65)).isoformat(),
                "call_id": call, "queue": queue}))
        return out


async def _client(url: str, token: str, seen: dict[int, float], ready: asyncio.Event,
                  stop: asyncio.Event, counts: list[int], i: int) -> None:
    """One subscriber: reads every server-sent event, parses its JSON and notes, for every
    marker the snapshot includes and this client had not seen yet, the arrival time."""
    highest = -1
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=None) as client, client.stream(
            "GET", f"{url}/api/live/stream", headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            arrived = time.time()
            counts[i] += 1
            ready.set()
            snapshot = json.loads(line[5:])
            for queue in snapshot["queues"]:
                if queue["queue"] == "bench_marker":
                    # Batch k abandons marker k - 1: the marker queue has offered k calls
                    # today once batch k is in (and so every batch before it).
                    done = queue["today"].get("offered") or 0
                    for k in range(highest + 1, done + 1):
                        seen[k] = arrived
                    highest = max(highest, done)
            if stop.is_set():
                break


def _clients_process(url: str, token: str, clients: int, ready: Any, stop: Any,
                     results: Any) -> None:
    """The subscribers, in a process of their own (their JSON parsing never delays the
    sources, nor the other way round): ``ready`` once each has its first snapshot; on
    ``stop``, what each saw and this process's CPU time go to ``results``."""

    async def run() -> tuple[list[dict[int, float]], int]:
        seen: list[dict[int, float]] = [{} for _ in range(clients)]
        firsts = [asyncio.Event() for _ in range(clients)]
        done = asyncio.Event()
        counts = [0] * clients
        tasks = [asyncio.create_task(_client(url, token, seen[i], firsts[i], done, counts, i))
                 for i in range(clients)]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in firsts)), 60)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        done.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await task
        return seen, sum(counts)

    seen, messages = asyncio.run(run())
    cpu = os.times()
    results.put((seen, messages, cpu.user + cpu.system))


async def _source(poster: Any, url: str, headers: dict[str, str], n: int, rate: float,
                  batches_per_s: float, started: float, seconds: float,
                  posted_at: dict[int, float] | None, accept_s: list[float]) -> tuple[int, int]:
    """One PBX or bridge: posts on schedule, one batch at a time, each with the events of
    the time since the last; a slow answer makes the next batch bigger, not later. The
    source with ``posted_at`` carries the markers."""
    calls = Calls(f"s{n}_")
    sent = accepted = batch = 0
    last = started
    while time.time() - started < seconds:
        due = started + batch / batches_per_s
        await asyncio.sleep(max(0.0, due - time.time()))
        now = time.time()
        count = round(rate * (now - started)) - sent  # markers included
        markers = 0 if posted_at is None else 1 + (batch > 0)
        events = calls.events(max(count - markers, 1), now)
        if posted_at is not None:
            at = dt.datetime.fromtimestamp(now, dt.UTC).isoformat()
            events.append({"type": "call_entered", "at": at, "call_id": str(batch),
                           "queue": "bench_marker"})
            if batch:
                events.append({"type": "call_abandoned", "at": at,
                                "call_id": str(batch - 1), "queue": "bench_marker"})
            posted_at[batch] = now
        sent += len(events)
        r = await poster.post(f"{url}/api/events", json={"tenant": TENANT, "events": events},
                              headers=headers)
        r.raise_for_status()
        accept_s.append(time.time() - now)
        accepted += len(events)
        batch += 1
        last = now
    del last
    return accepted, batch


async def _run(url: str, token: str, rate: int, seconds: float, clients: int,
               batches_per_s: int, sources: int, server_pid: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    ready, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    process = ctx.Process(target=_clients_process,
                          args=(url, token, clients, ready, stop, results))
    process.start()
    if not await asyncio.to_thread(ready.wait, 90):
        raise RuntimeError("the clients did not all get a first snapshot")

    posted_at: dict[int, float] = {}
    accept_s: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=30) as poster:
        login = [{"type": "agent_logged_in", "at": dt.datetime.now(dt.UTC).isoformat(),
                  "agent": f"A{i}", "queue": q} for i in range(80) for q in QUEUES[:3]]
        r = await poster.post(f"{url}/api/events", json={"tenant": TENANT, "events": login},
                              headers=headers)
        r.raise_for_status()
        server_cpu = _cpu_s(server_pid)
        started = time.time()
        totals = await asyncio.gather(*(
            _source(poster, url, headers, n, rate / sources, batches_per_s / sources,
                    started, seconds, posted_at if n == 0 else None, accept_s)
            for n in range(sources)))
        accepted = sum(count for count, _ in totals)
        batch = totals[0][1]
        elapsed = time.time() - started
        server_cpu = _cpu_s(server_pid) - server_cpu
    await asyncio.sleep(2)
    stop.set()
    seen, messages, clients_cpu = await asyncio.to_thread(results.get, True, 60)
    await asyncio.to_thread(process.join, 30)
    latencies = sorted(arrived - posted_at[marker] for client in seen
                       for marker, arrived in client.items() if marker in posted_at)
    missed = sum(1 for client in seen for m in posted_at if m not in client)
    own = os.times()
    return {"accepted": accepted, "elapsed_s": elapsed, "batches": batch,
            "accept_s": accept_s, "latencies": latencies, "missed_markers": missed,
            "messages": messages, "server_cpu_s": server_cpu, "clients_cpu_s": clients_cpu,
            "sources_cpu_s": own.user + own.system}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--batches-per-s", type=int, default=10)
    parser.add_argument("--sources", type=int, default=4)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="callkpi-bench-server-"))
    db = work / "live.duckdb"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    sys.path.append(str(ROOT / "src"))  # when callkpi is not installed
    from callkpi.store import Warehouse

    Warehouse(db).close()
    _callkpi("users", "add", "bench", "--role", "admin", "--db", str(db))
    token = _callkpi("users", "token", "bench", "--db", str(db)).strip().splitlines()[-1]
    server = subprocess.Popen(
        [sys.executable, "-m", "callkpi", "serve", "--db", str(db), "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/health").status_code == 200:
                    break
            time.sleep(0.1)
        load_before = os.getloadavg()
        result = asyncio.run(_run(url, token, args.rate, args.seconds, args.clients,
                                  args.batches_per_s, args.sources, server.pid))
        peak = _peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    lat = result["latencies"]
    rate = result["accepted"] / result["elapsed_s"]
    p99 = _pct(lat, 0.99)
    met = rate >= 0.98 * args.rate and p99 < 1.0
    secs = result["elapsed_s"]
    half = len(result["accept_s"]) // 2
    halves = (result["accept_s"][:half] or [float("nan")], result["accept_s"][half:])
    lines = [
        f"{args.clients} clients on /api/live/stream (in a process of their own); "
        f"{args.rate:,} events/s asked from {args.sources} sources, {args.batches_per_s} "
        f"batches/s in all, for {args.seconds:g} s",
        "",
        "| events/s accepted | batch accepted p50 / p99 | latency p50 | p95 | p99 | max "
        "| markers missed | server peak RSS | CPU s per s: server / clients / sources "
        "| load average before | target | date |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
        f"| {rate:,.0f} | {statistics.median(result['accept_s']):.3f} / "
        f"{_pct(sorted(result['accept_s']), 0.99):.3f} s | {_pct(lat, 0.5):.3f} s "
        f"| {_pct(lat, 0.95):.3f} s | {p99:.3f} s | {max(lat, default=float('nan')):.3f} s "
        f"| {result['missed_markers']} of {result['batches'] * args.clients} "
        f"| {peak:,.0f} MB | {result['server_cpu_s'] / secs:.2f} / "
        f"{result['clients_cpu_s'] / secs:.2f} / {result['sources_cpu_s'] / secs:.2f} "
        f"| {load_before[0]:.2f} | {'met' if met else 'MISSED'} | {dt.date.today()} |",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average after: "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; {result['messages']:,} "
        "snapshots received in all. CPU of the clients and sources: over their whole "
        "process, setup included. Batch accepted p50 in the first / second half of the "
        f"run: {statistics.median(halves[0]):.3f} / {statistics.median(halves[1]):.3f} s "
        "(a server falling behind would make it grow); events/s accepted counts the run "
        "until the last batch's answer.",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    out = HERE / "results" / "server.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
