"""One Asterisk server per client: its channels (for uniqueids) and its queue_log lines.

Asterisk names a channel's uniqueid ``<epoch of creation>.<counter>``, the counter
counting every channel the server has created since it started (Local channels, agent
legs, internal calls included). The simulations create channels out of time order (an
outbound dialer and the inbound queues run separately), so the counters are given out
afterwards, in creation order, with gaps for the channels the demo does not model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ChannelRef:
    """A channel's uniqueid inside a queue_log data field, resolved when written."""

    index: int


LogValue = str | int | ChannelRef


@dataclass(frozen=True)
class QueueLogLine:
    epoch: int
    call: int | None
    """The caller's channel (its uniqueid is the callid), or None for ``NONE``."""
    queue: str
    agent: str
    event: str
    data: tuple[LogValue, ...]


@dataclass
class Pbx:
    name: str
    tenant: str
    channel_epochs: list[int] = field(default_factory=list)
    queue_log: list[QueueLogLine] = field(default_factory=list)
    _counters: np.ndarray | None = None
    _uniqueids: list[str] = field(default_factory=list)

    def new_channel(self, epoch: int) -> int:
        self.channel_epochs.append(int(epoch))
        return len(self.channel_epochs) - 1

    def log(
        self, epoch: int, call: int | None, queue: str, agent: str, event: str, *data: LogValue
    ) -> None:
        self.queue_log.append(QueueLogLine(epoch, call, queue, agent, event, data))

    def number_channels(self, rng: np.random.Generator) -> None:
        """Give every channel its counter, in order of creation."""
        epochs = np.array(self.channel_epochs, dtype=np.int64)
        order = np.lexsort((np.arange(len(epochs)), epochs))
        steps = rng.integers(1, 4, size=len(epochs))
        counters = np.empty(len(epochs), dtype=np.int64)
        counters[order] = int(rng.integers(20_000, 90_000)) + np.cumsum(steps)
        self._counters = counters
        self._uniqueids = [
            f"{epoch}.{counter}"
            for epoch, counter in zip(self.channel_epochs, counters.tolist(), strict=True)
        ]

    def uniqueid(self, channel: int) -> str:
        return self._uniqueids[channel]

    def channel_name(self, tech_peer: str, channel: int) -> str:
        """``PJSIP/1001-0000a1b2``: Asterisk's channel name with its hex instance number."""
        assert self._counters is not None, "number_channels() first"
        return f"{tech_peer}-{int(self._counters[channel]) & 0xFFFFFFFF:08x}"
