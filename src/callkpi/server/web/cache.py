"""Answers kept until the data changes: the dashboard's expensive answers per data version.

A page's numbers depend only on the warehouse's data, the targets, what was asked and the
caller's scope. :func:`data_version` reads a small fingerprint of the first two (the
ingest batches: every upload, posted event batch, tailed log and ``callkpi ingest`` records
one in the same transaction as its rows; and the stored targets, which change without a
batch); a :class:`AnswerCache` keeps answers under a key that includes it, so an answer
is never served once data or targets have changed, and a key always includes the
caller's scope, so one caller never gets an answer computed for another scope.

The cache is bounded (least recently used answers go first) and belongs to one server
(one app): nothing is shared between servers in the same process.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from callkpi.store import Warehouse, fetch_one

T = TypeVar("T")

MAX_ANSWERS = 256
"""Answers kept per cache (a page's answer is at most a few hundred kilobytes)."""
MAX_RECIPES = 32
"""Recent requests remembered per cache, to compute again ahead of time on new data."""

_VERSION_SQL = (
    "SELECT (SELECT coalesce(max(batch_id), 0) FROM ingest_batches), "
    "(SELECT count(*) FROM ingest_batches), "
    "(SELECT count(*) FROM targets), "
    "(SELECT coalesce(sum(hash(kpi, scope, scope_value, period_start, period_end, target, "
    "warning, critical, impact, owner, due_date, note)), 0)::VARCHAR FROM targets), "
    "(SELECT max(updated_at)::VARCHAR FROM targets)"
)


def data_version(wh: Warehouse, lock: threading.Lock | None = None) -> tuple[Any, ...]:
    """A fingerprint of the warehouse's data and targets: it changes with every ingest
    batch and every change of a target (set, replaced or removed)."""
    if lock is None:
        return tuple(wh.sql(_VERSION_SQL)[0])
    with lock:
        return tuple(wh.sql(_VERSION_SQL)[0])


class VersionReader:
    """:func:`data_version` on a connection of its own (a cursor of the warehouse's), so
    that a kept answer is served without waiting for the reader's lock, which another
    request's computation (a plan: seconds) may hold. :meth:`close` it with the server."""

    def __init__(self, wh: Warehouse) -> None:
        self._con = wh.con.cursor()
        self._lock = threading.Lock()

    def __call__(self) -> tuple[Any, ...]:
        with self._lock:
            row = fetch_one(self._con, _VERSION_SQL)
        assert row is not None
        return tuple(row)

    def close(self) -> None:
        with self._lock:
            self._con.close()


def scope_key(limits: Mapping[str, Sequence[str]]) -> tuple[Any, ...]:
    """A caller's scope as part of a key: exactly its dimensions and values, in order (the
    order of a scope's values chooses its default filters, so it is not normalized)."""
    return tuple((dim, tuple(values)) for dim, values in limits.items())


class AnswerCache:
    """Answers by key, least recently used first out, at most ``size``.

    :meth:`get` computes an answer once per key: a second caller asking for a key being
    computed waits for it instead of computing it again. Answers are copied on the way
    in and out, so nobody changes a kept answer."""

    def __init__(self, size: int = MAX_ANSWERS, recipes: int = MAX_RECIPES) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()
        self._recipes: OrderedDict[Hashable, Callable[[], Any]] = OrderedDict()
        self._recipes_size = recipes
        self._lock = threading.Lock()
        self._running: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._answers)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._answers

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()

    def remember(self, request: Hashable, recipe: Callable[[], Any]) -> None:
        """Remember how to answer ``request`` (a key without the data version) again: a
        :class:`callkpi.server.web.warmup.Warmer` computes the most recent ones ahead of
        time when the data changes."""
        with self._lock:
            self._recipes[request] = recipe
            self._recipes.move_to_end(request)
            while len(self._recipes) > self._recipes_size:
                self._recipes.popitem(last=False)

    def recipes(self) -> list[Callable[[], Any]]:
        """The remembered requests' recipes, the most recent first."""
        with self._lock:
            return list(reversed(self._recipes.values()))

    def kept(self, version: Callable[[], Hashable], request: tuple[Any, ...],
             compute: Callable[[], T]) -> T:
        """``compute()``'s answer to ``request`` (a key without the data version), kept for
        the current ``version()``; the request is remembered for :meth:`recipes`."""
        answer = self.get((version(), *request), compute)
        self.remember(request, lambda: self.kept(version, request, compute))
        return answer

    def _lookup(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                self.hits += 1
                return True, self._answers[key]
        return False, None

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The kept answer for ``key``, else ``compute()`` (kept unless it raises)."""
        found, value = self._lookup(key)
        if found:
            return copy.deepcopy(value)
        with self._lock:
            running = self._running.setdefault(key, threading.Lock())
        with running:
            found, value = self._lookup(key)
            if found:
                return copy.deepcopy(value)
            try:
                value = compute()
                with self._lock:
                    self.misses += 1
                    self._answers[key] = copy.deepcopy(value)
                    self._answers.move_to_end(key)
                    while len(self._answers) > self.size:
                        self._answers.popitem(last=False)
            finally:
                with self._lock:
                    self._running.pop(key, None)
        return value


__all__ = ["MAX_ANSWERS", "MAX_RECIPES", "AnswerCache", "VersionReader", "data_version",
           "scope_key"]
