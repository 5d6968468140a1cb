"""Presence (上线率): how much of the hall's opening hours each staff member was signed in,
and on how many working days each supervisor acted on the console.

Staff sign in and out at a window's evaluator (the ``sign_in`` and ``sign_out``
service events, as :mod:`hub.duty` reads them). At a window, a sign-in starts
that person's time and lasts until a sign-out there, someone else's sign-in
there, or the end of the day: a sign-in never carries over midnight. A
person's presence on a day is the part of the day's opening hours
(``[supervision] opening_hours``) they were signed in somewhere; a month's is
the sum over its days, as a share of the month's opening minutes, counted up
to now.

The supervisors are ``[supervision] supervisors`` when set, else the live API
tokens and the active console users of a role in :data:`ACTING_ROLES`.
A supervisor is present on a working day (a day with opening hours) when
they did something on the console that day. Their actions are read from the
audit trails in the hub's database (:data:`ACTION_SOURCES`); the figures come
from :func:`supervisor_presence`, which takes any set of (who, day) pairs.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from device_agent.protocol import format_time, parse_time
from hub.cases.calendar import WorkCalendar
from hub.directory import Directory
from hub.periods import Calendar, grain_of
from hub.supervision import Span, SupervisionSettings

# One window's sign-ins and sign-outs in a period, through the service_events_sign index.
SIGN_EVENTS_SQL = (
    "SELECT staff, event, cast_at FROM service_events"
    " WHERE window = ? AND event IN ('sign_in', 'sign_out') AND cast_at >= ? AND cast_at < ?"
    " ORDER BY cast_at, rowid"
)
# Where supervisors' console actions are recorded: (table, who, when, condition).
# A source whose table or columns are missing (an older file) is skipped.
ACTION_SOURCES: tuple[tuple[str, str, str, str], ...] = (
    ("warning_events", "by", "at", "by != 'hub'"),
    ("vote_voids", "by", "at", ""),
    ("vote_acceptances", "by", "at", ""),
    ("supervision_alerts", "decided_by", "decided_at", "decided_at IS NOT NULL"),
    # Every console action a person took, a login included; not a refused login.
    ("console_audit", "user", "at", "action NOT IN ('login_failed', 'login_refused')"),
)
ACTING_ROLES = ("manager", "office", "admin")


def opening_spans(
    settings: SupervisionSettings, day: date, workdays: WorkCalendar | None = None
) -> tuple[Span, ...]:
    """The hall's opening hours on ``day`` (minutes after local midnight).

    On the working-day calendar (``workdays``, the cases' calendar): closed on a
    public holiday; an adjusted working Saturday or Sunday (调休) opens with its
    own hours if the hall has any that day, else Monday's, a working day's hours.
    """
    own = settings.opening_hours[day.weekday()]
    if workdays is None:
        return own
    if workdays.is_public_holiday(day):
        return ()
    if day.weekday() >= 5 and workdays.is_workday(day):
        return own or settings.opening_hours[0]
    return own


def _days(key: str) -> list[date]:
    """The days of a day or month key."""
    if grain_of(key) == "day":
        return [date.fromisoformat(key)]
    if grain_of(key) != "month":
        raise ValueError(f"presence is by day or month, not {key!r}")
    first = date(int(key[:4]), int(key[5:7]), 1)
    days = []
    day = first
    while day.month == first.month:
        days.append(day)
        day += timedelta(days=1)
    return days


def _open_seconds(
    spans: tuple[Span, ...], midnight: datetime, until: datetime
) -> list[tuple[datetime, datetime]]:
    """The opening spans of a day as instants, cut at ``until`` (now, for today)."""
    result = []
    for start, end in spans:
        a = midnight + timedelta(minutes=start)
        b = min(midnight + timedelta(minutes=end), until)
        if a < b:
            result.append((a, b))
    return result


def _overlap(a: list[tuple[datetime, datetime]], b: list[tuple[datetime, datetime]]) -> float:
    total = 0.0
    for a0, a1 in a:
        for b0, b1 in b:
            lo, hi = max(a0, b0), min(a1, b1)
            if lo < hi:
                total += (hi - lo).total_seconds()
    return total


def _union(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def signed_in_spans(
    conn: sqlite3.Connection, windows: Iterable[str], start: datetime, end: datetime
) -> dict[str, list[tuple[datetime, datetime]]]:
    """Each staff member's signed-in time within one local day ``[start, end)``."""
    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    bounds = (_utc(start), _utc(end))
    for window in windows:
        current: tuple[str, datetime] | None = None
        for staff, event, cast_at in conn.execute(SIGN_EVENTS_SQL, (window, *bounds)):
            at = parse_time(cast_at)
            if current is not None:
                spans[current[0]].append((current[1], at))
                current = None
            if event == "sign_in" and staff is not None:
                current = (staff, at)
        if current is not None:
            spans[current[0]].append((current[1], end))
    return {staff: _union(found) for staff, found in spans.items()}


def staff_presence(
    conn: sqlite3.Connection,
    period: str,
    *,
    directory: Directory,
    settings: SupervisionSettings,
    calendar: Calendar,
    now: datetime,
    workdays: WorkCalendar | None = None,
) -> dict[str, Any]:
    """Each staff member's online rate in a day or month (``2026-11-05``, ``2026-11``).

    Staff listed are those the directory seats at a window and anyone else who
    signed in during the period; days after ``now`` do not count yet. With
    ``workdays``, public holidays are closed and adjusted working days open
    (:func:`opening_spans`).
    """
    days = _days(period)
    signed: dict[str, float] = defaultdict(float)
    by_day: dict[str, dict[str, float]] = defaultdict(dict)
    open_total = 0.0
    open_by_day: dict[str, float] = {}
    for day in days:
        midnight = datetime(day.year, day.month, day.day, tzinfo=calendar.zone)
        next_midnight = midnight + timedelta(days=1)
        if midnight >= now:
            break
        opening = _open_seconds(opening_spans(settings, day, workdays), midnight, now)
        seconds = sum((b - a).total_seconds() for a, b in opening)
        if seconds == 0:
            continue  # closed: neither staff nor supervisors are expected
        open_total += seconds
        open_by_day[day.isoformat()] = seconds
        found = signed_in_spans(conn, directory.windows, midnight, next_midnight)
        for staff, spans in found.items():
            inside = _overlap(spans, opening)
            signed[staff] += inside
            by_day[staff][day.isoformat()] = inside
    listed = [s.id for s in directory.staff.values() if s.window is not None or s.id in signed]
    rows = []
    for ident in listed:
        person = directory.staff[ident]
        rows.append(
            {
                "staff": ident,
                "name": person.name,
                "department": person.department,
                "open_minutes": round(open_total / 60, 1),
                "signed_in_minutes": round(signed[ident] / 60, 1),
                "rate": _rate(signed[ident], open_total),
                "days": {d: _rate(by_day[ident].get(d, 0.0), s) for d, s in open_by_day.items()},
            }
        )
    expected = open_total * len(rows)
    total = sum(signed[r["staff"]] for r in rows)
    return {
        "period": period,
        "open_days": list(open_by_day),
        "open_minutes": round(open_total / 60, 1),
        "rate": _rate(total, expected),
        "signed_in_staff": sum(1 for r in rows if r["signed_in_minutes"] > 0),
        "staff": rows,
    }


def supervisor_actions(
    conn: sqlite3.Connection, calendar: Calendar, period: str
) -> set[tuple[str, str]]:
    """``(who, local day)`` of every console action recorded in ``period``."""
    start, end = calendar.bounds(period)
    found: set[tuple[str, str]] = set()
    for table, who, when, condition in ACTION_SOURCES:
        columns = {r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))}
        if not {who, when} <= columns:
            continue  # not in this database (yet)
        sql = f'SELECT "{who}", "{when}" FROM "{table}" WHERE "{when}" >= ? AND "{when}" < ?'
        if condition:
            sql += f" AND {condition}"
        for actor, at in conn.execute(sql, (start, end)):
            if actor:
                found.add((actor, calendar.keys(at).day))
    return found


def supervisor_presence(
    actions: Iterable[tuple[str, str]], *, supervisors: Sequence[str], days: Sequence[str]
) -> dict[str, Any]:
    """Each supervisor's share of the working ``days`` on which they acted.

    ``actions`` are ``(who, day)`` pairs from any source (the console's audit
    log, the warnings' and alerts' decisions); actions on other days, or by
    someone not in ``supervisors``, do not count.
    """
    acted: dict[str, set[str]] = defaultdict(set)
    wanted = set(days)
    for who, day in actions:
        if day in wanted:
            acted[who].add(day)
    rows = [
        {
            "supervisor": name,
            "working_days": len(days),
            "days_acted": len(acted[name]),
            "rate": _rate(len(acted[name]), len(days)),
            "days": sorted(acted[name]),
        }
        for name in supervisors
    ]
    total = sum(r["days_acted"] for r in rows)
    return {
        "working_days": list(days),
        "rate": _rate(total, len(days) * len(rows)),
        "supervisors": rows,
    }


def supervisors_of(conn: sqlite3.Connection, settings: SupervisionSettings) -> list[str]:
    """The configured supervisors; else every live API token and every active console
    user whose role acts as a supervisor (:data:`ACTING_ROLES`), by name."""
    if settings.supervisors:
        return list(settings.supervisors)
    marks = ",".join("?" * len(ACTING_ROLES))
    tokens = conn.execute(
        f"SELECT name FROM api_tokens WHERE revoked_at IS NULL AND role IN ({marks})",
        ACTING_ROLES,
    )
    users = conn.execute(
        f"SELECT name FROM console_users WHERE disabled_at IS NULL AND role IN ({marks})",
        ACTING_ROLES,
    )
    return sorted({row[0] for row in [*tokens, *users]})


def working_days(
    period: str,
    *,
    settings: SupervisionSettings,
    calendar: Calendar,
    now: datetime,
    workdays: WorkCalendar | None = None,
) -> list[str]:
    """The days of a period with opening hours, up to today."""
    today = now.astimezone(calendar.zone).date()
    return [
        d.isoformat() for d in _days(period) if d <= today and opening_spans(settings, d, workdays)
    ]


def supervisors_presence(
    conn: sqlite3.Connection,
    period: str,
    *,
    settings: SupervisionSettings,
    calendar: Calendar,
    now: datetime,
    workdays: WorkCalendar | None = None,
) -> dict[str, Any]:
    """:func:`supervisor_presence` of the hall's supervisors from its recorded actions."""
    result = supervisor_presence(
        supervisor_actions(conn, calendar, period),
        supervisors=supervisors_of(conn, settings),
        days=working_days(period, settings=settings, calendar=calendar, now=now, workdays=workdays),
    )
    return {"period": period, **result}


def wall_presence(
    conn: sqlite3.Connection,
    *,
    directory: Directory,
    settings: SupervisionSettings,
    calendar: Calendar,
    now: datetime,
    workdays: WorkCalendar | None = None,
) -> dict[str, Any] | None:
    """Today's hall-wide rates for the LED wall, or None when the hall does not allow it.

    Only the hall's rates and counts: the wall never names anyone here.
    """
    if not settings.show_presence_on_wall:
        return None
    today = calendar.current(now, "day")
    staff = staff_presence(
        conn,
        today,
        directory=directory,
        settings=settings,
        calendar=calendar,
        now=now,
        workdays=workdays,
    )
    supervisors = supervisors_presence(
        conn, today, settings=settings, calendar=calendar, now=now, workdays=workdays
    )
    return {
        "day": today,
        "staff_rate": staff["rate"],
        "staff_signed_in": staff["signed_in_staff"],
        "staff_listed": len(staff["staff"]),
        "supervisor_rate": supervisors["rate"],
    }


def _rate(part: float, whole: float) -> float | None:
    return None if whole <= 0 else round(part / whole, 4)


def _utc(moment: datetime) -> str:
    """As service events keep their times: UTC, milliseconds (compared as text)."""
    return format_time(moment.astimezone(UTC))
