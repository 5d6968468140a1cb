"""The hub's database: votes, service events, quarantine and device state.

Writes arrive as one :class:`Batch` per commit from the ingest loop. A vote
is stored once per id (``ON CONFLICT(id) DO NOTHING``, never ``INSERT OR
IGNORE``, which would also swallow a CHECK violation); a resend whose content
differs from the stored copy is kept in ``vote_conflicts``. Nothing that
arrives is dropped: what cannot be counted goes to ``quarantine`` with the
reason. The ``votes`` table's key is its arrival order, so the file grows
at its end.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from device_agent.protocol import ServiceEvent, Vote, encode
from device_agent.storage import is_disk_full, migrate, open_database, write_transaction
from hub import quarantine, vote_rows
from hub.cases.chain import Cases, open_complaint_cases, open_for_rating, wants_followup
from hub.complaints import StoredComplaint, store_complaints
from hub.errors import BatchError, StoreError
from hub.instants import iso
from hub.quarantine import Quarantined, QuarantineSettings
from hub.rules import BatchSeen, Candidate, HubRules
from hub.schema import STEPS

if TYPE_CHECKING:
    from hub.counting import Counting

CHUNK = 400  # ids per IN (...) lookup, under SQLite's parameter limit
DEVICE_STATE_COLUMNS = ("status", "info", "telemetry", "config")


@dataclass(slots=True)
class StoredVote:
    """A vote ready to store: the envelope plus what the hub measured.

    The times are milliseconds since the epoch (``hub.instants``), as the row
    keeps them (``hub.vote_rows``): ingest measures them as such, no text between.
    """

    vote: Vote
    cast_at: int
    received_at: int
    flags: list[str]


@dataclass(slots=True)
class StoredEvent:
    """A service event ready to store."""

    event: ServiceEvent
    cast_at: str
    received_at: str


@dataclass(slots=True)
class DeviceState:
    """A device's retained status, info or telemetry."""

    device: str
    kind: str  # one of DEVICE_STATE_COLUMNS
    value: str
    received_at: str


@dataclass(slots=True)
class Batch:
    """Everything to commit in one transaction."""

    votes: list[StoredVote] = field(default_factory=list)
    events: list[StoredEvent] = field(default_factory=list)
    quarantine: list[Quarantined] = field(default_factory=list)
    device_states: list[DeviceState] = field(default_factory=list)
    complaints: list[StoredComplaint] = field(default_factory=list)

    def __len__(self) -> int:
        return (
            len(self.votes)
            + len(self.events)
            + len(self.quarantine)
            + len(self.device_states)
            + len(self.complaints)
        )


@dataclass(slots=True)
class Outcome:
    """What a commit did: new ids, repeated ids, and repeats with different content."""

    stored: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    conflicting: list[str] = field(default_factory=list)


DIGEST_FIELDS = tuple(f.name for f in fields(Vote) if f.name != "sent")
_digest_values = attrgetter(*DIGEST_FIELDS)


def content_digest(vote: Vote) -> bytes:
    """The SHA-256 of a vote's fields in a fixed order, without its ``sent`` time."""
    # A tuple of the values: orjson writes it as the same JSON array a list makes.
    canonical = orjson.dumps(_digest_values(vote), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).digest()


_INSERT_VOTE = """
    INSERT INTO votes (id, device, seq, channel, window, staff, ticket, level, dims, reasons,
                       comment, anonymous, flags, ts, cast_at, sent, received_at, digest,
                       counted, filter_rule, filter_version, service, hub_rule,
                       hub_rule_version)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO NOTHING"""

_INSERT_EVENT = """
    INSERT INTO service_events (id, device, seq, event, window, staff, ticket, ts, cast_at,
                                sent, received_at, service, item)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO NOTHING"""

_UPSERT_DEVICE_STATE = {
    column: f"""
        INSERT INTO devices (id, {column}, {column}_at) VALUES (?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET {column} = excluded.{column},
                                       {column}_at = excluded.{column}_at"""
    for column in DEVICE_STATE_COLUMNS
}


class Store:
    """The hub's SQLite file, written by the ingest thread only."""

    def __init__(
        self,
        path: str | Path,
        *,
        counting: Counting | None = None,
        rules: HubRules | None = None,
        quarantine: QuarantineSettings | None = None,
        cases: Cases | None = None,
    ) -> None:
        self.path = Path(path)
        self.db = open_database(self.path)
        migrate(self.db, STEPS)
        # Counts and warnings (hub.counting), kept in each commit's transaction.
        self.counting = counting
        # The hub's own rules (hub.rules); without them every unfiltered vote counts.
        self.rules = rules
        self.quarantine = quarantine or QuarantineSettings()
        # Issue 14: each new kiosk complaint opens a case (hub.cases).
        self.cases = cases

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    def commit(self, batch: Batch) -> Outcome:
        """Store a batch in one transaction, or nothing.

        Raises StoreError when the database refused the write (disk full,
        locked, unusable: try again later), and BatchError when something in
        the batch made storing it fail (store its items one by one to find it).
        """
        try:
            with write_transaction(self.db) as conn:
                # Events first: a sign-in sent just before a vote binds that vote.
                stored_events = self._store_events(conn, batch.events)
                outcome = self._store_votes(conn, batch.votes)
                stored_complaints = store_complaints(conn, batch.complaints)
                if self.cases is not None and stored_complaints:
                    open_complaint_cases(self.cases, conn, batch.complaints, stored_complaints)
                for stored, records in (
                    (stored_events, [e.event.id for e in batch.events]),
                    (stored_complaints, [c.complaint.id for c in batch.complaints]),
                ):
                    outcome.stored.extend(stored)
                    # A repeat is acknowledged like a new one, and counted as a repeat.
                    outcome.repeated.extend(_without(records, stored))
                self._store_quarantine(conn, batch.quarantine)
                for state in batch.device_states:
                    conn.execute(
                        _UPSERT_DEVICE_STATE[state.kind],
                        (state.device, state.value, state.received_at),
                    )
                if self.counting is not None and outcome.stored:
                    # Last, so it sees every vote of the batch as stored (and filtered).
                    self.counting.apply(conn)
        except sqlite3.OperationalError as exc:
            reason = "disk full" if is_disk_full(exc) else str(exc)
            raise StoreError(f"cannot commit to {self.path}: {reason}") from exc
        except Exception as exc:
            # Whatever else went wrong came from the batch's content (a value SQLite
            # cannot hold, a bug a rare field reaches): the caller isolates the item.
            raise BatchError(f"{type(exc).__name__}: {exc}"[:300]) from exc
        return outcome

    def _store_votes(self, conn: sqlite3.Connection, votes: list[StoredVote]) -> Outcome:
        outcome = Outcome()
        if not votes:
            return outcome
        known = _existing_digests(conn, [v.vote.id for v in votes])
        # Judged in memory, in arrival order: ``seen`` shows the rules the votes of this
        # batch judged before each one, as if they were stored already; one insert after.
        seen = BatchSeen()
        rows: list[tuple[Any, ...]] = []
        casts: list[int] = []
        followups: list[tuple[Vote, int]] = []
        for item in votes:
            vote = item.vote
            digest = content_digest(vote)
            if vote.id in known:
                outcome.repeated.append(vote.id)
                if known[vote.id] != digest:
                    outcome.conflicting.append(vote.id)
                    conn.execute(
                        "INSERT INTO vote_conflicts (id, received_at, digest, payload)"
                        " VALUES (?, ?, ?, ?)",
                        (vote.id, iso(item.received_at), digest.hex(), encode(vote).decode()),
                    )
                continue
            known[vote.id] = digest
            outcome.stored.append(vote.id)
            cast_at = item.cast_at
            verdict = None
            if vote.filter is None and self.rules is not None:
                candidate = _candidate(item)
                verdict = self.rules.judge(conn, candidate, seen=seen)
                if verdict is None:
                    seen.add(candidate)
            rows.append(
                (
                    vote.id,
                    vote.device,
                    vote.seq,
                    vote.channel,
                    vote.window,
                    vote.staff,
                    vote.ticket,
                    vote.level,
                    _json_or_none(vote.dims),
                    _json_list(vote.reasons),
                    vote.comment,
                    int(vote.anonymous),
                    _json_list(item.flags),
                    vote.ts,
                    cast_at,
                    vote.sent,
                    item.received_at,
                    digest,
                    # A press a device rule or a hub rule caught is kept, never counted.
                    int(vote.counted and verdict is None),
                    vote.filter.rule if vote.filter else None,
                    vote.filter.version if vote.filter else None,
                    vote.service,
                    verdict.rule if verdict else None,
                    verdict.version if verdict else None,
                )
            )
            casts.append(cast_at)
            # 差评整改: a follow-up case, in this transaction, for a vote that counts.
            if verdict is None and self.cases is not None and wants_followup(self.cases, vote):
                followups.append((vote, cast_at))
        if rows:
            inserted = conn.executemany(_INSERT_VOTE, rows).rowcount
            if inserted != len(rows):  # cannot be: each id was looked up in this transaction
                raise RuntimeError(f"stored {inserted} of {len(rows)} new votes")
            # An INTEGER PRIMARY KEY takes the largest rowid plus one, so the batch's
            # rows are numbered one after another, in arrival order, up to the last.
            last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            first = last - len(rows) + 1
            vote_rows.note_cast_hours(conn, zip(range(first, last + 1), casts, strict=True))
        for vote, cast_at in followups:
            open_for_rating(self.cases, conn, vote, iso(cast_at))
        return outcome

    def _store_events(self, conn: sqlite3.Connection, events: list[StoredEvent]) -> list[str]:
        # Row by row: a repeat (resent, or twice in this batch) inserts nothing and
        # must not be reported as stored. Events are few next to votes.
        stored = []
        for e in events:
            cursor = conn.execute(
                _INSERT_EVENT,
                (
                    e.event.id,
                    e.event.device,
                    e.event.seq,
                    e.event.event,
                    e.event.window,
                    e.event.staff,
                    e.event.ticket,
                    e.event.ts,
                    e.cast_at,
                    e.event.sent,
                    e.received_at,
                    e.event.service,
                    e.event.item,
                ),
            )
            if cursor.rowcount:
                stored.append(e.event.id)
        return stored

    def _store_quarantine(self, conn: sqlite3.Connection, items: list[Quarantined]) -> None:
        # Every commit, even without new items: pruning by age needs no new arrival.
        quarantine.store(conn, items, self.quarantine, now=datetime.now(UTC))


def known_votes_sql(ids: int) -> str:
    """The read of the stored digests of so many vote ids (repeats and conflicts)."""
    return f"SELECT id, digest FROM votes WHERE id IN ({','.join('?' * ids)})"


def _existing_digests(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        found.update(conn.execute(known_votes_sql(len(chunk)), chunk).fetchall())
    return found


def _without(ids: list[str], stored: list[str]) -> list[str]:
    """``ids`` less one occurrence of each of ``stored``."""
    unmatched = Counter(stored)
    left = []
    for ident in ids:
        if unmatched[ident]:
            unmatched[ident] -= 1
        else:
            left.append(ident)
    return left


def _candidate(item: StoredVote) -> Candidate:
    vote = item.vote
    return Candidate(
        id=vote.id,
        device=vote.device,
        channel=vote.channel,
        window=vote.window,
        staff=vote.staff,
        ticket=vote.ticket,
        level=vote.level,
        cast_at=item.cast_at,
        received_at=item.received_at,
    )


def _json_list(value: list[str]) -> str:
    return json.dumps(value) if value else "[]"


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)
