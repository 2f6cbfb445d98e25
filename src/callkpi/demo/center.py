"""The demo organisation: an outsourced contact center in Moscow time with three clients.

Everything a manager would recognise is data here: the sites, the client tenants, their
inbound queues (volumes, opening hours, handle times, caller patience, call reasons,
transfers), the outbound campaigns and products, and the teams. :func:`build_roster` turns
the teams into agents with names, hire dates and hourly costs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np

from callkpi.demo.arrivals import IntradayProfile, Peak, VolumeModel
from callkpi.demo.clock import Period

TZ_NAME = "Europe/Moscow"
CURRENCY = "RUB"


@dataclass(frozen=True)
class Site:
    site: str
    city: str
    rent_rub_per_seat_month: float
    agent_hourly_cost_rub: float
    """Wages and benefits per paid hour of a regular agent."""
    supervisor_monthly_cost_rub: float


@dataclass(frozen=True)
class Tenant:
    tenant: str
    name: str
    industry: str
    customer_base: int
    """How many customers the client has (the pool callers are drawn from)."""
    segments: tuple[tuple[str, float], ...]
    """Customer segments and their shares."""
    churn_per_month: float


@dataclass(frozen=True)
class WrapCode:
    """A call reason an agent can choose at wrap-up."""

    code: str
    weight: float
    resolve_prob: float
    """Share of calls with this reason solved on the call (first-contact resolution)."""
    product: str | None = None
    """A sale: the call opens a won deal for this product."""


@dataclass(frozen=True)
class Transfer:
    """How some answered calls leave the agent."""

    kind: str
    """``blind`` (BLINDTRANSFER) or ``attended`` (ATTENDEDTRANSFER)."""
    share: float
    """Share of answered calls of the queue that end this way."""
    extension: str
    context: str
    target_queue: str | None = None
    """The queue the caller enters next (a new visit of the same call)."""
    escalation: bool = False
    """The target is a higher support tier."""


@dataclass(frozen=True)
class QueueSpec:
    queue: str
    tenant: str
    did: str
    volume: VolumeModel
    """Calls reaching the IVR for this queue (self-served ones included)."""
    weight: int
    """app_queue ``weight``: agents in several queues serve the heavier one first."""
    talk_median_s: float
    talk_sigma: float
    """Talk time is lognormal: median and sigma of log(talk)."""
    acw_median_s: float
    patience_s: float
    """Mean of the caller's exponential patience in the queue."""
    short_abandon_share: float = 0.015
    """Callers who hang up within 5 s of joining (misdials, wrong menu)."""
    max_wait_s: int | None = None
    """app_queue ``timeout``: callers still waiting are sent on (EXITWITHTIMEOUT)."""
    exit_key_prob: float = 0.0
    """Chance, at each periodic announcement, that a waiting caller presses 1 to leave
    a callback request (EXITWITHKEY)."""
    announce_every_s: int = 45
    complete_agent_share: float = 0.3
    """Answered calls the agent hangs up (COMPLETEAGENT); the rest COMPLETECALLER."""
    transfers: tuple[Transfer, ...] = ()
    wrap_codes: tuple[WrapCode, ...] = ()
    extension: str = ""
    """The dialplan extension of the queue (what a blind transfer dials)."""
    unknown_caller_share: float = 0.05
    """Callers who are not in the client's customer book (prospects, withheld numbers)."""
    caller_segments: tuple[str, ...] = ()
    """Only customers of these segments call this number (empty: any)."""


@dataclass(frozen=True)
class Product:
    product: str
    median_rub: float
    sigma: float = 0.0
    """Amount is lognormal around the median (0 = a fixed price)."""


@dataclass(frozen=True)
class Campaign:
    campaign: str
    tenant: str
    products: tuple[tuple[Product, float], ...]
    """Products sold and their shares of sales."""
    initial_leads: int
    """The list uploaded just before the period starts."""
    new_leads_per_weekday: float
    sale_prob: float
    """Chance that a first conversation with a reachable lead ends in a sale."""
    callback_prob: float
    connect_prob: float
    """Chance that a first attempt at midday reaches a person."""
    max_attempts: int = 5
    cost_per_lead_rub: float = 30.0
    trunk: str = "rtk"
    existing_customers: bool = True
    """Leads are the client's customers (cross-sell, reactivation); False: prospects."""


@dataclass(frozen=True)
class TeamSpec:
    team: str
    site: str
    tenant: str
    supervisor: str
    supervisor_extension: str
    size: int
    skills: tuple[str, ...]
    """Queues every agent of the team serves."""
    senior_count: int = 0
    senior_skills: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    """Outbound teams: agents are assigned to these campaigns in turn."""
    first_extension: int = 1001
    shift_h: float = 9.0
    """Full-time shift length, including the unpaid lunch hour."""
    part_time: int = 0
    """Regular agents (the team's last ones) on 6-hour shifts without lunch, which cover
    the morning and evening peaks that 9-hour shifts cannot both reach."""


@dataclass(frozen=True)
class Agent:
    agent: str
    """The id the sources log: the queue member name ``PJSIP/1001`` for inbound agents,
    the extension ``2001`` for outbound ones (the CDR and the dialer log the extension)."""
    extension: str
    name: str
    team: str
    supervisor: str
    site: str
    tenant: str
    hire_date: dt.date
    exit_date: dt.date | None
    hourly_cost_rub: float
    skills: tuple[str, ...]
    campaign: str | None
    senior: bool
    quality: float
    """How customers rate this agent relative to others (survey scores shift by it)."""
    shift_h: float
    """Shift length; shifts of 8 hours or more include an unpaid lunch hour."""

    @property
    def outbound(self) -> bool:
        return self.campaign is not None

    @property
    def paid_h(self) -> float:
        return self.shift_h - 1 if self.shift_h >= 8 else self.shift_h


SITES = (
    Site(
        "msk",
        "Moscow",
        rent_rub_per_seat_month=16_000,
        agent_hourly_cost_rub=560,
        supervisor_monthly_cost_rub=140_000,
    ),
    Site(
        "kzn",
        "Kazan",
        rent_rub_per_seat_month=9_000,
        agent_hourly_cost_rub=410,
        supervisor_monthly_cost_rub=105_000,
    ),
)

TENANTS = (
    Tenant(
        "nordbank",
        "Nord Bank",
        "retail banking",
        customer_base=60_000,
        segments=(("mass", 0.82), ("premium", 0.15), ("private", 0.03)),
        churn_per_month=0.008,
    ),
    Tenant(
        "telesfera",
        "Telesfera",
        "mobile operator",
        customer_base=80_000,
        segments=(("prepaid", 0.45), ("postpaid", 0.47), ("business", 0.08)),
        churn_per_month=0.02,
    ),
    Tenant(
        "marketplus",
        "MarketPlus",
        "online retailer",
        customer_base=50_000,
        segments=(("new", 0.35), ("regular", 0.5), ("loyal", 0.15)),
        churn_per_month=0.03,
    ),
)

_BANK_WEEK = (1.18, 1.06, 1.0, 0.98, 1.02, 0.62, 0.5)
_TELECOM_WEEK = (1.12, 1.04, 1.0, 1.0, 1.02, 0.8, 0.74)
_RETAIL_WEEK = (1.15, 1.05, 1.0, 0.98, 0.95, 0.86, 0.92)

_DAY_PROFILE = (Peak(11.0, 1.6, 0.9), Peak(14.5, 1.8, 0.8), Peak(19.0, 1.2, 0.3))
_RETAIL_PROFILE = (Peak(11.0, 1.5, 1.0), Peak(15.5, 1.8, 0.75), Peak(20.0, 1.0, 0.45))

QUEUES = (
    QueueSpec(
        "bank_cards",
        "nordbank",
        did="74957550100",
        extension="7001",
        weight=0,
        volume=VolumeModel(920, _BANK_WEEK, IntradayProfile(_DAY_PROFILE, 0.15, 8, 22)),
        talk_median_s=170,
        talk_sigma=0.6,
        acw_median_s=25,
        patience_s=360,
        unknown_caller_share=0.06,
        transfers=(Transfer("attended", 0.02, "5101", "from-internal-xfer"),),
        wrap_codes=(
            WrapCode("card_block", 14, 0.95),
            WrapCode("balance_question", 12, 0.97),
            WrapCode("transaction_dispute", 12, 0.55),
            WrapCode("card_reissue", 10, 0.85),
            WrapCode("limit_change", 8, 0.9),
            WrapCode("mobile_app_help", 20, 0.8),
            WrapCode("loan_question", 12, 0.75),
            WrapCode("complaint", 5, 0.4),
            WrapCode("other", 7, 0.8),
        ),
    ),
    QueueSpec(
        "bank_vip",
        "nordbank",
        did="74957550199",
        extension="7002",
        weight=10,
        volume=VolumeModel(95, _BANK_WEEK, IntradayProfile(_DAY_PROFILE, 0.2, 8, 22)),
        talk_median_s=300,
        talk_sigma=0.55,
        acw_median_s=40,
        patience_s=480,
        short_abandon_share=0.01,
        complete_agent_share=0.4,
        unknown_caller_share=0.0,
        caller_segments=("premium", "private"),
        transfers=(Transfer("attended", 0.04, "5102", "from-internal-xfer"),),
        wrap_codes=(
            WrapCode("investment_question", 20, 0.8),
            WrapCode("transfer_assistance", 22, 0.9),
            WrapCode("card_issue", 20, 0.85),
            WrapCode("deposit_opening", 12, 0.9, product="term_deposit"),
            WrapCode("complaint", 8, 0.5),
            WrapCode("other", 18, 0.85),
        ),
    ),
    QueueSpec(
        "telecom_support",
        "telesfera",
        did="78003330500",
        extension="7101",
        weight=0,
        volume=VolumeModel(670, _TELECOM_WEEK, IntradayProfile(_DAY_PROFILE, 0.2, 8, 22)),
        talk_median_s=210,
        talk_sigma=0.65,
        acw_median_s=20,
        patience_s=300,
        max_wait_s=600,
        exit_key_prob=0.05,
        transfers=(
            Transfer("blind", 0.06, "7103", "from-internal-xfer", "telecom_tier2", escalation=True),
            Transfer("blind", 0.03, "7102", "from-internal-xfer", "telecom_sales"),
        ),
        wrap_codes=(
            WrapCode("no_internet", 18, 0.7),
            WrapCode("billing_question", 20, 0.85),
            WrapCode("tariff_change", 12, 0.92),
            WrapCode("roaming", 8, 0.9),
            WrapCode("sim_replacement", 7, 0.8),
            WrapCode("contract_cancellation", 6, 0.6),
            WrapCode("device_settings", 14, 0.75),
            WrapCode("complaint", 8, 0.45),
            WrapCode("other", 7, 0.85),
        ),
    ),
    QueueSpec(
        "telecom_sales",
        "telesfera",
        did="78003330600",
        extension="7102",
        weight=5,
        volume=VolumeModel(125, _TELECOM_WEEK, IntradayProfile(_DAY_PROFILE, 0.2, 9, 21)),
        talk_median_s=330,
        talk_sigma=0.6,
        acw_median_s=40,
        patience_s=300,
        complete_agent_share=0.45,
        unknown_caller_share=0.3,
        wrap_codes=(
            WrapCode("sale_new_line", 14, 1.0, product="new_line"),
            WrapCode("sale_tariff_upgrade", 16, 1.0, product="tariff_unlim"),
            WrapCode("sale_home_internet", 8, 1.0, product="home_internet"),
            WrapCode("tariff_consultation", 34, 0.9),
            WrapCode("not_interested", 18, 0.95),
            WrapCode("other", 10, 0.85),
        ),
    ),
    QueueSpec(
        "telecom_tier2",
        "telesfera",
        did="",
        extension="7103",
        weight=8,
        volume=VolumeModel(0, _TELECOM_WEEK, IntradayProfile(_DAY_PROFILE, 0.2, 8, 22)),
        talk_median_s=420,
        talk_sigma=0.55,
        acw_median_s=60,
        patience_s=600,
        short_abandon_share=0.01,
        complete_agent_share=0.5,
        wrap_codes=(
            WrapCode("network_fault_ticket", 30, 0.4),
            WrapCode("technical_fix", 40, 0.85),
            WrapCode("device_config", 20, 0.9),
            WrapCode("engineer_visit", 10, 0.3),
        ),
    ),
    QueueSpec(
        "retail_orders",
        "marketplus",
        did="78005501020",
        extension="7201",
        weight=0,
        volume=VolumeModel(570, _RETAIL_WEEK, IntradayProfile(_RETAIL_PROFILE, 0.15, 9, 21)),
        talk_median_s=150,
        talk_sigma=0.6,
        acw_median_s=15,
        patience_s=240,
        max_wait_s=240,
        exit_key_prob=0.03,
        unknown_caller_share=0.12,
        transfers=(Transfer("attended", 0.02, "5201", "from-internal-xfer"),),
        wrap_codes=(
            WrapCode("order_status", 26, 0.95),
            WrapCode("delivery_problem", 18, 0.6),
            WrapCode("return_request", 14, 0.85),
            WrapCode("refund_status", 12, 0.7),
            WrapCode("payment_problem", 8, 0.75),
            WrapCode("order_change", 10, 0.9),
            WrapCode("phone_order", 6, 1.0, product="phone_order"),
            WrapCode("complaint", 6, 0.45),
        ),
    ),
)

PRODUCTS = {
    p.product: p
    for p in (
        Product("credit_card", 18_000, 0.5),
        Product("term_deposit", 30_000, 0.7),
        Product("new_line", 4_800),
        Product("tariff_smart", 7_800),
        Product("tariff_unlim", 11_400),
        Product("home_internet", 9_600),
        Product("promo_order", 3_200, 0.6),
        Product("subscription_plus", 2_990),
        Product("phone_order", 4_100, 0.7),
    )
}
"""Deal amounts in RUB: first-year revenue for the client (a card's interest and fees, a
deposit's margin, a tariff's annual fee) or the order value."""

CAMPAIGNS = (
    Campaign(
        "nb_credit_card_xsell",
        "nordbank",
        ((PRODUCTS["credit_card"], 1.0),),
        initial_leads=2600,
        new_leads_per_weekday=70,
        sale_prob=0.09,
        callback_prob=0.22,
        connect_prob=0.3,
        cost_per_lead_rub=45,
    ),
    Campaign(
        "ts_winback",
        "telesfera",
        (
            (PRODUCTS["tariff_smart"], 0.5),
            (PRODUCTS["tariff_unlim"], 0.3),
            (PRODUCTS["home_internet"], 0.2),
        ),
        initial_leads=2200,
        new_leads_per_weekday=50,
        sale_prob=0.11,
        callback_prob=0.2,
        connect_prob=0.28,
        cost_per_lead_rub=25,
        existing_customers=False,
    ),
    Campaign(
        "mp_reactivation",
        "marketplus",
        ((PRODUCTS["promo_order"], 0.75), (PRODUCTS["subscription_plus"], 0.25)),
        initial_leads=2200,
        new_leads_per_weekday=90,
        sale_prob=0.14,
        callback_prob=0.15,
        connect_prob=0.33,
        cost_per_lead_rub=15,
    ),
)

TEAMS = (
    TeamSpec(
        "bank_msk",
        "msk",
        "nordbank",
        "Elena Smirnova",
        "3001",
        size=10,
        skills=("bank_cards", "bank_vip"),
        senior_count=5,
        senior_skills=("bank_vip", "bank_cards"),
        part_time=2,
        first_extension=1001,
    ),
    TeamSpec(
        "bank_kzn",
        "kzn",
        "nordbank",
        "Rustam Galiev",
        "3002",
        size=9,
        skills=("bank_cards",),
        part_time=3,
        first_extension=1011,
    ),
    TeamSpec(
        "telecom_kzn",
        "kzn",
        "telesfera",
        "Aigul Khabibullina",
        "3003",
        size=13,
        skills=("telecom_support",),
        part_time=4,
        first_extension=1101,
    ),
    TeamSpec(
        "telecom_msk",
        "msk",
        "telesfera",
        "Dmitry Volkov",
        "3004",
        size=10,
        skills=("telecom_sales",),
        senior_count=4,
        senior_skills=("telecom_tier2", "telecom_sales"),
        part_time=2,
        first_extension=1114,
    ),
    TeamSpec(
        "retail_kzn",
        "kzn",
        "marketplus",
        "Marat Ziganshin",
        "3005",
        size=10,
        skills=("retail_orders",),
        part_time=3,
        first_extension=1201,
    ),
    TeamSpec(
        "outbound_msk",
        "msk",
        "",
        "Olga Kuznetsova",
        "3006",
        size=7,
        skills=(),
        campaigns=("nb_credit_card_xsell", "ts_winback", "mp_reactivation"),
        first_extension=2001,
        shift_h=5.0,
    ),
)

_FIRST_NAMES_F = (
    "Anna",
    "Maria",
    "Elena",
    "Olga",
    "Natalia",
    "Irina",
    "Svetlana",
    "Tatiana",
    "Yulia",
    "Ekaterina",
    "Daria",
    "Alina",
    "Kristina",
    "Polina",
    "Viktoria",
    "Ksenia",
    "Anastasia",
    "Sofia",
    "Valeria",
    "Dilyara",
    "Guzel",
    "Liliya",
)
_FIRST_NAMES_M = (
    "Alexey",
    "Dmitry",
    "Sergey",
    "Andrey",
    "Ivan",
    "Maxim",
    "Nikita",
    "Artem",
    "Pavel",
    "Kirill",
    "Roman",
    "Egor",
    "Ilya",
    "Timur",
    "Ruslan",
    "Denis",
    "Vladimir",
    "Anton",
    "Ildar",
    "Artur",
)
_SURNAMES = (
    "Ivanov",
    "Petrov",
    "Sidorov",
    "Smirnov",
    "Kuznetsov",
    "Popov",
    "Vasiliev",
    "Sokolov",
    "Mikhailov",
    "Novikov",
    "Fedorov",
    "Morozov",
    "Volkov",
    "Alekseev",
    "Lebedev",
    "Semenov",
    "Egorov",
    "Pavlov",
    "Kozlov",
    "Stepanov",
    "Nikolaev",
    "Orlov",
    "Andreev",
    "Makarov",
    "Nikitin",
    "Zakharov",
    "Zaitsev",
    "Soloviev",
    "Borisov",
    "Yakovlev",
    "Grigoriev",
    "Romanov",
    "Vorobiev",
    "Sergeev",
    "Galiullin",
    "Sabirov",
    "Khairullin",
    "Valiev",
    "Nurmukhametov",
    "Fazliev",
)

PART_TIME_SHIFT_H = 6.0
EXITS_DURING_PERIOD = 2
"""Agents who leave during the period (attrition), and as many new hires who join."""


@dataclass(frozen=True)
class Center:
    period: Period
    sites: tuple[Site, ...]
    tenants: tuple[Tenant, ...]
    queues: tuple[QueueSpec, ...]
    campaigns: tuple[Campaign, ...]
    teams: tuple[TeamSpec, ...]
    agents: tuple[Agent, ...]

    def queue(self, name: str) -> QueueSpec:
        return next(q for q in self.queues if q.queue == name)

    def campaign(self, name: str) -> Campaign:
        return next(c for c in self.campaigns if c.campaign == name)

    def site(self, name: str) -> Site:
        return next(s for s in self.sites if s.site == name)

    def tenant(self, name: str) -> Tenant:
        return next(t for t in self.tenants if t.tenant == name)

    def queues_of(self, tenant: str) -> tuple[QueueSpec, ...]:
        return tuple(q for q in self.queues if q.tenant == tenant)

    def agents_of(self, tenant: str, *, outbound: bool) -> tuple[Agent, ...]:
        return tuple(a for a in self.agents if a.tenant == tenant and a.outbound == outbound)


def _person_name(rng: np.random.Generator, used: set[str]) -> str:
    while True:
        female = rng.random() < 0.68  # contact-center staff are mostly women
        first = rng.choice(_FIRST_NAMES_F if female else _FIRST_NAMES_M)
        surname = str(rng.choice(_SURNAMES))
        name = f"{first} {surname}{'a' if female else ''}"
        if name not in used:
            used.add(name)
            return name


def _team_agents(
    rng: np.random.Generator, team: TeamSpec, site: Site, period: Period, used_names: set[str]
) -> list[Agent]:
    agents = []
    for i in range(team.size):
        senior = i < team.senior_count
        extension = str(team.first_extension + i)
        campaign = team.campaigns[i % len(team.campaigns)] if team.campaigns else None
        tenant = (
            next(c.tenant for c in CAMPAIGNS if c.campaign == campaign) if campaign else team.tenant
        )
        tenure_days = int(rng.gamma(2.0, 300 if senior else 180)) + (400 if senior else 30)
        agents.append(
            Agent(
                agent=extension if campaign else f"PJSIP/{extension}",
                extension=extension,
                name=_person_name(rng, used_names),
                team=team.team,
                supervisor=team.supervisor,
                site=team.site,
                tenant=tenant,
                hire_date=period.first_day - dt.timedelta(days=tenure_days),
                exit_date=None,
                hourly_cost_rub=round(
                    site.agent_hourly_cost_rub
                    * (1.2 if senior else 1.0)
                    * (0.95 + 0.1 * rng.random()),
                    2,
                ),
                skills=team.senior_skills if senior else team.skills,
                campaign=campaign,
                senior=senior,
                quality=float(rng.normal(0.0, 0.35)),
                shift_h=PART_TIME_SHIFT_H if i >= team.size - team.part_time else team.shift_h,
            )
        )
    return agents


def _attrition(
    rng: np.random.Generator, agents: list[Agent], period: Period, used_names: set[str]
) -> list[Agent]:
    """A few regular inbound agents leave mid-period; a new hire takes each one's place."""
    if len(period.days) < 10:
        return agents
    candidates = [
        i for i, a in enumerate(agents) if not a.senior and not a.outbound and a.shift_h >= 8
    ]
    leaving = sorted(rng.choice(candidates, size=EXITS_DURING_PERIOD, replace=False).tolist())
    result = list(agents)
    for index in leaving:
        old = agents[index]
        exit_day = period.days[int(rng.integers(len(period.days) // 3, 2 * len(period.days) // 3))]
        result[index] = replace(old, exit_date=exit_day)
        result.append(
            replace(
                old,
                agent=f"PJSIP/{int(old.extension) + 50}",
                extension=str(int(old.extension) + 50),
                name=_person_name(rng, used_names),
                hire_date=exit_day - dt.timedelta(days=3),
                hourly_cost_rub=round(old.hourly_cost_rub * 0.92, 2),
                quality=float(rng.normal(-0.15, 0.3)),
            )
        )
    return result


def build_roster(
    rng: np.random.Generator, period: Period, teams: tuple[TeamSpec, ...] = TEAMS
) -> tuple[Agent, ...]:
    used: set[str] = {t.supervisor for t in teams}
    agents: list[Agent] = []
    for team in teams:
        site = next(s for s in SITES if s.site == team.site)
        agents += _team_agents(rng, team, site, period, used)
    return tuple(_attrition(rng, agents, period, used))


def build_center(rng: np.random.Generator, period: Period) -> Center:
    return Center(period, SITES, TENANTS, QUEUES, CAMPAIGNS, TEAMS, build_roster(rng, period))


def agent_rows(center: Center) -> list[dict[str, object]]:
    """The roster as ``agents`` records."""
    return [
        {
            "agent": a.agent,
            "name": a.name,
            "team": a.team,
            "supervisor": a.supervisor,
            "site": a.site,
            "region": center.site(a.site).city,
            "tenant": a.tenant,
            "hire_date": a.hire_date,
            "exit_date": a.exit_date,
            "hourly_cost": a.hourly_cost_rub,
        }
        for a in sorted(center.agents, key=lambda a: a.agent)
    ]
