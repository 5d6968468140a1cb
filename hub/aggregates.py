"""Vote counts per hall, department, window and staff member, per day, month and year.

The ``counts`` table holds one row per subject and period with the votes at
each level, the total, the dissatisfied votes (levels 1–2), the filtered
presses and the voided votes. It is kept incrementally: :func:`apply` runs
inside the store's transaction and adds every vote stored since the last
call (the ``count_marks`` high-water mark on the votes' arrival order), so no
query rescans history on the hot path. ``hub.rebuild`` recomputes the same
numbers from the raw votes; both go through :func:`tally`, and a test checks
them against an independent recount.

A vote counts in the periods of its cast time (``cast_at``, corrected for a
wrong device clock by ingest) in the hall's time zone, however late it
arrives. A vote whose ``counted`` is 0 (an anti-manipulation rule filtered
it) adds only to ``filtered``; a voided vote (an upheld appeal) only to
``voided``.

Beside them, ``breakdown_counts`` (issue 13) holds the same columns for
finer cuts the console charts: ``dim:attitude`` / ``dim:efficiency`` /
``dim:style`` per staff member and month or year — a kiosk vote's rating of
each dimension counted as a level of its own — and ``hour:hall`` /
``hour:department`` per local hour (``2026-11-05T14``), for the hour ×
weekday heat map. They are tallied by the same :func:`tally`, written by the
same :func:`write_deltas` in the same transaction, moved by :func:`move`
when a vote is voided or judged again, and recounted by ``hub rebuild``.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from device_agent.protocol import DIMENSIONS
from hub.directory import Directory
from hub.periods import Calendar

SCOPES = ("hall", "department", "window", "staff")
COUNT_COLUMNS = (
    "level_1",
    "level_2",
    "level_3",
    "level_4",
    "level_5",
    "total",
    "dissatisfied",
    "filtered",
    "voided",
)
DISSATISFIED_INDEX = COUNT_COLUMNS.index("dissatisfied")
_WIDTH = len(COUNT_COLUMNS)
MARK = "votes"

# Subject and period of a counts row: (scope, subject, period key).
CountKey = tuple[str, str, str]

# The finer cuts kept in ``breakdown_counts`` (any scope not in SCOPES).
BREAKDOWN_TABLE = "breakdown_counts"
DIMENSION_SCOPES = {name: f"dim:{name}" for name in DIMENSIONS}
HOUR_SCOPES = ("hour:hall", "hour:department")


def counts_table_sql(name: str) -> str:
    """``CREATE TABLE`` of a counts table as the hub keys it today, under ``name``.

    For anything that builds counts beside the live ones to swap them in: the
    key is what every read of counts uses. ``hub.schema.COUNTS_BY_PERIOD`` made
    the live table with this text; a new key needs a new step there.
    """
    columns = ",\n".join(f"{column} INTEGER NOT NULL DEFAULT 0" for column in COUNT_COLUMNS)
    return f"""
        CREATE TABLE {name} (
            scope TEXT NOT NULL CHECK (scope IN ('hall', 'department', 'window', 'staff')),
            subject TEXT NOT NULL,
            period TEXT NOT NULL,
            grain TEXT NOT NULL CHECK (grain IN ('day', 'month', 'year')),
            {columns},
            PRIMARY KEY (scope, period, subject)
        ) WITHOUT ROWID"""


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who a vote counts for: the hall, the window's department, the window, the staff member."""

    hall: str
    directory: Directory

    def subjects(self, window: str | None, staff: str | None) -> list[tuple[str, str]]:
        """``(scope, subject)`` pairs a vote at ``window`` for ``staff`` counts toward."""
        found = [("hall", self.hall)]
        department = self.department(window, staff)
        if department is not None:
            found.append(("department", department))
        if window is not None:
            found.append(("window", window))
        if staff is not None:
            found.append(("staff", staff))
        return found

    def department(self, window: str | None, staff: str | None) -> str | None:
        """The department of the window (or, for a kiosk vote, of the staff member)."""
        if window is not None and window in self.directory.windows:
            return self.directory.windows[window].department
        if staff is not None and staff in self.directory.staff:
            return self.directory.staff[staff].department
        return None


def vote_vector(level: int, counted: bool, voided: bool) -> tuple[int, ...]:
    """What one vote adds to each of :data:`COUNT_COLUMNS`."""
    vector = [0] * _WIDTH
    if not counted:
        vector[COUNT_COLUMNS.index("filtered")] = 1
    elif voided:
        vector[COUNT_COLUMNS.index("voided")] = 1
    else:
        vector[level - 1] = 1
        vector[COUNT_COLUMNS.index("total")] = 1
        if level <= 2:
            vector[DISSATISFIED_INDEX] = 1
    return tuple(vector)


@dataclass(slots=True)
class Tally:
    """Count changes keyed by subject and period, and the staff periods whose warnings may move."""

    deltas: dict[CountKey, list[int]] = field(default_factory=dict)
    staff_periods: set[tuple[str, str]] = field(default_factory=set)

    def add(
        self,
        subjects: list[tuple[str, str]],
        periods: Iterable[tuple[str, str]],
        vector: tuple[int, ...],
        times: int = 1,
    ) -> None:
        """Add ``times * vector`` (``times`` may be negative) to every subject in every period."""
        nonzero = [(i, value * times) for i, value in enumerate(vector) if value]
        periods = list(periods)
        for scope, subject in subjects:
            for grain, period in periods:
                row = self.deltas.get((scope, subject, period))
                if row is None:
                    row = self.deltas[(scope, subject, period)] = [0] * _WIDTH
                for i, value in nonzero:
                    row[i] += value
                if scope == "staff" and grain != "day" and vector[DISSATISFIED_INDEX]:
                    self.staff_periods.add((subject, period))


# One stored vote as counted: window, staff, level, counted, cast_at (ms), voided, dims (JSON).
VoteRow = tuple[str | None, str | None, int, int, int, int, str | None]


def tally(
    rows: Iterable[VoteRow],
    attribution: Attribution,
    calendar: Calendar,
    *,
    into: Tally | None = None,
    times: int = 1,
) -> Tally:
    """Count ``(window, staff, level, counted, cast_at, voided, dims)`` rows into a :class:`Tally`.

    ``times`` -1 takes the rows back out (``into`` an existing tally), as :func:`move` does.
    """
    # Votes alike in everything that is counted (the local hour included) are added
    # once, times their number: a batch of hundreds of votes is a few dozen such groups.
    groups: Counter[tuple[Any, ...]] = Counter()
    for window, staff, level, counted, cast_at, voided, dims in rows:
        key = (window, staff, level, bool(counted), bool(voided), calendar.hour(cast_at), dims)
        groups[key] += 1
    days: Counter[tuple[Any, ...]] = Counter()
    hours: Counter[tuple[Any, ...]] = Counter()
    rated: Counter[tuple[Any, ...]] = Counter()
    departments: dict[tuple[str | None, str | None], str | None] = {}
    for (window, staff, level, counted, voided, hour, dims), n in groups.items():
        days[(window, staff, level, counted, voided, hour[:10])] += n
        if (window, staff) not in departments:
            departments[(window, staff)] = attribution.department(window, staff)
        hours[(departments[(window, staff)], level, counted, voided, hour)] += n
        if dims is not None and staff is not None:
            rated[(staff, dims, counted, voided, hour[:7])] += n
    result = Tally() if into is None else into
    for (window, staff, level, counted, voided, day), n in days.items():
        periods = (("day", day), ("month", day[:7]), ("year", day[:4]))
        result.add(
            attribution.subjects(window, staff),
            periods,
            vote_vector(level, counted, voided),
            n * times,
        )
    for (department, level, counted, voided, hour), n in hours.items():
        subjects = [("hour:hall", attribution.hall)]
        if department is not None:
            subjects.append(("hour:department", department))
        result.add(subjects, (("day", hour),), vote_vector(level, counted, voided), n * times)
    for (staff, dims, counted, voided, month), n in rated.items():
        periods = (("month", month), ("year", month[:4]))
        for name, value in json.loads(dims).items():
            scope = DIMENSION_SCOPES.get(name)
            if scope is not None:
                result.add(
                    [(scope, staff)], periods, vote_vector(value, counted, voided), n * times
                )
    return result


def move(
    change: Tally,
    attribution: Attribution,
    calendar: Calendar,
    vote: tuple[str | None, str | None, int, int, str | None],
    *,
    before: tuple[bool, bool],
    after: tuple[bool, bool],
) -> None:
    """Add to ``change`` what moving one vote from ``before`` to ``after`` does to every count.

    ``vote`` is ``(window, staff, level, cast_at, dims)``; a state is ``(counted, voided)``.
    """
    window, staff, level, cast_at, dims = vote
    for (counted, voided), times in ((before, -1), (after, 1)):
        row = (window, staff, level, int(counted), cast_at, int(voided), dims)
        tally([row], attribution, calendar, into=change, times=times)


def _upsert_sql() -> str:
    names = ", ".join(COUNT_COLUMNS)
    marks = ", ".join("?" * (_WIDTH + 4))
    updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in COUNT_COLUMNS)
    return (
        f"INSERT INTO counts (scope, subject, period, grain, {names}) VALUES ({marks})"
        f" ON CONFLICT (scope, subject, period) DO UPDATE SET {updates}"
    )


_UPSERT = _upsert_sql()
_BREAKDOWN_UPSERT = (
    f"INSERT INTO {BREAKDOWN_TABLE} (scope, subject, period, {', '.join(COUNT_COLUMNS)})"
    f" VALUES ({', '.join('?' * (_WIDTH + 3))}) ON CONFLICT (scope, period, subject)"
    f" DO UPDATE SET {', '.join(f'{c} = {c} + excluded.{c}' for c in COUNT_COLUMNS)}"
)


def table_of(scope: str) -> str:
    """The table that keeps a scope's rows: ``counts``, or ``breakdown_counts`` for finer cuts."""
    return "counts" if scope in SCOPES else BREAKDOWN_TABLE


def write_deltas(conn: sqlite3.Connection, deltas: dict[CountKey, list[int]]) -> None:
    """Add count changes to ``counts`` and ``breakdown_counts`` (a prepared statement each)."""
    # Keys come from Calendar, so the length of a key tells its grain.
    grains = {10: "day", 7: "month", 4: "year"}
    main: list[tuple[Any, ...]] = []
    finer: list[tuple[Any, ...]] = []
    for (scope, subject, period), values in deltas.items():
        if not any(values):
            continue
        if scope in SCOPES:
            main.append((scope, subject, period, grains[len(period)], *values))
        else:
            finer.append((scope, subject, period, *values))
    conn.executemany(_UPSERT, main)
    if finer:
        conn.executemany(_BREAKDOWN_UPSERT, finer)


def apply(conn: sqlite3.Connection, attribution: Attribution, calendar: Calendar) -> Tally:
    """Count every vote stored since the last call, inside the caller's transaction."""
    row = conn.execute("SELECT last_rowid FROM count_marks WHERE name = ?", (MARK,)).fetchone()
    mark = row[0] if row else 0
    rows = conn.execute(
        "SELECT v.rowid, v.window, v.staff, v.level, v.counted, v.cast_at,"
        " EXISTS (SELECT 1 FROM vote_voids x WHERE x.vote_id = v.id), v.dims FROM votes v"
        " WHERE v.rowid > ? ORDER BY v.rowid",
        (mark,),
    ).fetchall()
    if not rows:
        return Tally()
    result = tally((r[1:] for r in rows), attribution, calendar)
    write_deltas(conn, result.deltas)
    write_mark(conn, rows[-1][0])
    return result


def counted_up_to(conn: sqlite3.Connection) -> int:
    """The rowid of the last vote in the counts (the ``count_marks`` high-water mark)."""
    row = conn.execute("SELECT last_rowid FROM count_marks WHERE name = ?", (MARK,)).fetchone()
    return row[0] if row else 0


def write_mark(conn: sqlite3.Connection, last_rowid: int) -> None:
    """Record that the counts hold every vote up to ``last_rowid``."""
    conn.execute(
        "INSERT INTO count_marks (name, last_rowid) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET last_rowid = excluded.last_rowid",
        (MARK, last_rowid),
    )


def all_vote_rows(
    conn: sqlite3.Connection, *, after: int = 0, up_to: int | None = None
) -> Iterator[VoteRow]:
    """The votes after rowid ``after`` (up to ``up_to``), in arrival order, as a cursor."""
    sql = (
        "SELECT v.window, v.staff, v.level, v.counted, v.cast_at,"
        " EXISTS (SELECT 1 FROM vote_voids x WHERE x.vote_id = v.id), v.dims FROM votes v"
        " WHERE v.rowid > ?"
    )
    params: tuple[Any, ...] = (after,)
    if up_to is not None:
        sql += " AND v.rowid <= ?"
        params = (after, up_to)
    yield from conn.execute(sql + " ORDER BY v.rowid", params)


def read_counts(conn: sqlite3.Connection) -> dict[CountKey, tuple[int, ...]]:
    """Every counts row (and breakdown row) with a non-zero number, keyed by subject and period."""
    names = ", ".join(COUNT_COLUMNS)
    found: dict[CountKey, tuple[int, ...]] = {}
    for row in conn.execute(
        f"SELECT scope, subject, period, {names} FROM counts"
        f" UNION ALL SELECT scope, subject, period, {names} FROM {BREAKDOWN_TABLE}"
    ):
        values = tuple(row[3:])
        if any(values):
            found[(row[0], row[1], row[2])] = values
    return found


DISSATISFIED_SQL = (
    "SELECT dissatisfied FROM counts WHERE scope = 'staff' AND subject = ? AND period = ?"
)


def dissatisfied(conn: sqlite3.Connection, staff: str, period: str) -> int:
    """The dissatisfied votes counted for a staff member in a period."""
    row = conn.execute(DISSATISFIED_SQL, (staff, period)).fetchone()
    return row[0] if row else 0


def satisfaction(total: int, dissatisfied_votes: int) -> float | None:
    """The share of counted votes at levels 3–5, or None when there are none."""
    return None if total == 0 else (total - dissatisfied_votes) / total


Z_95 = 1.959964  # two-sided 95 %


def wilson_lower_bound(satisfied: int, votes: int, *, z: float = Z_95) -> float:
    """The lower end of the Wilson score interval for ``satisfied`` out of ``votes``.

    Used wherever windows or departments are ranked: a window with 3 of 3
    satisfied votes ranks below one with 190 of 200, because its share is
    far less certain.
    """
    if votes == 0:
        return 0.0
    p = satisfied / votes
    z2 = z * z
    centre = p + z2 / (2 * votes)
    margin = z * math.sqrt((p * (1 - p) + z2 / (4 * votes)) / votes)
    return (centre - margin) / (1 + z2 / votes)


def rows_as_dicts(rows: Iterable[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Counts rows ``(scope, subject, period, *COUNT_COLUMNS)`` as JSON-ready dicts."""
    result = []
    for row in rows:
        numbers = dict(zip(COUNT_COLUMNS, row[3:], strict=True))
        result.append(
            {
                "scope": row[0],
                "subject": row[1],
                "period": row[2],
                **numbers,
                "satisfaction": satisfaction(numbers["total"], numbers["dissatisfied"]),
            }
        )
    return result
