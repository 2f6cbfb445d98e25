"""Outbound sales campaigns: a progressive dialer working each campaign's lead list.

Each campaign's agents dial from the desk phone (the dialer places the call from the
agent's extension, so Master.csv shows ``PJSIP/2001`` calling an external number in
``from-internal``). An agent takes the next lead (agreed callbacks first, then retries
that are due, then new leads, newest first: speed to lead), previews it for a few
seconds, and dials. The attempt:

* reaches a person with probability ``connect_prob``, higher in the evening, lower on
  later attempts, higher for an agreed callback; otherwise it rings out (no answer at
  the dialer's 30 s timeout), is busy, reaches voicemail (answered by a machine, which
  answering-machine detection hangs up) or fails in the network;
* a conversation ends in a sale, a callback, "not interested", "do not call", or, for
  a bad number, "wrong number"; talk time is lognormal per result.

Leads that were not reached are retried hours later (busy: half an hour) up to
``max_attempts``; calling hours are weekdays 10:00-20:00 local. Every attempt is a
:class:`DialAttempt` (a ``dials`` row and a Master.csv row); every lead ends with a stage
and, when it showed interest, a deal (won, lost or still open).
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from callkpi.demo.callers import CustomerBook, mobile_numbers
from callkpi.demo.center import Agent, Campaign, Product
from callkpi.demo.clock import Period
from callkpi.demo.pbx import Pbx
from callkpi.demo.staffing import WorkedShift

CALLING_HOURS = (10.0, 20.0)
NO_ANSWER_TIMEOUT_S = 30
WRONG_NUMBER_SHARE = 0.05
NOT_CONNECTED = (("voicemail", 0.3), ("busy", 0.1), ("failed", 0.03), ("no_answer", 0.57))
DROP_SHARE = 0.02
"""Connected calls the dialer drops because no agent is free at that instant."""
MEETING_SHARE = 0.3
"""Callbacks that are a meeting booked with the client's representative."""
TALK_S = {
    "dropped": (2, 0.3),
    "sale": (420, 0.35),
    "callback": (150, 0.4),
    "not_interested": (55, 0.5),
    "do_not_call": (25, 0.4),
    "wrong_number": (15, 0.4),
}
"""Median and sigma of the lognormal talk time per result."""
CDR_DISPOSITION = {
    "voicemail": "ANSWERED",
    "busy": "BUSY",
    "failed": "FAILED",
    "no_answer": "NO ANSWER",
}
"""What Master.csv says for an attempt that reached nobody (a machine answers voicemail);
every conversation is ``ANSWERED``."""


@dataclass(slots=True)
class Lead:
    lead_id: str
    campaign: Campaign
    created_at: int
    phone: str
    customer: int | None
    """Index into the client's customer book, None for a prospect."""
    wrong_number: bool
    attempts: int = 0
    stage: str = "new"
    stage_changed_at: int = 0
    first_contact_at: int | None = None
    next_try_at: int = 0
    callback_due: bool = False
    deal_opened_at: int | None = None
    deal_status: str | None = None
    deal_closed_at: int | None = None
    deal_agent: Agent | None = None
    product: Product | None = None
    amount_rub: float | None = None


@dataclass(frozen=True)
class DialAttempt:
    lead: Lead
    agent: Agent
    agent_leg: int
    """The originating channel (its uniqueid is the attempt id and the CDR's uniqueid)."""
    trunk_leg: int
    dialed_at: int
    ring_s: int
    disposition: str
    talk_s: int
    """Seconds with a person (0 when nobody was reached)."""
    machine_s: int
    """Seconds a voicemail greeting played before the dialer hung up."""
    acw_s: int

    @property
    def connected(self) -> bool:
        return self.talk_s > 0

    @property
    def answered_at(self) -> int | None:
        return self.dialed_at + self.ring_s if self.connected or self.machine_s else None

    @property
    def ended_at(self) -> int:
        return self.dialed_at + self.ring_s + self.talk_s + self.machine_s


def _calling_time(period: Period, epoch: int, rng: np.random.Generator) -> int:
    """``epoch`` if it is within calling hours, else a random time in the next window."""
    local = period.local(epoch)
    hour = local.hour + local.minute / 60
    if local.weekday() < 5 and CALLING_HOURS[0] <= hour < CALLING_HOURS[1] - 0.5:
        return epoch
    day = local.date() + dt.timedelta(days=0 if hour < CALLING_HOURS[0] else 1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return period.epoch(day, rng.uniform(CALLING_HOURS[0], CALLING_HOURS[1] - 0.5) * 3600)


def create_leads(
    rng: np.random.Generator, campaign: Campaign, period: Period, book: CustomerBook | None
) -> list[Lead]:
    """The uploaded list (just before the period) and the leads that arrive each weekday."""
    created: list[int] = [
        period.epoch(
            period.first_day - dt.timedelta(days=int(rng.integers(1, 4))), rng.uniform(9, 18) * 3600
        )
        for _ in range(campaign.initial_leads)
    ]
    for day in period.days:
        if day.weekday() < 5:
            created += [
                period.epoch(day, rng.uniform(8, 22) * 3600)
                for _ in range(int(rng.poisson(campaign.new_leads_per_weekday)))
            ]
    created.sort()
    prefix = "".join(part[0] for part in campaign.campaign.split("_")).upper()
    phones = mobile_numbers(rng, len(created))
    leads = []
    for number, at in enumerate(created, start=1):
        customer = int(rng.integers(len(book.ids))) if book is not None else None
        leads.append(
            Lead(
                lead_id=f"{prefix}-{number:06d}",
                campaign=campaign,
                created_at=at,
                phone=book.phones[customer]
                if book is not None and customer is not None
                else phones[number - 1],
                customer=customer,
                wrong_number=bool(rng.random() < WRONG_NUMBER_SHARE),
                stage_changed_at=at,
                next_try_at=_calling_time(period, at, rng),
            )
        )
    return leads


class LeadQueue:
    """What an agent dials next: due callbacks, then due retries, then the newest lead."""

    def __init__(self, leads: Sequence[Lead]) -> None:
        self._order = itertools.count()
        self.callbacks: list[tuple[int, int, Lead]] = []
        self.retries: list[tuple[int, int, Lead]] = []
        self.fresh = sorted(leads, key=lambda lead: lead.created_at)
        self._released = 0
        self._new: list[tuple[int, int, Lead]] = []

    def put_back(self, lead: Lead) -> None:
        heap = self.callbacks if lead.callback_due else self.retries
        heapq.heappush(heap, (lead.next_try_at, next(self._order), lead))

    def take(self, now: int) -> Lead | None:
        while self._released < len(self.fresh) and self.fresh[self._released].next_try_at <= now:
            lead = self.fresh[self._released]
            heapq.heappush(self._new, (-lead.created_at, next(self._order), lead))
            self._released += 1
        for heap in (self.callbacks, self.retries):
            if heap and heap[0][0] <= now:
                return heapq.heappop(heap)[2]
        return heapq.heappop(self._new)[2] if self._new else None


class Dialer:
    """One campaign's agents working its leads through their shifts."""

    def __init__(
        self,
        rng: np.random.Generator,
        pbx: Pbx,
        period: Period,
        campaign: Campaign,
        leads: Sequence[Lead],
    ) -> None:
        self.rng = rng
        self.pbx = pbx
        self.period = period
        self.campaign = campaign
        self.queue = LeadQueue(leads)
        self.attempts: list[DialAttempt] = []

    def run(self, shifts: Sequence[WorkedShift], until: int | None = None) -> None:
        """Work the shifts; nobody dials after ``until``."""
        agenda = [(s.login_at, i, 0) for i, s in enumerate(shifts)]
        heapq.heapify(agenda)
        pauses = {i: sorted(s.pauses, key=lambda p: p.at) for i, s in enumerate(shifts)}
        while agenda:
            now, index, next_pause = heapq.heappop(agenda)
            shift = shifts[index]
            if now >= shift.logout_at - 60 or (until is not None and now > until):
                continue
            plan = pauses[index]
            if next_pause < len(plan) and plan[next_pause].at <= now:
                heapq.heappush(agenda, (now + plan[next_pause].duration_s, index, next_pause + 1))
                continue
            lead = self.queue.take(now)
            if lead is None:
                heapq.heappush(agenda, (now + 120, index, next_pause))
                continue
            attempt = self._dial(lead, shift.agent, now + int(self.rng.integers(5, 16)))
            self._after(attempt)
            heapq.heappush(agenda, (attempt.ended_at + attempt.acw_s, index, next_pause))

    def _connect_prob(self, lead: Lead, at: int) -> float:
        hour = self.period.local(at).hour
        by_hour = 0.85 if hour < 12 else 1.0 if hour < 17 else 1.3
        base = self.campaign.connect_prob * (1.6 if lead.callback_due else 1.0)
        return min(0.7, base * by_hour * 0.9**lead.attempts)

    def _result(self, lead: Lead, at: int) -> str:
        rng = self.rng
        if rng.random() >= self._connect_prob(lead, at):
            names = [n for n, _ in NOT_CONNECTED]
            return names[int(rng.choice(len(names), p=[p for _, p in NOT_CONNECTED]))]
        if rng.random() < DROP_SHARE:
            return "dropped"
        if lead.wrong_number:
            return "wrong_number"
        if lead.callback_due:
            sale, callback, dnc = 0.35, 0.2, 0.0
        else:
            sale, callback, dnc = self.campaign.sale_prob, self.campaign.callback_prob, 0.04
        draw = rng.random()
        if draw < sale:
            return "sale"
        if draw < sale + callback:
            return "callback"
        return "do_not_call" if draw < sale + callback + dnc else "not_interested"

    def _dial(self, lead: Lead, agent: Agent, at: int) -> DialAttempt:
        rng = self.rng
        result = self._result(lead, at)
        talk_s = machine_s = 0
        if result in TALK_S:
            median, sigma = TALK_S[result]
            ring_s = 4 + int(rng.gamma(2.0, 3.0))
            talk_s = max(4, round(rng.lognormal(math.log(median), sigma)))
            acw_s = max(5, round(rng.lognormal(math.log(30), 0.4)))
        else:
            ring_s = {
                "no_answer": NO_ANSWER_TIMEOUT_S,
                "busy": int(rng.integers(2, 7)),
                "failed": int(rng.integers(0, 3)),
                "voicemail": int(rng.integers(12, 26)),
            }[result]
            machine_s = int(rng.integers(3, 7)) if result == "voicemail" else 0
            acw_s = int(rng.integers(2, 6))
        return DialAttempt(
            lead,
            agent,
            self.pbx.new_channel(at),
            self.pbx.new_channel(at),
            at,
            ring_s,
            result,
            talk_s,
            machine_s,
            acw_s,
        )

    def _after(self, attempt: DialAttempt) -> None:
        """Move the lead on: its stage, its deal, and when (or whether) to dial it again."""
        lead, at = attempt.lead, attempt.ended_at
        self.attempts.append(attempt)
        lead.attempts += 1
        result = attempt.disposition
        if attempt.connected and result != "dropped" and lead.first_contact_at is None:
            lead.first_contact_at = attempt.dialed_at + attempt.ring_s
        was_callback = lead.callback_due
        lead.callback_due = False
        if result in ("sale", "callback") and lead.deal_opened_at is None:
            lead.deal_opened_at, lead.deal_status, lead.deal_agent = at, "open", attempt.agent
        if result == "sale":
            self._close(lead, at, "won", attempt.agent)
        elif result == "callback" and self.rng.random() < MEETING_SHARE:
            # The client's representative takes it from here: no more calls.
            self._move(lead, "meeting_scheduled", at)
        elif result == "callback":
            self._move(lead, "callback", at)
            lead.callback_due = True
            lead.next_try_at = _calling_time(
                self.period, at + int(self.rng.uniform(0.8, 2.5) * 86_400), self.rng
            )
            self.queue.put_back(lead)
        elif result in ("not_interested", "do_not_call", "wrong_number"):
            stage = {
                "not_interested": "lost",
                "do_not_call": "do_not_call",
                "wrong_number": "invalid",
            }[result]
            self._close(lead, at, stage, attempt.agent)
        elif lead.attempts >= self.campaign.max_attempts + (2 if was_callback else 0):
            self._close(lead, at, "unreachable", attempt.agent)
        else:
            self._move(lead, "callback" if was_callback else "attempted", at)
            lead.callback_due = was_callback
            delay = 1800 if result == "busy" else int(self.rng.uniform(2, 5) * 3600)
            lead.next_try_at = _calling_time(self.period, at + delay, self.rng)
            self.queue.put_back(lead)

    def _move(self, lead: Lead, stage: str, at: int) -> None:
        if lead.stage != stage:
            lead.stage, lead.stage_changed_at = stage, at

    def _close(self, lead: Lead, at: int, stage: str, agent: Agent) -> None:
        self._move(lead, stage, at)
        if lead.deal_status != "open":
            return
        lead.deal_closed_at = at
        if stage == "won":
            lead.deal_status = "won"
            lead.deal_agent = agent
            lead.product = self._product()
            lead.amount_rub = _amount(self.rng, lead.product)
        else:
            lead.deal_status = "lost"

    def _product(self) -> Product:
        products = self.campaign.products
        shares = np.array([share for _, share in products])
        return products[int(self.rng.choice(len(products), p=shares / shares.sum()))][0]


def _amount(rng: np.random.Generator, product: Product) -> float:
    if product.sigma == 0:
        return float(product.median_rub)
    return float(round(rng.lognormal(math.log(product.median_rub), product.sigma), -1))


def run_campaign(
    rng: np.random.Generator,
    pbx: Pbx,
    period: Period,
    campaign: Campaign,
    book: CustomerBook | None,
    shifts: Sequence[WorkedShift],
    until: int | None = None,
) -> tuple[list[Lead], list[DialAttempt]]:
    """A campaign's leads (created up to ``until``) and every attempt to reach them."""
    leads = [
        lead
        for lead in create_leads(rng, campaign, period, book)
        if until is None or lead.created_at <= until
    ]
    dialer = Dialer(rng, pbx, period, campaign, leads)
    dialer.run(sorted(shifts, key=lambda s: (s.login_at, s.agent.agent)), until)
    return leads, dialer.attempts


def dial_row(attempt_id: str, attempt: DialAttempt) -> dict[str, object]:
    """A ``dials`` record (``attempt_id`` is the attempt's PBX uniqueid)."""
    return {
        "attempt_id": attempt_id,
        "lead_id": attempt.lead.lead_id,
        "campaign": attempt.lead.campaign.campaign,
        "agent": attempt.agent.agent,
        "dialed_at": attempt.dialed_at,
        "connected": attempt.connected,
        "talk_s": float(attempt.talk_s) if attempt.connected else None,
        "disposition": attempt.disposition,
    }
