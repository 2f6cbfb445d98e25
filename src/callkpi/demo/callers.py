"""Who calls: each client's customer book (fake Russian mobile numbers) and repeat callers.

Most callers are customers drawn from the client's book; some are not (a prospect, a
wrong number, a withheld customer). A caller whose issue is not solved (an unresolved
call, a hang-up in the IVR) often calls again within days, which is what first-contact
resolution and repeat-contact KPIs measure; callers who abandon in the queue redial
within minutes (that is done by the queue simulation).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from dataclasses import dataclass

import numpy as np

from callkpi.demo.center import QueueSpec, Tenant, WrapCode

REPEAT_IF_UNRESOLVED_PROB = 0.55
"""Chance that a caller whose issue was not solved calls again within the week."""
SAME_DAY_REPEAT_SHARE = 0.35
ID_PREFIX = {"nordbank": "NB", "telesfera": "TS", "marketplus": "MP"}


def mobile_numbers(rng: np.random.Generator, count: int) -> list[str]:
    """Distinct fake Russian mobile numbers in the 79XXXXXXXXX form."""
    numbers: list[str] = []
    seen: set[int] = set()
    while len(numbers) < count:
        for value in rng.integers(900_000_0000, 999_999_9999, size=count - len(numbers)):
            if int(value) not in seen:
                seen.add(int(value))
                numbers.append(f"7{int(value)}")
    return numbers


@dataclass
class CustomerBook:
    """A client's customers: id, phone, segment, and how long they have been customers."""

    tenant: str
    ids: list[str]
    phones: list[str]
    segments: list[str]
    tenure_days: np.ndarray

    def index_of_segment(self, segments: tuple[str, ...]) -> np.ndarray:
        return np.array([i for i, s in enumerate(self.segments) if s in segments])


def build_book(rng: np.random.Generator, tenant: Tenant) -> CustomerBook:
    size = tenant.customer_base
    names = [s for s, _ in tenant.segments]
    shares = np.array([p for _, p in tenant.segments])
    segments = [names[i] for i in rng.choice(len(names), size=size, p=shares / shares.sum())]
    prefix = ID_PREFIX.get(tenant.tenant, tenant.tenant[:2].upper())
    return CustomerBook(
        tenant=tenant.tenant,
        ids=[f"{prefix}-{i:07d}" for i in range(1, size + 1)],
        phones=mobile_numbers(rng, size),
        segments=segments,
        tenure_days=rng.gamma(1.6, 700, size=size).astype(np.int64) + 30,
    )


@dataclass(frozen=True)
class Caller:
    phone: str
    customer: int | None
    """Index into the tenant's customer book; None for a caller who is not a customer."""


@dataclass(frozen=True)
class Contact:
    """A call to a queue's number, before the IVR: who calls, why, and whether the issue
    gets solved if an agent answers."""

    queue: str
    arrived_at: int
    caller: Caller
    reason: WrapCode
    resolvable: bool
    repeat: bool


def _new_caller(
    rng: np.random.Generator, book: CustomerBook, queue: QueueSpec, pool: np.ndarray | None
) -> Caller:
    """A first-time caller: someone from the book (from ``pool`` if given), or not."""
    if rng.random() < queue.unknown_caller_share:
        return Caller(mobile_numbers(rng, 1)[0], None)
    if pool is not None and len(pool):
        index = int(pool[rng.integers(len(pool))])
    else:
        index = int(rng.integers(len(book.ids)))
    return Caller(book.phones[index], index)


def weighted_pick(rng: np.random.Generator, cumulative: list[float]) -> int:
    """An index drawn with the weights whose running totals are ``cumulative``."""
    return bisect.bisect_right(cumulative, rng.random() * cumulative[-1])


def _cumulative(codes: tuple[WrapCode, ...]) -> list[float]:
    return list(itertools.accumulate(w.weight for w in codes))


def _repeat_delay_s(rng: np.random.Generator) -> int:
    if rng.random() < SAME_DAY_REPEAT_SHARE:
        return 600 + int(rng.exponential(7200))
    return int(rng.uniform(1, 6) * 86_400 + rng.normal(0, 7200))


def assign_callers(
    rng: np.random.Generator, queue: QueueSpec, book: CustomerBook, arrivals: np.ndarray
) -> list[Contact]:
    """A caller, reason and planned resolution for each arrival of one queue (in time
    order). Unresolved contacts come back as later arrivals of the same queue."""
    pool = book.index_of_segment(queue.caller_segments) if queue.caller_segments else None
    cumulative = _cumulative(queue.wrap_codes)
    pending: list[tuple[int, int, Caller, WrapCode]] = []
    contacts = []
    for order, at in enumerate(arrivals.tolist()):
        if pending and pending[0][0] <= at:
            _, _, caller, reason = heapq.heappop(pending)
            repeat = True
        else:
            caller = _new_caller(rng, book, queue, pool)
            reason = queue.wrap_codes[weighted_pick(rng, cumulative)]
            repeat = False
        resolvable = bool(rng.random() < reason.resolve_prob)
        contacts.append(Contact(queue.queue, int(at), caller, reason, resolvable, repeat))
        if not resolvable and rng.random() < REPEAT_IF_UNRESOLVED_PROB:
            heapq.heappush(pending, (int(at) + _repeat_delay_s(rng), order, caller, reason))
    return contacts
