"""Opening SQLite files durably, writing to them safely, migrating their schema.

Both the device outbox and the hub's database go through here, so both get
WAL with ``synchronous=FULL`` (a committed row survives a power cut) and
writers that start with ``BEGIN IMMEDIATE`` (a plain ``BEGIN`` that reads
before it writes can fail with SQLITE_BUSY regardless of ``busy_timeout``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]


def open_database(path: str | Path, *, busy_timeout_ms: int = 10_000) -> sqlite_utils.Database:
    """Open (creating) a SQLite file in WAL mode with full durability.

    The connection may be handed to another thread once (it is opened where a
    service is built and used by the loop that runs it) but is never shared:
    every other thread opens a connection of its own.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN IMMEDIATE ourselves.
    conn = sqlite3.connect(
        str(path), isolation_level=None, timeout=busy_timeout_ms / 1000, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    # Per connection, so every connection that writes must set it.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return sqlite_utils.Database(conn)


def open_reader(path: str | Path) -> sqlite_utils.Database:
    """Open an existing SQLite file for reading only (API threads)."""
    uri = f"file:{Path(path).resolve()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    return sqlite_utils.Database(conn)


@contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite3.Connection]:
    """A ``BEGIN IMMEDIATE`` transaction that commits, or rolls back on error."""
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        # Inside the try: a COMMIT that fails (disk full, a deferred constraint)
        # can leave the transaction open, and every later BEGIN would then fail.
        conn.execute("COMMIT")
    except BaseException:
        # SQLite may have rolled back already (SQLITE_FULL does): a second
        # ROLLBACK would raise and hide the error that says why.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def migrate(db: sqlite_utils.Database, steps: Sequence[Migration]) -> int:
    """Apply the ``steps`` not yet applied, in order; returns the schema version.

    The version is SQLite's ``user_version``: step ``n`` (from 1) brings the
    file to version ``n``. Steps are only ever appended, never edited.
    """
    current = db.execute("PRAGMA user_version").fetchone()[0]
    if current > len(steps):
        raise RuntimeError(
            f"{db.conn} has schema version {current}, newer than this software ({len(steps)})"
        )
    for version, step in enumerate(steps[current:], start=current + 1):
        with write_transaction(db):
            step(db)
            db.execute(f"PRAGMA user_version = {version}")
    return len(steps)


def is_disk_full(exc: BaseException) -> bool:
    """Whether a SQLite error means the disk (or the file's quota) is full."""
    return isinstance(exc, sqlite3.OperationalError) and (
        getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    )
