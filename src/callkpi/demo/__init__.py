"""The demo contact center (DESIGN.md section 7): generate it, write its files, load them.

:func:`generate` simulates a month (or any number of days) of an outsourced center;
:func:`write_files` writes what its systems would have written (a queue_log and a
Master.csv per client PBX, CRM/WFM/finance CSVs); :func:`build_demo` does both and loads
every file through the same adapters a user runs (``callkpi ingest``). The same seed and
arguments give byte-identical files. docs/demo.md describes the center and its models.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from callkpi.demo import crm, ivr
from callkpi.demo.arrivals import draw_arrivals
from callkpi.demo.callers import Contact, CustomerBook, assign_callers, build_book
from callkpi.demo.center import TZ_NAME, Center, agent_rows, build_center
from callkpi.demo.clock import Period
from callkpi.demo.inbound import InboundCall, QueueSimulation, Visit, simulate_client
from callkpi.demo.master_csv import DirectCall, direct_calls, master_rows
from callkpi.demo.outbound import DialAttempt, Lead, dial_row, run_campaign
from callkpi.demo.pbx import Pbx
from callkpi.demo.staffing import (
    Staffing,
    absence_rows,
    build_staffing,
    publish_ahead,
    schedule_rows,
)
from callkpi.demo.writers import write_master_csv, write_queue_log, write_records
from callkpi.ingest import IngestOptions, IngestReport, ingest
from callkpi.store import Warehouse

DEFAULT_END = dt.date(2026, 10, 31)
TRANSFER_ANSWER_RATE = 0.88
SCHEDULE_AHEAD_DAYS = 7
"""The schedule is published this many days past the demo's last day (for callkpi plan)."""
"""Share of a queue's visits that are answered, for planning the queues transfers feed."""

_STREAMS = (
    "roster",
    "customers",
    "arrivals",
    "callers",
    "staffing",
    "inbound",
    "outbound",
    "direct",
    "uniqueids",
    "crm",
    "schedule-ahead",
)


def _rng(seed: int, stream: str, index: int = 0) -> np.random.Generator:
    """An independent random stream per concern, so changing one model leaves the others'
    draws alone."""
    return np.random.default_rng([seed, _STREAMS.index(stream), index])


@dataclass(frozen=True)
class DemoData:
    """Everything the simulations did, before it is written to files."""

    seed: int
    center: Center
    staffing: Staffing
    books: dict[str, CustomerBook]
    pbxes: dict[str, Pbx]
    queues: dict[str, QueueSimulation]
    """The inbound simulation of each client."""
    leads: tuple[Lead, ...]
    attempts: tuple[tuple[Pbx, DialAttempt], ...]
    direct: tuple[tuple[Pbx, DirectCall], ...]
    cut_at: int | None
    """The moment the files are written (UTC epoch), or None: after the last day."""

    def inbound_calls(self) -> Iterator[tuple[Pbx, InboundCall]]:
        for tenant, sim in self.queues.items():
            for call in sorted(sim.calls, key=lambda c: (c.arrived_at, c.channel)):
                yield self.pbxes[tenant], call

    def visits(self) -> list[Visit]:
        """Every queue visit that had begun by ``cut_at``."""
        return [
            v
            for sim in self.queues.values()
            for v in sim.visits
            if self.cut_at is None or v.entered_at <= self.cut_at
        ]

    def outcome(self, visit: Visit) -> str:
        """The visit's outcome as the files show it (``in_progress`` if it ends later)."""
        if self.cut_at is not None and (visit.ended_at is None or visit.ended_at > self.cut_at):
            return "in_progress"
        return visit.outcome


def expected_visits_per_weekday(center: Center) -> dict[str, float]:
    """Queue visits on a weekday of factor 1: callers the IVR sends to the queue, plus the
    answered calls other queues transfer into it."""
    visits = {
        q.queue: q.volume.calls_per_weekday * ivr.share(q.queue, ivr.TO_QUEUE)
        if q.volume.calls_per_weekday
        else 0.0
        for q in center.queues
    }
    for queue in center.queues:
        for transfer in queue.transfers:
            if transfer.target_queue:
                visits[transfer.target_queue] += (
                    visits[queue.queue] * TRANSFER_ANSWER_RATE * transfer.share
                )
    return visits


def _cut_epoch(now: dt.datetime | None, period: Period) -> int | None:
    if now is None:
        return None
    aware = now if now.tzinfo is not None else now.replace(tzinfo=period.tz)
    return int(aware.timestamp())


def _contacts(
    seed: int, center: Center, books: dict[str, CustomerBook], cut_at: int | None
) -> dict[str, list[Contact]]:
    contacts: dict[str, list[Contact]] = {t.tenant: [] for t in center.tenants}
    for index, queue in enumerate(center.queues):
        if queue.volume.calls_per_weekday <= 0:
            continue
        draw = draw_arrivals(_rng(seed, "arrivals", index), queue.volume, center.period)
        for contact in assign_callers(
            _rng(seed, "callers", index), queue, books[queue.tenant], draw.epochs
        ):
            if cut_at is None or contact.arrived_at <= cut_at:
                contacts[queue.tenant].append(contact)
    return contacts


def generate(
    *, days: int = 30, seed: int = 7, end: dt.date = DEFAULT_END, now: dt.datetime | None = None
) -> DemoData:
    """Simulate the center over ``days`` days ending with ``end``.

    ``now`` (naive = the center's local time) stops the world at that moment: calls
    still waiting or talking then are in progress in the files.
    """
    period = Period.ending(end, days, TZ_NAME)
    cut_at = _cut_epoch(now, period)
    center = build_center(_rng(seed, "roster"), period)
    books = {
        t.tenant: build_book(_rng(seed, "customers", i), t) for i, t in enumerate(center.tenants)
    }
    contacts = _contacts(seed, center, books, cut_at)
    visits = expected_visits_per_weekday(center)
    staffing = build_staffing(_rng(seed, "staffing"), center, visits)
    ahead = publish_ahead(_rng(seed, "schedule-ahead"), center, visits, SCHEDULE_AHEAD_DAYS)
    staffing = replace(staffing, ahead=ahead)
    pbxes = {t.tenant: Pbx(f"pbx-{t.tenant}", t.tenant) for t in center.tenants}
    queues = {}
    for index, tenant in enumerate(center.tenants):
        agents = center.agents_of(tenant.tenant, outbound=False)
        queues[tenant.tenant] = simulate_client(
            _rng(seed, "inbound", index),
            pbxes[tenant.tenant],
            period,
            center.queues_of(tenant.tenant),
            agents,
            staffing.worked_by(agents),
            contacts[tenant.tenant],
        )
    leads: list[Lead] = []
    attempts: list[tuple[Pbx, DialAttempt]] = []
    for index, campaign in enumerate(center.campaigns):
        pbx = pbxes[campaign.tenant]
        dialers = [a for a in center.agents if a.campaign == campaign.campaign]
        book = books[campaign.tenant] if campaign.existing_customers else None
        campaign_leads, campaign_attempts = run_campaign(
            _rng(seed, "outbound", index),
            pbx,
            period,
            campaign,
            book,
            staffing.worked_by(dialers),
            cut_at,
        )
        leads += campaign_leads
        attempts += [(pbx, a) for a in campaign_attempts]
    direct = []
    for index, tenant in enumerate(center.tenants):
        pbx = pbxes[tenant.tenant]
        direct += [
            (pbx, d)
            for d in direct_calls(
                _rng(seed, "direct", index), pbx, period, center, books[tenant.tenant].phones
            )
            if cut_at is None or d.start <= cut_at
        ]
    for index, tenant in enumerate(center.tenants):
        pbxes[tenant.tenant].number_channels(_rng(seed, "uniqueids", index))
    return DemoData(
        seed,
        center,
        staffing,
        books,
        pbxes,
        queues,
        tuple(leads),
        tuple(attempts),
        tuple(direct),
        cut_at,
    )


# -- files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    """A written file and how ``callkpi ingest`` loads it."""

    source: str
    path: Path
    options: IngestOptions


def _before(rows: list[crm.Row], column: str, cut_at: int | None) -> list[crm.Row]:
    """The rows whose ``column`` (an epoch) is not after ``cut_at``."""
    if cut_at is None:
        return rows
    return [r for r in rows if r[column] is None or r[column] <= cut_at]


def _crm_records(data: DemoData) -> crm.CrmBuilder:
    builder = crm.CrmBuilder(_rng(data.seed, "crm"), data.center, data.books, data.cut_at)
    for pbx, call in data.inbound_calls():
        if data.cut_at is None or call.arrived_at <= data.cut_at:
            builder.inbound_call(pbx, call)
    for pbx, attempt in data.attempts:
        builder.dial(pbx, attempt)
    for lead in data.leads:
        builder.campaign_lead(lead)
    return builder


def write_files(data: DemoData, data_dir: Path) -> list[SourceFile]:
    """Write every source file under ``data_dir``; returns them in loading order."""
    center, cut_at = data.center, data.cut_at
    period = center.period
    local = IngestOptions(tz=TZ_NAME)
    crm_dir = data_dir / "crm"
    crm_dir.mkdir(parents=True, exist_ok=True)
    files: list[SourceFile] = []

    def records(table: str, rows: list[dict[str, object]]) -> None:
        path = crm_dir / f"{table}.csv"
        write_records(path, table, rows, period)
        files.append(SourceFile(table.replace("_", "-"), path, local))

    records("agents", agent_rows(center))
    records("schedules", schedule_rows(data.staffing))
    records("absences", absence_rows(data.staffing))
    for tenant, pbx in data.pbxes.items():
        pbx_dir = data_dir / pbx.name
        pbx_dir.mkdir(parents=True, exist_ok=True)
        write_queue_log(pbx_dir / "queue_log", pbx, cut_at)
        files.append(SourceFile("queue-log", pbx_dir / "queue_log", IngestOptions(tenant=tenant)))
    for tenant, pbx in data.pbxes.items():
        rows = master_rows(
            pbx,
            center,
            data.queues[tenant].calls,
            [a for p, a in data.attempts if p is pbx],
            [d for p, d in data.direct if p is pbx],
        )
        path = data_dir / pbx.name / "Master.csv"
        write_master_csv(path, rows, period, cut_at)
        files.append(SourceFile("cdr", path, IngestOptions(tz=TZ_NAME, tenant=tenant)))
    builder = _crm_records(data)
    records("dispositions", builder.dispositions)
    records(
        "ivr_steps",
        [
            row
            for pbx, call in data.inbound_calls()
            for row in ivr.step_rows(pbx.uniqueid(call.channel), call.ivr, cut_at)
        ],
    )
    records(
        "dials",
        [
            dial_row(pbx.uniqueid(a.agent_leg), a)
            for pbx, a in data.attempts
            if cut_at is None or a.ended_at <= cut_at
        ],
    )
    records("leads", builder.leads)
    records("deals", builder.deals)
    records("customers", builder.customers())
    records("surveys", _before(builder.surveys, "answered_at", cut_at))
    records(
        "costs",
        crm.build_costs(
            center,
            data.staffing,
            crm.CallRecords(list(data.inbound_calls()), data.attempts),
            data.leads,
        ),
    )
    return files


def load_files(wh: Warehouse, files: list[SourceFile]) -> list[IngestReport]:
    return [ingest(wh, f.source, f.path, f.options) for f in files]


def build_demo(
    wh: Warehouse,
    *,
    days: int = 30,
    seed: int = 7,
    data_dir: Path,
    end: dt.date = DEFAULT_END,
    now: dt.datetime | None = None,
) -> list[IngestReport]:
    """Generate the demo center, write its files into ``data_dir`` and load them into
    ``wh`` through the real adapters; returns one ingest report per file."""
    data = generate(days=days, seed=seed, end=end, now=now)
    return load_files(wh, write_files(data, Path(data_dir)))


__all__ = ["DemoData", "SourceFile", "build_demo", "generate", "load_files", "write_files"]
