"""The canonical data model: every warehouse table, its columns, types and keys.

This is the one place a column is defined (DESIGN.md section 3). Ingest adapters write
these tables, the store creates them, the KPI engine reads them. Timestamps are naive
``TIMESTAMP`` values that always mean UTC; durations are seconds as ``DOUBLE`` and carry
``_s`` in their names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

SCHEMA_VERSION = 5
"""Bump when a table changes shape, and add a migration in :mod:`callkpi.store.migrations`."""


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class Outcome(StrEnum):
    """How a call's queue visit (inbound) or attempt (outbound) ended."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    """The caller hung up while waiting, however briefly (short abandons included)."""
    TIMED_OUT = "timed_out"
    EXITED_KEY = "exited_key"
    BLOCKED = "blocked"
    """No agent could take the call: JOINEMPTY, LEAVEEMPTY, EXITEMPTY, JOIN/LEAVEUNAVAIL."""
    OVERFLOWED = "overflowed"
    """Sent elsewhere by the system: FULL, DIVERT_CA_RATIO, DIVERT_HOLDTIME, WITHDRAW."""
    CLOSED = "closed"
    """Arrived outside business hours."""
    FAILED = "failed"
    """A technical failure (SYSCOMPAT inbound; FAILED/CONGESTION outbound)."""
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    IN_PROGRESS = "in_progress"
    """No final event yet: shown live, never counted as answered or abandoned."""


FINAL_INBOUND_OUTCOMES: tuple[Outcome, ...] = (
    Outcome.ANSWERED,
    Outcome.ABANDONED,
    Outcome.TIMED_OUT,
    Outcome.EXITED_KEY,
    Outcome.BLOCKED,
    Outcome.OVERFLOWED,
    Outcome.CLOSED,
    Outcome.FAILED,
)
"""The outcomes that make a call *offered*; they partition it exactly."""


class AgentState(StrEnum):
    LOGGED_IN = "logged_in"
    PAUSED = "paused"
    WRAPUP = "wrapup"
    RINGING = "ringing"
    TALKING = "talking"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    """A DuckDB SQL type: VARCHAR, BIGINT, INTEGER, DOUBLE, BOOLEAN, TIMESTAMP, DATE, VARCHAR[]."""
    doc: str = ""
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    """Columns that identify a row: re-ingesting a row with the same key never duplicates it."""
    derived: bool = False
    """Built by ingest from other rows (``calls`` and ``agent_states`` from queue_log events)."""
    view: str | None = None
    """A view over other tables (this SELECT), not stored: the columns describe its result."""
    internal: bool = False
    """callkpi's own bookkeeping (quarantine, journal, ingest state), not loadable data."""
    by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})
        missing = [k for k in self.key if k not in self.by_name]
        if missing:
            raise ValueError(f"table {self.name}: key columns {missing} are not columns")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)


def _c(name: str, type_: str, doc: str = "", nullable: bool = True) -> Column:
    return Column(name, type_, doc, nullable)


LINEAGE = (
    _c(
        "source",
        "VARCHAR",
        "the adapter that wrote the row: queue_log, cdr, mapped:<profile>, ...",
        nullable=False,
    ),
    _c("source_ref", "VARCHAR", "where the row came from: file:line, or an event id"),
)

CALLS = Table(
    "calls",
    "One row per call per queue visit (segment), inbound and outbound.",
    (
        _c("call_id", "VARCHAR", "the source's call id (Asterisk uniqueid)", nullable=False),
        _c(
            "segment",
            "INTEGER",
            "1, 2, ... per queue visit of the same call (CDR rows: a "
            "stable number per CDR record of the call)",
            nullable=False,
        ),
        _c("tenant", "VARCHAR", "the client the call was handled for"),
        _c("site", "VARCHAR"),
        _c("region", "VARCHAR"),
        _c("direction", "VARCHAR", "in | out", nullable=False),
        _c("channel", "VARCHAR", "voice | chat | email | ..."),
        _c("queue", "VARCHAR"),
        _c("campaign", "VARCHAR"),
        _c("agent", "VARCHAR", "the agent who handled the visit (null when nobody did)"),
        _c("customer_id", "VARCHAR"),
        _c("lead_id", "VARCHAR"),
        _c("caller", "VARCHAR", "the caller's number, masked when ingest was asked to"),
        _c("did", "VARCHAR", "the number dialled"),
        _c("call_type", "VARCHAR", "the source's call type or service (e.g. PS, NW)"),
        _c(
            "entered_at",
            "TIMESTAMP",
            "UTC; when the queue visit (or the attempt) began",
            nullable=False,
        ),
        _c("answered_at", "TIMESTAMP", "UTC; when an agent (or the called party) answered"),
        _c("ended_at", "TIMESTAMP", "UTC; null while in progress"),
        _c("outcome", "VARCHAR", "see callkpi.model.Outcome", nullable=False),
        _c("wait_s", "DOUBLE", "time in queue before answer, abandon or exit"),
        _c("ring_s", "DOUBLE", "ringing time of the attempt the agent answered"),
        _c("talk_s", "DOUBLE"),
        _c("hold_s", "DOUBLE"),
        _c("acw_s", "DOUBLE", "after-call work (wrap-up) attributed to this call"),
        _c("ivr_s", "DOUBLE", "time in the IVR before the queue"),
        _c("enter_position", "INTEGER", "position in the queue on entering it"),
        _c("transferred", "BOOLEAN", nullable=False),
        _c(
            "transfer_kind",
            "VARCHAR",
            "transfer | blind | attended | inferred (the end was "
            "lost and the call went on in another queue)",
        ),
        _c("transfer_target", "VARCHAR", "extension@context, bridge:ID, app:NAME or a channel"),
        _c("escalated", "BOOLEAN", "null when the source does not say"),
        _c("ended_by", "VARCHAR", "caller | agent for answered calls"),
        _c("wrap_code", "VARCHAR"),
        _c("resolved", "BOOLEAN"),
        *LINEAGE,
        _c(
            "next_contact_at",
            "TIMESTAMP",
            "UTC; kept by the store (a loaded value is replaced): for an inbound visit of a "
            "known customer "
            "(customer_id, else caller), when the customer's next inbound call began (calls "
            "in order of their first inbound visit, then call_id; the other visits of the "
            "same call are not a next call); null when there is none yet",
        ),
    ),
    key=("source", "call_id", "segment"),
)

AGENT_STATES = Table(
    "agent_states",
    "Intervals of agent state. queue null = the agent-level timeline (overlaps merged); "
    "queue set = the state in that one queue (membership, per-queue pause).",
    (
        _c("agent", "VARCHAR", nullable=False),
        _c("queue", "VARCHAR", "null = all queues"),
        _c("state", "VARCHAR", "see callkpi.model.AgentState", nullable=False),
        _c("reason", "VARCHAR", "pause code, logoff reason, wrap-up code"),
        _c("call_id", "VARCHAR", "for ringing, talking and wrapup: the call"),
        _c("start_at", "TIMESTAMP", nullable=False),
        _c("end_at", "TIMESTAMP", "null = still open"),
        *LINEAGE,
    ),
    key=("source", "agent", "queue", "state", "start_at", "call_id"),
    derived=True,
)

AGENTS = Table(
    "agents",
    "The roster.",
    (
        _c(
            "agent",
            "VARCHAR",
            "the id the PBX logs (e.g. Agent/1001 or the member name)",
            nullable=False,
        ),
        _c("name", "VARCHAR"),
        _c("team", "VARCHAR"),
        _c("supervisor", "VARCHAR"),
        _c("site", "VARCHAR"),
        _c("region", "VARCHAR"),
        _c("tenant", "VARCHAR"),
        _c("hire_date", "DATE"),
        _c("exit_date", "DATE"),
        _c("hourly_cost", "DOUBLE", "wages and benefits per paid hour"),
        *LINEAGE,
    ),
    key=("agent",),
)

SCHEDULES = Table(
    "schedules",
    "Planned activities per agent (the schedule adherence is measured against).",
    (
        _c("agent", "VARCHAR", nullable=False),
        _c(
            "activity", "VARCHAR", "work | break | lunch | training | meeting | ...", nullable=False
        ),
        _c("start_at", "TIMESTAMP", nullable=False),
        _c("end_at", "TIMESTAMP", nullable=False),
        *LINEAGE,
    ),
    key=("agent", "activity", "start_at"),
)

ABSENCES = Table(
    "absences",
    "Scheduled and absent hours per agent and day.",
    (
        _c("agent", "VARCHAR", nullable=False),
        _c("date", "DATE", nullable=False),
        _c("scheduled_hours", "DOUBLE", nullable=False),
        _c("absent_hours", "DOUBLE", nullable=False),
        _c("reason", "VARCHAR"),
        *LINEAGE,
    ),
    key=("agent", "date"),
)

DISPOSITIONS = Table(
    "dispositions",
    "What the agent recorded about a call in the desktop or CRM (wrap-up code, resolved, "
    "escalated). Applied to the matching calls rows, which carry the values for KPIs.",
    (
        _c("call_id", "VARCHAR", "the PBX call id (Asterisk uniqueid)", nullable=False),
        _c("agent", "VARCHAR", "the agent who recorded it; null = every visit of the call"),
        _c("wrap_code", "VARCHAR", "the call reason or result the agent chose"),
        _c("resolved", "BOOLEAN", "the customer's issue was solved on this call"),
        _c("escalated", "BOOLEAN", "handed to a higher tier or a supervisor"),
        _c("customer_id", "VARCHAR"),
        _c("lead_id", "VARCHAR"),
        _c("campaign", "VARCHAR"),
        _c("recorded_at", "TIMESTAMP"),
        *LINEAGE,
    ),
    key=("call_id", "agent"),
)

IVR_STEPS = Table(
    "ivr_steps",
    "The path of a call through the IVR.",
    (
        _c("call_id", "VARCHAR", nullable=False),
        _c("seq", "INTEGER", nullable=False),
        _c("node", "VARCHAR", nullable=False),
        _c("option", "VARCHAR"),
        _c("at", "TIMESTAMP", nullable=False),
        _c("result", "VARCHAR", "self_served | to_queue | hung_up (on the last step)"),
        *LINEAGE,
    ),
    key=("source", "call_id", "seq"),
)

DIALS = Table(
    "dials",
    "Outbound dial attempts.",
    (
        _c("attempt_id", "VARCHAR", nullable=False),
        _c("lead_id", "VARCHAR"),
        _c("campaign", "VARCHAR"),
        _c("agent", "VARCHAR"),
        _c("dialed_at", "TIMESTAMP", nullable=False),
        _c("connected", "BOOLEAN", nullable=False),
        _c("talk_s", "DOUBLE"),
        _c("disposition", "VARCHAR"),
        *LINEAGE,
    ),
    key=("attempt_id",),
)

LEADS = Table(
    "leads",
    "Sales leads and where they are in the funnel.",
    (
        _c("lead_id", "VARCHAR", nullable=False),
        _c("tenant", "VARCHAR"),
        _c("campaign", "VARCHAR"),
        _c("source_channel", "VARCHAR", "where the lead came from (web, referral, ...)"),
        _c("created_at", "TIMESTAMP", nullable=False),
        _c("first_contact_at", "TIMESTAMP"),
        _c("stage", "VARCHAR"),
        _c("stage_changed_at", "TIMESTAMP"),
        *LINEAGE,
    ),
    key=("lead_id",),
)

DEALS = Table(
    "deals",
    "Deals (opportunities) and their result.",
    (
        _c("deal_id", "VARCHAR", nullable=False),
        _c("lead_id", "VARCHAR"),
        _c("customer_id", "VARCHAR"),
        _c("agent", "VARCHAR"),
        _c("campaign", "VARCHAR"),
        _c("tenant", "VARCHAR"),
        _c("opened_at", "TIMESTAMP", nullable=False),
        _c("closed_at", "TIMESTAMP"),
        _c("status", "VARCHAR", "won | lost | open", nullable=False),
        _c("amount", "DOUBLE"),
        _c("currency", "VARCHAR"),
        _c("product", "VARCHAR"),
        *LINEAGE,
    ),
    key=("deal_id",),
)

CUSTOMERS = Table(
    "customers",
    "Customers, for retention, churn and lifetime value.",
    (
        _c("customer_id", "VARCHAR", nullable=False),
        _c("tenant", "VARCHAR"),
        _c("segment", "VARCHAR"),
        _c("acquired_at", "TIMESTAMP"),
        _c("churned_at", "TIMESTAMP"),
        *LINEAGE,
    ),
    key=("customer_id",),
)

SURVEYS = Table(
    "surveys",
    "Survey answers (CSAT, NPS, CES).",
    (
        _c("survey_id", "VARCHAR", nullable=False),
        _c("call_id", "VARCHAR"),
        _c("customer_id", "VARCHAR"),
        _c("agent", "VARCHAR"),
        _c("kind", "VARCHAR", "csat | nps | ces", nullable=False),
        _c("score", "DOUBLE", nullable=False),
        _c("scale_max", "DOUBLE", nullable=False),
        _c("answered_at", "TIMESTAMP", nullable=False),
        *LINEAGE,
    ),
    key=("survey_id",),
)

COSTS = Table(
    "costs",
    "Operating costs per period.",
    (
        _c("tenant", "VARCHAR"),
        _c("campaign", "VARCHAR"),
        _c("period_start", "DATE", nullable=False),
        _c("period_end", "DATE", nullable=False),
        _c(
            "category",
            "VARCHAR",
            "salary | benefits | licences | telephony | rent | marketing | other",
            nullable=False,
        ),
        _c("amount", "DOUBLE", nullable=False),
        _c("currency", "VARCHAR"),
        *LINEAGE,
    ),
    key=("tenant", "campaign", "period_start", "period_end", "category"),
)

QUEUE_INTERVALS = Table(
    "queue_intervals",
    "Interval totals per queue from ACD interval reports, for systems that export no "
    "call-level records. Only additive measures, so any roll-up is exact.",
    (
        _c("tenant", "VARCHAR"),
        _c("site", "VARCHAR"),
        _c("queue", "VARCHAR", nullable=False),
        _c("interval_start", "TIMESTAMP", "UTC", nullable=False),
        _c("interval_s", "INTEGER", "the interval's length: 900, 1800, 3600", nullable=False),
        _c("offered", "BIGINT"),
        _c("answered", "BIGINT"),
        _c("abandoned", "BIGINT"),
        _c("short_abandoned", "BIGINT", "abandoned below the system's short-abandon threshold"),
        _c("answered_within_threshold", "BIGINT"),
        _c("threshold_s", "DOUBLE", "the service-level threshold the system counted with"),
        _c("wait_s_sum", "DOUBLE", "total wait of answered calls"),
        _c("abandon_wait_s_sum", "DOUBLE", "total wait of abandoned calls"),
        _c("max_wait_s", "DOUBLE"),
        _c("talk_s_sum", "DOUBLE"),
        _c("hold_s_sum", "DOUBLE"),
        _c("acw_s_sum", "DOUBLE"),
        _c("transferred", "BIGINT"),
        _c("staffed_agent_s", "DOUBLE", "agent-seconds logged in during the interval"),
        *LINEAGE,
    ),
    key=("source", "tenant", "queue", "interval_start"),
)

QUARANTINE = Table(
    "quarantine",
    "Every rejected input row, with the reason.",
    (
        _c("source", "VARCHAR", nullable=False),
        _c("source_ref", "VARCHAR", "file:line or an event id", nullable=False),
        _c("raw", "VARCHAR", "the input line as read"),
        _c("reason", "VARCHAR", nullable=False),
        _c("batch_id", "BIGINT"),
        _c("ingested_at", "TIMESTAMP", nullable=False),
    ),
    key=("source", "source_ref", "raw"),
    internal=True,
)

QUEUE_LOG_EVENTS = Table(
    "queue_log_events",
    "The journal of accepted Asterisk queue_log lines; calls and agent_states are built "
    "from it, so every number traces back to these lines.",
    (
        _c(
            "seq",
            "BIGINT",
            "load order, breaks ties between events of the same second",
            nullable=False,
        ),
        _c(
            "event_key",
            "UBIGINT",
            "hash of the line's content, for idempotent loads",
            nullable=False,
        ),
        _c("time", "TIMESTAMP", "UTC", nullable=False),
        _c("callid", "VARCHAR", nullable=False),
        _c("queue", "VARCHAR", nullable=False),
        _c("agent", "VARCHAR", nullable=False),
        _c("event", "VARCHAR", nullable=False),
        _c("data", "VARCHAR[]", "data1, data2, ... (table exports' data5 split on '|')"),
        _c("tenant", "VARCHAR"),
        _c("source_file", "VARCHAR", nullable=False),
        _c("line_no", "BIGINT", nullable=False),
        _c("batch_id", "BIGINT", nullable=False),
    ),
    key=("event_key",),
    internal=True,
)

INGEST_FILES = Table(
    "ingest_files",
    "How far each source file has been read, for incremental loads.",
    (
        _c("source", "VARCHAR", nullable=False),
        _c("path", "VARCHAR", nullable=False),
        _c(
            "head_hash",
            "VARCHAR",
            "hash of the first bytes: a different file at the same path "
            "(rotation) is read from the start",
            nullable=False,
        ),
        _c("byte_offset", "BIGINT", "end of the last complete line loaded", nullable=False),
        _c("lines_read", "BIGINT", nullable=False),
        _c("updated_at", "TIMESTAMP", nullable=False),
    ),
    key=("source", "path"),
    internal=True,
)

TARGET_SCOPES: tuple[str, ...] = (
    "center",
    "tenant",
    "site",
    "team",
    "agent",
    "queue",
    "campaign",
)

TARGETS = Table(
    "targets",
    "KPI targets per scope and period (callkpi targets set|import). The most specific "
    "target applies: agent over team over site over tenant over the center; a queue's or "
    "a campaign's over its tenant's; a shorter period over a longer one.",
    (
        _c("kpi", "VARCHAR", "a KPI id", nullable=False),
        _c(
            "scope",
            "VARCHAR",
            "center | tenant | site | team | agent | queue | campaign",
            nullable=False,
        ),
        _c("scope_value", "VARCHAR", "which tenant, team, agent, ... (null for the center)"),
        _c("period_start", "DATE", "first day the target applies", nullable=False),
        _c("period_end", "DATE", "last day the target applies", nullable=False),
        _c("target", "DOUBLE", "in the KPI's unit (ratios as 0..1)", nullable=False),
        _c("warning", "DOUBLE", "relative shortfall that makes it a warning (default 0.05)"),
        _c("critical", "DOUBLE", "relative shortfall that makes it critical (default 0.15)"),
        _c("impact", "VARCHAR", "high | medium | low: overrides the catalog's impact on sales"),
        _c("owner", "VARCHAR", "who answers for it"),
        _c("due_date", "DATE", "when it is to be reached"),
        _c("note", "VARCHAR"),
        _c("updated_at", "TIMESTAMP", nullable=False),
        *LINEAGE,
    ),
    key=("kpi", "scope", "scope_value", "period_start", "period_end"),
)

PENDING_AGENT_STATES = Table(
    "pending_agent_states",
    "Agents whose sessions must be rebuilt: written with each batch, cleared when the "
    "rebuild commits (once per ingest run, not per batch; a crash in between leaves them "
    "for the next run).",
    (
        _c("source", "VARCHAR", nullable=False),
        _c("agent", "VARCHAR", nullable=False),
    ),
    key=("source", "agent"),
    internal=True,
)

INGEST_BATCHES = Table(
    "ingest_batches",
    "One row per committed ingest batch.",
    (
        _c("batch_id", "BIGINT", nullable=False),
        _c("source", "VARCHAR", nullable=False),
        _c("path", "VARCHAR"),
        _c("first_line", "BIGINT"),
        _c("last_line", "BIGINT"),
        _c("lines_read", "BIGINT", nullable=False),
        _c("loaded", "BIGINT", nullable=False),
        _c("updated", "BIGINT", nullable=False),
        _c("duplicates", "BIGINT", nullable=False),
        _c("rejected", "BIGINT", nullable=False),
        _c("committed_at", "TIMESTAMP", nullable=False),
    ),
    key=("batch_id",),
    internal=True,
)

ROLLUP_DIMENSIONS: tuple[str, ...] = (
    "tenant",
    "site",
    "region",
    "queue",
    "campaign",
    "agent",
    "direction",
    "channel",
    "call_type",
    "wrap_code",
    "outcome",
    "transfer_kind",
)
ROLLUP_SHORT_ABANDON_S = 5.0
ROLLUP_ANSWER_THRESHOLD_S = 20.0
ROLLUP_REPEAT_WINDOW_DAYS = 7.0

CALLS_ROLLUP = Table(
    "calls_rollup",
    "Additive 15-minute totals of calls (by UTC quarter hour and the common dimensions), "
    "kept current at ingest; KPI queries use it when they can and give the same numbers. "
    "The flags hold the default thresholds (5 s short abandon, 20 s answer, 7 days to a "
    "repeat contact).",
    (
        _c("bucket_utc", "TIMESTAMP", "the UTC quarter hour the calls entered in", nullable=False),
        *(_c(d, "VARCHAR") for d in ROLLUP_DIMENSIONS),
        _c("transferred", "BOOLEAN"),
        _c("escalated", "BOOLEAN"),
        _c("resolved", "BOOLEAN"),
        _c("customer_known", "BOOLEAN", "customer_id or caller is known"),
        _c(
            "repeat_contact",
            "BOOLEAN",
            "the same customer called again within 7 days (next_contact_at)",
            nullable=False,
        ),
        _c("wait_lt_short", "BOOLEAN", "wait_s < 5"),
        _c("wait_le_threshold", "BOOLEAN", "wait_s <= 20"),
        _c("n", "BIGINT", "calls", nullable=False),
        _c("wait_s_sum", "DOUBLE"),
        _c("wait_s_max", "DOUBLE"),
        _c("talk_s_sum", "DOUBLE"),
        _c("hold_s_sum", "DOUBLE"),
        _c("acw_s_sum", "DOUBLE"),
        _c("handle_s_sum", "DOUBLE"),
    ),
    derived=True,
    internal=True,
)


@dataclass(frozen=True)
class RollupLevel:
    """One level of the calls roll-up: UTC buckets of ``seconds`` by ``dimensions``.

    The 15-minute level by every roll-up dimension keeps the wait and outcome flags as
    columns to group by (exact for any combination of them); the coarser levels are built
    from it and keep, instead, a count per flag (:data:`ROLLUP_COUNTS`), so they serve the
    measures with at most one flag and aggregate far more."""

    table: str
    seconds: int
    dimensions: tuple[str, ...]
    flags_as_counts: bool


ROLLUP_COUNTS: dict[str, str] = {
    "n_transferred": "transferred",
    "n_escalated": "escalated",
    "n_resolved": "resolved",
    "n_resolution_known": "resolved IS NOT NULL",
    "n_customer_known": "customer_known",
    "n_repeat": "repeat_contact",
    "n_wait_lt_short": "wait_lt_short",
    "n_wait_le_threshold": "wait_le_threshold",
}
"""The coarser levels' flag counts: column -> the condition over the 15-minute level."""

ROLLUP_SUMS: tuple[str, ...] = (
    "wait_s_sum",
    "talk_s_sum",
    "hold_s_sum",
    "acw_s_sum",
    "handle_s_sum",
)

_NO_AGENT = tuple(d for d in ROLLUP_DIMENSIONS if d != "agent")
_NO_AGENT_NOR_WRAP = tuple(d for d in _NO_AGENT if d != "wrap_code")
ROLLUP_LEVELS: tuple[RollupLevel, ...] = (
    RollupLevel("calls_rollup_day", 86_400, _NO_AGENT, True),
    RollupLevel(
        "calls_rollup_agent_day",
        86_400,
        tuple(d for d in ROLLUP_DIMENSIONS if d != "wrap_code"),
        True,
    ),
    RollupLevel("calls_rollup_queue", 900, _NO_AGENT_NOR_WRAP, True),
    RollupLevel("calls_rollup_agent_wrap_day", 86_400, ROLLUP_DIMENSIONS, True),
    RollupLevel(
        "calls_rollup_agent_hour",
        3_600,
        tuple(d for d in ROLLUP_DIMENSIONS if d != "wrap_code"),
        True,
    ),
    RollupLevel("calls_rollup", 900, ROLLUP_DIMENSIONS, False),
)
"""Every level of the calls roll-up, in the order a query tries them (fewest rows first:
a query is answered from the first level that has all it needs)."""


def _coarse_rollup(level: RollupLevel, what: str) -> Table:
    return Table(
        level.table,
        f"Additive totals of calls by UTC {what} and "
        f"{', '.join(level.dimensions)}, built from calls_rollup and kept current with it; "
        "counts per flag instead of flag columns (default thresholds: 5 s short abandon, "
        "20 s answer).",
        (
            _c("bucket_utc", "TIMESTAMP", f"the UTC {what} the calls entered in", nullable=False),
            *(_c(d, "VARCHAR") for d in level.dimensions),
            _c("n", "BIGINT", "calls", nullable=False),
            *(
                _c(c, "BIGINT", f"calls with {cond}", nullable=False)
                for c, cond in ROLLUP_COUNTS.items()
            ),
            *(_c(c, "DOUBLE") for c in ROLLUP_SUMS[:1]),
            _c("wait_s_max", "DOUBLE"),
            *(_c(c, "DOUBLE") for c in ROLLUP_SUMS[1:]),
        ),
        derived=True,
        internal=True,
    )


CALLS_ROLLUP_DAY = _coarse_rollup(ROLLUP_LEVELS[0], "day")
CALLS_ROLLUP_AGENT_DAY = _coarse_rollup(ROLLUP_LEVELS[1], "day")
CALLS_ROLLUP_QUEUE = _coarse_rollup(ROLLUP_LEVELS[2], "quarter hour")
CALLS_ROLLUP_AGENT_WRAP_DAY = _coarse_rollup(ROLLUP_LEVELS[3], "day")
CALLS_ROLLUP_AGENT_HOUR = _coarse_rollup(ROLLUP_LEVELS[4], "hour")

SCHEDULE_ADHERENCE = Table(
    "schedule_adherence",
    "Where each agent's scheduled work blocks meet what the agent did: the parts of work "
    "blocks spent logged in, and paused (agent-level states). A view.",
    (
        _c("agent", "VARCHAR", nullable=False),
        _c("state", "VARCHAR", "logged_in | paused", nullable=False),
        _c("reason", "VARCHAR", "the pause reason"),
        _c("start_at", "TIMESTAMP", nullable=False),
        _c("end_at", "TIMESTAMP", nullable=False),
    ),
    view="""
        SELECT s.agent, a.state, a.reason,
               greatest(s.start_at, a.start_at) AS start_at,
               least(s.end_at, coalesce(a.end_at, s.end_at)) AS end_at
        FROM schedules s
        JOIN agent_states a
          ON a.agent = s.agent AND a.queue IS NULL AND a.state IN ('logged_in', 'paused')
         AND a.start_at < s.end_at AND coalesce(a.end_at, s.end_at) > s.start_at
        WHERE s.activity = 'work'
    """,
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        CALLS,
        AGENT_STATES,
        AGENTS,
        SCHEDULES,
        ABSENCES,
        DISPOSITIONS,
        IVR_STEPS,
        DIALS,
        LEADS,
        DEALS,
        CUSTOMERS,
        SURVEYS,
        COSTS,
        QUEUE_INTERVALS,
        QUARANTINE,
        QUEUE_LOG_EVENTS,
        INGEST_FILES,
        INGEST_BATCHES,
        PENDING_AGENT_STATES,
        TARGETS,
        CALLS_ROLLUP,
        CALLS_ROLLUP_DAY,
        CALLS_ROLLUP_AGENT_DAY,
        CALLS_ROLLUP_QUEUE,
        CALLS_ROLLUP_AGENT_WRAP_DAY,
        CALLS_ROLLUP_AGENT_HOUR,
        SCHEDULE_ADHERENCE,
    )
}

LOADABLE_TABLES: tuple[str, ...] = tuple(
    name for name, t in TABLES.items() if not t.internal and t.view is None
)
"""Tables data can be loaded into (by any adapter)."""

RECORD_TABLES: tuple[str, ...] = (
    "calls",
    "agents",
    "schedules",
    "absences",
    "dispositions",
    "ivr_steps",
    "dials",
    "leads",
    "deals",
    "customers",
    "surveys",
    "costs",
)
"""Tables a user can load directly from canonical CSV or JSON (``callkpi ingest <table>``)."""
