"""Everything the boards show, read from the hub's database: the one place boards query it.

The numbers come from the incremental ``counts`` table (:mod:`hub.aggregates`),
warnings from ``warnings`` (:mod:`hub.warnings`), device state from
``devices`` and who is at each window from the service events
(:mod:`hub.duty`). Each function takes a read-only connection of the
scheduler's own and returns plain values; :func:`read_snapshot` gathers them
for one update of every board.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


def _tally(row: tuple[int, ...]) -> Tally:
    # row: level_1..level_5, total, dissatisfied
    return Tally(total=row[5], dissatisfied=row[6], levels=tuple(row[:5]))  # type: ignore[arg-type]


def _scope_tallies(db: sqlite_utils.Database, scope: str, day: str) -> dict[str, Tally]:
    rows = db.execute(
        f"SELECT subject, {_LEVELS}, total, dissatisfied FROM counts"
        " WHERE scope = ? AND period = ?",
        (scope, day),
    ).fetchall()
    return {row[0]: _tally(row[1:]) for row in rows}


def hall_summary(db: sqlite_utils.Database, hall: str, day: str) -> Tally:
    """The hall's counted votes on ``day`` (a local date key, ``2026-11-22``)."""
    return _scope_tallies(db, "hall", day).get(hall, Tally())


def department_summary(db: sqlite_utils.Database, day: str) -> dict[str, Tally]:
    """Each department's counted votes on ``day``; departments without votes are absent."""
    return _scope_tallies(db, "department", day)


def window_summary(db: sqlite_utils.Database, day: str) -> dict[str, Tally]:
    """Each window's counted votes on ``day``; windows without votes are absent."""
    return _scope_tallies(db, "window", day)


def week_ranking(
    db: sqlite_utils.Database, days: list[str], *, min_votes: int = RANKING_MIN_VOTES
) -> list[Ranked]:
    """Windows ranked by the Wilson lower bound of their satisfaction over ``days``.

    Windows with fewer than ``min_votes`` counted votes are left out.
    """
    if not days:
        return []
    sums: dict[str, list[int]] = {}
    marks = ",".join("?" * len(days))
    for row in db.execute(
        f"SELECT subject, {_LEVELS}, total, dissatisfied FROM counts"
        f" WHERE scope = 'window' AND period IN ({marks})",
        days,
    ):
        acc = sums.setdefault(row[0], [0] * 7)
        for i, value in enumerate(row[1:]):
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


def active_warnings(db: sqlite_utils.Database) -> list[ActiveWarning]:
    """Warnings still open (not closed, withdrawn or superseded), newest first."""
    rows = db.execute(
        "SELECT id, staff, department, level, action, period, count, raised_at FROM warnings"
        " WHERE status != 'closed' AND withdrawn_at IS NULL AND superseded_by IS NULL"
        " ORDER BY raised_at DESC, id"
    ).fetchall()
    return [ActiveWarning(*row) for row in rows]


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
    db: sqlite_utils.Database, directory: Directory, *, since: str
) -> dict[str, WindowDuty]:
    """Who is on duty at each window and whether it is paused, from today's service events."""
    windows = list(directory.windows)
    staff = on_duty(db, directory.staff, windows, since=since)
    duty = {}
    for window in windows:
        latest = db.execute(
            "SELECT event, cast_at FROM service_events"
            " WHERE window = ? AND event IN ('pause', 'resume', 'sign_in', 'sign_out')"
            " ORDER BY rowid DESC LIMIT 1",
            (window,),
        ).fetchone()
        paused = latest is not None and latest[0] == "pause" and latest[1] >= since
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
) -> Snapshot:
    """Everything the boards show, read in one read transaction so it is consistent."""
    day = calendar.current(now, "day")
    iso = datetime.fromisoformat(day).isocalendar()
    week = f"{iso.year}-W{iso.week:02d}"
    db.execute("BEGIN")
    try:
        return Snapshot(
            now=now,
            day=day,
            week=week,
            hall=hall_summary(db, hall, day),
            departments=department_summary(db, day),
            windows=window_summary(db, day),
            ranking=week_ranking(db, calendar.week_days(week), min_votes=ranking_min_votes),
            warnings=active_warnings(db),
            offline=offline_devices(db, directory),
            duty=window_duty(db, directory, since=calendar.bounds(day)[0]),
        )
    finally:
        db.execute("COMMIT")
