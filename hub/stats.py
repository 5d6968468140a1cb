"""The stats API's read: the counts of one group (hall, department, window, staff) in one period."""

from __future__ import annotations

import sqlite3
from typing import Any

from hub import aggregates


def stats_sql(group: str, period: str, subject: str | None) -> tuple[str, list[Any]]:
    """The counts read of one group in one period: a range of the counts' key."""
    names = ", ".join(aggregates.COUNT_COLUMNS)
    sql = f"SELECT scope, subject, period, {names} FROM counts WHERE scope = ? AND period = ?"
    params: list[Any] = [group, period]
    if subject is not None:
        sql += " AND subject = ?"
        params.append(subject)
    return sql + " ORDER BY subject", params


def count_rows(
    conn: sqlite3.Connection, group: str, period: str, subject: str | None
) -> list[dict[str, Any]]:
    """Each subject's counts of ``group`` in ``period``, by subject (or ``subject``'s alone)."""
    sql, params = stats_sql(group, period, subject)
    return aggregates.rows_as_dicts(conn.execute(sql, params))
