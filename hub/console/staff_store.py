"""The staff page's reads: a staff member's months, comments, warnings, appeals, voids.

Comments are read as text only — never when, at which window or device, or
with which ticket a vote was cast — and only for months the page shows (at
least ``[console] staff_min_votes`` votes); the page sorts them, so their
order tells nothing of when each was left. Every read here is one staff
member's index range (``tests/test_query_plans.py``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from hub.analytics import TREND_SQL, Point
from hub.periods import Calendar

# One staff member's counted, not voided votes with a comment in a period (ms bounds).
COMMENTS_SQL = (
    "SELECT v.comment FROM votes v WHERE v.staff = ? AND v.cast_at >= ? AND v.cast_at < ?"
    " AND v.counted = 1 AND v.comment IS NOT NULL AND v.comment != ''"
    " AND NOT EXISTS (SELECT 1 FROM vote_voids x WHERE x.vote_id = v.id)"
)
# One staff member's warnings, by period (the warnings_staff index's order).
STAFF_WARNINGS_SQL = (
    "SELECT id, level, grain, period, count, action, status, raised_at, withdrawn_at"
    " FROM warnings WHERE staff = ? ORDER BY period"
)
# One staff member's votes voided on appeal in a year: the staff's range, then each void.
STAFF_VOIDS_SQL = (
    "SELECT x.reason, x.at, v.cast_at FROM votes v CROSS JOIN vote_voids x ON x.vote_id = v.id"
    " WHERE v.staff = ? AND v.cast_at >= ? AND v.cast_at < ?"
)
# One staff member's appeals (warning_appeals): their warnings' range, then each warning's
# appeals (the warnings_staff and warning_appeals_warning indexes); sorted in Python.
STAFF_APPEALS_SQL = (
    "SELECT a.id, a.warning_id, w.period, w.level, a.reason, a.text, a.filed_by, a.filed_at,"
    " a.status, a.decided_by, a.decided_at, a.decision_note"
    " FROM warnings w CROSS JOIN warning_appeals a ON a.warning_id = w.id"
    " WHERE w.staff = ?"
)
MAX_COMMENTS = 200  # per month on the page


def months(conn: sqlite3.Connection, staff: str, year: str) -> list[Point]:
    """Each month of ``year``: the staff member's counted and dissatisfied votes (0 when none)."""
    keys = [f"{year}-{m:02d}" for m in range(1, 13)]
    found = {
        period: (total, bad)
        for period, total, bad in conn.execute(
            TREND_SQL, ("staff", keys[0], keys[-1], staff, "month")
        )
    }
    return [Point(key, *found.get(key, (0, 0))) for key in keys]


def comments(conn: sqlite3.Connection, calendar: Calendar, staff: str, month: str) -> list[str]:
    """The comments left on the staff member's counted votes in ``month``, sorted as text."""
    start, end = calendar.bounds_ms(month)
    texts = [row[0] for row in conn.execute(COMMENTS_SQL, (staff, start, end))]
    return sorted(texts)[:MAX_COMMENTS]


@dataclass(frozen=True, slots=True)
class StaffWarning:
    """One warning as the staff page lists it."""

    id: str
    level: str
    grain: str
    period: str
    count: int
    action: str
    status: str
    raised_at: str
    withdrawn_at: str | None


def warnings(conn: sqlite3.Connection, staff: str) -> list[StaffWarning]:
    """Every warning of the staff member (withdrawn ones too, marked so), oldest period first."""
    return [StaffWarning(*row) for row in conn.execute(STAFF_WARNINGS_SQL, (staff,))]


def voids(
    conn: sqlite3.Connection, calendar: Calendar, staff: str, year: str
) -> list[dict[str, Any]]:
    """The staff member's votes voided on appeal in ``year``: month of the vote, reason, when."""
    start, end = calendar.bounds_ms(year)
    rows = []
    for reason, at, cast_at in conn.execute(STAFF_VOIDS_SQL, (staff, start, end)):
        rows.append({"month": calendar.keys(cast_at).month, "reason": reason, "at": at[:10]})
    return sorted(rows, key=lambda r: (r["month"], r["at"]))


@dataclass(frozen=True, slots=True)
class StaffAppeal:
    """One appeal the staff page lists: against which warning, the grounds and the decision."""

    id: int
    warning_id: str
    period: str
    level: str
    reason: str
    text: str
    filed_by: str
    filed_at: str
    status: str
    decided_by: str | None
    decided_at: str | None
    decision_note: str | None


def appeals(conn: sqlite3.Connection, staff: str) -> list[StaffAppeal]:
    """Every appeal against the staff member's warnings (decided or not), newest first."""
    found = [StaffAppeal(*row) for row in conn.execute(STAFF_APPEALS_SQL, (staff,))]
    return sorted(found, key=lambda a: a.id, reverse=True)
