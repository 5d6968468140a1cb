"""The chain of a case, as a state machine, and the actions that move a case along it.

registered → assigned → in_progress → drafted → approved → answered → checked
→ archived; a leader sends a draft back (drafted/approved → in_progress), a
check that is not good enough sends an answer back (answered → in_progress),
and a duplicate is merged into the case that survives (→ merged). Each
action is a plain function taking the :class:`Cases` book, a write
connection, the case id and the :class:`Actor`, so the JSON API and the
console call the same code; every step is one row of ``case_events`` with
who, when and a note. A refused step raises :class:`hub.errors.StateError`
saying why, and changes nothing.

Deadlines: a case's class is a list of stages (:mod:`hub.cases.settings`);
the current stage is the first whose ``until`` step the case has not
reached. A stage starts on the day the one before it ended (the first on
the day of receipt) and is due ``days`` working days later; a case sent
back to an earlier stage starts that stage again.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from device_agent.protocol import Vote, format_time
from hub.cases import store
from hub.cases.calendar import WorkCalendar
from hub.cases.settings import CHAIN, CaseClass, CaseSettings
from hub.complaints import StoredComplaint
from hub.errors import StateError, UnknownRecord
from hub.notify.notices import NoticeQueue
from hub.notify.settings import MOBILE

STATUSES = (*CHAIN, "merged")
CLOSED = ("archived", "merged")
# Who registers a case by hand, and how it reached the hall (12345 is the hotline).
STAFF_CHANNELS = ("phone", "letter", "hotline", "website", "visit")
RATINGS = ("satisfied", "basically_satisfied", "dissatisfied")
MAX_TEXT = 4000
MAX_NOTE = 2000
MAX_NAME = 64

# Each action: the steps it may start from and the step it leads to.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "assign": (("registered", "assigned"), "assigned"),
    "start": (("assigned",), "in_progress"),
    "draft": (("in_progress",), "drafted"),
    "approve": (("drafted",), "approved"),
    "send_back": (("drafted", "approved"), "in_progress"),
    "answer": (("drafted", "approved"), "answered"),
    "check": (("answered",), "checked"),
    "archive": (("checked",), "archived"),
}

# What each action needs of the actor's token role (hub.tokens.ROLES).
PERMISSIONS = {
    "register": "case_register",
    "assign": "case_assign",
    "start": "case_handle",
    "draft": "case_handle",
    "approve": "case_approve",
    "send_back": "case_approve",
    "answer": "case_handle",
    "check": "case_check",
    "archive": "case_assign",
    "merge": "case_assign",
}

# What the citizen reads for each step (Chinese first, English second).
STEP_NAMES = {
    "registered": "已受理 Registered",
    "assigned": "已交办 Assigned",
    "in_progress": "办理中 In progress",
    "drafted": "办理中 In progress",
    "approved": "办理中 In progress",
    "answered": "已答复 Answered",
    "checked": "已回访 Checked",
    "archived": "已办结 Closed",
    "merged": "已合并 Merged",
}
# Steps the citizen sees in the lookup; drafts and leaders' reviews stay inside.
PUBLIC_EVENTS = ("registered", "assign", "start", "answer", "check", "redo", "archive")
# The steps inside the office the citizen sees as "in progress".
PUBLIC_STEP = {"drafted": "in_progress", "approved": "in_progress"}
# The complaint statuses the kiosk knew before cases (hub.complaints.STATUSES).
COMPLAINT_STATUS = {
    "registered": "received",
    "assigned": "handling",
    "in_progress": "handling",
    "drafted": "handling",
    "approved": "handling",
    "answered": "answered",
    "checked": "answered",
    "archived": "closed",
    "merged": "merged",
}


class CaseInputError(ValueError):
    """A value an action was given is wrong (the API answers 400)."""


class NotAllowed(Exception):
    """The actor may not take this action on this case (the API answers 403)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a token's (later a console session's) name and role."""

    name: str
    role: str


@dataclass
class Cases:
    """The hall's case book: its settings, its calendar and its clock."""

    settings: CaseSettings
    timezone: str = "Asia/Shanghai"
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Staff id -> (name, department id), from the directory: a follow-up case's department.
    staff: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    # Where an answer's SMS to the citizen is queued (hub.notify); None: no SMS.
    notices: NoticeQueue | None = None
    hall_name: str = ""
    calendar: WorkCalendar = field(init=False)

    def __post_init__(self) -> None:
        self.calendar = WorkCalendar(self.settings.override)

    def today(self) -> date:
        """The hall's local date."""
        return self.now().astimezone(ZoneInfo(self.timezone)).date()

    def local_date(self, stamp: str) -> date:
        """The hall's local date of an ISO time."""
        return datetime.fromisoformat(stamp).astimezone(ZoneInfo(self.timezone)).date()

    def stamp(self) -> str:
        """Now, as stored."""
        return format_time(self.now())

    def case_class(self, name: str) -> CaseClass:
        """The class ``name``; a CaseInputError names the classes there are."""
        try:
            return self.settings.case_class(name)
        except KeyError:
            names = ", ".join(c.name for c in self.settings.classes)
            raise CaseInputError(f"class: no class {name!r}; classes: {names}") from None

    def deadlines(self, case_class: CaseClass, stage: int, started: date) -> dict[str, Any]:
        """The stage columns for a case entering ``stage`` on ``started``."""
        if stage >= len(case_class.stages):
            return {"stage": stage, "stage_started_on": None, "stage_due_on": None, "due_on": None}
        due = self.calendar.add_workdays(started, case_class.stages[stage].days)
        final = due
        for later in case_class.stages[stage + 1 :]:
            final = self.calendar.add_workdays(final, later.days)
        return {
            "stage": stage,
            "stage_started_on": started.isoformat(),
            "stage_due_on": due.isoformat(),
            "due_on": final.isoformat(),
        }

    def calendar_warnings(self) -> list[str]:
        """The console's notice: this year or the next counted on weekends only."""
        year = self.today().year
        return self.calendar.warnings([year, year + 1, *self.calendar.fallback_years()])


def stage_of(case_class: CaseClass, status: str) -> int:
    """The index of the first stage whose end the case at ``status`` has not reached."""
    rank = CHAIN.index(status) if status in CHAIN else len(CHAIN)
    for index, stage in enumerate(case_class.stages):
        if CHAIN.index(stage.until) > rank:
            return index
    return len(case_class.stages)


# Opening cases.


def open_case(
    book: Cases,
    conn: sqlite3.Connection,
    actor: Actor,
    *,
    kind: str,
    ref: str | None,
    title: str,
    text: str,
    received_on: date,
    case_class: str,
    department: str | None = None,
    contact: str | None = None,
) -> int:
    """Register a case with its first source; returns the case id."""
    chosen = book.case_class(case_class)
    if received_on > book.today():
        raise CaseInputError(f"received_on: {received_on} is in the future")
    at = book.stamp()
    stages = book.deadlines(chosen, 0, received_on)
    case_id = store.insert_case(
        conn,
        {
            "class": chosen.name,
            "title": title,
            "text": text,
            "department": department,
            "received_on": received_on.isoformat(),
            "registered_at": at,
            "stage_started_on": stages["stage_started_on"],
            "stage_due_on": stages["stage_due_on"],
            "due_on": stages["due_on"],
        },
    )
    store.insert_source(
        conn,
        case_id,
        {
            "kind": kind,
            "ref": ref,
            "received_on": received_on.isoformat(),
            "registered_by": actor.name,
            "registered_at": at,
            "contact": contact,
            "text": text,
        },
    )
    store.add_event(
        conn,
        case_id,
        event="registered",
        from_status=None,
        to_status="registered",
        at=at,
        by=actor.name,
        note=None,
        detail={"channel": kind, "ref": ref, "class": chosen.name},
    )
    return case_id


def register(
    book: Cases,
    conn: sqlite3.Connection,
    actor: Actor,
    *,
    channel: str,
    received_on: date,
    text: str,
    title: str | None = None,
    case_class: str | None = None,
    department: str | None = None,
    contact: str | None = None,
    ref: str | None = None,
) -> int:
    """A complaint staff register from another channel (phone, letter, 12345, website)."""
    if channel not in STAFF_CHANNELS:
        raise CaseInputError(
            f"channel: must be one of {', '.join(STAFF_CHANNELS)}, got {channel!r}"
        )
    text = _required(text, "text", MAX_TEXT)
    if ref is not None and store.case_of_source(conn, channel, ref) is not None:
        raise StateError(f"ref: {channel} {ref!r} is registered already")
    return open_case(
        book,
        conn,
        actor,
        kind=channel,
        ref=ref,
        title=_text(title, "title", 200) or text[:40],
        text=text,
        received_on=received_on,
        case_class=case_class or book.settings.default_class,
        department=department,
        contact=_text(contact, "contact", MAX_NAME),
    )


def open_for_complaint(
    book: Cases, conn: sqlite3.Connection, complaint: dict[str, Any]
) -> int | None:
    """The case of a kiosk complaint just stored (once per complaint); None if it has one."""
    if store.case_of_source(conn, "kiosk", complaint["id"]) is not None:
        return None
    return open_case(
        book,
        conn,
        Actor("kiosk", "kiosk"),
        kind="kiosk",
        ref=complaint["id"],
        title=f"窗口投诉 {complaint['category']}",
        text=complaint["text"],
        received_on=min(book.local_date(complaint["cast_at"]), book.today()),
        case_class=book.settings.default_class,
        department=complaint.get("department"),
        contact=complaint.get("contact"),
    )


def open_complaint_cases(
    book: Cases, conn: sqlite3.Connection, items: Sequence[StoredComplaint], stored: list[str]
) -> list[int]:
    """Open a case for each complaint of ``items`` new to the hub (ids in ``stored``)."""
    new = set(stored)
    opened = []
    for item in items:
        c = item.complaint
        if c.id not in new:
            continue
        case_id = open_for_complaint(
            book,
            conn,
            {
                "id": c.id,
                "category": c.category,
                "text": c.text,
                "department": c.department,
                "contact": None if c.anonymous else c.contact,
                "cast_at": item.cast_at,
            },
        )
        if case_id is not None:
            opened.append(case_id)
    return opened


def wants_followup(book: Cases, vote: Vote) -> bool:
    """Whether the hall's policy sends this stored, counted vote to follow-up (差评整改).

    A dissatisfied level the policy lists, on a channel it lists, real-name
    (not anonymous) and naming a staff member; never a filtered press.
    """
    policy = book.settings
    return (
        policy.followup
        and vote.counted
        and not vote.anonymous
        and vote.staff is not None
        and vote.level in policy.followup_levels
        and vote.channel in policy.followup_channels
    )


def open_for_rating(book: Cases, conn: sqlite3.Connection, vote: Vote, cast_at: str) -> int | None:
    """The follow-up case of a dissatisfied real-name rating (差评整改); once per vote."""
    if store.case_of_source(conn, "rating", vote.id) is not None:
        return None
    name, department = book.staff.get(vote.staff or "", (vote.staff or "", None))
    said = "；".join([*vote.reasons, *([vote.comment] if vote.comment else [])])
    text = (
        f"实名评价 {vote.level} 分（{vote.channel}）：{name}"
        f"{'，' + said if said else ''}。请回访、整改，并请群众评价整改结果。"
    )
    return open_case(
        book,
        conn,
        Actor(vote.device, "kiosk"),
        kind="rating",
        ref=vote.id,
        title=f"差评整改 {name}",
        text=text[:MAX_TEXT],
        received_on=min(book.local_date(cast_at), book.today()),
        case_class=book.settings.followup_class or book.settings.default_class,
        department=department,
    )


def open_for_warning(
    book: Cases, conn: sqlite3.Connection, warning: dict[str, Any], *, by: str, what: str
) -> int | None:
    """The case of a warning's notice (预警告知函, 限期整改); once per warning."""
    if store.case_of_source(conn, "warning", warning["id"]) is not None:
        return None
    text = (
        f"预警告知函 {warning['level']} 级 {warning.get('action', '')}："
        f"{warning['staff']} {warning['period']}，限期整改。{what}"
    )
    return open_case(
        book,
        conn,
        Actor(by, "office"),
        kind="warning",
        ref=warning["id"],
        title=f"预警整改 {warning['id']}",
        text=text[:MAX_TEXT],
        received_on=book.today(),
        case_class=book.settings.warning_class,
        department=warning.get("department"),
    )


# The actions along the chain.


def assign(
    book: Cases,
    conn: sqlite3.Connection,
    case_id: int,
    actor: Actor,
    *,
    department: str,
    assignee: str,
    note: str | None = None,
) -> dict[str, Any]:
    """交办: give the case to a department and exactly one responsible person."""
    department = _required(department, "department", MAX_NAME)
    assignee = _required(assignee, "assignee", MAX_NAME)
    return _step(
        book,
        conn,
        case_id,
        actor,
        "assign",
        note=note,
        changes={"department": department, "assignee": assignee},
        detail={"department": department, "assignee": assignee},
    )


def start(
    book: Cases, conn: sqlite3.Connection, case_id: int, actor: Actor, *, note: str | None = None
) -> dict[str, Any]:
    """The responsible person takes the case on (签收)."""
    return _step(book, conn, case_id, actor, "start", note=note, handler=True)


def draft(
    book: Cases,
    conn: sqlite3.Connection,
    case_id: int,
    actor: Actor,
    *,
    answer: str,
    note: str | None = None,
) -> dict[str, Any]:
    """The responsible person drafts the answer."""
    answer = _required(answer, "answer", MAX_TEXT)
    return _step(
        book, conn, case_id, actor, "draft", note=note, changes={"draft": answer}, handler=True
    )


def approve(
    book: Cases, conn: sqlite3.Connection, case_id: int, actor: Actor, *, note: str | None = None
) -> dict[str, Any]:
    """A leader approves the drafted answer."""
    return _step(book, conn, case_id, actor, "approve", note=note)


def send_back(
    book: Cases, conn: sqlite3.Connection, case_id: int, actor: Actor, *, note: str
) -> dict[str, Any]:
    """A leader sends the draft back to the responsible person, saying why."""
    note = _required(note, "note", MAX_NOTE)
    return _step(book, conn, case_id, actor, "send_back", note=note)


def answer(
    book: Cases, conn: sqlite3.Connection, case_id: int, actor: Actor, *, note: str | None = None
) -> dict[str, Any]:
    """The answer goes out: the citizen sees it in the lookup from now on."""
    case = _case(conn, case_id)
    if case["status"] == "drafted" and book.case_class(case["class"]).approval:
        raise StateError(
            f"case {case_id}: a {case['class']} case's answer needs a leader's approval first"
        )
    answered = _step(
        book,
        conn,
        case_id,
        actor,
        "answer",
        note=note,
        changes={"answer": case["draft"], "answered_at": book.stamp()},
        # The deadline the answer met or missed: the bulletin's "answered on time".
        detail={"due": case["stage_due_on"]},
        handler=True,
    )
    tell_citizens(book, conn, answered)
    return answered


def tell_citizens(book: Cases, conn: sqlite3.Connection, case: dict[str, Any]) -> int:
    """Queue an SMS "your answer is ready" to each source of ``case`` with a mobile number.

    Once per source and answer (a redone case's new answer is told again).
    The notice names the case, never the number, which the sender reads
    from the source when it sends.
    """
    if book.notices is None or not book.notices.settings.citizen_targets():
        return 0
    hall = f"【{book.hall_name}】" if book.hall_name else ""
    title = "投诉已答复 | Complaint answered"
    body = (
        f"{hall}您反映的问题（案件 #{case['id']}）已答复，请凭查询码和密码在自助终端查看。\n"
        f"Your complaint (case #{case['id']}) has been answered: look it up at the kiosk"
        " with your code and password."
    )
    queued = 0
    for source, contact in store.contacts(conn, case["id"]):
        if MOBILE.fullmatch(contact):
            occurrence = case["answered_at"]
            queued += book.notices.citizen(conn, source, occurrence, title=title, body=body)
    return queued


def check(
    book: Cases,
    conn: sqlite3.Connection,
    case_id: int,
    actor: Actor,
    *,
    rating: str,
    by_citizen: bool,
    note: str | None = None,
) -> dict[str, Any]:
    """回访: the citizen or the office rates the handling; dissatisfied sends it back."""
    if rating not in RATINGS:
        raise CaseInputError(f"rating: must be one of {', '.join(RATINGS)}, got {rating!r}")
    detail = {"rating": rating, "by": "citizen" if by_citizen else "office"}
    redo = rating == "dissatisfied"
    if redo and not (note or "").strip():
        raise CaseInputError("note: say what is not good enough, for the redo")
    return _step(
        book,
        conn,
        case_id,
        actor,
        "check",
        note=note,
        to="in_progress" if redo else None,
        changes={"rating": rating},
        detail=detail,
        event="redo" if redo else None,
    )


def archive(
    book: Cases, conn: sqlite3.Connection, case_id: int, actor: Actor, *, note: str | None = None
) -> dict[str, Any]:
    """归档 (销号): a checked case is closed for good."""
    return _step(book, conn, case_id, actor, "archive", note=note)


def merge(
    book: Cases,
    conn: sqlite3.Connection,
    case_id: int,
    actor: Actor,
    *,
    into: int,
    note: str | None = None,
) -> dict[str, Any]:
    """Merge duplicate ``case_id`` into ``into``, which keeps its chain and gains the sources."""
    _allowed(actor, "merge")
    if case_id == into:
        raise StateError(f"into: case {case_id} cannot be merged into itself")
    case = _case(conn, case_id)
    survivor = _case(conn, into)
    for which, row in (("case", case), ("into", survivor)):
        if row["status"] in CLOSED:
            raise StateError(f"{which}: case {row['id']} is {row['status']}; it cannot merge")
    note = _text(note, "note", MAX_NOTE)
    at = book.stamp()
    moved = store.move_sources(conn, case_id, into)
    store.redirect_merged(conn, case_id, into)
    store.update_case(
        conn,
        case_id,
        {"status": "merged", "merged_into": into, "stage_due_on": None, "updated_at": at},
    )
    store.add_event(
        conn,
        case_id,
        event="merge_into",
        from_status=case["status"],
        to_status="merged",
        at=at,
        by=actor.name,
        note=note,
        detail={"into": into},
    )
    store.update_case(conn, into, {"updated_at": at})
    store.add_event(
        conn,
        into,
        event="merge",
        from_status=survivor["status"],
        to_status=survivor["status"],
        at=at,
        by=actor.name,
        note=note,
        detail={"merged": case_id, "sources": moved},
    )
    return _case(conn, into)


ACTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "assign": assign,
    "start": start,
    "draft": draft,
    "approve": approve,
    "send_back": send_back,
    "answer": answer,
    "check": check,
    "archive": archive,
    "merge": merge,
}


# Reading.


def overdue(book: Cases, conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Open cases whose current stage is past its deadline today: level-one supervision."""
    today = book.today()
    return [c for c in store.due_by(conn, today.isoformat()) if c["stage_due_on"] < str(today)]


def due_cases(book: Cases, conn: sqlite3.Connection, within: int = 1) -> list[dict[str, Any]]:
    """Open cases due within ``within`` working days from today (overdue ones included).

    What the reminders send to each responsible person before the deadline.
    """
    until = book.calendar.add_workdays(book.today(), within)
    return store.due_by(conn, until.isoformat())


def case_document(book: Cases, conn: sqlite3.Connection, case_id: int) -> dict[str, Any]:
    """A case with its class, sources and steps, as the API shows it."""
    case = _case(conn, case_id)
    case_class = book.case_class(case["class"])
    today = book.today().isoformat()
    stage = case_class.stages[case["stage"]] if case["stage"] < len(case_class.stages) else None
    return {
        **case,
        "class_label": case_class.label,
        "approval": case_class.approval,
        "current_stage": None
        if stage is None
        else {"name": stage.name, "label": stage.label, "until": stage.until, "days": stage.days},
        "overdue": case["stage_due_on"] is not None and case["stage_due_on"] < today,
        "sources": store.sources(conn, case_id),
        "steps": store.events(conn, case_id),
    }


def citizen_view(book: Cases, conn: sqlite3.Connection, complaint_id: str) -> dict[str, Any] | None:
    """What the citizen who filed ``complaint_id`` sees of its case (or the one it merged into).

    The public steps with their dates, the current step, the planned
    deadline and, once answered, the answer: never who did what, nor notes.
    """
    case_id = store.case_of_source(conn, "kiosk", complaint_id)
    if case_id is None:
        return None
    case = _case(conn, case_id)
    steps = []
    for event in store.events(conn, case_id):
        if event["event"] in PUBLIC_EVENTS:
            step = PUBLIC_STEP.get(event["to_status"], event["to_status"])
            steps.append(
                {
                    "step": step,
                    "name": STEP_NAMES[step],
                    # Registered on the day of receipt, the day its deadline counts from.
                    "on": case["received_on"]
                    if event["event"] == "registered"
                    else book.local_date(event["at"]).isoformat(),
                }
            )
    step = PUBLIC_STEP.get(case["status"], case["status"])
    answered = case["status"] in ("answered", "checked", "archived")
    return {
        "id": case_id,
        "status": COMPLAINT_STATUS[case["status"]],
        "step": step,
        "step_name": STEP_NAMES[step],
        "steps": steps,
        "due_on": None if answered else case["due_on"],
        "answer": case["answer"] if answered else None,
        "answered_on": book.local_date(case["answered_at"]).isoformat()
        if answered and case["answered_at"]
        else None,
        "updated_at": case["updated_at"],
    }


# A run of digits long enough to be a phone, an ID card or an account number.
_DIGITS = re.compile(r"[0-9][0-9 -]{4,}[0-9]")


def public_results(
    book: Cases, conn: sqlite3.Connection, directory_names: dict[str, str]
) -> list[dict[str, Any]]:
    """The answered cases the kiosk publishes (网上公布), anonymised.

    Only what the complaint was about and the answer: never a contact, a
    source's reference, who registered or handled it; runs of six or more
    digits (phones, ID numbers) in the texts are masked.
    """
    results = []
    for (
        ident,
        case_class,
        department,
        received,
        answered_at,
        text,
        answer,
        kind,
    ) in store.public_results(
        conn,
        format_time(book.now() - timedelta(days=book.settings.publish_days)),
        book.settings.publish_limit,
    ):
        results.append(
            {
                "id": ident,
                "class_label": book.case_class(case_class).label,
                "department": directory_names.get(department or ""),
                "channel": kind,
                "received_on": received,
                "answered_on": book.local_date(answered_at).isoformat(),
                "text": _masked(text),
                "answer": _masked(answer),
            }
        )
    return results


def _masked(text: str) -> str:
    return _DIGITS.sub(lambda m: "*" * len(m.group()), text)


# Internals.


def _case(conn: sqlite3.Connection, case_id: int) -> dict[str, Any]:
    case = store.get_case(conn, case_id)
    if case is None:
        raise UnknownRecord(f"no case {case_id}")
    return case


def _allowed(actor: Actor, action: str) -> None:
    # Local import: hub.tokens imports Flask; the chain runs in the ingest thread too.
    from hub.tokens import ROLES

    if PERMISSIONS[action] not in ROLES.get(actor.role, frozenset()):
        raise NotAllowed(f"role {actor.role!r} may not {action.replace('_', ' ')} a case")


def _step(
    book: Cases,
    conn: sqlite3.Connection,
    case_id: int,
    actor: Actor,
    action: str,
    *,
    note: str | None,
    to: str | None = None,
    changes: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    handler: bool = False,
    event: str | None = None,
) -> dict[str, Any]:
    _allowed(actor, action)
    case = _case(conn, case_id)
    allowed, target = TRANSITIONS[action]
    target = to or target
    if case["status"] not in allowed:
        raise StateError(
            f"case {case_id} is {case['status']}; to {action.replace('_', ' ')} it must be"
            f" {' or '.join(allowed)}"
        )
    if handler and actor.role == "handler" and actor.name != case["assignee"]:
        raise NotAllowed(f"case {case_id} is assigned to {case['assignee']!r}, not {actor.name!r}")
    note = _text(note, "note", MAX_NOTE)
    case_class = book.case_class(case["class"])
    stage = stage_of(case_class, target)
    update = dict(changes or {})
    if stage != case["stage"]:
        # A new stage starts today; one sent back to starts again.
        update.update(book.deadlines(case_class, stage, book.today()))
    update["status"] = target
    update["updated_at"] = book.stamp()
    store.update_case(conn, case_id, update)
    store.add_event(
        conn,
        case_id,
        event=event or action,
        from_status=case["status"],
        to_status=target,
        at=update["updated_at"],
        by=actor.name,
        note=note,
        detail=detail,
    )
    return _case(conn, case_id)


def _required(value: str | None, name: str, limit: int) -> str:
    text = _text(value, name, limit)
    if text is None:
        raise CaseInputError(f"{name}: required")
    return text


def _text(value: str | None, name: str, limit: int) -> str | None:
    """``value`` stripped, None when empty; a CaseInputError when too long or not text."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise CaseInputError(f"{name}: must be text")
    if len(value) > limit:
        raise CaseInputError(f"{name}: at most {limit} characters")
    return value.strip()
