"""The inbound queues of one client: a discrete-event simulation of Asterisk app_queue.

Callers arrive at the IVR (:mod:`callkpi.demo.ivr`); those who choose an agent join the
queue. The agents are the ones actually on shift (:mod:`callkpi.demo.staffing`): they
join their queues at login (ADDMEMBER), pause for breaks, lunch, training and personal
reasons (PAUSEALL and one PAUSE per queue, as app_queue writes them), and leave at the end
of the shift (REMOVEMEMBER), finishing their current call first.

A waiting caller is offered to the longest-idle free agent of the queue (app_queue's
``leastrecent`` strategy; agents in several queues serve the queue with the higher
``weight`` first). The phone rings a few seconds (CONNECT) or, now and then, nobody
picks up within the 15 s ring timeout (RINGNOANSWER) and the caller waits on. Talk time
is lognormal per queue, then wrap-up (WRAPUPSTART). Each caller has an exponential
patience: when it runs out before an agent answers, the caller hangs up (ABANDON, or
RINGCANCELED and ABANDON during a ring), so abandonment rises with the wait; some hang
up within 5 s. Queues with a ``timeout`` send long waiters on (EXITWITHTIMEOUT); queues
that announce a callback option lose a few callers to it (EXITWITHKEY). Some answered
calls are transferred: blind transfers into another queue of the client start a new
visit of the same call (to tier 2: an escalation); attended transfers go to a specialist
outside the queues. Callers who abandoned often redial a few minutes later.

Every event is written to the PBX's queue_log as it happens (times in whole seconds,
lines in time order), and every queue visit is also recorded as a :class:`Visit`, the
simulation's own account that tests compare with what ingest makes of the log.
"""

from __future__ import annotations

import heapq
import math
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from callkpi.demo import ivr
from callkpi.demo.callers import Contact
from callkpi.demo.center import Agent, QueueSpec, Transfer
from callkpi.demo.clock import Period
from callkpi.demo.pbx import ChannelRef, Pbx
from callkpi.demo.staffing import PauseRequest, WorkedShift

RING_TIMEOUT_S = 15
"""app_queue member ``timeout``: how long one agent's phone rings."""
RETRY_S = 5
"""app_queue ``retry``: the pause before the next agent is tried."""
RING_NO_ANSWER_PROB = 0.02
PENALTY_RAISE_AFTER_S = 30
"""queuerules.conf ``penaltychange => 30,1``: after 30 s a caller may also go to members
with penalty 1 (an agent's queues after the first are penalty 1: overflow help)."""
REDIAL_PROB = 0.4
"""Chance that a caller who abandoned after more than 10 s calls again."""
REDIAL_MEAN_S = 420
SHORT_ABANDON_S = 5


@dataclass(slots=True)
class InboundCall:
    """A call to one of the client's numbers, from the IVR to its last queue visit."""

    contact: Contact
    channel: int
    ivr: ivr.IvrVisit
    visits: list[Visit] = field(default_factory=list)

    @property
    def arrived_at(self) -> int:
        return self.contact.arrived_at


@dataclass(slots=True)
class Visit:
    """One queue visit as the simulation saw it (a ``calls`` row after ingest)."""

    call: InboundCall
    segment: int
    queue: str
    entered_at: int
    enter_position: int
    outcome: str = "in_progress"
    ended_at: int | None = None
    agent: Agent | None = None
    agent_leg: int | None = None
    """The answering agent's channel."""
    answered_at: int | None = None
    wait_s: int | None = None
    ring_s: int | None = None
    talk_s: int | None = None
    acw_s: int | None = None
    transfer: Transfer | None = None
    ring_no_answers: int = 0
    excluded_agent: str | None = None
    """The agent who transferred the call here (never offered it again)."""
    ringing: Member | None = None
    ring_started_at: int = 0
    retry_at: int = 0
    """No agent is tried before this time (app_queue's ``retry`` after a ring no-answer)."""
    ring_token: int = 0


@dataclass(slots=True)
class Member:
    """An agent as app_queue sees them during the simulation."""

    agent: Agent
    queues: tuple[str, ...]
    logged_in: bool = False
    paused: str | None = None
    busy: bool = False
    away_until: int = 0
    free_since: int = 0
    pause_token: int = 0
    pending: deque[Callable[[], None]] = field(default_factory=deque)

    @property
    def name(self) -> str:
        return self.agent.agent

    def penalty(self, queue: str) -> int:
        return 0 if self.queues and self.queues[0] == queue else 1

    def available(self, now: int) -> bool:
        return self.logged_in and self.paused is None and not self.busy and self.away_until <= now


class QueueSimulation:
    """The queues, members and callers of one PBX; :meth:`run` plays the whole period."""

    def __init__(
        self,
        rng: np.random.Generator,
        pbx: Pbx,
        period: Period,
        queues: Sequence[QueueSpec],
        members: Sequence[Agent],
    ) -> None:
        self.rng = rng
        self.pbx = pbx
        self.period = period
        self.queues = {q.queue: q for q in queues}
        self.by_weight = sorted(self.queues, key=lambda q: (-self.queues[q].weight, q))
        self.members = {
            a.agent: Member(a, tuple(q for q in a.skills if q in self.queues)) for a in members
        }
        self.waiting: dict[str, list[Visit]] = {q: [] for q in self.queues}
        self.calls: list[InboundCall] = []
        self.visits: list[Visit] = []
        self._events: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self.now = 0

    # -- the event loop -------------------------------------------------------------------

    def at(self, time: int, handler: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._events, (int(time), self._seq, handler, args))

    def run(self) -> None:
        while self._events:
            time, _, handler, args = heapq.heappop(self._events)
            self.now = time
            handler(*args)

    # -- inputs ---------------------------------------------------------------------------

    def add_contact(self, contact: Contact, path: ivr.IvrPath) -> InboundCall:
        """A call reaching the IVR; it joins the queue if the IVR sends it there."""
        call = InboundCall(
            contact,
            self.pbx.new_channel(contact.arrived_at),
            ivr.walk(self.rng, path, contact.arrived_at),
        )
        self.calls.append(call)
        if path.result == ivr.TO_QUEUE:
            self.at(call.ivr.ended_at, self._enter, call, contact.queue, None)
        return call

    def add_shift(self, shift: WorkedShift) -> None:
        member = self.members[shift.agent.agent]
        self.at(shift.login_at, self._login, member)
        for request in shift.pauses:
            self.at(request.at, self._request_pause, member, request)
        self.at(shift.logout_at, self._request_logout, member)

    # -- callers --------------------------------------------------------------------------

    def _enter(self, call: InboundCall, queue: str, excluded: str | None) -> None:
        spec = self.queues[queue]
        waiting = self.waiting[queue]
        visit = Visit(
            call, len(call.visits) + 1, queue, self.now, len(waiting) + 1, excluded_agent=excluded
        )
        call.visits.append(visit)
        self.visits.append(visit)
        waiting.append(visit)
        if visit.segment == 1:
            self.pbx.log(self.now, call.channel, queue, "NONE", "DID", spec.did)
        self.pbx.log(
            self.now,
            call.channel,
            queue,
            "NONE",
            "ENTERQUEUE",
            "",
            call.contact.caller.phone,
            visit.enter_position,
        )
        self.at(self.now + self._patience_s(spec), self._patience_ends, visit)
        if spec.max_wait_s:
            self.at(self.now + spec.max_wait_s, self._timeout, visit)
        if spec.exit_key_prob:
            self.at(self.now + spec.announce_every_s, self._announce, visit)
        self.at(self.now + PENALTY_RAISE_AFTER_S, self._dispatch)
        self._dispatch()

    def _patience_s(self, spec: QueueSpec) -> int:
        if self.rng.random() < spec.short_abandon_share:
            return int(self.rng.integers(0, SHORT_ABANDON_S))
        return math.ceil(self.rng.exponential(spec.patience_s))

    def _position(self, visit: Visit) -> int:
        return self.waiting[visit.queue].index(visit) + 1

    def _leave(self, visit: Visit, outcome: str) -> int:
        """Take a caller out of the queue unanswered; returns its position when it left."""
        position = self._position(visit)
        self.waiting[visit.queue].remove(visit)
        visit.outcome = outcome
        visit.ended_at = self.now
        visit.wait_s = self.now - visit.entered_at
        return position

    def _patience_ends(self, visit: Visit) -> None:
        if visit.outcome != "in_progress" or visit.answered_at is not None:
            return
        if visit.ringing is not None:
            member = visit.ringing
            ring_ms = (self.now - visit.ring_started_at) * 1000
            self.pbx.log(
                self.now,
                visit.call.channel,
                visit.queue,
                member.name,
                "RINGCANCELED",
                max(ring_ms, 500),
            )
            self._free_after_ring(member, visit)
        position = self._leave(visit, "abandoned")
        self.pbx.log(
            self.now,
            visit.call.channel,
            visit.queue,
            "NONE",
            "ABANDON",
            position,
            visit.enter_position,
            visit.wait_s or 0,
        )
        self._maybe_redial(visit)
        self._dispatch()

    def _timeout(self, visit: Visit) -> None:
        if visit.outcome != "in_progress" or visit.answered_at is not None:
            return
        if visit.ringing is not None:
            self.at(self.now + RING_TIMEOUT_S + 1, self._timeout, visit)
            return
        position = self._leave(visit, "timed_out")
        self.pbx.log(
            self.now,
            visit.call.channel,
            visit.queue,
            "NONE",
            "EXITWITHTIMEOUT",
            position,
            visit.enter_position,
            visit.wait_s or 0,
        )

    def _announce(self, visit: Visit) -> None:
        if visit.outcome != "in_progress" or visit.answered_at is not None:
            return
        spec = self.queues[visit.queue]
        if visit.ringing is None and self.rng.random() < spec.exit_key_prob:
            position = self._leave(visit, "exited_key")
            self.pbx.log(
                self.now,
                visit.call.channel,
                visit.queue,
                "NONE",
                "EXITWITHKEY",
                "1",
                position,
                visit.enter_position,
                visit.wait_s or 0,
            )
            return
        self.at(self.now + spec.announce_every_s, self._announce, visit)

    def _maybe_redial(self, visit: Visit) -> None:
        if visit.segment != 1:
            return
        chance = REDIAL_PROB if (visit.wait_s or 0) > 10 else REDIAL_PROB / 3
        if self.rng.random() >= chance:
            return
        redial_at = self.now + 20 + int(self.rng.exponential(REDIAL_MEAN_S))
        profile = self.queues[visit.queue].volume.profile
        day = self.period.local(self.now).date()
        if redial_at >= self.period.epoch(day, profile.close_hour * 3600):
            return
        contact = visit.call.contact
        self.add_contact(
            Contact(
                contact.queue,
                redial_at,
                contact.caller,
                contact.reason,
                contact.resolvable,
                repeat=True,
            ),
            ivr.shortcut(visit.queue),
        )

    # -- offering calls to agents ---------------------------------------------------------

    def _pick_member(self, visit: Visit) -> Member | None:
        """The longest-idle free member the caller may reach now (penalty rules applied)."""
        max_penalty = 1 if self.now - visit.entered_at >= PENALTY_RAISE_AFTER_S else 0
        best = None
        for member in self.members.values():
            if (
                visit.queue not in member.queues
                or not member.available(self.now)
                or member.name == visit.excluded_agent
                or member.penalty(visit.queue) > max_penalty
            ):
                continue
            if best is None or (member.free_since, member.name) < (best.free_since, best.name):
                best = member
        return best

    def _dispatch(self) -> None:
        for queue in self.by_weight:
            for visit in list(self.waiting[queue]):
                if visit.ringing is not None or visit.retry_at > self.now:
                    continue
                member = self._pick_member(visit)
                if member is not None:
                    self._ring(visit, member)

    def _ring(self, visit: Visit, member: Member) -> None:
        member.busy = True
        visit.ringing = member
        visit.ring_started_at = self.now
        visit.ring_token += 1
        agent_leg = self.pbx.new_channel(self.now)
        if self.rng.random() < RING_NO_ANSWER_PROB:
            self.at(
                self.now + RING_TIMEOUT_S, self._ring_no_answer, visit, member, visit.ring_token
            )
        else:
            ring_s = 2 + int(self.rng.gamma(2.0, 1.5))
            self.at(self.now + ring_s, self._connect, visit, member, visit.ring_token, agent_leg)

    def _free_after_ring(self, member: Member, visit: Visit) -> None:
        visit.ringing = None
        visit.ring_token += 1
        member.busy = False
        self._run_pending(member)

    def _ring_no_answer(self, visit: Visit, member: Member, token: int) -> None:
        if token != visit.ring_token:
            return
        self.pbx.log(
            self.now,
            visit.call.channel,
            visit.queue,
            member.name,
            "RINGNOANSWER",
            RING_TIMEOUT_S * 1000 + int(self.rng.integers(0, 40)),
        )
        visit.ring_no_answers += 1
        member.away_until = self.now + 30 + int(self.rng.exponential(60))
        self.at(member.away_until, self._dispatch)
        self._free_after_ring(member, visit)
        visit.retry_at = self.now + RETRY_S
        self.at(visit.retry_at, self._dispatch)
        self._dispatch()

    def _connect(self, visit: Visit, member: Member, token: int, agent_leg: int) -> None:
        if token != visit.ring_token:
            return
        spec = self.queues[visit.queue]
        ring_s = self.now - visit.ring_started_at
        self.waiting[visit.queue].remove(visit)
        visit.ringing = None
        visit.agent = member.agent
        visit.agent_leg = agent_leg
        visit.answered_at = self.now
        visit.wait_s = self.now - visit.entered_at
        visit.ring_s = ring_s
        self.pbx.log(
            self.now,
            visit.call.channel,
            visit.queue,
            member.name,
            "CONNECT",
            visit.wait_s,
            ChannelRef(agent_leg),
            ring_s,
        )
        talk_s = max(5, round(self.rng.lognormal(math.log(spec.talk_median_s), spec.talk_sigma)))
        visit.transfer = self._transfer_or_none(spec)
        self.at(self.now + talk_s, self._hang_up, visit, member)

    def _transfer_or_none(self, spec: QueueSpec) -> Transfer | None:
        draw = self.rng.random()
        for transfer in spec.transfers:
            if draw < transfer.share:
                return transfer
            draw -= transfer.share
        return None

    def _hang_up(self, visit: Visit, member: Member) -> None:
        spec = self.queues[visit.queue]
        assert visit.answered_at is not None and visit.wait_s is not None
        talk_s = self.now - visit.answered_at
        hold, position = visit.wait_s, visit.enter_position
        transfer = visit.transfer
        channel = visit.call.channel
        if transfer is None:
            by_agent = self.rng.random() < spec.complete_agent_share
            self.pbx.log(
                self.now,
                channel,
                visit.queue,
                member.name,
                "COMPLETEAGENT" if by_agent else "COMPLETECALLER",
                hold,
                talk_s,
                position,
            )
        elif transfer.kind == "blind":
            self.pbx.log(
                self.now,
                channel,
                visit.queue,
                member.name,
                "BLINDTRANSFER",
                transfer.extension,
                transfer.context,
                hold,
                talk_s,
                position,
            )
        else:
            bridge = str(uuid.UUID(bytes=self.rng.bytes(16), version=4))
            self.pbx.log(
                self.now,
                channel,
                visit.queue,
                member.name,
                "ATTENDEDTRANSFER",
                "BRIDGE",
                bridge,
                hold,
                talk_s,
                position,
            )
        acw_s = max(3, round(self.rng.lognormal(math.log(spec.acw_median_s), 0.45)))
        self.pbx.log(self.now, channel, visit.queue, member.name, "WRAPUPSTART", acw_s)
        visit.outcome = "answered"
        visit.talk_s = talk_s
        visit.acw_s = acw_s
        visit.ended_at = self.now
        if transfer is not None and transfer.target_queue:
            self.at(self.now, self._enter, visit.call, transfer.target_queue, member.name)
        self.at(self.now + acw_s, self._wrap_up_done, member)

    def _wrap_up_done(self, member: Member) -> None:
        member.busy = False
        member.free_since = self.now
        self._run_pending(member)
        self._dispatch()

    # -- agents ---------------------------------------------------------------------------

    def _run_pending(self, member: Member) -> None:
        while member.pending and not member.busy and member.paused is None:
            member.pending.popleft()()

    def _login(self, member: Member) -> None:
        if member.logged_in:
            return
        member.logged_in = True
        member.free_since = self.now
        for queue in member.queues:
            self.pbx.log(self.now, None, queue, member.name, "ADDMEMBER", "")
        self._dispatch()

    def _request_pause(self, member: Member, request: PauseRequest) -> None:
        if not member.logged_in:
            return
        if member.busy:
            member.pending.append(lambda: self._pause(member, request))
        elif member.paused is None:
            self._pause(member, request)

    def _pause(self, member: Member, request: PauseRequest) -> None:
        if not member.logged_in:
            return
        end = self.now + request.duration_s
        if request.latest_end is not None:
            end = min(end, request.latest_end)
        if end - self.now < 60:
            return
        member.paused = request.reason
        member.pause_token += 1
        self.pbx.log(self.now, None, "NONE", member.name, "PAUSEALL", request.reason)
        for queue in member.queues:
            self.pbx.log(self.now, None, queue, member.name, "PAUSE", request.reason)
        self.at(end, self._unpause, member, member.pause_token)

    def _unpause(self, member: Member, token: int) -> None:
        if token != member.pause_token or member.paused is None:
            return
        member.paused = None
        self.pbx.log(self.now, None, "NONE", member.name, "UNPAUSEALL", "")
        for queue in member.queues:
            self.pbx.log(self.now, None, queue, member.name, "UNPAUSE", "")
        self._run_pending(member)
        self._dispatch()

    def _request_logout(self, member: Member) -> None:
        if member.busy or member.paused is not None:
            member.pending.append(lambda: self._logout(member))
        else:
            self._logout(member)

    def _logout(self, member: Member) -> None:
        if not member.logged_in:
            return
        member.logged_in = False
        member.pending.clear()
        for queue in member.queues:
            self.pbx.log(self.now, None, queue, member.name, "REMOVEMEMBER", "")


def simulate_client(
    rng: np.random.Generator,
    pbx: Pbx,
    period: Period,
    queues: Sequence[QueueSpec],
    agents: Sequence[Agent],
    shifts: Sequence[WorkedShift],
    contacts: Sequence[Contact],
) -> QueueSimulation:
    """Run one client's queues over the period."""
    sim = QueueSimulation(rng, pbx, period, queues, agents)
    for shift in shifts:
        sim.add_shift(shift)
    by_queue: dict[str, list[Contact]] = {}
    for contact in contacts:
        by_queue.setdefault(contact.queue, []).append(contact)
    for queue in sorted(by_queue):
        paths = ivr.choose_paths(rng, queue, len(by_queue[queue]))
        for contact, path in zip(by_queue[queue], paths, strict=True):
            sim.add_contact(contact, path)
    sim.run()
    return sim
