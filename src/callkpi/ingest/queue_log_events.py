"""The queue_log events callkpi understands: their data fields and their part in a call.

Field meanings follow Asterisk's app_queue.c and its queue-log documentation (1.4 to 22),
plus the events PBX distributions write from the dialplan with ``QueueLog()`` (Wazo:
FULL, JOINEMPTY, LEAVEEMPTY, CLOSED, DIVERT_*; Wazo's patched Asterisk: WRAPUPSTART;
FreePBX/Issabel: DID; QueueMetrics: INFO). Times are whole seconds except where a field
is marked ``ms``. Fields that older releases do not write are optional; a field that is
present must have the right type or the line is rejected with the field's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    OPEN = "open"
    """Starts a queue visit (ENTERQUEUE)."""
    STANDALONE = "standalone"
    """A visit of one event: the caller never joined (FULL, JOINEMPTY, CLOSED, DIVERT_*)."""
    ANSWER = "answer"
    END_ANSWERED = "end_answered"
    END_UNANSWERED = "end_unanswered"
    MID = "mid"
    """Happens during a visit without ending it (rings, AGENTDUMP)."""
    TRAILING = "trailing"
    """Follows the end of an answered visit (WRAPUPSTART)."""
    ANNOTATION = "annotation"
    """Describes the call, not a visit (DID, INFO)."""
    SESSION = "session"
    """About an agent, not a call (logins, membership, pauses)."""
    SYSTEM = "system"


@dataclass(frozen=True)
class Field:
    index: int
    """data1 is 1."""
    name: str
    integer: bool = False
    required: bool = False


@dataclass(frozen=True)
class EventSpec:
    role: Role
    fields: tuple[Field, ...] = ()
    outcome: str | None = None
    """The visit outcome when this event ends it."""

    @property
    def needs_call(self) -> bool:
        return self.role not in (Role.SESSION, Role.SYSTEM)

    @property
    def needs_agent(self) -> bool:
        return self.role is Role.SESSION


def _f(index: int, name: str, integer: bool = False, required: bool = False) -> Field:
    return Field(index, name, integer, required)


_WAIT_FIELDS = (_f(1, "position", True), _f(2, "origposition", True), _f(3, "waittime", True))

EVENTS: dict[str, EventSpec] = {
    # -- a caller's visit ------------------------------------------------------------------
    "ENTERQUEUE": EventSpec(
        Role.OPEN, (_f(1, "url"), _f(2, "callerid"), _f(3, "position", True), _f(4, "calleridname"))
    ),
    "CONNECT": EventSpec(
        Role.ANSWER,
        (_f(1, "holdtime", True, True), _f(2, "member_uniqueid"), _f(3, "ringtime", True)),
    ),
    "COMPLETECALLER": EventSpec(
        Role.END_ANSWERED,
        (_f(1, "holdtime", True, True), _f(2, "calltime", True, True), _f(3, "origposition", True)),
        "answered",
    ),
    "COMPLETEAGENT": EventSpec(
        Role.END_ANSWERED,
        (_f(1, "holdtime", True, True), _f(2, "calltime", True, True), _f(3, "origposition", True)),
        "answered",
    ),
    "TRANSFER": EventSpec(
        Role.END_ANSWERED,
        (
            _f(1, "extension", required=True),
            _f(2, "context"),
            _f(3, "holdtime", True, True),
            _f(4, "calltime", True, True),
            _f(5, "origposition", True),
        ),
        "answered",
    ),
    "BLINDTRANSFER": EventSpec(
        Role.END_ANSWERED,
        (
            _f(1, "extension", required=True),
            _f(2, "context"),
            _f(3, "holdtime", True, True),
            _f(4, "calltime", True, True),
            _f(5, "origposition", True),
        ),
        "answered",
    ),
    # ATTENDEDTRANSFER has three forms, told apart by data1; see ATTENDED_FORMS.
    "ATTENDEDTRANSFER": EventSpec(Role.END_ANSWERED, (_f(1, "form", required=True),), "answered"),
    "ABANDON": EventSpec(
        Role.END_UNANSWERED,
        (_f(1, "position", True), _f(2, "origposition", True), _f(3, "waittime", True, True)),
        "abandoned",
    ),
    "EXITWITHTIMEOUT": EventSpec(Role.END_UNANSWERED, _WAIT_FIELDS, "timed_out"),
    "EXITWITHKEY": EventSpec(
        Role.END_UNANSWERED,
        (
            _f(1, "key", required=True),
            _f(2, "position", True),
            _f(3, "origposition", True),
            _f(4, "waittime", True),
        ),
        "exited_key",
    ),
    "EXITEMPTY": EventSpec(Role.END_UNANSWERED, _WAIT_FIELDS, "blocked"),
    "LEAVEEMPTY": EventSpec(Role.END_UNANSWERED, (), "blocked"),
    "WITHDRAW": EventSpec(
        Role.END_UNANSWERED, (*_WAIT_FIELDS, _f(4, "withdraw_info")), "overflowed"
    ),
    "SYSCOMPAT": EventSpec(Role.END_UNANSWERED, (), "failed"),
    "FULL": EventSpec(Role.STANDALONE, (), "overflowed"),
    "JOINEMPTY": EventSpec(Role.STANDALONE, (), "blocked"),
    "CLOSED": EventSpec(Role.STANDALONE, (), "closed"),
    "DIVERT_CA_RATIO": EventSpec(Role.STANDALONE, (), "overflowed"),
    "DIVERT_HOLDTIME": EventSpec(Role.STANDALONE, (), "overflowed"),
    "RINGNOANSWER": EventSpec(Role.MID, (_f(1, "ringtime_ms", True, True),)),
    "RINGCANCELED": EventSpec(Role.MID, (_f(1, "ringtime_ms", True, True),)),
    "AGENTDUMP": EventSpec(Role.MID),
    "WRAPUPSTART": EventSpec(Role.TRAILING, (_f(1, "wrapuptime", True, True),)),
    "DID": EventSpec(Role.ANNOTATION, (_f(1, "did"),)),
    "INFO": EventSpec(Role.ANNOTATION),
    # -- an agent --------------------------------------------------------------------------
    "ADDMEMBER": EventSpec(Role.SESSION, (_f(1, "paused"),)),
    "REMOVEMEMBER": EventSpec(Role.SESSION),
    "PAUSE": EventSpec(Role.SESSION, (_f(1, "reason"),)),
    "UNPAUSE": EventSpec(Role.SESSION, (_f(1, "reason"),)),
    "PAUSEALL": EventSpec(Role.SESSION, (_f(1, "reason"),)),
    "UNPAUSEALL": EventSpec(Role.SESSION, (_f(1, "reason"),)),
    "AGENTLOGIN": EventSpec(Role.SESSION, (_f(1, "channel"),)),
    "AGENTLOGOFF": EventSpec(Role.SESSION, (_f(1, "channel"), _f(2, "logintime", True))),
    "AGENTCALLBACKLOGIN": EventSpec(Role.SESSION, (_f(1, "exten@context"),)),
    "AGENTCALLBACKLOGOFF": EventSpec(
        Role.SESSION, (_f(1, "exten@context"), _f(2, "logintime", True), _f(3, "reason"))
    ),
    "PENALTY": EventSpec(Role.SESSION, (_f(1, "penalty", True),)),
    "RINGINUSE": EventSpec(Role.SESSION, (_f(1, "ringinuse", True),)),
    # -- the PBX ---------------------------------------------------------------------------
    "QUEUESTART": EventSpec(Role.SYSTEM),
    "CONFIGRELOAD": EventSpec(Role.SYSTEM),
}

ATTENDED_FORMS: dict[str, tuple[Field, ...]] = {
    "BRIDGE": (
        _f(1, "form"),
        _f(2, "bridge"),
        _f(3, "holdtime", True, True),
        _f(4, "calltime", True, True),
        _f(5, "origposition", True),
    ),
    "APP": (
        _f(1, "form"),
        _f(2, "app"),
        _f(3, "holdtime", True, True),
        _f(4, "calltime", True, True),
        _f(5, "origposition", True),
    ),
    "LINK": (
        _f(1, "form"),
        _f(2, "channel1"),
        _f(3, "channel2"),
        _f(4, "holdtime", True, True),
        _f(5, "calltime", True, True),
        _f(6, "origposition", True),
    ),
}


def events_with(*roles: Role) -> tuple[str, ...]:
    return tuple(sorted(name for name, spec in EVENTS.items() if spec.role in roles))


def field_index(event: str, name: str, form: str | None = None) -> int | None:
    fields = (
        ATTENDED_FORMS.get(form or "", ()) if event == "ATTENDEDTRANSFER" else EVENTS[event].fields
    )
    for f in fields:
        if f.name == name:
            return f.index
    return None


MAX_CHECKED_FIELD = 6
"""Data fields beyond this are never required or typed by any event."""


@dataclass(frozen=True)
class Form:
    """An event, or one form of ATTENDEDTRANSFER (``ATTENDEDTRANSFER:LINK``), with its
    field checks as bitmasks over data1..data6 (bit 0 = data1)."""

    key: str
    event: str
    role: Role
    needs_call: bool
    needs_agent: bool
    required_mask: int
    integer_mask: int
    names: tuple[str, ...]
    """The name of data1..data6 ('' where the event has no such field)."""


def forms() -> list[Form]:
    """Every event form, for the validation in SQL (a table joined to the lines by key)."""
    out = []
    for name, spec in EVENTS.items():
        variants = (
            [(f"{name}:{form}", fields) for form, fields in ATTENDED_FORMS.items()]
            if name == "ATTENDEDTRANSFER"
            else [(name, spec.fields)]
        )
        for key, fields in variants:
            names = [""] * MAX_CHECKED_FIELD
            for f in fields:
                names[f.index - 1] = f.name
            out.append(
                Form(
                    key=key,
                    event=name,
                    role=spec.role,
                    needs_call=spec.needs_call,
                    needs_agent=spec.needs_agent,
                    required_mask=sum(1 << (f.index - 1) for f in fields if f.required),
                    integer_mask=sum(1 << (f.index - 1) for f in fields if f.integer),
                    names=tuple(names),
                )
            )
    return out
