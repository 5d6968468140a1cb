"""Service-time supervision (电子监察): a service done impossibly fast, or left open too long.

A service runs from a window's ``start`` service event to its ``end``. Each
service item of the hall directory may set a minimum and a maximum duration
(``min_s``, ``max_s``); a service whose events name no item (``item``, an
optional field of the service event) takes the limits ``[supervision.limits]``
sets for its department. A service that ended sooner than its minimum was
most likely back-filled (事后补录); one still open past its maximum is
overdue (超期). Either raises a yellow alert once; a supervisor confirms it
(red) or dismisses it with a note, and the decision keeps who and when.
Alerts are never deleted (a trigger refuses it).

:class:`SupervisionWatch` runs in the hub: every ``check_interval_s`` it reads
the service events stored since its last turn (a high-water mark on their
arrival order), pairs starts with ends, and raises the alerts that are due,
in one write transaction of its own.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, ValidationInfo

from device_agent.configfile import (
    Bool,
    Float,
    Problems,
    Str,
    between,
    cross_check,
    section,
)
from device_agent.protocol import format_time, parse_time
from device_agent.storage import open_database, write_transaction
from hub.directory import Directory, Seconds, order_problems
from hub.errors import StateError, UnknownRecord
from hub.periods import Calendar

if TYPE_CHECKING:
    from hub.config import HubConfig

logger = logging.getLogger(__name__)

KINDS = ("too_fast", "overdue")
STATUSES = ("yellow", "red", "dismissed")
MAX_NOTE_CHARS = 1000
BATCH = 500
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"([0-2][0-9]):([0-5][0-9])-([0-2][0-9]):([0-5][0-9])")
# Minutes after local midnight: [start, end).
Span = tuple[int, int]
# 08:30-12:00 and 14:00-17:30, Monday to Friday: a county hall's usual hours.
DEFAULT_OPENING: tuple[tuple[Span, ...], ...] = (((510, 720), (840, 1050)),) * 5 + ((), ())


def _limit_problems(data: dict[str, Any], problems: Problems, info: ValidationInfo) -> None:
    order_problems(data, problems)


@section
class Limits:
    """The shortest and longest a service may take, in seconds; None: no such limit."""

    min_s: Seconds | None = None
    max_s: Seconds | None = None

    _cross = cross_check(_limit_problems)


def _opening_hours(value: object) -> object:
    """``{mon = ["08:30-12:00", "14:00-17:30"], ...}`` as minutes after midnight by weekday.

    A day left out is closed. Other values (the model's own tuples) pass through.
    """
    if not isinstance(value, dict):
        return value
    problems = Problems()
    for day in value:
        if day not in WEEKDAYS:
            problems.add(str(day), "unknown key")
    opening = tuple(_spans(problems, day, value.get(day, [])) for day in WEEKDAYS)
    problems.check()
    return opening


def _spans(problems: Problems, key: str, values: object) -> tuple[Span, ...]:
    """``["08:30-12:00", "14:00-17:30"]`` as minutes after midnight."""
    if not isinstance(values, list):
        problems.add(key, 'must be a list of spans such as "08:30-12:00"')
        return ()
    spans: list[Span] = []
    for value in values:
        match = _SPAN.fullmatch(value) if isinstance(value, str) else None
        start = int(match[1]) * 60 + int(match[2]) if match else 0
        end = int(match[3]) * 60 + int(match[4]) if match else 0
        if match is None or not start < end <= 24 * 60:
            problems.add(key, f'{value!r} is not a span such as "08:30-12:00"')
            continue
        if spans and start < spans[-1][1]:
            problems.add(key, f"{value!r} overlaps or precedes the span before it")
            continue
        spans.append((start, end))
    return tuple(spans)


def _supervision_problems(data: dict[str, Any], problems: Problems, info: ValidationInfo) -> None:
    directory = (info.context or {}).get("directory")
    limits = data.get("limits")
    if directory is None or not isinstance(limits, dict):
        return  # without a valid directory, its own problems are reported instead
    for department in limits:
        if department not in directory.departments:
            problems.add(f"limits.{department}", f"unknown department {department!r}")


@section
class SupervisionSettings:
    """``[supervision]``: service-time limits and the hall's opening hours (for presence)."""

    enabled: Bool = True
    check_interval_s: Annotated[Float, between(0.05, 3600)] = 15.0
    # Limits by department for services whose events name no service item.
    limits: dict[Str, Limits] = field(default_factory=dict)
    # Opening hours for each weekday, Monday first (hub.presence); written as a
    # table of weekdays (mon ... sun), a day left out being closed.
    opening_hours: Annotated[
        tuple[tuple[tuple[int, int], ...], ...], BeforeValidator(_opening_hours)
    ] = DEFAULT_OPENING
    # Token names whose console actions count as a supervisor's presence;
    # empty: every live token whose role may do more than read.
    supervisors: tuple[Str, ...] = ()
    # Whether the LED wall may show the presence figures (hub.presence.wall_presence).
    show_presence_on_wall: Bool = False

    _cross = cross_check(_supervision_problems)


# The service events stored since the last turn, in arrival order.
NEW_EVENTS_SQL = (
    "SELECT rowid, id, event, window, staff, ticket, cast_at, service, item"
    " FROM service_events WHERE rowid > ? ORDER BY rowid LIMIT ?"
)
# The latest service at a window that began at or before a moment (an end with no id).
LATEST_AT_WINDOW_SQL = (
    "SELECT id FROM supervised_services WHERE window = ? AND started_at <= ?"
    " AND (ended_by IS NULL OR ended_by != 'end') ORDER BY started_at DESC LIMIT 1"
)
# Services still open at a window that began before a moment (a new start or a sign-out ends them).
OPEN_AT_WINDOW_SQL = (
    "SELECT id FROM supervised_services WHERE window = ? AND started_at < ? AND ended_at IS NULL"
)
# Open services past their maximum that have no overdue alert yet.
OVERDUE_SQL = (
    "SELECT id FROM supervised_services WHERE due_at < ? AND ended_at IS NULL"
    " AND overdue_raised = 0 ORDER BY due_at LIMIT ?"
)
_SERVICE_COLUMNS = (
    "id",
    "window",
    "staff",
    "ticket",
    "item",
    "department",
    "started_at",
    "ended_at",
    "ended_by",
    "min_s",
    "max_s",
    "limits",
    "due_at",
    "overdue_raised",
)
_SAVE_SERVICE = (
    f"INSERT INTO supervised_services ({', '.join(_SERVICE_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(_SERVICE_COLUMNS))})"
    " ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _SERVICE_COLUMNS[1:])
)
ALERT_COLUMNS = (
    "id",
    "service",
    "kind",
    "department",
    "window",
    "staff",
    "ticket",
    "item",
    "month",
    "started_at",
    "ended_at",
    "seconds",
    "limit_s",
    "limits",
    "raised_at",
    "status",
    "decided_by",
    "decided_at",
    "note",
)


@dataclass(slots=True)
class _Service:
    """One service being timed: a row of ``supervised_services``."""

    id: str
    window: str | None = None
    staff: str | None = None
    ticket: str | None = None
    item: str | None = None
    department: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    ended_by: str | None = None
    min_s: int | None = None
    max_s: int | None = None
    limits: str | None = None
    due_at: str | None = None
    overdue_raised: int = 0


class Supervision:
    """Pairs a hall's service events into services and raises their alerts."""

    def __init__(self, directory: Directory, settings: SupervisionSettings, timezone: str) -> None:
        self.directory = directory
        self.settings = settings
        self.calendar = Calendar(timezone)

    def check(self, conn: sqlite3.Connection, now: datetime) -> int:
        """Judge the events stored since the last check, then the open services; alerts raised."""
        now = now.astimezone(UTC)  # compared as text with the stored UTC times
        raised = 0
        while True:
            (mark,) = conn.execute(
                "SELECT last_rowid FROM supervision_marks WHERE name = 'service_events'"
            ).fetchone()
            rows = conn.execute(NEW_EVENTS_SQL, (mark, BATCH)).fetchall()
            for row in rows:
                raised += self._on_event(conn, row, now)
            if rows:
                conn.execute(
                    "UPDATE supervision_marks SET last_rowid = ? WHERE name = 'service_events'",
                    (rows[-1][0],),
                )
            if len(rows) < BATCH:
                break
        for (ident,) in conn.execute(OVERDUE_SQL, (format_time(now), BATCH)).fetchall():
            service = _load(conn, ident)
            assert service is not None and service.started_at is not None
            raised += self._raise(conn, service, "overdue", now, ended_at=None)
        return raised

    def has_work(self, conn: sqlite3.Connection, now: datetime) -> bool:
        """Whether events arrived since the last check, or an open service is past due."""
        (mark,) = conn.execute(
            "SELECT last_rowid FROM supervision_marks WHERE name = 'service_events'"
        ).fetchone()
        if conn.execute(NEW_EVENTS_SQL, (mark, 1)).fetchone() is not None:
            return True
        due = conn.execute(OVERDUE_SQL, (format_time(now.astimezone(UTC)), 1)).fetchone()
        return due is not None

    def _on_event(self, conn: sqlite3.Connection, row: tuple[Any, ...], now: datetime) -> int:
        _, ident, event, window, staff, ticket, cast_at, service_id, item = row
        own = service_id or ident  # a start names its own service, or is it
        raised = 0
        if event in ("start", "sign_out") and window is not None:
            # A new start, or the person leaving, ends what was left open at the window.
            for (other,) in conn.execute(OPEN_AT_WINDOW_SQL, (window, cast_at)).fetchall():
                if event == "start" and other == own:
                    continue
                left = _load(conn, other)
                assert left is not None
                left.ended_at, left.ended_by = cast_at, event
                raised += self._judge(conn, left, now)
        if event == "start":
            service = _load(conn, own) or _Service(own)
            service.started_at = cast_at
            _fill(service, window=window, staff=staff, ticket=ticket, item=item)
            raised += self._judge(conn, service, now)
        elif event == "end":
            target = service_id
            if target is None and window is not None:
                found = conn.execute(LATEST_AT_WINDOW_SQL, (window, cast_at)).fetchone()
                target = found[0] if found else None
            if target is None:
                return raised  # an end of no known service: nothing to time
            # The start may not have arrived yet (resent later): keep the end meanwhile.
            service = _load(conn, target) or _Service(target)
            service.ended_at, service.ended_by = cast_at, "end"
            _fill(service, window=window, staff=staff, ticket=ticket, item=item)
            raised += self._judge(conn, service, now)
        return raised

    def limits_of(self, service: _Service) -> tuple[Limits, str | None, str | None]:
        """A service's limits, where they come from (item, department), and its department."""
        item = self.directory.service_items.get(service.item or "")
        window = self.directory.windows.get(service.window or "")
        # An item belongs to its department, whichever window served it.
        department = item.department if item else window.department if window else None
        if item is not None and (item.min_s is not None or item.max_s is not None):
            return Limits(item.min_s, item.max_s), "item", department
        fallback = self.settings.limits.get(department or "")
        if fallback is not None:
            return fallback, "department", department
        return Limits(), None, department

    def _judge(self, conn: sqlite3.Connection, service: _Service, now: datetime) -> int:
        """Save a service with its limits; raise the alerts its times call for."""
        limits, source, service.department = self.limits_of(service)
        service.min_s, service.max_s, service.limits = limits.min_s, limits.max_s, source
        service.due_at = None
        if service.started_at is not None and limits.max_s is not None:
            due = parse_time(service.started_at) + timedelta(seconds=limits.max_s)
            service.due_at = format_time(due.astimezone(UTC))
        _save(conn, service)
        if service.started_at is None or service.ended_at is None:
            return 0
        seconds = _seconds(service.started_at, service.ended_at)
        raised = 0
        if service.ended_by == "end" and limits.min_s is not None and seconds < limits.min_s:
            raised += self._raise(conn, service, "too_fast", now, ended_at=service.ended_at)
        if limits.max_s is not None and seconds > limits.max_s:
            raised += self._raise(conn, service, "overdue", now, ended_at=service.ended_at)
        return raised

    def _raise(
        self,
        conn: sqlite3.Connection,
        service: _Service,
        kind: str,
        now: datetime,
        *,
        ended_at: str | None,
    ) -> int:
        """Raise ``kind`` for ``service`` once; 1 when it is new."""
        assert service.started_at is not None and service.limits is not None
        limit = service.min_s if kind == "too_fast" else service.max_s
        assert limit is not None
        seconds = _seconds(service.started_at, ended_at or format_time(now))
        cursor = conn.execute(
            f"INSERT INTO supervision_alerts ({', '.join(ALERT_COLUMNS[:16])})"
            f" VALUES ({', '.join('?' * 16)}) ON CONFLICT (service, kind) DO NOTHING",
            (
                alert_id(service.id, kind),
                service.id,
                kind,
                service.department,
                service.window,
                service.staff,
                service.ticket,
                service.item,
                self.calendar.keys(service.started_at).month,
                service.started_at,
                ended_at,
                round(seconds, 3),
                limit,
                service.limits,
                format_time(now),
                "yellow",
            ),
        )
        if kind == "overdue":
            conn.execute(
                "UPDATE supervised_services SET overdue_raised = 1 WHERE id = ?", (service.id,)
            )
        if cursor.rowcount:
            logger.info(
                "supervision alert %s: service %s at %s took %.0f s (limit %d s)",
                kind,
                service.id,
                service.window,
                seconds,
                limit,
            )
        return cursor.rowcount


def alert_id(service: str, kind: str) -> str:
    """The deterministic id of a service's alert of ``kind``."""
    return f"{kind}:{service}"


def _seconds(start: str, end: str) -> float:
    return (parse_time(end) - parse_time(start)).total_seconds()


def _fill(service: _Service, **values: str | None) -> None:
    """Set what the service does not know yet (the start's values win over the end's)."""
    for name, value in values.items():
        if getattr(service, name) is None and value is not None:
            setattr(service, name, value)


def _load(conn: sqlite3.Connection, ident: str) -> _Service | None:
    row = conn.execute(
        f"SELECT {', '.join(_SERVICE_COLUMNS)} FROM supervised_services WHERE id = ?", (ident,)
    ).fetchone()
    return None if row is None else _Service(*row)


def _save(conn: sqlite3.Connection, service: _Service) -> None:
    conn.execute(_SAVE_SERVICE, tuple(getattr(service, c) for c in _SERVICE_COLUMNS))


# Alerts as a supervisor reads and decides them.


def alert_document(conn: sqlite3.Connection, ident: str) -> dict[str, Any]:
    """One alert as the API shows it; raises UnknownRecord."""
    row = conn.execute(
        f"SELECT {', '.join(ALERT_COLUMNS)} FROM supervision_alerts WHERE id = ?", (ident,)
    ).fetchone()
    if row is None:
        raise UnknownRecord(f"no supervision alert {ident!r}")
    return dict(zip(ALERT_COLUMNS, row, strict=True))


ALERT_FILTERS = ("month", "department", "kind", "status")


def alert_ids(conn: sqlite3.Connection, filters: Mapping[str, str], *, limit: int) -> list[str]:
    """Ids of the alerts matching ``filters`` (empty values: any), newest first."""
    where = [f"{name} = ?" for name in ALERT_FILTERS if filters.get(name)]
    params: list[Any] = [filters[name] for name in ALERT_FILTERS if filters.get(name)]
    sql = "SELECT id FROM supervision_alerts"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY raised_at DESC, id LIMIT ?"
    return [r[0] for r in conn.execute(sql, (*params, limit))]


def decide(
    conn: sqlite3.Connection,
    ident: str,
    *,
    by: str,
    confirm: bool,
    note: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Confirm a yellow alert (it turns red) or dismiss it (a note is required).

    Raises UnknownRecord for no such alert and StateError for one already decided.
    """
    alert = alert_document(conn, ident)
    if alert["status"] != "yellow":
        raise StateError(f"alert {ident!r} is {alert['status']} already, by {alert['decided_by']}")
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise StateError(f"note: at most {MAX_NOTE_CHARS} characters")
    if not confirm and not (note or "").strip():
        raise StateError("note: a dismissal says why")
    conn.execute(
        "UPDATE supervision_alerts SET status = ?, decided_by = ?, decided_at = ?, note = ?"
        " WHERE id = ? AND status = 'yellow'",
        (
            "red" if confirm else "dismissed",
            by,
            format_time((now or datetime.now(UTC)).astimezone(UTC)),
            note,
            ident,
        ),
    )
    return alert_document(conn, ident)


def confirm_alert(
    conn: sqlite3.Connection,
    ident: str,
    *,
    by: str,
    note: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """``by`` confirms a yellow alert: it turns red (the console's and the API's action)."""
    return decide(conn, ident, by=by, confirm=True, note=note, now=now)


def dismiss_alert(
    conn: sqlite3.Connection, ident: str, *, by: str, note: str, now: datetime | None = None
) -> dict[str, Any]:
    """``by`` dismisses a yellow alert, saying why in ``note``."""
    return decide(conn, ident, by=by, confirm=False, note=note, now=now)


# Per department and month: counts of both kinds and their outcomes.
MONTH_COUNTS_SQL = (
    "SELECT department, kind, status, count(*) FROM supervision_alerts WHERE month = ?"
    " GROUP BY department, kind, status"
)


def month_counts(
    conn: sqlite3.Connection, month: str, directory: Directory
) -> list[dict[str, Any]]:
    """Each department's alerts raised for services begun in ``month``, by kind and outcome."""
    empty = {kind: dict.fromkeys((*STATUSES, "total"), 0) for kind in KINDS}
    rows: dict[str | None, dict[str, dict[str, int]]] = {
        d: {k: dict(v) for k, v in empty.items()} for d in directory.departments
    }
    for department, kind, status, n in conn.execute(MONTH_COUNTS_SQL, (month,)):
        counts = rows.setdefault(department, {k: dict(v) for k, v in empty.items()})
        counts[kind][status] += n
        counts[kind]["total"] += n
    result = []
    for department, counts in rows.items():
        known = directory.departments.get(department or "")
        result.append({"department": department, "name": known.name if known else None, **counts})
    return result


class SupervisionWatch:
    """The hub's periodic check: a thread that runs :meth:`Supervision.check`."""

    def __init__(
        self,
        config: HubConfig,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings: SupervisionSettings = config.supervision
        self.supervision = Supervision(config.directory, self.settings, config.timezone)
        self.database = config.database
        self._now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start checking in a background thread."""
        self._thread = threading.Thread(target=self._run, name="hub-supervision", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current check."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def check_once(self) -> int:
        """One check in a write transaction of its own; the alerts it raised."""
        db = open_database(self.database)
        try:
            now = self._now()
            if not self.supervision.has_work(db.conn, now):
                return 0  # an idle hall: no write lock taken
            with write_transaction(db) as conn:
                return self.supervision.check(conn, now)
        finally:
            db.close()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.check_interval_s):
            try:
                self.check_once()
            except Exception:
                # Logged and tried again next turn: a locked or full disk passes.
                logger.exception("the supervision check failed")
