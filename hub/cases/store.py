"""The cases' SQL: cases, their sources and their audit log (schema: hub.schema CASES).

Every function runs on the caller's connection, inside the caller's
transaction for writes. Nothing here decides a step: that is
:mod:`hub.cases.chain`.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

CASE_COLUMNS = (
    "id",
    "class",
    "status",
    "title",
    "text",
    "department",
    "assignee",
    "received_on",
    "registered_at",
    "stage",
    "stage_started_on",
    "stage_due_on",
    "due_on",
    "draft",
    "answer",
    "answered_at",
    "rating",
    "merged_into",
    "updated_at",
)
_SELECT = f"SELECT {', '.join(CASE_COLUMNS)} FROM cases"

INSERT_CASE_SQL = """
    INSERT INTO cases (class, status, title, text, department, received_on, registered_at,
                       stage, stage_started_on, stage_due_on, due_on, updated_at)
    VALUES (?, 'registered', ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)
    RETURNING id"""

INSERT_SOURCE_SQL = """
    INSERT INTO case_sources (case_id, first_case, kind, ref, received_on, registered_by,
                              registered_at, contact, text)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"""

SOURCE_OF_REF_SQL = "SELECT case_id FROM case_sources WHERE kind = ? AND ref = ?"

SOURCES_SQL = """
    SELECT kind, ref, first_case, received_on, registered_by, registered_at, contact, text
    FROM case_sources WHERE case_id = ? ORDER BY id"""

EVENTS_SQL = """
    SELECT seq, event, from_status, to_status, at, by, note, detail
    FROM case_events WHERE case_id = ? ORDER BY seq"""

# The reminders' and the overdue list's read: open cases by their current stage's deadline.
DUE_SQL = (
    f"{_SELECT} WHERE stage_due_on IS NOT NULL AND stage_due_on <= ? ORDER BY stage_due_on, id"
)

# The public results (网上公布): cases answered since a time, the latest answer first
# (through cases_answered: ``+status`` keeps the planner off the status index).
PUBLIC_RESULTS_SQL = """
    SELECT c.id, c.class, c.department, c.received_on, c.answered_at, c.text, c.answer,
           (SELECT s.kind FROM case_sources AS s WHERE s.case_id = c.id ORDER BY s.id LIMIT 1)
    FROM cases AS c
    WHERE c.answered_at IS NOT NULL AND c.answered_at >= ?
      AND +c.status IN ('answered', 'checked', 'archived') AND c.answer IS NOT NULL
    ORDER BY c.answered_at DESC LIMIT ?"""
# The sources of a case that left a contact (the citizen's SMS).
CONTACTS_SQL = (
    "SELECT id, contact FROM case_sources WHERE case_id = ? AND contact IS NOT NULL ORDER BY id"
)

LIST_FILTERS = {
    "status": "status = ?",
    "department": "department = ?",
    "class": "class = ?",
}


def insert_case(conn: sqlite3.Connection, values: dict[str, Any]) -> int:
    """Insert a registered case; returns its id."""
    row = conn.execute(
        INSERT_CASE_SQL,
        (
            values["class"],
            values["title"],
            values["text"],
            values["department"],
            values["received_on"],
            values["registered_at"],
            values["stage_started_on"],
            values["stage_due_on"],
            values["due_on"],
            values["registered_at"],
        ),
    ).fetchone()
    return int(row[0])


def insert_source(conn: sqlite3.Connection, case_id: int, source: dict[str, Any]) -> None:
    """Attach a source (a complaint, a call, a letter, a warning's notice) to a case."""
    conn.execute(
        INSERT_SOURCE_SQL,
        (
            case_id,
            case_id,
            source["kind"],
            source.get("ref"),
            source["received_on"],
            source["registered_by"],
            source["registered_at"],
            source.get("contact"),
            source["text"],
        ),
    )


def case_of_source(conn: sqlite3.Connection, kind: str, ref: str) -> int | None:
    """The case that holds the source ``kind``/``ref`` now (after merges), or None."""
    row = conn.execute(SOURCE_OF_REF_SQL, (kind, ref)).fetchone()
    return None if row is None else int(row[0])


def get_case(conn: sqlite3.Connection, case_id: int) -> dict[str, Any] | None:
    """One case's row as a dict, or None."""
    row = conn.execute(f"{_SELECT} WHERE id = ?", (case_id,)).fetchone()
    return None if row is None else dict(zip(CASE_COLUMNS, row, strict=True))


def update_case(conn: sqlite3.Connection, case_id: int, changes: dict[str, Any]) -> None:
    """Set ``changes`` (column names from :data:`CASE_COLUMNS`) on a case."""
    names = [name for name in changes if name in CASE_COLUMNS and name != "id"]
    if len(names) != len(changes):
        raise ValueError(f"unknown case columns: {sorted(set(changes) - set(names))}")
    assignments = ", ".join(f"{name} = ?" for name in names)
    conn.execute(
        f"UPDATE cases SET {assignments} WHERE id = ?",
        (*(changes[name] for name in names), case_id),
    )


def add_event(
    conn: sqlite3.Connection,
    case_id: int,
    *,
    event: str,
    from_status: str | None,
    to_status: str,
    at: str,
    by: str,
    note: str | None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append a step to a case's audit log; returns its number."""
    seq = conn.execute(
        "UPDATE cases SET events = events + 1 WHERE id = ? RETURNING events", (case_id,)
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO case_events (case_id, seq, event, from_status, to_status, at, by, note,"
        " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            case_id,
            seq,
            event,
            from_status,
            to_status,
            at,
            by,
            note,
            json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        ),
    )
    return int(seq)


def move_sources(conn: sqlite3.Connection, from_case: int, to_case: int) -> int:
    """Move every source of ``from_case`` to ``to_case`` (a merge); returns how many."""
    return conn.execute(
        "UPDATE case_sources SET case_id = ? WHERE case_id = ?", (to_case, from_case)
    ).rowcount


def redirect_merged(conn: sqlite3.Connection, from_case: int, to_case: int) -> None:
    """Cases merged into ``from_case`` earlier now point at ``to_case``."""
    conn.execute("UPDATE cases SET merged_into = ? WHERE merged_into = ?", (to_case, from_case))


def sources(conn: sqlite3.Connection, case_id: int) -> list[dict[str, Any]]:
    """A case's sources, in the order they were registered."""
    names = ("kind", "ref", "first_case", "received_on", "registered_by", "registered_at")
    return [
        {
            **dict(zip(names, row[:6], strict=True)),
            "has_contact": row[6] is not None,
            "text": row[7],
        }
        for row in conn.execute(SOURCES_SQL, (case_id,))
    ]


def contacts(conn: sqlite3.Connection, case_id: int) -> list[tuple[int, str]]:
    """The sources of a case that left a contact: (source id, contact)."""
    return [(int(r[0]), str(r[1])) for r in conn.execute(CONTACTS_SQL, (case_id,))]


def events(conn: sqlite3.Connection, case_id: int) -> list[dict[str, Any]]:
    """A case's audit log, in order."""
    names = ("seq", "event", "from_status", "to_status", "at", "by", "note")
    return [
        {**dict(zip(names, row[:7], strict=True)), "detail": json.loads(row[7])}
        for row in conn.execute(EVENTS_SQL, (case_id,))
    ]


def public_results(conn: sqlite3.Connection, since: str, limit: int) -> list[tuple[Any, ...]]:
    """The rows of cases answered since ``since``, latest first (anonymised by the caller)."""
    return list(conn.execute(PUBLIC_RESULTS_SQL, (since, limit)))


def list_cases(
    conn: sqlite3.Connection,
    filters: dict[str, str],
    *,
    overdue_before: str | None,
    limit: int,
    known: dict[str, str] = LIST_FILTERS,
) -> list[dict[str, Any]]:
    """Cases matching ``filters`` (status, department, class), newest first.

    ``overdue_before`` (a date) keeps the cases whose current stage was due
    before it; ``known`` is the filters' SQL on the cases table (the console's
    list has more).
    """
    clauses: list[str] = []
    params: list[Any] = []
    for name, clause in known.items():
        if filters.get(name):
            clauses.append(clause)
            params.append(filters[name])
    if overdue_before is not None:
        clauses.append("stage_due_on IS NOT NULL AND stage_due_on < ?")
        params.append(overdue_before)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(f"{_SELECT}{where} ORDER BY id DESC LIMIT ?", (*params, limit))
    return [dict(zip(CASE_COLUMNS, row, strict=True)) for row in rows]


def due_by(conn: sqlite3.Connection, day: str) -> list[dict[str, Any]]:
    """Open cases whose current stage is due on or before ``day``, soonest first."""
    return [dict(zip(CASE_COLUMNS, row, strict=True)) for row in conn.execute(DUE_SQL, (day,))]
