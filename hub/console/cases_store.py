"""The console's reads of cases (the chain's own SQL is :mod:`hub.cases.store`).

The list's filters (status, class, department, the responsible person, the
source channel, overdue) and each listed case's channels. Each runs on the
request's read-only connection; nothing here writes.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from hub.cases import store

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
    found = store.list_cases(
        conn, filters, overdue_before=overdue_before, limit=limit, known=FILTER_SQL
    )
    for case in found:
        kinds = [r[0] for r in conn.execute(CHANNELS_SQL, (case["id"],))]
        case["channels"] = list(dict.fromkeys(kinds))
    return found


def display_names(conn: sqlite3.Connection) -> dict[str, str]:
    """Login name to display name, for the console users that have one."""
    return {str(name): str(shown) for name, shown in conn.execute(DISPLAY_NAMES_SQL)}
