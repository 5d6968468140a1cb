"""The console's figures: trends, the heat map, rating dimensions, rankings, the monthly report.

Every function here reads the kept counts (``counts`` and ``breakdown_counts``,
see :mod:`hub.aggregates`), never a scan of the raw votes, so a page costs the
same with a million votes as with a thousand. Only counted votes count: a
press an anti-manipulation rule filtered, or a vote voided on appeal, is in
the ``filtered`` / ``voided`` columns and in no figure below. Periods are in
the hall's time zone (the keys :class:`hub.periods.Calendar` writes).

A department head sees their department only: every function takes
``department`` and then keeps to the staff, windows and votes of that
department. The SQL is in the named constants below (``tests/test_query_plans.py``
checks their plans).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from device_agent.protocol import DIMENSIONS
from hub import aggregates
from hub.config import HubConfig
from hub.periods import Calendar, checked_period
from hub.reports import monthly, ranking

# A group's counts over a range of periods of one grain: a range of the counts' key.
TREND_SQL = (
    "SELECT period, total, dissatisfied FROM counts"
    " WHERE scope = ? AND period BETWEEN ? AND ? AND subject = ? AND grain = ?"
)
# One scope's counts in one period, every subject: a range of the counts' key.
GROUP_PERIOD_SQL = "SELECT subject, total, dissatisfied FROM counts WHERE scope = ? AND period = ?"
# The hour counts of the hall or a department between two local hours.
HOURS_SQL = (
    "SELECT period, total, dissatisfied FROM breakdown_counts"
    " WHERE scope = ? AND period BETWEEN ? AND ? AND subject = ?"
)
_LEVELS = "level_1, level_2, level_3, level_4, level_5, total, dissatisfied"
# One rating dimension's counts in one month or year, every staff member.
DIMENSION_SQL = f"SELECT subject, {_LEVELS} FROM breakdown_counts WHERE scope = ? AND period = ?"
# One staff member's counts of one dimension in one period.
STAFF_DIMENSION_SQL = (
    f"SELECT {_LEVELS} FROM breakdown_counts WHERE scope = ? AND period = ? AND subject = ?"
)
# The warnings a month's votes raised (monthly grain), not withdrawn.
MONTH_WARNINGS_SQL = (
    "SELECT staff, department, level FROM warnings"
    " WHERE grain = 'month' AND period = ? AND withdrawn_at IS NULL"
)

WEEKDAYS = ("周一 Mon", "周二 Tue", "周三 Wed", "周四 Thu", "周五 Fri", "周六 Sat", "周日 Sun")
DIMENSION_LABELS = {
    "attitude": "服务态度 Attitude",
    "efficiency": "办事效率 Efficiency",
    "style": "工作作风 Work style",
}
KINDS = ("staff", "window", "department")


@dataclass(frozen=True, slots=True)
class Point:
    """One period of a trend: counted votes, dissatisfied votes, the satisfied share."""

    period: str
    votes: int
    dissatisfied: int

    @property
    def satisfaction(self) -> float | None:
        """Share of counted votes at levels 3–5; None with no votes."""
        return aggregates.satisfaction(self.votes, self.dissatisfied)


def _group(config: HubConfig, department: str | None) -> tuple[str, str]:
    return ("hall", config.hall) if department is None else ("department", department)


def daily_trend(
    conn: sqlite3.Connection, config: HubConfig, month: str, *, department: str | None = None
) -> list[Point]:
    """Every day of ``month`` (``2026-11``), for the hall or one department; empty days as 0."""
    if checked_period(month) != "month":
        raise ValueError(f"not a month (YYYY-MM): {month!r}")
    first, end = _month_dates(month)
    days = [(first + timedelta(days=i)).isoformat() for i in range((end - first).days)]
    return _trend(conn, config, days, "day", department)


def monthly_trend(
    conn: sqlite3.Connection, config: HubConfig, year: str, *, department: str | None = None
) -> list[Point]:
    """Every month of ``year`` (``2026``), for the hall or one department; empty months as 0."""
    if checked_period(year) != "year":
        raise ValueError(f"not a year (YYYY): {year!r}")
    months = [f"{year}-{m:02d}" for m in range(1, 13)]
    return _trend(conn, config, months, "month", department)


def _trend(
    conn: sqlite3.Connection,
    config: HubConfig,
    periods: list[str],
    grain: str,
    department: str | None,
) -> list[Point]:
    scope, subject = _group(config, department)
    found = {
        period: (total, bad)
        for period, total, bad in conn.execute(
            TREND_SQL, (scope, periods[0], periods[-1], subject, grain)
        )
    }
    return [Point(p, *found.get(p, (0, 0))) for p in periods]


@dataclass(frozen=True, slots=True)
class HeatMap:
    """Dissatisfied (and all counted) votes by weekday (0 = Monday) and local hour."""

    first_day: str
    last_day: str
    dissatisfied: tuple[tuple[int, ...], ...]  # [weekday][hour]
    votes: tuple[tuple[int, ...], ...]

    @property
    def peak(self) -> int:
        """The largest cell: the legend's top."""
        return max(max(row) for row in self.dissatisfied)

    @property
    def total_dissatisfied(self) -> int:
        """Every dissatisfied vote in the range."""
        return sum(sum(row) for row in self.dissatisfied)


def heatmap(
    conn: sqlite3.Connection,
    config: HubConfig,
    first_day: str,
    last_day: str,
    *,
    department: str | None = None,
) -> HeatMap:
    """Where and when things go wrong: dissatisfied votes from ``first_day`` to ``last_day``.

    Days are local (``2026-11-01``), both included; read from the hour counts.
    """
    for day in (first_day, last_day):
        if checked_period(day) != "day":
            raise ValueError(f"not a day (YYYY-MM-DD): {day!r}")
    scope, subject = (
        ("hour:hall", config.hall)
        if department is None
        else (
            "hour:department",
            department,
        )
    )
    bad = [[0] * 24 for _ in range(7)]
    votes = [[0] * 24 for _ in range(7)]
    rows = conn.execute(HOURS_SQL, (scope, f"{first_day}T00", f"{last_day}T23", subject))
    for period, total, dissatisfied in rows:
        weekday = date.fromisoformat(period[:10]).weekday()
        hour = int(period[11:13])
        bad[weekday][hour] += dissatisfied
        votes[weekday][hour] += total
    return HeatMap(
        first_day,
        last_day,
        tuple(tuple(row) for row in bad),
        tuple(tuple(row) for row in votes),
    )


def month_heatmap(
    conn: sqlite3.Connection, config: HubConfig, month: str, *, department: str | None = None
) -> HeatMap:
    """:func:`heatmap` over every day of ``month``."""
    first, end = _month_dates(month)
    last = (end - timedelta(days=1)).isoformat()
    return heatmap(conn, config, first.isoformat(), last, department=department)


@dataclass(frozen=True, slots=True)
class DimensionCount:
    """One rating dimension of one staff member in one period: votes per level 1–5."""

    levels: tuple[int, int, int, int, int]
    votes: int
    dissatisfied: int

    @property
    def satisfaction(self) -> float | None:
        """Share of the dimension's counted ratings at levels 3–5."""
        return aggregates.satisfaction(self.votes, self.dissatisfied)

    @property
    def mean(self) -> float | None:
        """The mean level (1–5), None with no ratings."""
        if not self.votes:
            return None
        return sum((i + 1) * n for i, n in enumerate(self.levels)) / self.votes


_NO_RATINGS = DimensionCount((0, 0, 0, 0, 0), 0, 0)


def _dimension(row: Iterable[int]) -> DimensionCount:
    values = list(row)
    levels = (values[0], values[1], values[2], values[3], values[4])
    return DimensionCount(levels, values[5], values[6])


@dataclass(frozen=True, slots=True)
class StaffDimensions:
    """A staff member's kiosk ratings of each dimension (``DIMENSIONS``) in a period."""

    staff: str
    name: str | None
    department: str | None
    dimensions: dict[str, DimensionCount] = field(default_factory=dict)
    withheld: bool = False  # fewer ratings than the page's minimum: none shown

    @property
    def votes(self) -> int:
        """Kiosk votes counted for the staff member (each rates every dimension)."""
        return max((d.votes for d in self.dimensions.values()), default=0)


def staff_dimensions(
    conn: sqlite3.Connection, config: HubConfig, staff: str, period: str, *, min_votes: int = 0
) -> StaffDimensions:
    """One staff member's ratings per dimension in a month (``2026-11``) or year (``2026``).

    With ``min_votes`` (the staff page's own view), a period with fewer
    ratings than that shows none: a few ratings could tell who gave them.
    ``withheld`` says so.
    """
    if checked_period(period) == "day":
        raise ValueError("dimensions are counted per month and year, not per day")
    entry = config.directory.staff.get(staff)
    found = {}
    for name in DIMENSIONS:
        row = conn.execute(
            STAFF_DIMENSION_SQL, (aggregates.DIMENSION_SCOPES[name], period, staff)
        ).fetchone()
        found[name] = _NO_RATINGS if row is None else _dimension(row)
    withheld = 0 < max(d.votes for d in found.values()) < min_votes
    if withheld:
        found = dict.fromkeys(DIMENSIONS, _NO_RATINGS)
    return StaffDimensions(
        staff,
        entry.name if entry else None,
        entry.department if entry else None,
        found,
        withheld,
    )


def dimensions(
    conn: sqlite3.Connection, config: HubConfig, period: str, *, department: str | None = None
) -> list[StaffDimensions]:
    """Every staff member rated in ``period`` (month or year), per dimension, by staff id."""
    if checked_period(period) == "day":
        raise ValueError("dimensions are counted per month and year, not per day")
    directory = config.directory
    people: dict[str, dict[str, DimensionCount]] = {}
    for name in DIMENSIONS:
        for subject, *values in conn.execute(
            DIMENSION_SQL, (aggregates.DIMENSION_SCOPES[name], period)
        ):
            people.setdefault(subject, {})[name] = _dimension(values)
    result = []
    for staff in sorted(people):
        entry = directory.staff.get(staff)
        home = entry.department if entry else None
        if department is not None and home != department:
            continue
        counts = {name: people[staff].get(name, _NO_RATINGS) for name in DIMENSIONS}
        result.append(StaffDimensions(staff, entry.name if entry else None, home, counts))
    return result


@dataclass(slots=True)
class Ranked:
    """One ranked (or unranked: too few votes) staff member, window or department."""

    kind: str
    subject: str
    name: str | None
    department: str | None
    votes: int
    dissatisfied: int
    rank: int | None = None

    @property
    def satisfaction(self) -> float | None:
        """Share of counted votes at levels 3–5."""
        return aggregates.satisfaction(self.votes, self.dissatisfied)

    @property
    def wilson_lower(self) -> float:
        """The Wilson lower bound (95 %) of the satisfied share: the ranking's score."""
        return aggregates.wilson_lower_bound(self.votes - self.dissatisfied, self.votes)

    def as_dict(self) -> dict[str, Any]:
        """JSON- and CSV-ready."""
        return {
            "kind": self.kind,
            "rank": self.rank,
            "subject": self.subject,
            "name": self.name,
            "department": self.department,
            "votes": self.votes,
            "dissatisfied": self.dissatisfied,
            "satisfaction": _round(self.satisfaction),
            "wilson_lower": _round(self.wilson_lower),
        }


def period_keys(calendar: Calendar, window: str) -> list[str]:
    """The counts' period keys of a ranking window: a day, ISO week, month or year."""
    if "-W" in window:
        return calendar.week_days(window)
    checked_period(window)
    return [window]


def rank(
    conn: sqlite3.Connection,
    config: HubConfig,
    kind: str,
    window: str,
    *,
    min_votes: int = 30,
    department: str | None = None,
) -> list[Ranked]:
    """Staff, windows or departments by the Wilson lower bound in ``window``; unranked last.

    ``window`` is a day, an ISO week (``2026-W47``), a month or a year. Nothing
    with fewer than ``min_votes`` counted votes is ranked: it follows the
    ranked, by id, with ``rank`` None.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: one of {', '.join(KINDS)}, got {kind!r}")
    periods = period_keys(Calendar(config.timezone), window)
    totals: dict[str, list[int]] = {}
    for period in periods:
        for subject, total, bad in conn.execute(GROUP_PERIOD_SQL, (kind, period)):
            row = totals.setdefault(subject, [0, 0])
            row[0] += total
            row[1] += bad
    directory = config.directory
    listed: dict[str, Any] = {
        "staff": directory.staff,
        "window": directory.windows,
        "department": directory.departments,
    }[kind]
    entries = []
    for subject in dict.fromkeys(listed) | dict.fromkeys(totals):
        entry = listed.get(subject)
        home = subject if kind == "department" else getattr(entry, "department", None)
        if department is not None and home != department:
            continue
        votes, bad = totals.get(subject, (0, 0))
        entries.append(Ranked(kind, subject, getattr(entry, "name", None), home, votes, bad))
    floor = max(1, min_votes)
    ranked = sorted(
        (e for e in entries if e.votes >= floor),
        key=lambda e: (-e.wilson_lower, -e.votes, e.subject),
    )
    for place, item in enumerate(ranked, start=1):
        item.rank = place
    unranked = sorted((e for e in entries if e.votes < floor), key=lambda e: e.subject)
    return ranked + unranked


def month_end_tally(
    conn: sqlite3.Connection, config: HubConfig, month: str, *, department: str | None = None
) -> list[dict[str, Any]]:
    """Seed 000's month-end tally: each person's dissatisfied votes in ``month``, most first.

    The rows of ``hallrate report monthly`` (:data:`hub.reports.MONTHLY_COLUMNS`).
    """
    rows = monthly(conn, config, month)
    return [r for r in rows if department is None or r["department"] == department]


def weekly_ranking(
    conn: sqlite3.Connection,
    config: HubConfig,
    week: str,
    *,
    min_votes: int = 30,
    department: str | None = None,
) -> list[dict[str, Any]]:
    """Seed 004's weekly ranking: windows, then departments, by Wilson lower bound.

    The rows of ``hallrate report ranking`` (:data:`hub.reports.RANKING_COLUMNS`);
    a department head gets their department's windows and their department.
    """
    days = Calendar(config.timezone).week_days(week)
    rows = ranking(conn, config, days, min_votes=max(1, min_votes))
    if department is None:
        return rows
    windows = config.directory.windows
    kept = []
    for row in rows:
        if row["kind"] == "department":
            home = row["subject"]
        else:
            entry = windows.get(row["subject"])
            home = entry.department if entry else None
        if home == department:
            kept.append(row)
    return kept


@dataclass(frozen=True, slots=True)
class DepartmentReport:
    """One department's month for the county leaders."""

    department: str
    name: str | None
    votes: int
    dissatisfied: int
    warnings: int
    warning_levels: str  # e.g. "III×2 II×1"
    top: Ranked | None
    bottom: Ranked | None

    @property
    def satisfaction(self) -> float | None:
        """Share of counted votes at levels 3–5."""
        return aggregates.satisfaction(self.votes, self.dissatisfied)


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    """The monthly report to county leaders: the hall's total and each department."""

    hall: str
    hall_name: str
    month: str
    min_votes: int
    votes: int
    dissatisfied: int
    warnings: int
    departments: list[DepartmentReport]

    @property
    def satisfaction(self) -> float | None:
        """The hall's share of counted votes at levels 3–5."""
        return aggregates.satisfaction(self.votes, self.dissatisfied)


def monthly_report(
    conn: sqlite3.Connection,
    config: HubConfig,
    month: str,
    *,
    min_votes: int = 30,
    department: str | None = None,
) -> MonthlyReport:
    """Per department: votes, satisfaction, dissatisfied, warnings raised, top and bottom staff.

    Top and bottom are by the Wilson lower bound among the department's staff
    with at least ``min_votes`` counted votes in the month (None when nobody has).
    """
    if checked_period(month) != "month":
        raise ValueError(f"not a month (YYYY-MM): {month!r}")
    directory = config.directory
    groups = {s: (t, b) for s, t, b in conn.execute(GROUP_PERIOD_SQL, ("department", month))}
    hall_row = conn.execute(GROUP_PERIOD_SQL + " AND subject = ?", ("hall", month, config.hall))
    hall_votes, hall_bad = next(((t, b) for _, t, b in hall_row), (0, 0))
    warned: dict[str, list[str]] = {}
    hall_warnings = 0
    for staff, recorded, level in conn.execute(MONTH_WARNINGS_SQL, (month,)):
        entry = directory.staff.get(staff)
        home = recorded if recorded is not None or entry is None else entry.department
        warned.setdefault(home or "", []).append(level)
        hall_warnings += 1
    staff_ranking = rank(conn, config, "staff", month, min_votes=min_votes)
    reports = []
    for subject in dict.fromkeys(directory.departments) | dict.fromkeys(groups):
        if department is not None and subject != department:
            continue
        votes, bad = groups.get(subject, (0, 0))
        ranked = [r for r in staff_ranking if r.department == subject and r.rank is not None]
        levels = warned.get(subject, [])
        summary = " ".join(f"{lv}×{levels.count(lv)}" for lv in dict.fromkeys(sorted(levels)))
        entry = directory.departments.get(subject)
        reports.append(
            DepartmentReport(
                subject,
                entry.name if entry else None,
                votes,
                bad,
                len(levels),
                summary,
                ranked[0] if ranked else None,
                ranked[-1] if len(ranked) > 1 else None,
            )
        )
    return MonthlyReport(
        config.hall,
        directory.name,
        month,
        min_votes,
        hall_votes,
        hall_bad,
        hall_warnings,
        reports,
    )


def _month_dates(month: str) -> tuple[date, date]:
    year, number = int(month[:4]), int(month[5:7])
    first = date(year, number, 1)
    return first, date(year + number // 12, number % 12 + 1, 1)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
