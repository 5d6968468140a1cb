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
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

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


# One stored vote as counted: window, staff, level, counted, cast_at (ms), voided.
VoteRow = tuple[str | None, str | None, int, int, int, int]


def tally(rows: Iterable[VoteRow], attribution: Attribution, calendar: Calendar) -> Tally:
    """Count ``(window, staff, level, counted, cast_at, voided)`` rows into a :class:`Tally`."""
    # Votes alike in everything that is counted are added once, times their number:
    # a batch of hundreds of votes is a few dozen such groups.
    groups: Counter[tuple[Any, ...]] = Counter()
    for window, staff, level, counted, cast_at, voided in rows:
        groups[(window, staff, level, bool(counted), bool(voided), calendar.keys(cast_at))] += 1
    result = Tally()
    for (window, staff, level, counted, voided, keys), times in groups.items():
        result.add(
            attribution.subjects(window, staff),
            keys.items(),
            vote_vector(level, counted, voided),
            times,
        )
    return result


def _upsert_sql() -> str:
    names = ", ".join(COUNT_COLUMNS)
    marks = ", ".join("?" * (_WIDTH + 4))
    updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in COUNT_COLUMNS)
    return (
        f"INSERT INTO counts (scope, subject, period, grain, {names}) VALUES ({marks})"
        f" ON CONFLICT (scope, subject, period) DO UPDATE SET {updates}"
    )


_UPSERT = _upsert_sql()


def write_deltas(conn: sqlite3.Connection, deltas: dict[CountKey, list[int]]) -> None:
    """Add count changes to the ``counts`` table (one prepared statement for all rows)."""
    # Keys come from Calendar, so the length of a key tells its grain.
    grains = {10: "day", 7: "month", 4: "year"}
    conn.executemany(
        _UPSERT,
        [
            (scope, subject, period, grains[len(period)], *values)
            for (scope, subject, period), values in deltas.items()
            if any(values)
        ],
    )


def apply(conn: sqlite3.Connection, attribution: Attribution, calendar: Calendar) -> Tally:
    """Count every vote stored since the last call, inside the caller's transaction."""
    row = conn.execute("SELECT last_rowid FROM count_marks WHERE name = ?", (MARK,)).fetchone()
    mark = row[0] if row else 0
    rows = conn.execute(
        "SELECT v.rowid, v.window, v.staff, v.level, v.counted, v.cast_at,"
        " EXISTS (SELECT 1 FROM vote_voids x WHERE x.vote_id = v.id) FROM votes v"
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
        " EXISTS (SELECT 1 FROM vote_voids x WHERE x.vote_id = v.id) FROM votes v"
        " WHERE v.rowid > ?"
    )
    params: tuple[Any, ...] = (after,)
    if up_to is not None:
        sql += " AND v.rowid <= ?"
        params = (after, up_to)
    yield from conn.execute(sql + " ORDER BY v.rowid", params)


def read_counts(conn: sqlite3.Connection) -> dict[CountKey, tuple[int, ...]]:
    """Every counts row with a non-zero number, keyed by subject and period."""
    names = ", ".join(COUNT_COLUMNS)
    found: dict[CountKey, tuple[int, ...]] = {}
    for row in conn.execute(f"SELECT scope, subject, period, {names} FROM counts"):
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
