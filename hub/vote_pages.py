"""Pages of stored votes for ``GET /api/v1/votes``: arrival order, any filter, any depth.

Every page walks an index in ``rowid`` (arrival) order from ``after``:
the table's own key, or ``(device | window | staff, rowid)``, or the index of
the votes a rule caught. ``since`` filters on the cast time, which is not
arrival order (a vote can arrive days late); its walk starts at the first
vote cast in the UTC hour of ``since`` or later (``cast_hours``), so it skips the
history before it instead of reading it. ``tests/test_query_plans.py`` checks
that no page scans the table or sorts.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from hub.vote_rows import first_rowid_cast_since

COLUMNS = (
    "rowid, id, device, seq, channel, window, staff, ticket, level, dims, reasons,"
    " comment, anonymous, flags, ts, cast_at, sent, received_at, counted,"
    " filter_rule, filter_version, service, hub_rule, hub_rule_version"
)


@dataclass(frozen=True, slots=True)
class PageQuery:
    """What a page asks for: ``after`` a rowid, at most ``limit`` votes, and its filters."""

    after: int = 0
    limit: int = 100
    device: str | None = None
    window: str | None = None
    staff: str | None = None
    rule: str | None = None
    since_ms: int | None = None  # cast at or after, milliseconds since the epoch


def page_sql(conn: sqlite3.Connection, query: PageQuery) -> tuple[str, list[Any]] | None:
    """The SQL and parameters of one page; None when no vote can match (nothing cast since)."""
    after = query.after
    where = []
    params: list[Any] = []
    for name in ("device", "window", "staff"):
        value = getattr(query, name)
        if value is not None:
            where.append(f"{name} = ?")
            params.append(value)
    if query.rule is not None:
        # Spelled as the votes_rule index is, so the index is used.
        where.append("coalesce(filter_rule, hub_rule) = ?")
        params.append(query.rule)
    if query.since_ms is not None:
        first = first_rowid_cast_since(conn, query.since_ms)
        if first is None:
            return None
        after = max(after, first - 1)
        # Unary +: a filter on the rows walked, never the index to walk (that one
        # is in cast order and would need a sort back into arrival order).
        where.append("+cast_at >= ?")
        params.append(query.since_ms)
    where.insert(0, "rowid > ?")
    params.insert(0, after)
    sql = f"SELECT {COLUMNS} FROM votes WHERE {' AND '.join(where)} ORDER BY rowid LIMIT ?"
    return sql, [*params, query.limit]


def read_page(conn: sqlite3.Connection, query: PageQuery) -> list[tuple[Any, ...]]:
    """The rows of one page, in arrival order (columns as :data:`COLUMNS`)."""
    found = page_sql(conn, query)
    if found is None:
        return []
    sql, params = found
    return conn.execute(sql, params).fetchall()
