"""The device's durable outbox: every record is on disk before anyone thanks the citizen.

A record (vote, service event, complaint) gets its sequence number and id
here, inside the transaction that stores it, so sequence numbers keep rising
across restarts. Ids are ``{device}-{epoch}-{seq}``: the epoch is random,
made once when the outbox file is created, so a new file (a replaced SD
card, a reflashed device) numbers from 1 again without ever repeating an id
the hub already holds. A record stays until a hub receipt names it: ``stored``
deletes it, ``rejected`` moves it to the ``rejected`` table, kept with the reason.
Which copies are in flight is kept in memory only: after a restart every row
is due again, which is exactly the resend the protocol asks for.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import sqlite_utils

from device_agent.errors import OutboxError, OutboxFull
from device_agent.protocol import Complaint, ServiceEvent, Vote, encode, envelope_id
from device_agent.storage import is_disk_full, migrate, open_database, write_transaction

logger = logging.getLogger(__name__)

Kind = Literal["vote", "service", "complaint"]
Envelope = Vote | ServiceEvent | Complaint


@dataclass(frozen=True, slots=True)
class Pending:
    """One record waiting for its receipt: what to send and where."""

    seq: int
    id: str
    kind: Kind
    body: str
    created_at: float

    def payload(self, sent: str) -> bytes:
        """The wire payload of this copy, stamped with its ``sent`` time."""
        body = json.loads(self.body)
        body["sent"] = sent
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _create_tables(db: sqlite_utils.Database) -> None:
    db["counter"].create({"name": str, "value": int}, pk="name")
    db["counter"].insert({"name": "seq", "value": 0})
    db["outbox"].create(
        {"seq": int, "id": str, "kind": str, "body": str, "created_at": float},
        pk="seq",
        not_null={"id", "kind", "body", "created_at"},
    )
    db["outbox"].create_index(["id"], unique=True)
    db["rejected"].create(
        {
            "seq": int,
            "id": str,
            "kind": str,
            "body": str,
            "created_at": float,
            "reason": str,
            "rejected_at": float,
        },
        pk="seq",
        not_null={"id", "kind", "body", "reason", "rejected_at"},
    )


# 40 random bits in 8 lowercase base32 characters: two outboxes of one device
# share an epoch with a chance of one in a trillion.
EPOCH = re.compile(r"[a-z0-9]{4,16}")


def new_epoch() -> str:
    """A fresh random epoch for a brand-new outbox."""
    return base64.b32encode(secrets.token_bytes(5)).decode().lower()


def _add_epoch(db: sqlite_utils.Database) -> None:
    """Migration: the outbox's own epoch, made here once for a new or an older file."""
    db.execute("CREATE TABLE identity (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO identity (name, value) VALUES ('epoch', ?)", (new_epoch(),))


MIGRATIONS = [_create_tables, _add_epoch]


class Outbox:
    """A SQLite outbox owned by one thread (the agent's main loop)."""

    def __init__(
        self,
        path: str | Path,
        *,
        device: str,
        limit: int = 1_000_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open (or create, with a new epoch) the outbox at ``path``."""
        self.path = Path(path)
        self.device = device
        self.limit = limit
        self._clock = clock
        try:
            self.db = open_database(self.path)
            migrate(self.db, MIGRATIONS)
            row = self.db.execute("SELECT value FROM identity WHERE name = 'epoch'").fetchone()
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {self.path}: {exc}") from exc
        if row is None or not isinstance(row[0], str) or not EPOCH.fullmatch(row[0]):
            raise OutboxError(
                f"outbox {self.path} holds no valid epoch ({row!r}):"
                " it was edited by hand or is not a hallrate outbox"
            )
        self.epoch: str = row[0]
        self._depth = self.db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        logger.info(
            "outbox %s: %d records waiting; new ids are %s-%s-<seq>",
            self.path,
            self._depth,
            device,
            self.epoch,
        )
        self.delivered = 0
        self.rejected = 0

    def close(self) -> None:
        """Close the file; everything committed stays."""
        self.db.close()

    @property
    def depth(self) -> int:
        """How many records wait for a receipt."""
        return self._depth

    def add(self, kind: Kind, build: Callable[[int, str], Envelope]) -> Envelope:
        """Store a new record made by ``build(seq, id)``; returns it once it is durable.

        Raises :class:`OutboxFull` at the configured limit and
        :class:`OutboxError` when the disk refuses the write; the records
        already accepted are kept either way.
        """
        if self._depth >= self.limit:
            raise OutboxFull(f"outbox holds {self._depth} records, its limit")
        try:
            with write_transaction(self.db) as conn:
                (seq,) = conn.execute(
                    "UPDATE counter SET value = value + 1 WHERE name = 'seq' RETURNING value"
                ).fetchone()
                envelope = build(seq, envelope_id(self.device, seq, epoch=self.epoch))
                conn.execute(
                    "INSERT INTO outbox (seq, id, kind, body, created_at) VALUES (?, ?, ?, ?, ?)",
                    (seq, envelope.id, kind, encode(envelope).decode(), self._clock()),
                )
        except sqlite3.Error as exc:
            if is_disk_full(exc):
                raise OutboxError(f"disk full: cannot store in {self.path}") from exc
            raise OutboxError(f"cannot store in {self.path}: {exc}") from exc
        self._depth += 1
        return envelope

    def oldest(self, limit: int, *, skip: Iterable[int] = ()) -> list[Pending]:
        """Up to ``limit`` waiting records, oldest first, leaving out the seqs in ``skip``."""
        skipped = set(skip)
        rows = self.db.execute(
            "SELECT seq, id, kind, body, created_at FROM outbox ORDER BY seq LIMIT ?",
            (limit + len(skipped),),
        ).fetchall()
        return [Pending(*row) for row in rows if row[0] not in skipped][:limit]

    def get(self, seq: int) -> Pending | None:
        """The waiting record ``seq``, or None once it has been receipted."""
        row = self.db.execute(
            "SELECT seq, id, kind, body, created_at FROM outbox WHERE seq = ?", (seq,)
        ).fetchone()
        return None if row is None else Pending(*row)

    def oldest_age(self) -> float | None:
        """Seconds since the oldest waiting record was stored, or None when empty."""
        row = self.db.execute("SELECT min(created_at) FROM outbox").fetchone()
        return None if row[0] is None else max(0.0, self._clock() - row[0])

    def receipted(self, ids: list[str]) -> list[int]:
        """Delete the records the hub stored; returns their seqs."""
        if not ids:
            return []
        with write_transaction(self.db) as conn:
            seqs = self._seqs(conn, ids)
            conn.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
        self._depth -= len(seqs)
        self.delivered += len(seqs)
        return seqs

    def rejected_by_hub(self, reasons: dict[str, str], ids: list[str]) -> list[int]:
        """Move the records the hub rejected to ``rejected``, with the reason."""
        # A receipt may name an id twice: each record moves (and counts) once.
        ids = list(dict.fromkeys(ids))
        if not ids:
            return []
        now = self._clock()
        with write_transaction(self.db) as conn:
            seqs = self._seqs(conn, ids)
            for ident in ids:
                conn.execute(
                    "INSERT INTO rejected (seq, id, kind, body, created_at, reason, rejected_at)"
                    " SELECT seq, id, kind, body, created_at, ?, ? FROM outbox WHERE id = ?",
                    (reasons.get(ident, "rejected by the hub"), now, ident),
                )
            conn.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
        self._depth -= len(seqs)
        self.rejected += len(seqs)
        for ident in ids:
            logger.warning("hub rejected %s: %s", ident, reasons.get(ident, "no reason given"))
        return seqs

    @staticmethod
    def _seqs(conn: sqlite3.Connection, ids: list[str]) -> list[int]:
        """The seqs of the waiting records named in ``ids``, each once."""
        seqs = []
        for ident in dict.fromkeys(ids):
            row = conn.execute("SELECT seq FROM outbox WHERE id = ?", (ident,)).fetchone()
            if row is not None:
                seqs.append(row[0])
        return seqs
