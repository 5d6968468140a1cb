"""How a vote row is kept: integer instants, a binary digest, and an index per query.

Issue 12 made the row lean (a hub keeps years of votes on a small board):
``cast_at`` and ``received_at`` are milliseconds since the epoch in UTC
(``hub.instants``), ``digest`` is the 32 bytes of the SHA-256, not its 64 hex
characters. ``ts`` and ``sent`` stay the text the device wrote: the API shows
them as sent. Operators read the ``votes_readable`` view, which shows every
time as ISO 8601 text and the digest in hex.

The table, its indexes and the view are made by ``hub.schema.lean_votes``.
Each index serves named queries (``tests/test_query_plans.py`` checks them
with ``EXPLAIN QUERY PLAN``):

- ``(device | window | staff, rowid)``: the votes API filtered by one of them,
  in arrival order, from any ``after``;
- ``(window | staff, cast_at)``, and ``(device, cast_at)`` over kiosk votes:
  the rules' and reports' reads of a time range (a day at a window or a
  kiosk, a staff member's month, a kiosk burst);
- ``(ticket, cast_at)``: one rating per ticket a day;
- ``(coalesce(filter_rule, hub_rule), rowid)`` over the votes a rule caught;
- ``(device, seq)``: how far each device has counted.

``cast_hours`` holds, per UTC hour, the lowest ``rowid`` of the votes cast in
that hour: a query for the votes cast since a time starts its walk in arrival
order at the lowest of those from that hour on, not at the oldest vote, so it
reads at most an hour of votes it does not return (a day's, when the table held
days, grew with how busy a hall is).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from hub.instants import hour_of


def note_cast_hours(conn: sqlite3.Connection, stored: Iterable[tuple[int, int]]) -> None:
    """Record ``(rowid, cast_at)`` of new votes in ``cast_hours``, inside the store's commit.

    Rowids only grow, so the first vote recorded for an hour stays its lowest.
    """
    first: dict[int, int] = {}
    for rowid, cast_at in stored:
        first.setdefault(hour_of(cast_at), rowid)
    conn.executemany(
        "INSERT INTO cast_hours (hour, first_rowid) VALUES (?, ?) ON CONFLICT (hour) DO NOTHING",
        first.items(),
    )


def first_rowid_cast_since(conn: sqlite3.Connection, since_ms: int) -> int | None:
    """The lowest rowid of a vote cast in the UTC hour of ``since_ms`` or later; None: none."""
    return conn.execute(FIRST_SINCE_SQL, (hour_of(since_ms),)).fetchone()[0]


FIRST_SINCE_SQL = "SELECT min(first_rowid) FROM cast_hours WHERE hour >= ?"
