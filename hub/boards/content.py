"""Everything the boards show, read from the hub's database: the one place boards query it.

The numbers come from the incremental ``counts`` table (:mod:`hub.aggregates`),
warnings from ``warnings`` (:mod:`hub.warnings`), device state from
``devices`` and who is at each window from the service events
(:mod:`hub.duty`). Each function takes a read-only connection of the
scheduler's own and returns plain values; :func:`read_snapshot` gathers them
for one update of every board. Every query reads only the rows of the
periods shown (today, this week, this month and year) through an index, so
an update costs the same in a hall's seventh year as in its first week.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

import sqlite_utils

from hub.aggregates import satisfaction, wilson_lower_bound
from hub.directory import Directory
from hub.duty import on_duty
from hub.periods import Calendar

_LEVELS = ", ".join(f"level_{n}" for n in range(1, 6))
# Below this many votes in the week a window is not ranked: a handful of
# votes says nothing (domain.md: "never rank on a handful of votes").
RANKING_MIN_VOTES = 20
CHUNK = 400  # subjects per IN (...), under SQLite's parameter limit
# The most warnings read for the boards when the caller does not say.
WARNINGS_LIMIT = 100
# The warnings the boards may show: those still standing (this WHERE is also
# the partial index's, word for word, so SQLite can use the index).
STANDING = "status != 'closed' AND withdrawn_at IS NULL AND superseded_by IS NULL"


@dataclass(frozen=True, slots=True)
class Tally:
    """Counted votes of one subject in one period."""

    total: int = 0
    dissatisfied: int = 0
    levels: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)  # levels 1..5

    @property
    def satisfaction(self) -> float | None:
        """Share of votes at levels 3-5, or None without votes."""
        return satisfaction(self.total, self.dissatisfied)

    def level(self, n: int) -> int:
        """Votes at level ``n`` (1-5)."""
        return self.levels[n - 1]


@dataclass(frozen=True, slots=True)
class Ranked:
    """A window's place in the week's ranking."""

    window: str
    tally: Tally
    score: float


@dataclass(frozen=True, slots=True)
class ActiveWarning:
    """A warning not yet closed, withdrawn or superseded."""

    id: str
    staff: str
    department: str | None
    level: str
    action: str
    period: str
    count: int
    raised_at: str


@dataclass(frozen=True, slots=True)
class OfflineDevice:
    """A device of the directory whose last status is ``offline``."""

    id: str
    kind: str
    window: str | None
    since: str | None


@dataclass(frozen=True, slots=True)
class WindowDuty:
    """Who is on duty at a window and whether its service is paused."""

    staff: tuple[str, ...] = ()
    paused: bool = False


@dataclass(frozen=True, slots=True)
class WallPresence:
    """The hall's staff online rate today (:func:`hub.presence.wall_presence`): no names."""

    rate: float | None
    signed_in: int
    listed: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The hall's state for one update of the boards."""

    now: datetime
    day: str
    week: str
    hall: Tally
    departments: dict[str, Tally]
    windows: dict[str, Tally]
    ranking: list[Ranked]
    warnings: list[ActiveWarning]
    offline: list[OfflineDevice]
    duty: dict[str, WindowDuty] = field(default_factory=dict)
    # Standing warnings of this month and year beyond those in ``warnings``.
    more_warnings: int = 0
    # Today's staff online rate, only when the hall allows the wall to show it.
    presence: WallPresence | None = None

    def shows_same(self, other: Snapshot) -> bool:
        """True when the boards would show the same: equal numbers in the same minute."""
        minute = self.now.replace(second=0, microsecond=0)
        if minute != other.now.replace(second=0, microsecond=0):
            return False
        return replace(self, now=other.now) == other


def _tally(row: tuple[int, ...]) -> Tally:
    # row: level_1..level_5, total, dissatisfied
    return Tally(total=row[5], dissatisfied=row[6], levels=tuple(row[:5]))  # type: ignore[arg-type]


def _tallies(
    db: sqlite_utils.Database, scope: str, subjects: Iterable[str], day: str
) -> dict[str, Tally]:
    # Every column of a counts row's key bound, the subjects from the directory:
    # each row is one seek of the key, whatever order the key's columns are in.
    # "scope = ? AND period = ?" alone walks every day on record of that scope.
    found: dict[str, Tally] = {}
    names = list(subjects)
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        rows = db.execute(
            f"SELECT subject, {_LEVELS}, total, dissatisfied FROM counts"
            f" WHERE grain = 'day' AND period = ? AND scope = ?"
            f" AND subject IN ({','.join('?' * len(chunk))})",
            (day, scope, *chunk),
        ).fetchall()
        found.update((row[0], _tally(row[1:])) for row in rows)
    return found


def hall_summary(db: sqlite_utils.Database, hall: str, day: str) -> Tally:
    """The hall's counted votes on ``day`` (a local date key, ``2026-11-22``)."""
    return _tallies(db, "hall", [hall], day).get(hall, Tally())


def department_summary(
    db: sqlite_utils.Database, departments: Iterable[str], day: str
) -> dict[str, Tally]:
    """Each of ``departments``' counted votes on ``day``; those without votes are absent."""
    return _tallies(db, "department", departments, day)


def window_summary(db: sqlite_utils.Database, windows: Iterable[str], day: str) -> dict[str, Tally]:
    """Each of ``windows``' counted votes on ``day``; those without votes are absent."""
    return _tallies(db, "window", windows, day)


def week_ranking(
    db: sqlite_utils.Database,
    windows: Iterable[str],
    days: list[str],
    *,
    min_votes: int = RANKING_MIN_VOTES,
) -> list[Ranked]:
    """``windows`` ranked by the Wilson lower bound of their satisfaction over ``days``.

    Windows with fewer than ``min_votes`` counted votes are left out.
    """
    names = list(windows)
    sums: dict[str, list[int]] = {}
    for day in days:
        for window, tally in _tallies(db, "window", names, day).items():
            acc = sums.setdefault(window, [0] * 7)
            for i, value in enumerate((*tally.levels, tally.total, tally.dissatisfied)):
                acc[i] += value
    ranked = []
    for window, acc in sums.items():
        tally = _tally(tuple(acc))
        if tally.total < min_votes:
            continue
        score = wilson_lower_bound(tally.total - tally.dissatisfied, tally.total)
        ranked.append(Ranked(window, tally, score))
    ranked.sort(key=lambda r: (-r.score, -r.tally.total, r.window))
    return ranked


def standing_warnings(
    db: sqlite_utils.Database, periods: list[str], *, limit: int
) -> tuple[list[ActiveWarning], int]:
    """The ``limit`` most severe standing warnings of ``periods``, and how many more stand.

    Standing: not closed, withdrawn or superseded. Most severe first, then
    the highest count, then the newest. Each period is read in the index's
    order and only as far as ``limit``; warnings of other periods are not
    read at all, so a board shows the current period whatever the history.
    """
    if limit <= 0:
        return [], 0
    found = []
    complete = True  # every standing warning of the periods read
    for period in periods:
        rows = db.execute(
            "SELECT rank, id, staff, department, level, action, period, count, raised_at"
            f" FROM warnings WHERE period = ? AND {STANDING}"
            " ORDER BY rank DESC, count DESC, raised_at DESC, id LIMIT ?",
            (period, limit),
        ).fetchall()
        complete = complete and len(rows) < limit
        found += rows
    # The periods' lists merged in the same order: stable sorts, the last one first.
    found.sort(key=lambda row: row[1])
    found.sort(key=lambda row: (row[0], row[7], row[8]), reverse=True)
    shown = [ActiveWarning(*row[1:]) for row in found[:limit]]
    if complete:
        return shown, len(found) - len(shown)
    total = 0
    for period in periods:
        total += db.execute(
            f"SELECT count(*) FROM warnings WHERE period = ? AND {STANDING}", (period,)
        ).fetchone()[0]
    return shown, total - len(shown)


def offline_devices(db: sqlite_utils.Database, directory: Directory) -> list[OfflineDevice]:
    """The directory's devices whose retained status says ``offline``, in directory order."""
    status = {
        row[0]: row[1]
        for row in db.execute("SELECT id, status_at FROM devices WHERE status = 'offline'")
    }
    return [
        OfflineDevice(device.id, device.kind, device.window, status[device.id])
        for device in directory.devices.values()
        if device.id in status
    ]


def window_duty(
    db: sqlite_utils.Database,
    directory: Directory,
    *,
    since: str,
    windows: Iterable[str] | None = None,
) -> dict[str, WindowDuty]:
    """Who is on duty at ``windows`` (all by default) and whether each is paused, from today."""
    windows = list(directory.windows if windows is None else windows)
    staff = on_duty(db, directory.staff, windows, since=since)
    duty = {}
    for window in windows:
        # Only today's events: a pause from an earlier day is over, and reading
        # them all would cost more every day the hall is open.
        latest = db.execute(
            "SELECT event FROM service_events"
            " WHERE window = ? AND event IN ('pause', 'resume', 'sign_in', 'sign_out')"
            " AND cast_at >= ? ORDER BY rowid DESC LIMIT 1",
            (window, since),
        ).fetchone()
        paused = latest is not None and latest[0] == "pause"
        duty[window] = WindowDuty(tuple(staff.get(window, [])), paused)
    return duty


def read_snapshot(
    db: sqlite_utils.Database,
    *,
    hall: str,
    directory: Directory,
    calendar: Calendar,
    now: datetime,
    ranking_min_votes: int = RANKING_MIN_VOTES,
    warnings_limit: int = WARNINGS_LIMIT,
    duty_windows: Iterable[str] | None = None,
    presence: WallPresence | None = None,
) -> Snapshot:
    """Everything the boards show, read in one read transaction so it is consistent.

    ``warnings_limit`` is the most warnings any board shows (the rest are
    only counted); ``duty_windows`` the windows whose strips show who is on
    duty (all by default); ``presence`` the hall's online rate when it may be shown.
    """
    day = calendar.current(now, "day")
    iso = datetime.fromisoformat(day).isocalendar()
    week = f"{iso.year}-W{iso.week:02d}"
    db.execute("BEGIN")
    try:
        warnings, more = standing_warnings(db, [day[:7], day[:4]], limit=warnings_limit)
        return Snapshot(
            now=now,
            day=day,
            week=week,
            hall=hall_summary(db, hall, day),
            departments=department_summary(db, directory.departments, day),
            windows=window_summary(db, directory.windows, day),
            ranking=week_ranking(
                db, directory.windows, calendar.week_days(week), min_votes=ranking_min_votes
            ),
            warnings=warnings,
            offline=offline_devices(db, directory),
            duty=window_duty(db, directory, since=calendar.bounds(day)[0], windows=duty_windows),
            more_warnings=more,
            presence=presence,
        )
    finally:
        db.execute("COMMIT")
