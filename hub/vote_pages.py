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
    until_ms: int | None = None  # cast before, milliseconds since the epoch
    # The console's filters: each a test on the rows walked, never the index to walk.
    level: int | None = None
    channel: str | None = None
    counted: bool | None = None
    with_comment: bool = False
    # A department's votes: those at one of its windows or naming one of its staff.
    windows_in: tuple[str, ...] | None = None
    staff_in: tuple[str, ...] | None = None
    # The page before this rowid (walked backwards), instead of the one after ``after``.
    before: int | None = None
    # A forward walk stops before this rowid (a caller walking the table a span at a time).
    below: int | None = None


def page_sql(conn: sqlite3.Connection, query: PageQuery) -> tuple[str, list[Any]] | None:
    """The SQL and parameters of one page; None when no vote can match (nothing cast since).

    With ``before``, the page is the ``limit`` votes just before that rowid,
    newest first (the caller turns them back into arrival order).
    """
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
    if query.until_ms is not None:
        # A vote can arrive late, so no rowid bounds the votes cast before a time:
        # a filter on the walk, which stops once the page is full.
        where.append("+cast_at < ?")
        params.append(query.until_ms)
    for name in ("level", "channel"):
        value = getattr(query, name)
        if value is not None:
            where.append(f"+{name} = ?")
            params.append(value)
    if query.counted is not None:
        where.append("+counted = ?")
        params.append(1 if query.counted else 0)
    if query.with_comment:
        where.append("+comment <> ''")
    scope = []
    for column, values in (("window", query.windows_in), ("staff", query.staff_in)):
        if values is not None:
            scope.append(f"+{column} IN ({', '.join('?' * len(values))})" if values else "0")
            params.extend(values)
    if scope:
        where.append(f"({' OR '.join(scope)})")
    if query.before is not None:
        where[:0] = ["rowid < ?", "rowid > ?"]
        params[:0] = [query.before, after]
        order = "rowid DESC"
    elif query.below is not None:
        where[:0] = ["rowid > ?", "rowid < ?"]
        params[:0] = [after, query.below]
        order = "rowid"
    else:
        where.insert(0, "rowid > ?")
        params.insert(0, after)
        order = "rowid"
    sql = f"SELECT {COLUMNS} FROM votes WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
    return sql, [*params, query.limit]


def read_page(conn: sqlite3.Connection, query: PageQuery) -> list[tuple[Any, ...]]:
    """The rows of one page, in arrival order (columns as :data:`COLUMNS`)."""
    found = page_sql(conn, query)
    if found is None:
        return []
    sql, params = found
    rows = conn.execute(sql, params).fetchall()
    return rows[::-1] if query.before is not None else rows
