"""The IVR in front of every inbound line: menus, options, self-service and hang-ups.

Each queue's number has a menu tree, written down as the paths callers take through it,
each with a weight (how many callers take it) and a result: ``to_queue`` (the caller
reaches the queue), ``self_served`` (an automated answer was enough: a balance, an order
status, an outage notice) or ``hung_up``. The steps become ``ivr_steps`` rows; only the
calls that reach a queue appear in the queue_log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TO_QUEUE = "to_queue"
SELF_SERVED = "self_served"
HUNG_UP = "hung_up"


@dataclass(frozen=True)
class IvrStep:
    node: str
    option: str
    """The key pressed; empty when the caller hung up without choosing."""
    listen_s: float
    """Typical time from entering the node to choosing (prompt length plus thinking)."""


@dataclass(frozen=True)
class IvrPath:
    steps: tuple[IvrStep, ...]
    result: str
    weight: float
    service_s: float = 0.0
    """For self-service: how long the automated answer plays before the caller hangs up."""


@dataclass(frozen=True)
class IvrVisit:
    """One caller's way through the IVR: when each option was chosen, and the result."""

    path: IvrPath
    step_at: tuple[int, ...]
    ended_at: int
    """When the caller reached the queue, or hung up."""

    @property
    def result(self) -> str:
        return self.path.result


def _s(node: str, option: str, listen_s: float) -> IvrStep:
    return IvrStep(node, option, listen_s)


_BANK_MAIN = _s("nb_main_menu", "1", 14)
_TELECOM_MAIN = _s("ts_main_menu", "0", 16)

IVR_PATHS: dict[str, tuple[IvrPath, ...]] = {
    "bank_cards": (
        IvrPath((_BANK_MAIN, _s("nb_cards_menu", "1", 9)), SELF_SERVED, 13, 35),
        IvrPath((_BANK_MAIN, _s("nb_cards_menu", "2", 10)), SELF_SERVED, 5, 55),
        IvrPath((_BANK_MAIN, _s("nb_cards_menu", "0", 11)), TO_QUEUE, 34),
        IvrPath((_s("nb_main_menu", "2", 17), _s("nb_loans_menu", "1", 9)), SELF_SERVED, 5, 40),
        IvrPath((_s("nb_main_menu", "2", 17), _s("nb_loans_menu", "0", 10)), TO_QUEUE, 12),
        IvrPath((_s("nb_main_menu", "0", 12),), TO_QUEUE, 27),
        IvrPath((_s("nb_main_menu", "", 20),), HUNG_UP, 2.5),
        IvrPath((_BANK_MAIN, _s("nb_cards_menu", "", 12)), HUNG_UP, 1.5),
    ),
    "bank_vip": (
        IvrPath((_s("nb_vip_greeting", "0", 6),), TO_QUEUE, 92),
        IvrPath((_s("nb_vip_greeting", "1", 6),), SELF_SERVED, 6, 30),
        IvrPath((_s("nb_vip_greeting", "", 5),), HUNG_UP, 2),
    ),
    "telecom_support": (
        IvrPath((_s("ts_main_menu", "1", 12),), SELF_SERVED, 11, 25),
        IvrPath((_s("ts_main_menu", "2", 14), _s("ts_tariff_menu", "1", 10)), SELF_SERVED, 5, 60),
        IvrPath((_s("ts_main_menu", "3", 15), _s("ts_internet_menu", "1", 9)), SELF_SERVED, 6, 45),
        IvrPath((_s("ts_main_menu", "3", 15), _s("ts_internet_menu", "2", 11)), SELF_SERVED, 3, 90),
        IvrPath((_s("ts_main_menu", "3", 15), _s("ts_internet_menu", "0", 12)), TO_QUEUE, 24),
        IvrPath((_s("ts_main_menu", "2", 14), _s("ts_tariff_menu", "0", 11)), TO_QUEUE, 14),
        IvrPath((_TELECOM_MAIN,), TO_QUEUE, 33),
        IvrPath((_s("ts_main_menu", "", 22),), HUNG_UP, 4),
    ),
    "telecom_sales": (
        IvrPath((_s("ts_sales_menu", "1", 11),), TO_QUEUE, 30),
        IvrPath((_s("ts_sales_menu", "2", 12),), TO_QUEUE, 33),
        IvrPath((_s("ts_sales_menu", "3", 13),), TO_QUEUE, 22),
        IvrPath((_s("ts_sales_menu", "9", 14),), SELF_SERVED, 12, 70),
        IvrPath((_s("ts_sales_menu", "", 15),), HUNG_UP, 3),
    ),
    "retail_orders": (
        IvrPath((_s("mp_main_menu", "1", 10), _s("mp_order_lookup", "1", 18)), SELF_SERVED, 17, 30),
        IvrPath((_s("mp_main_menu", "1", 10), _s("mp_order_lookup", "0", 15)), TO_QUEUE, 20),
        IvrPath((_s("mp_main_menu", "2", 12),), TO_QUEUE, 19),
        IvrPath((_s("mp_main_menu", "3", 13),), TO_QUEUE, 21),
        IvrPath((_s("mp_main_menu", "0", 11),), TO_QUEUE, 19),
        IvrPath((_s("mp_main_menu", "", 18),), HUNG_UP, 4),
    ),
}


def share(queue: str, result: str) -> float:
    """The share of a queue's IVR callers that end with ``result``."""
    paths = IVR_PATHS.get(queue, ())
    total = sum(p.weight for p in paths)
    return sum(p.weight for p in paths if p.result == result) / total if total else 1.0


def shortcut(queue: str) -> IvrPath:
    """The quickest way to an agent: what a caller who has just called before presses."""
    paths = [p for p in IVR_PATHS.get(queue, ()) if p.result == TO_QUEUE]
    return min(paths, key=lambda p: (len(p.steps), sum(s.listen_s for s in p.steps)))


def walk(rng: np.random.Generator, path: IvrPath, arrived_at: int) -> IvrVisit:
    """Time one caller's way along ``path``, starting at ``arrived_at``."""
    cursor = arrived_at
    times = []
    for step in path.steps:
        cursor += max(1, round(step.listen_s * rng.uniform(0.75, 1.35)))
        times.append(cursor)
    if path.result == TO_QUEUE:
        ended = cursor + 1
    elif path.result == SELF_SERVED:
        ended = cursor + round(path.service_s * rng.uniform(0.8, 1.3))
    else:
        ended = cursor
    return IvrVisit(path, tuple(times), ended)


def choose_paths(rng: np.random.Generator, queue: str, count: int) -> list[IvrPath]:
    paths = IVR_PATHS[queue]
    weights = np.array([p.weight for p in paths], dtype=float)
    picks = rng.choice(len(paths), size=count, p=weights / weights.sum())
    return [paths[i] for i in picks]


def step_rows(call_id: str, visit: IvrVisit, cut_at: int | None = None) -> list[dict[str, object]]:
    """``ivr_steps`` records of one call; the result is on the last step."""
    rows: list[dict[str, object]] = []
    last = len(visit.path.steps)
    for seq, (step, at) in enumerate(zip(visit.path.steps, visit.step_at, strict=True), start=1):
        if cut_at is not None and at > cut_at:
            break
        rows.append(
            {
                "call_id": call_id,
                "seq": seq,
                "node": step.node,
                "option": step.option or None,
                "at": at,
                "result": visit.result if seq == last else None,
            }
        )
    return rows
