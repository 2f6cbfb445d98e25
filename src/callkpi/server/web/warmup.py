"""Answers computed ahead of time: after the server starts and after new data arrives.

A :class:`Warmer` thread watches the data version (:func:`callkpi.server.web.cache.data_version`,
read every few seconds: one small query) and the scopes of the callers seen recently.
When either differs from what it last warmed (at start, after an ingest batch or a change
of targets, when a caller of a new scope opens a page) it computes, one at a time, the jobs
of its stages in order: in the server (:func:`callkpi.server.web.routes`) first every
page's default view (:mod:`callkpi.server.web.page_requests`) for an unscoped caller and
each recent scope, Overview first, then the most recent requests the pages' cache
remembers, then the Planning page's forecast and plan (seconds each), then the planning
and analysis routes' recent requests; so the dear jobs never hold back the cheap ones.
Each job takes the reader's lock like any request, for one answer at a time, so requests
keep being served in between; a request for an answer being computed waits for it
instead of computing it twice. It pauses at least as long as its last run took (at most
half the time warming, however often data arrives), and stops with the server.

Off unless ``CALLKPI_WARM_UP=1`` is set in the server's environment: it spends CPU on
answers nobody may ask for.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

log = logging.getLogger("callkpi.server")

WARM_UP_ENV = "CALLKPI_WARM_UP"
EVERY_S = 2.0


def enabled() -> bool:
    """Whether the server's environment asks for warming (``CALLKPI_WARM_UP=1``)."""
    return os.environ.get(WARM_UP_ENV, "").strip().lower() in ("1", "true", "yes", "on")


Job = Callable[[], Any]


class Warmer:
    """Computes the jobs of each of ``stages`` (in order) whenever ``version()`` changes."""

    def __init__(self, version: Callable[[], Hashable],
                 stages: Sequence[Callable[[], Sequence[Job]]],
                 *, every_s: float = EVERY_S) -> None:
        self.version = version
        self.stages = list(stages)
        self.every_s = every_s
        self.warmed: Hashable | None = None
        """The data version whose answers were all computed (None: none yet)."""
        self.runs = 0
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="callkpi-warm-up",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def wait(self, timeout: float) -> bool:
        """Wait until the current data version is warmed; whether it is."""
        with self._changed:
            return self._changed.wait_for(lambda: self._current() == self.warmed, timeout)

    def _current(self) -> Hashable | None:
        try:
            return self.version()
        except Exception:  # a closed warehouse: nothing to warm
            return None

    def _loop(self) -> None:
        wait = 0.0
        while not self._stop.wait(wait):
            wait = self.every_s
            version = self._current()
            if version is None or version == self.warmed:
                continue
            started = time.monotonic()
            if self._warm(version):
                with self._changed:
                    self.warmed = version
                    self.runs += 1
                    self._changed.notify_all()
            # At most half the time warming: with data arriving every few seconds (live
            # events) the answers are computed again at most every other moment.
            wait = max(self.every_s, time.monotonic() - started)

    def _warm(self, version: Hashable) -> bool:
        """Compute every job once; whether the data stayed at ``version`` meanwhile."""
        for stage in self.stages:
            try:
                jobs = list(stage())
            except Exception:  # a stage that cannot be made: the next ones
                log.debug("warm-up: a stage failed", exc_info=True)
                continue
            for job in jobs:
                if self._stop.is_set():
                    return False
                try:
                    job()
                except Exception:  # it fails for its caller too
                    log.debug("warm-up: an answer failed", exc_info=True)
        return self._current() == version


__all__ = ["EVERY_S", "WARM_UP_ENV", "Job", "Warmer", "enabled"]
