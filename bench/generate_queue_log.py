"""Generate a large, realistic Asterisk queue_log for the ingest benchmark.

The mix follows a busy inbound center: every call has an ENTERQUEUE; 80 % are answered
(CONNECT, then COMPLETECALLER/COMPLETEAGENT, 4 % of those transferred), 14 % abandon,
3 % time out, 2 % exit by key, 1 % are blocked; 0-2 RINGNOANSWER lines per call; agents
log in and out of queues and pause with reasons. About 3.2 lines per call.

    python bench/generate_queue_log.py --lines 10000000 --out bench/data/queue_log_10m
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

QUEUES = np.array(["support", "sales", "billing", "vip", "tech", "retention"])
START_EPOCH = 1759276800  # 2025-10-01 00:00:00 UTC
AGENTS = 400


def generate(lines: int, out: Path, seed: int = 1) -> int:
    rng = np.random.default_rng(seed)
    calls = int(lines / 3.1)  # about 3.2 lines a call; the stream is cut at `lines`
    span_s = max(calls // 40, 3600)  # ~40 calls a second across the center
    enter = np.sort(rng.integers(START_EPOCH, START_EPOCH + span_s, calls))
    queue = QUEUES[rng.integers(0, len(QUEUES), calls)]
    agent = rng.integers(0, AGENTS, calls)
    fate = rng.random(calls)
    wait = rng.exponential(25, calls).astype(np.int64)
    talk = rng.lognormal(5.0, 0.6, calls).astype(np.int64)
    rings = rng.choice([0, 0, 0, 1, 2], calls)
    columns: list[tuple[np.ndarray, np.ndarray]] = []  # (time, text) per event kind

    def add(mask: np.ndarray, t: np.ndarray, text: np.ndarray) -> None:
        columns.append((t[mask], text[mask]))

    ids = np.char.add(np.char.add(enter.astype(str), "."), np.arange(calls).astype(str))
    prefix = np.char.add(np.char.add(ids, "|"), queue)
    members = np.char.add("Agent/", agent.astype(str))
    everyone = np.ones(calls, bool)
    add(
        everyone,
        enter,
        np.char.add(
            np.char.add(prefix, "|NONE|ENTERQUEUE||7916"),
            np.char.add(np.char.zfill(agent.astype(str), 7), "|1"),
        ),
    )
    for k in (1, 2):
        # Ring k: another agent, 15 s each, only while the caller is still waiting.
        ring = (rings >= k) & (wait > 15 * k)
        ringer = np.char.add("Agent/", ((agent + k) % AGENTS).astype(str))
        add(
            ring,
            enter + 15 * k,
            np.char.add(np.char.add(prefix, np.char.add("|", ringer)), "|RINGNOANSWER|15000"),
        )
    answered = fate < 0.80
    connect = np.char.add(np.char.add(prefix, np.char.add("|", members)), "|CONNECT|")
    add(answered, enter + wait, np.char.add(np.char.add(connect, wait.astype(str)), "|x.1|3"))
    transfer = answered & (rng.random(calls) < 0.04)
    by_caller = answered & ~transfer & (rng.random(calls) < 0.6)
    by_agent = answered & ~transfer & ~by_caller
    times = np.char.add(np.char.add(wait.astype(str), "|"), talk.astype(str))
    agent_prefix = np.char.add(prefix, np.char.add("|", members))
    add(
        by_caller,
        enter + wait + talk,
        np.char.add(np.char.add(agent_prefix, "|COMPLETECALLER|"), np.char.add(times, "|1")),
    )
    add(
        by_agent,
        enter + wait + talk,
        np.char.add(np.char.add(agent_prefix, "|COMPLETEAGENT|"), np.char.add(times, "|1")),
    )
    add(
        transfer,
        enter + wait + talk,
        np.char.add(
            np.char.add(agent_prefix, "|BLINDTRANSFER|600|ext-queues|"), np.char.add(times, "|1")
        ),
    )
    for low, high, event in (
        (0.80, 0.94, "ABANDON"),
        (0.94, 0.97, "EXITWITHTIMEOUT"),
        (0.97, 0.99, "EXITEMPTY"),
    ):
        mask = (fate >= low) & (fate < high)
        add(
            mask,
            enter + wait,
            np.char.add(np.char.add(prefix, f"|NONE|{event}|1|1|"), wait.astype(str)),
        )
    key = fate >= 0.99
    add(
        key,
        enter + wait,
        np.char.add(np.char.add(prefix, "|NONE|EXITWITHKEY|5|1|1|"), wait.astype(str)),
    )
    # Agents: membership and pauses (a few per agent per hour).
    sessions = max(int(lines * 0.012), 10)
    st = np.sort(rng.integers(START_EPOCH, START_EPOCH + span_s, sessions))
    who = np.char.add("Agent/", rng.integers(0, AGENTS, sessions).astype(str))
    q = QUEUES[rng.integers(0, len(QUEUES), sessions)]
    base = np.char.add(np.char.add("NONE|", q), np.char.add("|", who))
    reason = np.array(["break", "lunch", "coaching", "training"])[rng.integers(0, 4, sessions)]
    columns.append((st, np.char.add(np.char.add(base, "|PAUSE|"), reason)))
    columns.append((st + rng.integers(300, 1800, sessions), np.char.add(base, "|UNPAUSE|")))
    columns.append(
        (st - 1, np.char.add(np.char.replace(base, "NONE|", "MANAGER|", 1), "|ADDMEMBER|"))
    )

    t = np.concatenate([c[0] for c in columns])
    text = np.concatenate([c[1].astype(object) for c in columns])
    order = np.argsort(t, kind="stable")[:lines]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as fh:
        step = 1_000_000
        for i in range(0, len(order), step):
            idx = order[i : i + step]
            fh.write("\n".join(f"{a}|{b}" for a, b in zip(t[idx], text[idx], strict=True)))
            fh.write("\n")
    return len(order)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench/data/queue_log_10m"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    n = generate(args.lines, args.out, args.seed)
    print(f"wrote {n:,} lines to {args.out} ({args.out.stat().st_size / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
