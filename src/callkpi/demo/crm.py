"""The CRM, WFM and finance side: canonical records derived from what the simulations did.

Rows are dicts under the model's column names (``callkpi.model``); times are UTC epoch
seconds here and become local wall times when written. What each table holds:

* ``dispositions``: one per answered inbound visit (the agent's wrap-up code, the call
  reason; resolved; escalated for a transfer to tier 2) and one per outbound attempt
  (the dialer result, lead and campaign), keyed by the PBX uniqueid and the agent as the
  PBX logs them, so ingest writes them onto the calls rows.
* ``leads`` and ``deals``: the campaigns' leads, plus a won lead and deal for every sale
  made on an inbound call.
* ``customers``: every customer who called or was called, and the customers new sales
  acquired; some churn during the period.
* ``surveys``: post-call CSAT (1-5), NPS (0-10) and CES (1-7, 7 = very easy) from some
  callers; scores fall with the wait, rise when the issue was solved, and differ by agent.
* ``costs``: per calendar month (cut to the demo's days), client and campaign: salary and
  benefits from the paid hours of the schedule, supervisors, licences and rent per seat,
  telephony per minute, and lead lists for the campaigns.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from callkpi.demo.callers import ID_PREFIX, CustomerBook
from callkpi.demo.center import CURRENCY, PRODUCTS, Center, QueueSpec, WrapCode
from callkpi.demo.inbound import InboundCall, Visit
from callkpi.demo.outbound import DialAttempt, Lead
from callkpi.demo.pbx import Pbx
from callkpi.demo.staffing import Staffing

Row = dict[str, Any]

SURVEY_RESPONSE_PROB = 0.12
NPS_SHARE = 0.45
CES_SHARE = 0.35
BENEFITS_RATE = 0.302
"""Employer's social contributions on wages in Russia (30.2 % with injury insurance)."""
LICENCE_RUB_PER_SEAT_MONTH = 3_900
TELEPHONY_RUB_PER_MIN = {"inbound_tollfree": 1.2, "inbound_local": 0.4, "outbound": 1.9}
NUMBER_RENT_RUB_MONTH = 2_500


@dataclass(frozen=True)
class CallRecords:
    """Inbound calls and outbound attempts with the ids the PBX gave them."""

    calls: Sequence[tuple[Pbx, InboundCall]]
    attempts: Sequence[tuple[Pbx, DialAttempt]]


# -- dispositions, inbound sales ----------------------------------------------------------


def _draw_code(rng: np.random.Generator, queue: QueueSpec) -> WrapCode:
    weights = np.array([w.weight for w in queue.wrap_codes], dtype=float)
    return queue.wrap_codes[int(rng.choice(len(weights), p=weights / weights.sum()))]


def _visit_outcome(rng: np.random.Generator, center: Center, visit: Visit) -> tuple[WrapCode, bool]:
    """The wrap-up code and whether the issue was solved on this visit."""
    contact = visit.call.contact
    if visit.segment == 1 and visit.queue == contact.queue:
        code, resolved = contact.reason, contact.resolvable
    else:
        code = _draw_code(rng, center.queue(visit.queue))
        resolved = bool(rng.random() < code.resolve_prob)
    if visit.transfer is not None and visit.transfer.target_queue:
        resolved = False
    return code, resolved


@dataclass
class CrmBuilder:
    """Collects the records of every call and lead, as the CRM knows them at ``cut_at``."""

    rng: np.random.Generator
    center: Center
    books: dict[str, CustomerBook]
    cut_at: int | None = None

    def __post_init__(self) -> None:
        self.dispositions: list[Row] = []
        self.leads: list[Row] = []
        self.deals: list[Row] = []
        self.surveys: list[Row] = []
        self.customers_seen: dict[tuple[str, int], int] = {}
        """(tenant, book index) -> first contact epoch."""
        self.new_customers: list[Row] = []
        self.churn: dict[str, int] = {}

    def _known(self, ended_at: int | None, acw_s: int | None = 0) -> bool:
        """Whether the agent had recorded the call by ``cut_at``."""
        return ended_at is not None and (
            self.cut_at is None or ended_at + (acw_s or 0) <= self.cut_at
        )

    def customer_id(self, tenant: str, index: int | None, at: int) -> str | None:
        if index is None:
            return None
        key = (tenant, index)
        self.customers_seen[key] = min(at, self.customers_seen.get(key, at))
        return self.books[tenant].ids[index]

    def inbound_call(self, pbx: Pbx, call: InboundCall) -> None:
        contact = call.contact
        tenant = pbx.tenant
        call_id = pbx.uniqueid(call.channel)
        customer = self.customer_id(tenant, contact.caller.customer, call.arrived_at)
        resolved = False
        recorded = [
            v
            for v in call.visits
            if v.outcome == "answered" and v.agent is not None and self._known(v.ended_at, v.acw_s)
        ]
        for visit in recorded:
            code, resolved = _visit_outcome(self.rng, self.center, visit)
            assert visit.ended_at is not None and visit.agent is not None
            recorded_at = visit.ended_at + (visit.acw_s or 0)
            lead_id = None
            if code.product:
                customer, lead_id = self._inbound_sale(
                    tenant, visit, code.product, customer, len(self.leads) + 1
                )
            self.dispositions.append(
                {
                    "call_id": call_id,
                    "agent": visit.agent.agent,
                    "wrap_code": code.code,
                    "resolved": resolved,
                    "escalated": bool(visit.transfer is not None and visit.transfer.escalation),
                    "customer_id": customer,
                    "lead_id": lead_id,
                    "recorded_at": recorded_at,
                }
            )
            if code.code == "contract_cancellation" and not resolved and customer:
                self.churn[customer] = visit.ended_at + int(self.rng.integers(1, 10)) * 86_400
        last = call.visits[-1] if call.visits else None
        if (
            last is not None
            and recorded
            and recorded[-1] is last
            and self.rng.random() < SURVEY_RESPONSE_PROB
        ):
            self._survey(call_id, customer, call, last, resolved)

    def _inbound_sale(
        self, tenant: str, visit: Visit, product: str, customer: str | None, number: int
    ) -> tuple[str, str]:
        assert visit.answered_at is not None and visit.ended_at is not None and visit.agent
        lead_id = f"IN-{ID_PREFIX[tenant]}-{number:06d}"
        if customer is None:
            customer = f"{ID_PREFIX[tenant]}-N{number:06d}"
            self.new_customers.append(
                {
                    "customer_id": customer,
                    "tenant": tenant,
                    "segment": "new",
                    "acquired_at": visit.ended_at,
                }
            )
        self.leads.append(
            {
                "lead_id": lead_id,
                "tenant": tenant,
                "campaign": None,
                "source_channel": "inbound_call",
                "created_at": visit.answered_at,
                "first_contact_at": visit.answered_at,
                "stage": "won",
                "stage_changed_at": visit.ended_at,
            }
        )
        spec = PRODUCTS[product]
        amount = (
            spec.median_rub
            if spec.sigma == 0
            else round(float(self.rng.lognormal(math.log(spec.median_rub), spec.sigma)), -1)
        )
        self.deals.append(
            {
                "deal_id": f"D-{lead_id}",
                "lead_id": lead_id,
                "customer_id": customer,
                "agent": visit.agent.agent,
                "campaign": None,
                "tenant": tenant,
                "opened_at": visit.answered_at,
                "closed_at": visit.ended_at,
                "status": "won",
                "amount": amount,
                "currency": CURRENCY,
                "product": product,
            }
        )
        return customer, lead_id

    def _survey(
        self, call_id: str, customer: str | None, call: InboundCall, last: Visit, resolved: bool
    ) -> None:
        """A post-call survey about the call's last visit (``resolved`` on that visit)."""
        rng = self.rng
        assert last.agent is not None and last.ended_at is not None
        waited = sum(v.wait_s or 0 for v in call.visits)
        mood = (
            0.9 * resolved
            - 0.45
            + last.agent.quality
            - 0.004 * min(waited, 300)
            - 0.3 * (len(call.visits) > 1)
            + rng.normal(0, 0.75)
        )
        kinds = [("csat", 5, 4.1, 0.9, 1)]
        if rng.random() < NPS_SHARE:
            kinds.append(("nps", 10, 7.9, 1.7, 0))
        if rng.random() < CES_SHARE:
            kinds.append(("ces", 7, 5.6, 1.1, 1))
        for kind, scale_max, centre, spread, lowest in kinds:
            score = min(scale_max, max(lowest, round(centre + spread * mood)))
            delay = int(rng.integers(20, 90)) if kind != "nps" else int(rng.integers(1800, 14_400))
            self.surveys.append(
                {
                    "survey_id": f"S-{len(self.surveys) + 1:07d}",
                    "call_id": call_id,
                    "customer_id": customer,
                    "agent": last.agent.agent,
                    "kind": kind,
                    "score": float(score),
                    "scale_max": float(scale_max),
                    "answered_at": last.ended_at + delay,
                }
            )

    def dial(self, pbx: Pbx, attempt: DialAttempt) -> None:
        if not self._known(attempt.ended_at, attempt.acw_s):
            return
        lead = attempt.lead
        customer = self.customer_id(pbx.tenant, lead.customer, attempt.dialed_at)
        self.dispositions.append(
            {
                "call_id": pbx.uniqueid(attempt.agent_leg),
                "agent": attempt.agent.agent,
                "wrap_code": attempt.disposition,
                "customer_id": customer,
                "lead_id": lead.lead_id,
                "campaign": lead.campaign.campaign,
                "recorded_at": attempt.ended_at + attempt.acw_s,
            }
        )

    def campaign_lead(self, lead: Lead) -> None:
        tenant = lead.campaign.tenant
        customer = self.customer_id(tenant, lead.customer, lead.created_at)
        self.leads.append(
            {
                "lead_id": lead.lead_id,
                "tenant": tenant,
                "campaign": lead.campaign.campaign,
                "source_channel": "customer_base" if lead.customer is not None else "partner_list",
                "created_at": lead.created_at,
                "first_contact_at": lead.first_contact_at,
                "stage": lead.stage,
                "stage_changed_at": lead.stage_changed_at,
            }
        )
        if lead.deal_status is None or lead.deal_opened_at is None or lead.deal_agent is None:
            return
        if lead.deal_status == "won" and customer is None:
            customer = f"{ID_PREFIX[tenant]}-W{lead.lead_id[-6:]}"
            self.new_customers.append(
                {
                    "customer_id": customer,
                    "tenant": tenant,
                    "segment": "winback",
                    "acquired_at": lead.deal_closed_at,
                }
            )
        self.deals.append(
            {
                "deal_id": f"D-{lead.lead_id}",
                "lead_id": lead.lead_id,
                "customer_id": customer,
                "agent": lead.deal_agent.agent,
                "campaign": lead.campaign.campaign,
                "tenant": tenant,
                "opened_at": lead.deal_opened_at,
                "closed_at": lead.deal_closed_at,
                "status": lead.deal_status,
                "amount": lead.amount_rub,
                "currency": CURRENCY if lead.amount_rub is not None else None,
                "product": lead.product.product if lead.product else None,
            }
        )

    def customers(self) -> list[Row]:
        """Book customers who were in touch, and the new ones; some churn in the period."""
        period = self.center.period
        rows = []
        monthly = {t.tenant: t.churn_per_month for t in self.center.tenants}
        span_s = period.end_epoch - period.start_epoch
        for (tenant, index), first_touch in sorted(self.customers_seen.items()):
            book = self.books[tenant]
            customer = book.ids[index]
            acquired = (
                period.start_epoch
                - int(book.tenure_days[index]) * 86_400
                + int(self.rng.integers(9 * 3600, 21 * 3600))
            )
            churned = self.churn.get(customer)
            if churned is None and self.rng.random() < monthly[tenant] * span_s / (30 * 86_400):
                churned = first_touch + int(self.rng.integers(3_600, 20 * 86_400))
            if churned is not None and churned >= period.end_epoch:
                churned = None
            rows.append(
                {
                    "customer_id": customer,
                    "tenant": tenant,
                    "segment": book.segments[index],
                    "acquired_at": acquired,
                    "churned_at": churned,
                }
            )
        return rows + self.new_customers


# -- costs ----------------------------------------------------------------------------------


def _months(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Calendar months cut to [first, last]."""
    months = []
    start = first
    while start <= last:
        month_end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
        end = min(month_end, last)
        months.append((start, end))
        start = end + dt.timedelta(days=1)
    return months


def _month_fraction(start: dt.date, end: dt.date) -> float:
    return ((end - start).days + 1) / calendar.monthrange(start.year, start.month)[1]


CostKey = tuple[str, str, dt.date, dt.date, str]


def _cost_key(
    tenant: str, campaign: str | None, month: tuple[dt.date, dt.date], category: str
) -> CostKey:
    return tenant, campaign or "", month[0], month[1], category


@dataclass
class CostSheet:
    """Cost totals per (tenant, campaign, month, category); a month is a calendar month cut
    to the demo's days."""

    center: Center

    def __post_init__(self) -> None:
        period = self.center.period
        self.months = _months(period.first_day, period.last_day)
        self.totals: dict[CostKey, float] = defaultdict(float)

    def month_of(self, day: dt.date) -> tuple[dt.date, dt.date]:
        return next(m for m in self.months if m[0] <= day <= m[1])

    def add(
        self, tenant: str, campaign: str | None, day: dt.date, category: str, amount: float
    ) -> None:
        if self.center.period.first_day <= day <= self.center.period.last_day:
            self.totals[_cost_key(tenant, campaign, self.month_of(day), category)] += amount

    def add_pay(self, tenant: str, campaign: str | None, day: dt.date, cost: float) -> None:
        """Pay (wages with contributions), split into salary and benefits."""
        salary = cost / (1 + BENEFITS_RATE)
        self.add(tenant, campaign, day, "salary", salary)
        self.add(tenant, campaign, day, "benefits", cost - salary)

    def rows(self) -> list[Row]:
        return [
            {
                "tenant": tenant,
                "campaign": campaign or None,
                "period_start": start,
                "period_end": end,
                "category": category,
                "amount": round(amount, 2),
                "currency": CURRENCY,
            }
            for (tenant, campaign, start, end, category), amount in sorted(self.totals.items())
        ]


def _agent_pay(sheet: CostSheet, staffing: Staffing) -> None:
    """Paid hours of the schedule (sick days paid, no-shows and early leaves not)."""
    unpaid = {(a.agent, a.day): a.absent_hours for a in staffing.absences if a.reason != "sick"}
    for shift in staffing.planned:
        agent = shift.agent
        hours = shift.paid_hours - unpaid.get((agent.agent, shift.day), 0.0)
        sheet.add_pay(agent.tenant, agent.campaign, shift.day, hours * agent.hourly_cost_rub)


def _monthly_costs(sheet: CostSheet) -> None:
    """Per seat (licences, rent), per supervisor, per phone number, pro rata per month."""
    center = sheet.center
    for month in sheet.months:
        fraction = _month_fraction(*month)
        for agent in center.agents:
            if agent.hire_date > month[1] or (agent.exit_date and agent.exit_date <= month[0]):
                continue
            site = center.site(agent.site)
            sheet.add(
                agent.tenant,
                agent.campaign,
                month[0],
                "licences",
                LICENCE_RUB_PER_SEAT_MONTH * fraction,
            )
            sheet.add(
                agent.tenant,
                agent.campaign,
                month[0],
                "rent",
                site.rent_rub_per_seat_month * fraction,
            )
        for team in center.teams:
            cost = center.site(team.site).supervisor_monthly_cost_rub * fraction
            owners: list[tuple[str, str | None]] = [
                (center.campaign(c).tenant, c) for c in team.campaigns
            ] or [(team.tenant, None)]
            for tenant, campaign in owners:
                sheet.add_pay(tenant, campaign, month[0], cost / len(owners))
        for client in center.tenants:
            numbers = sum(1 for q in center.queues_of(client.tenant) if q.did)
            sheet.add(
                client.tenant,
                None,
                month[0],
                "telephony",
                numbers * NUMBER_RENT_RUB_MONTH * fraction,
            )


def _call_minutes(sheet: CostSheet, records: CallRecords) -> None:
    """Per started minute: toll-free 8-800 lines cost the client more than local ones."""
    center = sheet.center
    for pbx, call in records.calls:
        end = max([v.ended_at or v.entered_at for v in call.visits] + [call.ivr.ended_at])
        tollfree = center.queue(call.contact.queue).did.startswith("7800")
        rate = TELEPHONY_RUB_PER_MIN["inbound_tollfree" if tollfree else "inbound_local"]
        sheet.add(
            pbx.tenant,
            None,
            center.period.local(call.arrived_at).date(),
            "telephony",
            rate * math.ceil((end - call.arrived_at) / 60),
        )
    for _, attempt in records.attempts:
        billed = attempt.talk_s + attempt.machine_s
        campaign = attempt.lead.campaign
        sheet.add(
            campaign.tenant,
            campaign.campaign,
            center.period.local(attempt.dialed_at).date(),
            "telephony",
            TELEPHONY_RUB_PER_MIN["outbound"] * math.ceil(billed / 60),
        )


def build_costs(
    center: Center, staffing: Staffing, records: CallRecords, leads: Iterable[Lead]
) -> list[Row]:
    sheet = CostSheet(center)
    _agent_pay(sheet, staffing)
    _monthly_costs(sheet)
    _call_minutes(sheet, records)
    first_day = center.period.first_day
    for lead in leads:
        day = max(center.period.local(lead.created_at).date(), first_day)
        sheet.add(
            lead.campaign.tenant,
            lead.campaign.campaign,
            day,
            "marketing",
            lead.campaign.cost_per_lead_rub,
        )
    return sheet.rows()
