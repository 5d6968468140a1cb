"""How a vote row is kept: integer instants, a binary digest, and an index per query.

Issue 12 made the row lean (a hub keeps years of votes on a small board):
``cast_at`` and ``received_at`` are milliseconds since the epoch in UTC
(``hub.instants``), ``digest`` is the 32 bytes of the SHA-256, not its 64 hex
characters. ``ts`` and ``sent`` stay the text the device wrote: the API shows
them as sent. Operators read the ``votes_readable`` view, which shows every
time as ISO 8601 text and the digest in hex.

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

``cast_days`` holds, per UTC day, the lowest ``rowid`` of the votes cast that
day: a query for the votes cast since a time starts its walk in arrival order
at the lowest of those from that day on, not at the oldest vote.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable

import sqlite_utils

from hub.instants import DAY_MS, day_of, ms_of_text, readable_sql

logger = logging.getLogger(__name__)

VOTE_INDEXES = (
    "CREATE INDEX votes_device ON votes (device, rowid)",
    "CREATE INDEX votes_device_seq ON votes (device, seq)",
    "CREATE INDEX votes_kiosk_cast ON votes (device, cast_at) WHERE channel = 'kiosk'",
    "CREATE INDEX votes_window ON votes (window, rowid)",
    "CREATE INDEX votes_window_cast ON votes (window, cast_at)",
    "CREATE INDEX votes_staff ON votes (staff, rowid)",
    "CREATE INDEX votes_staff_cast ON votes (staff, cast_at)",
    "CREATE INDEX votes_ticket ON votes (ticket, cast_at) WHERE ticket IS NOT NULL",
    "CREATE INDEX votes_rule ON votes (coalesce(filter_rule, hub_rule), rowid)"
    " WHERE coalesce(filter_rule, hub_rule) IS NOT NULL",
)

# The columns of a vote row, in the table's order.
_COLUMNS = (
    "rowid, id, device, seq, channel, window, staff, ticket, level, dims, reasons, comment,"
    " anonymous, flags, ts, cast_at, sent, received_at, digest, counted, filter_rule,"
    " filter_version, service, hub_rule, hub_rule_version"
)


def _create_votes(db: sqlite_utils.Database, name: str) -> None:
    db.execute(f"""
        CREATE TABLE {name} (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            device TEXT NOT NULL,
            seq INTEGER NOT NULL,
            channel TEXT NOT NULL CHECK (channel IN ('window', 'kiosk')),
            window TEXT,
            staff TEXT,
            ticket TEXT,
            level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 5),
            dims TEXT,
            reasons TEXT NOT NULL,
            comment TEXT,
            anonymous INTEGER NOT NULL CHECK (anonymous IN (0, 1)),
            flags TEXT NOT NULL,
            ts TEXT NOT NULL,
            cast_at INTEGER NOT NULL CHECK (typeof(cast_at) = 'integer'),
            sent TEXT,
            received_at INTEGER NOT NULL CHECK (typeof(received_at) = 'integer'),
            digest BLOB NOT NULL CHECK (typeof(digest) = 'blob' AND length(digest) = 32),
            counted INTEGER NOT NULL DEFAULT 1 CHECK (counted IN (0, 1)),
            filter_rule TEXT,
            filter_version INTEGER,
            service TEXT,
            hub_rule TEXT,
            hub_rule_version INTEGER
        )""")


def lean_votes(db: sqlite_utils.Database) -> None:
    """Migration: integer instants and a binary digest in every vote row, new indexes, the view.

    The table is rebuilt inside the migration's transaction, in arrival order,
    keeping each vote's ``rowid`` (counts marks and warnings refer to it).
    """
    began = time.monotonic()
    votes = db.execute("SELECT count(*) FROM votes").fetchone()[0]
    if votes:
        # Minutes on a Pi with years of votes: say why the hub is not ready yet.
        logger.info("rewriting %d stored votes with integer times (once, at upgrade)", votes)
    conn = db.conn
    conn.create_function("hallrate_ms", 1, ms_of_text, deterministic=True)
    conn.create_function("hallrate_unhex", 1, bytes.fromhex, deterministic=True)
    _create_votes(db, "votes_lean")
    converted = _COLUMNS.replace("cast_at", "hallrate_ms(cast_at)")
    converted = converted.replace("received_at", "hallrate_ms(received_at)")
    converted = converted.replace("digest", "hallrate_unhex(digest)")
    db.execute(f"INSERT INTO votes_lean ({_COLUMNS}) SELECT {converted} FROM votes ORDER BY rowid")
    # The old pages hold the very votes just copied: overwriting them with zeros
    # (secure_delete, on in Debian's SQLite) would protect nothing and wrote
    # most of the time of this step.
    secure = db.execute("PRAGMA secure_delete").fetchone()[0]
    db.execute("PRAGMA secure_delete = OFF")
    db.execute("DROP TABLE votes")  # and its indexes
    db.execute(f"PRAGMA secure_delete = {int(secure)}")
    db.execute("ALTER TABLE votes_lean RENAME TO votes")
    for statement in VOTE_INDEXES:
        db.execute(statement)
    db.execute("""
        CREATE TABLE cast_days (
            day INTEGER PRIMARY KEY,
            first_rowid INTEGER NOT NULL
        )""")
    # SQLite's / truncates toward zero; a day before 1970 is floored here by hand.
    db.execute(f"""
        INSERT INTO cast_days (day, first_rowid)
        SELECT CASE WHEN cast_at >= 0 THEN cast_at / {DAY_MS}
                    ELSE (cast_at + 1) / {DAY_MS} - 1 END, min(rowid)
        FROM votes GROUP BY 1""")
    readable = _COLUMNS.replace("cast_at", f"{readable_sql('cast_at')} AS cast_at")
    readable = readable.replace("received_at", f"{readable_sql('received_at')} AS received_at")
    readable = readable.replace("digest", "lower(hex(digest)) AS digest")
    db.execute(f"CREATE VIEW votes_readable AS SELECT {readable} FROM votes")
    if votes:
        logger.info("rewrote %d votes in %.1f s", votes, time.monotonic() - began)


def note_cast_days(conn: sqlite3.Connection, stored: Iterable[tuple[int, int]]) -> None:
    """Record ``(rowid, cast_at)`` of new votes in ``cast_days``, inside the store's commit.

    Rowids only grow, so the first vote recorded for a day stays its lowest.
    """
    first: dict[int, int] = {}
    for rowid, cast_at in stored:
        first.setdefault(day_of(cast_at), rowid)
    conn.executemany(
        "INSERT INTO cast_days (day, first_rowid) VALUES (?, ?) ON CONFLICT (day) DO NOTHING",
        first.items(),
    )


def first_rowid_cast_since(conn: sqlite3.Connection, since_ms: int) -> int | None:
    """The lowest rowid of a vote cast on the UTC day of ``since_ms`` or later; None: none."""
    return conn.execute(FIRST_SINCE_SQL, (day_of(since_ms),)).fetchone()[0]


FIRST_SINCE_SQL = "SELECT min(first_rowid) FROM cast_days WHERE day >= ?"
