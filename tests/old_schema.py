"""A hub database as the schema before issue 12 kept it: ISO text times, hex digests.

:func:`written_before_issue_12` migrates a new file only up to the step before
``hub.schema.lean_votes`` and fills it with the rows of a database the
current hub wrote, each as the previous code wrote it: ``cast_at`` and
``received_at`` as ``format_time`` of the UTC instant, the digest's 64 hex
characters. Counts, warnings and their logs are copied as they are (their
columns did not change).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from device_agent.storage import migrate, open_database
from hub.instants import iso
from hub.schema import STEPS, lean_votes

OLD_VERSION = STEPS.index(lean_votes)
VOTE_COLUMNS = (
    "rowid, id, device, seq, channel, window, staff, ticket, level, dims, reasons, comment,"
    " anonymous, flags, ts, cast_at, sent, received_at, digest, counted, filter_rule,"
    " filter_version, service, hub_rule, hub_rule_version"
)
# Tables whose rows the migration must keep as they are.
KEPT_TABLES = (
    "counts",
    "count_marks",
    "warnings",
    "warning_votes",
    "warning_events",
    "vote_voids",
    "vote_acceptances",
    "service_events",
)
CAST_AT, RECEIVED_AT, DIGEST = 15, 17, 18


def written_before_issue_12(source: Path, target: Path) -> None:
    """Write ``target`` in the previous schema with the votes, counts and warnings of ``source``."""
    db = open_database(target)
    try:
        migrate(db, STEPS[:OLD_VERSION])
        conn = db.conn
        conn.execute("ATTACH DATABASE ? AS new", (str(source),))
        conn.execute("BEGIN IMMEDIATE")
        marks = ", ".join("?" * len(VOTE_COLUMNS.split(",")))
        for row in conn.execute(f"SELECT {VOTE_COLUMNS} FROM new.votes ORDER BY rowid").fetchall():
            old = list(row)
            old[CAST_AT], old[RECEIVED_AT] = iso(row[CAST_AT]), iso(row[RECEIVED_AT])
            old[DIGEST] = row[DIGEST].hex()
            conn.execute(f"INSERT INTO votes ({VOTE_COLUMNS}) VALUES ({marks})", old)
        for table in KEPT_TABLES:
            columns = ", ".join(columns_of(conn, table))
            conn.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM new.{table}")
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE new")
    finally:
        db.close()


def columns_of(conn: sqlite3.Connection, table: str) -> list[str]:
    """A table's column names, as the main database has them."""
    return [row[1] for row in conn.execute(f"PRAGMA main.table_info({table})")]
