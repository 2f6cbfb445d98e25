"""Generate a month of realistic ``calls`` (and ``ivr_steps``, ``agents``) straight into a
fresh warehouse, for the KPI benchmark.

A large multi-tenant inbound center over 30 days (September 2026, UTC): 10 queues of 3
tenants, 500 agents in teams of 12, a weekday/weekend and intraday arrival pattern. About
95 % of the rows are inbound queue visits: answered ~85 %, abandoned ~9 % (a quarter of
them short, under 5 s), timed out, exited by key, blocked, overflowed, closed, failed,
and a few still in progress at the end of the month. 3 % of visits are the second segment
of a call transferred to another queue (same call id); the rest are outbound attempts and
direct inbound calls that never queued. Customers call again (a known customer id, else
the caller number, sometimes neither), so repeat contacts are realistic; a quarter of the
queued calls went through an IVR, and some IVR callers self-served or hung up there.

Columns are built with numpy one day at a time, turned into Arrow arrays and inserted
with ``INSERT INTO calls SELECT ... FROM <arrow table>``; no Python objects per row.

    python bench/generate_calls.py --calls 1000000 --out bench/data/calls_1m.duckdb
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from callkpi.store import Warehouse, arrow_schema, rollup

MONTH_START = dt.datetime(2026, 9, 1)
DAYS = 30
MONTH_END = MONTH_START + dt.timedelta(days=DAYS)
DAYS_PER_COMMIT = 5
_US = 1_000_000
_EPOCH_US = int(MONTH_START.replace(tzinfo=dt.UTC).timestamp()) * _US


@dataclass(frozen=True)
class QueueSpec:
    name: str
    tenant: str
    site: str
    region: str
    weight: float
    """Share of the center's queued calls."""
    asa_s: float
    """Mean wait of answered calls."""
    talk_s: float
    """Median talk time."""
    abandon_factor: float
    """Abandons relative to the center's 9 %."""


QUEUES = (
    QueueSpec("bank_cards", "northbank", "msk-1", "central", 0.16, 18, 210, 1.0),
    QueueSpec("bank_loans", "northbank", "msk-1", "central", 0.08, 25, 320, 1.2),
    QueueSpec("bank_vip", "northbank", "msk-1", "central", 0.03, 6, 260, 0.4),
    QueueSpec("bank_fraud", "northbank", "spb-1", "northwest", 0.05, 10, 280, 0.6),
    QueueSpec("tel_support", "telecast", "spb-1", "northwest", 0.22, 35, 300, 1.4),
    QueueSpec("tel_billing", "telecast", "spb-1", "northwest", 0.12, 22, 190, 1.0),
    QueueSpec("tel_sales", "telecast", "kzn-1", "volga", 0.07, 12, 360, 0.8),
    QueueSpec("tel_retention", "telecast", "kzn-1", "volga", 0.04, 15, 420, 0.9),
    QueueSpec("shop_orders", "shopline", "kzn-1", "volga", 0.15, 28, 150, 1.1),
    QueueSpec("shop_returns", "shopline", "kzn-1", "volga", 0.08, 30, 180, 1.0),
)
AGENTS = 500
TEAM_SIZE = 12
CUSTOMERS = 4_000_000
"""Known customers (a customer id); unknown callers come from a pool of numbers as large."""

# Final outcomes of a queued visit, after answered/abandoned: the rest of the 100 %.
OTHER_OUTCOMES = (
    ("timed_out", 0.020),
    ("exited_key", 0.015),
    ("blocked", 0.010),
    ("overflowed", 0.007),
    ("closed", 0.005),
    ("failed", 0.003),
)
ANSWERED_SHARE = 0.85
ABANDONED_SHARE = 0.09
OUTCOMES = np.array(
    [
        "answered",
        "abandoned",
        *(o for o, _ in OTHER_OUTCOMES),
        "in_progress",
        "no_answer",
        "busy",
        "voicemail",
    ]
)
_O = {name: i for i, name in enumerate(OUTCOMES)}
WRAP_CODES = np.array(
    [
        "info",
        "balance",
        "card_block",
        "complaint",
        "tech_issue",
        "billing_question",
        "plan_change",
        "order_status",
        "return",
        "sale",
        "callback_promised",
        "other",
    ]
)
CAMPAIGNS = np.array(["winback_q3", "card_upsell", "survey_sep"])
# Hour-of-day shape of arrivals (UTC), and the weekday weights Monday..Sunday.
HOURLY = np.array(
    [
        *(0.6, 0.4, 0.3, 0.3, 0.4, 0.8),  # 00-05
        *(1.8, 3.6, 6.0, 7.6, 8.2, 8.0),  # 06-11
        *(7.2, 6.6, 7.4, 7.6, 7.0, 6.2),  # 12-17
        *(5.0, 3.8, 2.8, 2.0, 1.4, 0.9),  # 18-23
    ]
)
WEEKDAY = np.array([1.15, 1.05, 1.0, 1.0, 0.95, 0.6, 0.45])

# IVR paths per tenant: (steps as (node, option or "" for none), result, weight).
IVR_PATHS: dict[str, tuple[tuple[tuple[tuple[str, str], ...], str, float], ...]] = {
    "northbank": (
        ((("nb_main_menu", "1"), ("nb_cards_menu", "0")), "to_queue", 34),
        ((("nb_main_menu", "2"), ("nb_loans_menu", "0")), "to_queue", 12),
        ((("nb_main_menu", "0"),), "to_queue", 27),
        ((("nb_main_menu", "1"), ("nb_cards_menu", "1")), "self_served", 13),
        ((("nb_main_menu", "2"), ("nb_loans_menu", "1")), "self_served", 5),
        ((("nb_main_menu", ""),), "hung_up", 2.5),
        ((("nb_main_menu", "1"), ("nb_cards_menu", "")), "hung_up", 1.5),
    ),
    "telecast": (
        ((("ts_main_menu", "0"),), "to_queue", 33),
        ((("ts_main_menu", "3"), ("ts_internet_menu", "0")), "to_queue", 24),
        ((("ts_main_menu", "2"), ("ts_tariff_menu", "0")), "to_queue", 14),
        ((("ts_main_menu", "1"),), "self_served", 11),
        ((("ts_main_menu", "3"), ("ts_internet_menu", "1")), "self_served", 6),
        ((("ts_main_menu", ""),), "hung_up", 4),
    ),
    "shopline": (
        ((("mp_main_menu", "1"), ("mp_order_lookup", "0")), "to_queue", 20),
        ((("mp_main_menu", "2"),), "to_queue", 19),
        ((("mp_main_menu", "0"),), "to_queue", 19),
        ((("mp_main_menu", "1"), ("mp_order_lookup", "1")), "self_served", 17),
        ((("mp_main_menu", ""),), "hung_up", 4),
    ),
}


def _next_queue_of_tenant() -> np.ndarray:
    """Where each queue transfers to: the tenant's next queue."""
    tenant = [q.tenant for q in QUEUES]
    target = []
    for i, t in enumerate(tenant):
        same = [j for j, u in enumerate(tenant) if u == t]
        target.append(same[(same.index(i) + 1) % len(same)])
    return np.array(target)


TRANSFER_QUEUE = _next_queue_of_tenant()
IVR_SHARE = 0.25
"""Share of first queue visits that came through the IVR."""


# -- small vectorized helpers ---------------------------------------------------------------


def _strings(names: np.ndarray, idx: np.ndarray) -> pa.Array:
    """``names[idx]`` as an Arrow string array; a negative index is null."""
    indices = pa.array(idx.astype(np.int32), mask=idx < 0)
    return pc.take(pa.array(names.tolist(), pa.string()), indices)


def _ids(prefix: str, numbers: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    text = pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")
    if valid is None:
        return text
    return pc.if_else(pa.array(valid), text, pa.scalar(None, pa.string()))


def _seconds(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    return pa.array(values.astype(np.float64), mask=~valid)


def _timestamps(us: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~valid
    return pa.array(us.astype(np.int64), mask=mask).cast(pa.timestamp("us"))


def _bools(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    return pa.array(values.astype(bool), mask=None if valid is None else ~valid)


# -- the roster ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Roster:
    team_of_agent: np.ndarray
    queue_of_team: np.ndarray
    agents_by_queue: np.ndarray
    """Agent numbers ordered by the queue they work."""
    queue_first: np.ndarray
    """Per queue: where its agents start in ``agents_by_queue``."""
    queue_agents: np.ndarray
    """Per queue: how many agents work it."""

    def pick_agents(self, rng: np.random.Generator, queue: np.ndarray) -> np.ndarray:
        offset = (rng.random(len(queue)) * self.queue_agents[queue]).astype(np.int64)
        return self.agents_by_queue[self.queue_first[queue] + offset]


def roster() -> Roster:
    """Teams of TEAM_SIZE agents; each team works one queue, queues get teams by volume."""
    teams = -(-AGENTS // TEAM_SIZE)
    weights = np.array([q.weight for q in QUEUES])
    per_queue = np.maximum(1, np.round(weights / weights.sum() * teams)).astype(int)
    while per_queue.sum() > teams:
        per_queue[per_queue.argmax()] -= 1
    while per_queue.sum() < teams:
        per_queue[per_queue.argmin()] += 1
    queue_of_team = np.repeat(np.arange(len(QUEUES)), per_queue)
    team_of_agent = np.arange(AGENTS) // TEAM_SIZE
    queue_of_agent = queue_of_team[team_of_agent]
    queue_agents = np.bincount(queue_of_agent, minlength=len(QUEUES))
    return Roster(
        team_of_agent,
        queue_of_team,
        agents_by_queue=np.argsort(queue_of_agent, kind="stable"),
        queue_first=np.cumsum(queue_agents) - queue_agents,
        queue_agents=queue_agents,
    )


def agents_table(r: Roster) -> pa.Table:
    rng = np.random.default_rng(7)
    site = np.array([q.site for q in QUEUES])[r.queue_of_team[r.team_of_agent]]
    region = np.array([q.region for q in QUEUES])[r.queue_of_team[r.team_of_agent]]
    tenant = np.array([q.tenant for q in QUEUES])[r.queue_of_team[r.team_of_agent]]
    hired = np.datetime64("2022-01-01") + rng.integers(0, 1600, AGENTS).astype("timedelta64[D]")
    columns = {
        "agent": [f"Agent/{1000 + a}" for a in range(AGENTS)],
        "name": [f"Agent {1000 + a}" for a in range(AGENTS)],
        "team": [f"team_{t:02d}" for t in r.team_of_agent],
        "supervisor": [f"sup_{t:02d}" for t in r.team_of_agent],
        "site": site.tolist(),
        "region": region.tolist(),
        "tenant": tenant.tolist(),
        "hire_date": pa.array(hired.astype("datetime64[D]")),
        "exit_date": pa.nulls(AGENTS, pa.date32()),
        "hourly_cost": np.round(rng.uniform(9, 16, AGENTS), 2),
        "source": ["bench"] * AGENTS,
        "source_ref": pa.nulls(AGENTS, pa.string()),
    }
    return pa.table(columns, schema=arrow_schema("agents", list(columns)))


# -- one day of calls ------------------------------------------------------------------------


def _arrivals(rng: np.random.Generator, day: int, n: int) -> np.ndarray:
    """Microseconds since the month's start, with the intraday shape, sorted."""
    hour = rng.choice(24, size=n, p=HOURLY / HOURLY.sum())
    within = rng.integers(0, 3600 * _US, n)
    return np.sort(day * 86_400 * _US + hour * 3600 * _US + within)


def _customers(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customer number (-1 unknown), caller number (-1 anonymous), and whether the
    customer id was recorded. Frequent callers are more frequent (u squared)."""
    kind = rng.random(n)
    person = (CUSTOMERS * rng.random(n) ** 2).astype(np.int64)
    known = kind < 0.70
    anonymous = kind >= 0.97
    customer = np.where(known, person, -1)
    # Unknown callers' numbers lie above the customers' numbers.
    caller = np.where(known, person, CUSTOMERS + person)
    caller = np.where(anonymous, -1, caller)
    id_recorded = known & (rng.random(n) < 0.8)
    return customer, caller, id_recorded


def _queued_outcomes(
    rng: np.random.Generator, queue: np.ndarray, answered_share: float
) -> np.ndarray:
    """Answered, abandoned (per queue around 9 %), then the rarer outcomes in the rest."""
    other_p = np.array([p for _, p in OTHER_OUTCOMES])
    other_p = other_p / other_p.sum() * (1 - answered_share - ABANDONED_SHARE)
    abandon = ABANDONED_SHARE * np.array([q.abandon_factor for q in QUEUES])[queue]
    answered = 1 - other_p.sum() - abandon
    u = rng.random(len(queue))
    outcome = np.full(len(queue), _O["answered"])
    outcome[(u >= answered) & (u < answered + abandon)] = _O["abandoned"]
    rest = u - (answered + abandon)
    other = rest >= 0
    codes = np.array([_O[name] for name, _ in OTHER_OUTCOMES])
    pick = np.searchsorted(np.cumsum(other_p), rest[other], side="right")
    outcome[other] = codes[np.minimum(pick, len(codes) - 1)]
    return outcome


def _waits(rng: np.random.Generator, queue: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    n = len(queue)
    asa = np.array([q.asa_s for q in QUEUES])[queue]
    wait = np.round(rng.exponential(1.0, n) * asa)
    abandoned = outcome == _O["abandoned"]
    short = rng.random(n) < 0.25
    wait[abandoned] = np.where(
        short[abandoned],
        rng.integers(0, 5, n)[abandoned],
        5 + np.round(rng.exponential(55, n)[abandoned]),
    )
    for name, mean in (("exited_key", 80), ("overflowed", 40), ("failed", 3)):
        mask = outcome == _O[name]
        wait[mask] = np.round(rng.exponential(mean, n)[mask])
    wait[outcome == _O["timed_out"]] = 300 + rng.integers(0, 3, n)[outcome == _O["timed_out"]]
    wait[(outcome == _O["blocked"]) | (outcome == _O["closed"])] = 0
    return wait


def _day(
    rng: np.random.Generator, day: int, n: int, first_seq: int, r: Roster
) -> tuple[pa.Table, pa.Table]:
    """``n`` calls rows entering on ``day`` (plus the second segments they cause), and the
    day's IVR steps."""
    n_out = round(n * 0.04)
    n_direct = round(n * 0.01)
    n_queued = n - n_out - n_direct
    n_first = round(n_queued / 1.03)
    n_second = n_queued - n_first

    # First queue visits.
    entered = _arrivals(rng, day, n_first)
    weights = np.array([q.weight for q in QUEUES])
    queue = rng.choice(len(QUEUES), size=n_first, p=weights / weights.sum())
    outcome = _queued_outcomes(rng, queue, ANSWERED_SHARE)
    customer, caller, id_recorded = _customers(rng, n_first)
    seq = first_seq + np.arange(n_first)

    # Second segments: answered visits transferred to another queue of the same tenant.
    answered_idx = np.flatnonzero(outcome == _O["answered"])
    parent = np.sort(rng.choice(answered_idx, size=n_second, replace=False))
    second_queue = TRANSFER_QUEUE[queue[parent]]
    second_outcome = _queued_outcomes(rng, second_queue, 0.90)

    # Stack first visits and second segments; the parents' timing is needed first.
    all_queue = np.concatenate([queue, second_queue])
    all_outcome = np.concatenate([outcome, second_outcome])
    m = len(all_queue)
    wait = _waits(rng, all_queue, all_outcome)
    answered = all_outcome == _O["answered"]
    talk_median = np.array([q.talk_s for q in QUEUES])[all_queue]
    talk = np.round(talk_median * rng.lognormal(0, 0.6, m))
    hold = np.where(rng.random(m) < 0.25, np.round(rng.exponential(45, m)), 0.0)
    acw = 5 + np.round(rng.exponential(25, m))
    acw_known = answered & (rng.random(m) < 0.97)
    parent_end = entered[parent] + ((wait + talk + hold)[parent] * _US).astype(np.int64)
    all_entered = np.concatenate([entered, parent_end + rng.integers(1, 4 * _US, n_second)])
    # Calls still waiting or talking when the month ends.
    late = all_entered > DAYS * 86_400 * _US - 600 * _US
    in_progress = late & (rng.random(m) < 0.5)
    all_outcome[in_progress] = _O["in_progress"]
    answered &= ~in_progress
    final = ~in_progress

    transferred = np.zeros(m, bool)
    transferred[parent] = True
    external = answered & (rng.random(m) < 0.03)
    transferred |= external
    segment = np.concatenate([np.ones(n_first, np.int32), np.full(n_second, 2, np.int32)])
    all_seq = np.concatenate([seq, seq[parent]])
    agent = np.where(answered, r.pick_agents(rng, all_queue), -1)
    resolved_u = rng.random(m)
    wrap = np.where(answered & (rng.random(m) < 0.95), rng.integers(0, len(WRAP_CODES), m), -1)
    has_ivr = (segment == 1) & (rng.random(m) < IVR_SHARE)
    all_customer = np.concatenate([customer, customer[parent]])
    all_caller = np.concatenate([caller, caller[parent]])
    all_id_recorded = np.concatenate([id_recorded, id_recorded[parent]])
    chat = rng.random(m) < 0.03
    queued = {
        "seq": all_seq,
        "call_start": np.concatenate([entered, entered[parent]]),
        "segment": segment,
        "queue": all_queue,
        "direction": np.zeros(m, np.int8),
        "channel": chat.astype(np.int8),
        "campaign": np.full(m, -1),
        "agent": agent,
        "customer": np.where(all_id_recorded, all_customer, -1),
        "lead": np.full(m, -1),
        "caller": all_caller,
        "entered": all_entered,
        "outcome": all_outcome,
        "wait": np.where(final, wait, np.nan),
        "talk": np.where(answered, talk, np.nan),
        "hold": np.where(answered, hold, np.nan),
        "acw": np.where(acw_known, acw, np.nan),
        "ring": np.where(answered, rng.integers(2, 12, m), np.nan),
        "ivr": np.where(has_ivr, rng.integers(8, 45, m), np.nan),
        "position": rng.poisson(2.0, m) + 1,
        "transferred": transferred,
        "transfer_kind": np.where(
            transferred, np.where(external, 0, 1 + (rng.random(m) < 0.3)), -1
        ),
        "transfer_target": np.where(external, 0, np.where(transferred, 1, -1)),
        "escalated": np.where(answered, rng.random(m) < 0.04, False),
        "escalated_known": answered,
        "ended_by": np.where(answered, (rng.random(m) < 0.55).astype(int), -1),
        "wrap": wrap,
        "resolved": resolved_u < 0.72,
        "resolved_known": answered & (resolved_u < 0.92),
        "answered_flag": answered,
        "final": final,
    }

    # Outbound attempts and direct inbound calls (no queue).
    k = n_out + n_direct
    direction = np.concatenate([np.ones(n_out, np.int8), np.zeros(n_direct, np.int8)])
    other_outcome = np.where(
        direction == 1,
        rng.choice(
            [_O["answered"], _O["no_answer"], _O["busy"], _O["voicemail"], _O["failed"]],
            size=k,
            p=[0.35, 0.40, 0.10, 0.10, 0.05],
        ),
        rng.choice([_O["answered"], _O["no_answer"], _O["voicemail"]], size=k, p=[0.7, 0.2, 0.1]),
    )
    o_answered = other_outcome == _O["answered"]
    o_customer, o_caller, o_recorded = _customers(rng, k)
    o_talk = np.round(rng.lognormal(np.log(150), 0.7, k))
    other_entered = _arrivals(rng, day, k)
    others = {
        "seq": first_seq + n_first + np.arange(k),
        "call_start": np.empty(0, np.int64),  # set below: the attempt's own time
        "segment": np.ones(k, np.int32),
        "queue": np.full(k, -1),
        "direction": direction,
        "channel": np.zeros(k, np.int8),
        "campaign": np.where(direction == 1, rng.integers(0, len(CAMPAIGNS), k), -1),
        "agent": rng.integers(0, AGENTS, k),
        "customer": np.where(o_recorded, o_customer, -1),
        "lead": np.where(direction == 1, rng.integers(0, 2_000_000, k), -1),
        "caller": o_caller,
        "entered": other_entered,
        "outcome": other_outcome,
        "wait": np.full(k, np.nan),
        "talk": np.where(o_answered, o_talk, np.nan),
        "hold": np.where(o_answered, 0.0, np.nan),
        "acw": np.where(o_answered, 10 + np.round(rng.exponential(20, k)), np.nan),
        "ring": np.where(o_answered, rng.integers(5, 25, k), np.nan),
        "ivr": np.full(k, np.nan),
        "position": np.full(k, -1),
        "transferred": np.zeros(k, bool),
        "transfer_kind": np.full(k, -1),
        "transfer_target": np.full(k, -1),
        "escalated": np.zeros(k, bool),
        "escalated_known": o_answered,
        "ended_by": np.where(o_answered, (rng.random(k) < 0.5).astype(int), -1),
        "wrap": np.where(o_answered, rng.integers(0, len(WRAP_CODES), k), -1),
        "resolved": rng.random(k) < 0.6,
        "resolved_known": o_answered,
        "answered_flag": o_answered,
        "final": np.ones(k, bool),
    }
    others["call_start"] = other_entered
    rows = {c: np.concatenate([queued[c], others[c]]) for c in queued}
    order = np.argsort(rows["entered"], kind="stable")
    rows = {c: v[order] for c, v in rows.items()}
    calls = _calls_arrow(rows, r)
    ivr = _ivr_arrow(rng, rows, first_seq + n_first + k)
    return calls, ivr


def _calls_arrow(rows: dict[str, np.ndarray], r: Roster) -> pa.Table:
    queue = rows["queue"]
    queued = queue >= 0
    epoch_s = (_EPOCH_US + rows["call_start"]) // _US
    call_id = pc.binary_join_element_wise(
        pc.cast(pa.array(epoch_s), pa.string()), pc.cast(pa.array(rows["seq"]), pa.string()), "."
    )
    wait_us = np.nan_to_num(rows["wait"]) * _US
    talk_us = np.nan_to_num(rows["talk"] + np.nan_to_num(rows["hold"])) * _US
    answered = rows["answered_flag"]
    entered_us = _EPOCH_US + rows["entered"]
    answered_us = entered_us + wait_us.astype(np.int64)
    ended_us = answered_us + np.where(answered, talk_us, 0).astype(np.int64)
    tenant_idx = {t: i for i, t in enumerate(dict.fromkeys(q.tenant for q in QUEUES))}
    q_tenant = np.array([tenant_idx[q.tenant] for q in QUEUES])
    agent_team_queue = r.queue_of_team[r.team_of_agent]
    # Where there is no queue, the agent's (or for nobody, a fixed) queue sets the tenant.
    home = np.where(
        queued,
        queue,
        np.where(rows["agent"] >= 0, agent_team_queue[np.maximum(rows["agent"], 0)], 0),
    )
    names = {
        "queue": np.array([q.name for q in QUEUES]),
        "tenant": np.array(list(tenant_idx)),
        "site": np.array([q.site for q in QUEUES]),
        "region": np.array([q.region for q in QUEUES]),
    }
    n = len(queue)
    columns = {
        "call_id": call_id,
        "segment": pa.array(rows["segment"].astype(np.int32)),
        "tenant": _strings(names["tenant"], q_tenant[home]),
        "site": _strings(names["site"], home),
        "region": _strings(names["region"], home),
        "direction": _strings(np.array(["in", "out"]), rows["direction"]),
        "channel": _strings(np.array(["voice", "chat"]), rows["channel"]),
        "queue": _strings(names["queue"], queue),
        "campaign": _strings(CAMPAIGNS, rows["campaign"]),
        "agent": _ids("Agent/", 1000 + rows["agent"], rows["agent"] >= 0),
        "customer_id": _ids("C", rows["customer"], rows["customer"] >= 0),
        "lead_id": _ids("L", rows["lead"], rows["lead"] >= 0),
        "caller": _ids("+7900", 10_000_000 + rows["caller"], rows["caller"] >= 0),
        "did": _strings(np.array([f"+7495100{i:04d}" for i in range(len(QUEUES))]), queue),
        "call_type": _strings(
            np.array(["queue", "direct", "campaign"]),
            np.where(queued, 0, np.where(rows["direction"] == 1, 2, 1)),
        ),
        "entered_at": _timestamps(entered_us),
        "answered_at": _timestamps(answered_us, answered),
        "ended_at": _timestamps(ended_us, rows["final"]),
        "outcome": _strings(OUTCOMES, rows["outcome"]),
        "wait_s": _seconds(rows["wait"], ~np.isnan(rows["wait"])),
        "ring_s": _seconds(rows["ring"], ~np.isnan(rows["ring"])),
        "talk_s": _seconds(rows["talk"], ~np.isnan(rows["talk"])),
        "hold_s": _seconds(rows["hold"], ~np.isnan(rows["hold"])),
        "acw_s": _seconds(rows["acw"], ~np.isnan(rows["acw"])),
        "ivr_s": _seconds(rows["ivr"], ~np.isnan(rows["ivr"])),
        "enter_position": pa.array(rows["position"].astype(np.int32), mask=rows["position"] < 0),
        "transferred": _bools(rows["transferred"]),
        "transfer_kind": _strings(
            np.array(["transfer", "blind", "attended"]), rows["transfer_kind"]
        ),
        "transfer_target": _strings(
            np.array(["600@ext-transfer", "app:Queue"]), rows["transfer_target"]
        ),
        "escalated": _bools(rows["escalated"], rows["escalated_known"]),
        "ended_by": _strings(np.array(["agent", "caller"]), rows["ended_by"]),
        "wrap_code": _strings(WRAP_CODES, rows["wrap"]),
        "resolved": _bools(rows["resolved"], rows["resolved_known"]),
        "source": pa.repeat(pa.scalar("bench"), n),
        "source_ref": pa.nulls(n, pa.string()),
    }
    return pa.table(columns, schema=arrow_schema("calls", list(columns)))


def _ivr_arrow(rng: np.random.Generator, rows: dict[str, np.ndarray], next_seq: int) -> pa.Table:
    """The IVR steps of the day's queued calls that came through the IVR, and of callers
    who ended in the IVR (self-served or hung up; their own call ids)."""
    tenants = list(IVR_PATHS)
    paths = [(t, p) for t in tenants for p in IVR_PATHS[t]]
    nodes = np.array(sorted({s[0] for _, p in paths for s in p[0]}))
    options = np.array(sorted({s[1] for _, p in paths for s in p[0] if s[1]}))
    node_idx = {v: i for i, v in enumerate(nodes)}
    option_idx = {v: i for i, v in enumerate(options)}
    results = np.array(["to_queue", "self_served", "hung_up"])
    max_len = max(len(p[0]) for _, p in paths)
    path_len = np.array([len(p[0]) for _, p in paths])
    path_node = np.full((len(paths), max_len), -1)
    path_option = np.full((len(paths), max_len), -1)
    for i, (_, p) in enumerate(paths):
        for j, (node, option) in enumerate(p[0]):
            path_node[i, j] = node_idx[node]
            path_option[i, j] = option_idx[option] if option else -1
    path_result = np.array([list(results).index(p[1]) for _, p in paths])
    path_tenant = np.array([tenants.index(t) for t, _ in paths])
    weight = np.array([p[2] for _, p in paths])

    def pick(tenant: np.ndarray, to_queue: bool) -> np.ndarray:
        chosen = np.empty(len(tenant), int)
        for t in range(len(tenants)):
            mask = tenant == t
            ok = (path_tenant == t) & ((path_result == 0) == to_queue)
            w = np.where(ok, weight, 0.0)
            chosen[mask] = rng.choice(len(paths), size=int(mask.sum()), p=w / w.sum())
        return chosen

    tenant_of_queue = np.array([tenants.index(q.tenant) for q in QUEUES])
    through = np.flatnonzero(~np.isnan(rows["ivr"]))
    q_tenant = tenant_of_queue[rows["queue"][through]]
    q_path = pick(q_tenant, True)
    q_length = (rows["ivr"][through] * _US).astype(np.int64)
    q_start = rows["entered"][through] - q_length
    epoch_s = (_EPOCH_US + rows["call_start"][through]) // _US
    q_ids = pc.binary_join_element_wise(
        pc.cast(pa.array(epoch_s), pa.string()),
        pc.cast(pa.array(rows["seq"][through]), pa.string()),
        ".",
    )
    # Callers who stayed in the IVR: a share of those who went through to a queue.
    n_only = round(len(through) * 0.35)
    o_tenant = rng.choice(len(tenants), size=n_only, p=[0.32, 0.45, 0.23])
    o_path = pick(o_tenant, False)
    o_start = np.sort(rng.choice(rows["entered"], size=n_only))
    o_ids = pc.binary_join_element_wise(
        pc.cast(pa.array((_EPOCH_US + o_start) // _US), pa.string()),
        pc.cast(pa.array(next_seq + np.arange(n_only)), pa.string()),
        ".",
    )
    path = np.concatenate([q_path, o_path])
    start = np.concatenate([q_start, o_start])
    length = np.concatenate([q_length, rng.integers(10, 60, n_only) * _US])
    call_ids = pa.concat_arrays([q_ids, o_ids])
    lengths = path_len[path]
    call = np.repeat(np.arange(len(path)), lengths)
    step = np.arange(len(call)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    at = start[call] + length[call] * (step + 1) // (lengths[call] + 1)
    last = step == lengths[call] - 1
    n = len(call)
    columns = {
        "call_id": pc.take(call_ids, pa.array(call)),
        "seq": pa.array((step + 1).astype(np.int32)),
        "node": _strings(nodes, path_node[path[call], step]),
        "option": _strings(options, path_option[path[call], step]),
        "at": _timestamps(_EPOCH_US + at),
        "result": _strings(results, np.where(last, path_result[path[call]], -1)),
        "source": pa.repeat(pa.scalar("bench"), n),
        "source_ref": pa.nulls(n, pa.string()),
    }
    return pa.table(columns, schema=arrow_schema("ivr_steps", list(columns)))


def _day_sizes(calls: int) -> np.ndarray:
    weekday = np.array([(MONTH_START + dt.timedelta(days=d)).weekday() for d in range(DAYS)])
    weights = WEEKDAY[weekday]
    sizes = np.floor(weights / weights.sum() * calls).astype(int)
    sizes[-1] += calls - sizes.sum()
    return sizes


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    columns = ", ".join(f'"{c}"' for c in rows.column_names)
    con.register("_bench_rows", rows)
    con.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM _bench_rows')
    con.unregister("_bench_rows")


def generate(calls: int, out: Path, seed: int = 1) -> dict[str, int]:
    """Write ``calls`` calls rows (and their IVR steps, the roster) into a new warehouse
    at ``out``, then fill each call's next contact and build every roll-up level. Returns
    the row counts."""
    rng = np.random.default_rng(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    r = roster()
    counts = {"calls": 0, "ivr_steps": 0, "agents": AGENTS}
    with Warehouse(partial) as wh:
        with wh.transaction() as con:
            _insert(con, "agents", agents_table(r))
        seq = 0
        sizes = _day_sizes(calls)
        # A few days per transaction: one commit per day spends more time flushing than
        # inserting, one for the month holds it all in memory.
        for first_day in range(0, DAYS, DAYS_PER_COMMIT):
            with wh.transaction() as con:
                for day in range(first_day, min(first_day + DAYS_PER_COMMIT, DAYS)):
                    day_calls, day_ivr = _day(rng, day, int(sizes[day]), seq, r)
                    seq += 2 * int(sizes[day])  # room for the day's IVR-only call ids
                    _insert(con, "calls", day_calls)
                    _insert(con, "ivr_steps", day_ivr)
                    counts["calls"] += day_calls.num_rows
                    counts["ivr_steps"] += day_ivr.num_rows
        with wh.transaction() as con:
            rollup.rebuild(con)
        counts["calls_rollup"] = wh.count("calls_rollup")
        wh.con.execute("CHECKPOINT")
    partial.replace(out)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench/data/calls_20m.duckdb"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    counts = generate(args.calls, args.out, args.seed)
    elapsed = time.perf_counter() - started
    print(f"wrote {counts} to {args.out} in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
