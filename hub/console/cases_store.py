"""The console's reads of cases (the chain's own SQL is :mod:`hub.cases.store`).

The list's filters (status, class, department, the responsible person, the
source channel, overdue) and each listed case's channels. Each runs on the
request's read-only connection; nothing here writes.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from hub.cases.store import CASE_COLUMNS

_SELECT = f"SELECT {', '.join(CASE_COLUMNS)} FROM cases"

# Each filter of the list: its SQL on the cases table (AND-ed together).
FILTER_SQL = {
    "status": "status = ?",
    "class": "class = ?",
    "department": "department = ?",
    "assignee": "assignee = ?",
    "channel": "id IN (SELECT case_id FROM case_sources WHERE kind = ?)",
}

# Console users' display names (a hall has a few dozen accounts).
DISPLAY_NAMES_SQL = "SELECT name, display_name FROM console_users WHERE display_name IS NOT NULL"

# The channels each listed case came through (every source, merged ones included).
CHANNELS_SQL = "SELECT kind FROM case_sources WHERE case_id = ? ORDER BY id"


def list_cases(
    conn: sqlite3.Connection,
    filters: dict[str, str],
    *,
    overdue_before: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Cases matching ``filters`` (empty values: any), newest first, each with its channels."""
    clauses: list[str] = []
    params: list[Any] = []
    for name, clause in FILTER_SQL.items():
        if filters.get(name):
            clauses.append(clause)
            params.append(filters[name])
    if overdue_before is not None:
        clauses.append("stage_due_on IS NOT NULL AND stage_due_on < ?")
        params.append(overdue_before)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(f"{_SELECT}{where} ORDER BY id DESC LIMIT ?", (*params, limit))
    found = [dict(zip(CASE_COLUMNS, row, strict=True)) for row in rows]
    for case in found:
        kinds = [r[0] for r in conn.execute(CHANNELS_SQL, (case["id"],))]
        case["channels"] = list(dict.fromkeys(kinds))
    return found


def display_names(conn: sqlite3.Connection) -> dict[str, str]:
    """Login name to display name, for the console users that have one."""
    return {str(name): str(shown) for name, shown in conn.execute(DISPLAY_NAMES_SQL)}
