"""One form, one record: the kiosk's memory of which forms were already submitted.

Every rating and complaint form carries a random submission token. The
first time a token is submitted its record goes into the outbox and the
token is remembered with the record's reference; a second submission of the
same token (a double tap, a reload, a retry after a stale page) gets the
first one's thank-you instead of a second record. The table lives in the
kiosk's own SQLite file and forgets tokens after a day.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from device_agent.storage import migrate, open_database, write_transaction

KEEP_S = 24 * 3600
TOKEN_BYTES = 16
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_token() -> str:
    """A fresh submission token for a form."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_token(value: object) -> bool:
    """Whether ``value`` looks like a token made by :func:`new_token`."""
    return isinstance(value, str) and TOKEN.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Record:
    """What a submission stored in the outbox, as the kiosk remembers it."""

    id: str
    reference: str  # what the citizen is shown
    subject: str | None  # the staff rated, or the complaint's category
    # The rule of a vote kept but not counted (``kiosk_repeat``), else None.
    filtered: str | None = None


@dataclass(frozen=True, slots=True)
class Submitted:
    """What the citizen is shown for a submitted form."""

    token: str
    kind: str
    record_id: str
    reference: str
    subject: str | None  # the staff rated, or the complaint's category
    created_at: float
    filtered: str | None = None


def _create_tables(db: sqlite_utils.Database) -> None:
    db.execute("""
        CREATE TABLE submissions (
            token TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            record_id TEXT NOT NULL,
            reference TEXT NOT NULL,
            subject TEXT,
            created_at REAL NOT NULL
        )""")
    db.execute("CREATE INDEX submissions_created ON submissions (created_at)")


def _add_filtered(db: sqlite_utils.Database) -> None:
    """Migration: the filter rule of a vote that was kept but does not count."""
    db.execute("ALTER TABLE submissions ADD COLUMN filtered TEXT")


MIGRATIONS = [_create_tables, _add_filtered]


class Submissions:
    """The submitted-forms table; :meth:`once` runs a submission at most once per token."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self.db = open_database(self.path)
        migrate(self.db, MIGRATIONS)
        self.forget_old()

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    def find(self, token: str) -> Submitted | None:
        """The submission of ``token``, if it happened."""
        with self._lock:
            return self._find(token)

    def once(self, token: str, kind: str, submit: Callable[[], Record]) -> tuple[Submitted, bool]:
        """Run ``submit`` unless ``token`` was submitted; returns the submission and if it is new.

        ``submit`` stores the record durably and says what it stored.
        Submissions are serialised: two taps arriving together cannot both
        find the token unused.
        """
        with self._lock:
            found = self._find(token)
            if found is not None:
                return found, False
            record = submit()
            done = Submitted(
                token,
                kind,
                record.id,
                record.reference,
                record.subject,
                self._clock(),
                record.filtered,
            )
            with write_transaction(self.db) as conn:
                conn.execute(
                    "INSERT INTO submissions (token, kind, record_id, reference, subject,"
                    " created_at, filtered) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        token,
                        kind,
                        record.id,
                        record.reference,
                        record.subject,
                        done.created_at,
                        record.filtered,
                    ),
                )
            return done, True

    def forget_old(self) -> int:
        """Drop tokens older than a day; returns how many."""
        with self._lock, write_transaction(self.db) as conn:
            cursor = conn.execute(
                "DELETE FROM submissions WHERE created_at < ?", (self._clock() - KEEP_S,)
            )
            return cursor.rowcount

    def _find(self, token: str) -> Submitted | None:
        row = self.db.execute(
            "SELECT token, kind, record_id, reference, subject, created_at, filtered"
            " FROM submissions WHERE token = ?",
            (token,),
        ).fetchone()
        return None if row is None else Submitted(*row)
