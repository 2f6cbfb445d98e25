"""Each PBX's Master.csv (Asterisk ``cdr_csv`` with ``loguniqueid`` and ``loguserfield``).

A row per call, written when the call hangs up (so the file is in order of end time),
with local wall times as Asterisk writes them without ``usegmtime``:

* the inbound calls that reached a queue (lastapp ``Queue``: callkpi reads those from
  the queue_log and skips them here, as it would in a real file);
* every outbound dial attempt, placed from the agent's extension in ``from-internal``
  (the attempt's uniqueid is the ``dials.attempt_id``; the userfield holds the lead);
* a few inbound calls that never touch a queue: customers calling a supervisor's direct
  number, answered, unanswered, or sent to voicemail.

Calls that ended in the IVR (self-service, hang-ups) are not written: Asterisk would
log them, but ingest would count them as answered inbound calls without an agent; the
IVR's own ``ivr_steps`` records describe them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from callkpi.demo.center import Center, TeamSpec
from callkpi.demo.clock import Period
from callkpi.demo.inbound import InboundCall
from callkpi.demo.outbound import CDR_DISPOSITION, DialAttempt
from callkpi.demo.pbx import Pbx

TRUNK = "PJSIP/rtk"
DIRECT_CALLS_PER_WEEKDAY = 3.0


@dataclass(frozen=True)
class CdrRow:
    accountcode: str
    src: str
    dst: str
    dcontext: str
    clid: str
    channel: str
    dstchannel: str
    lastapp: str
    lastdata: str
    start: int
    answer: int | None
    end: int
    disposition: str
    uniqueid: str
    userfield: str = ""
    amaflags: str = "DOCUMENTATION"


@dataclass(frozen=True)
class DirectCall:
    """An inbound call to a supervisor's direct number (no queue)."""

    tenant: str
    team: TeamSpec
    caller: str
    trunk_leg: int
    phone_leg: int
    start: int
    ring_s: int
    talk_s: int
    result: str
    """answered | no_answer | voicemail"""


def queue_call_row(pbx: Pbx, call: InboundCall, center: Center) -> CdrRow | None:
    """The caller's row of a call that reached a queue (None while it is still going on)."""
    visits = call.visits
    if not visits or any(v.ended_at is None for v in visits):
        return None
    last = visits[-1]
    spec = center.queue(visits[0].queue)
    answered = [v for v in visits if v.outcome == "answered" and v.agent_leg is not None]
    agent_channel = ""
    if answered:
        agent = answered[-1].agent
        assert agent is not None and answered[-1].agent_leg is not None
        agent_channel = pbx.channel_name(f"PJSIP/{agent.extension}", answered[-1].agent_leg)
    assert last.ended_at is not None
    return CdrRow(
        accountcode=pbx.tenant,
        src=call.contact.caller.phone,
        dst=spec.extension,
        dcontext="ext-queues",
        clid=f'"{call.contact.caller.phone}" <{call.contact.caller.phone}>',
        channel=pbx.channel_name(TRUNK, call.channel),
        dstchannel=agent_channel,
        lastapp="Queue",
        lastdata=f"{last.queue},t,,,300",
        start=call.arrived_at,
        answer=call.arrived_at,
        end=max(last.ended_at, call.ivr.ended_at),
        disposition="ANSWERED",
        uniqueid=pbx.uniqueid(call.channel),
    )


def dial_row(pbx: Pbx, attempt: DialAttempt) -> CdrRow:
    agent = attempt.agent
    phone = attempt.lead.phone
    answered = attempt.answered_at
    disposition = "ANSWERED" if attempt.connected else CDR_DISPOSITION[attempt.disposition]
    trunk = attempt.lead.campaign.trunk
    return CdrRow(
        accountcode=attempt.lead.campaign.campaign,
        src=agent.extension,
        dst=phone,
        dcontext="from-internal",
        clid=f'"{agent.name}" <{agent.extension}>',
        channel=pbx.channel_name(f"PJSIP/{agent.extension}", attempt.agent_leg),
        dstchannel=""
        if disposition == "FAILED"
        else pbx.channel_name(f"PJSIP/{trunk}", attempt.trunk_leg),
        lastapp="Dial",
        lastdata=f"PJSIP/{phone}@{trunk},30,tT",
        start=attempt.dialed_at,
        answer=answered,
        end=attempt.ended_at,
        disposition=disposition,
        uniqueid=pbx.uniqueid(attempt.agent_leg),
        userfield=f"lead={attempt.lead.lead_id}",
    )


def direct_calls(
    rng: np.random.Generator, pbx: Pbx, period: Period, center: Center, phones: Sequence[str]
) -> list[DirectCall]:
    """Customers calling a supervisor's direct number on weekdays, office hours."""
    teams = [t for t in center.teams if t.tenant == pbx.tenant]
    calls = []
    for day in period.days:
        if day.weekday() >= 5 or not teams:
            continue
        for _ in range(int(rng.poisson(DIRECT_CALLS_PER_WEEKDAY))):
            start = period.epoch(day, rng.uniform(9.5, 18.5) * 3600)
            draw = rng.random()
            result = "answered" if draw < 0.7 else "no_answer" if draw < 0.9 else "voicemail"
            ring_s = int(rng.integers(3, 15)) if result == "answered" else 20
            talk_s = (
                int(rng.lognormal(math.log(180), 0.6))
                if result == "answered"
                else int(rng.integers(15, 45))
                if result == "voicemail"
                else 0
            )
            calls.append(
                DirectCall(
                    pbx.tenant,
                    teams[int(rng.integers(len(teams)))],
                    phones[int(rng.integers(len(phones)))],
                    pbx.new_channel(start),
                    pbx.new_channel(start),
                    start,
                    ring_s,
                    talk_s,
                    result,
                )
            )
    return calls


def direct_row(pbx: Pbx, call: DirectCall) -> CdrRow:
    ext = call.team.supervisor_extension
    end = call.start + call.ring_s + call.talk_s
    answer = call.start + call.ring_s if call.result != "no_answer" else None
    phone_channel = pbx.channel_name(f"PJSIP/{ext}", call.phone_leg)
    return CdrRow(
        accountcode=pbx.tenant,
        src=call.caller,
        dst=ext,
        dcontext="from-trunk",
        clid=f'"{call.caller}" <{call.caller}>',
        channel=pbx.channel_name(TRUNK, call.trunk_leg),
        dstchannel="" if call.result == "voicemail" else phone_channel,
        lastapp="VoiceMail" if call.result == "voicemail" else "Dial",
        lastdata=f"{ext}@default,u" if call.result == "voicemail" else f"PJSIP/{ext},20,tr",
        start=call.start,
        answer=answer,
        end=end,
        disposition="NO ANSWER" if call.result == "no_answer" else "ANSWERED",
        uniqueid=pbx.uniqueid(call.trunk_leg),
    )


def master_rows(
    pbx: Pbx,
    center: Center,
    calls: Iterable[InboundCall],
    attempts: Iterable[DialAttempt],
    direct: Iterable[DirectCall],
) -> list[CdrRow]:
    """All of a PBX's rows in the order Asterisk writes them (by end time)."""
    rows = [r for r in (queue_call_row(pbx, c, center) for c in calls if c.visits) if r]
    rows += [dial_row(pbx, a) for a in attempts]
    rows += [direct_row(pbx, d) for d in direct]
    return sorted(rows, key=lambda r: (r.end, r.uniqueid))
