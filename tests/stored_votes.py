"""Votes as the ingest loop hands them to the store, and a counting store to hand them to.

The warning tests drive the real :class:`hub.store.Store` on a real SQLite
file with :class:`hub.counting.Counting` hooked in, exactly as the running
hub does, with a clock the test sets.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from device_agent.protocol import Vote, envelope_id
from device_agent.storage import write_transaction
from hub.appeals import Accepted, Voided, accept_vote, void_vote
from hub.config import HubConfig, load_hub_config
from hub.counting import Counting
from hub.instants import ms_of_text
from hub.rebuild import Pacing
from hub.store import Batch, Store, StoredVote
from tests.hall import Hall, query
from tests.kiosk_hall import KioskHall

_seq = itertools.count(1)
# A rebuild that does not rest between its transactions: nothing else writes in these tests.
NO_PAUSE = Pacing(pause_s=0)


def make_vote(
    cast: str,
    *,
    level: int = 1,
    staff: str | None = "s01",
    window: str | None = "w01",
    device: str | None = None,
    seq: int | None = None,
    received: str | None = None,
    channel: str = "window",
    dims: dict[str, int] | None = None,
) -> StoredVote:
    """A window vote cast at ``cast`` (ISO 8601 with an offset), as ingest would store it.

    It arrives at ``received`` (a UTC time as ingest writes it), by default the moment it
    was cast, so the hub's time rules judge it the same whatever day the test runs.
    """
    n = next(_seq) if seq is None else seq
    # The evaluator of the vote's window, as the hall's directory binds them.
    if device is None:
        device = "kiosk-01" if channel == "kiosk" else f"{window or 'w01'}-eval"
    vote = Vote(
        id=envelope_id(device, n, epoch="test0001"),
        seq=n,
        ts=cast,
        device=device,
        channel=channel,  # type: ignore[arg-type]
        window=window,
        staff=staff,
        ticket=f"T{n}",
        level=level,
        dims=(dims or {"attitude": level, "efficiency": level, "style": level})
        if channel == "kiosk"
        else None,
    )
    cast_at = ms_of_text(cast)
    return StoredVote(vote, cast_at, cast_at if received is None else ms_of_text(received), [])


@dataclass
class Clock:
    """The hub's clock, set by the test."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 30, 4, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class CountingHub:
    """A hall's store with counts and warnings on, as the hub runs it."""

    hall: Hall
    config: HubConfig
    store: Store
    counting: Counting
    clock: Clock

    def add(self, *votes: StoredVote) -> None:
        """Commit ``votes`` as one ingest batch."""
        self.store.commit(Batch(votes=list(votes)))

    def void(self, vote_id: str, reason: str = "malicious", by: str = "manager") -> Voided:
        """Void a vote on appeal."""
        with write_transaction(self.store.db) as conn:
            return void_vote(conn, self.counting, vote_id, reason=reason, by=by)

    def accept(self, vote_id: str, by: str = "office") -> Accepted:
        """Accept a vote the hub held."""
        with write_transaction(self.store.db) as conn:
            return accept_vote(conn, self.counting, vote_id, by=by)

    def warnings(self, *, standing: bool = False) -> dict[str, tuple]:
        """``id -> (level, period, count, status, withdrawn, superseded_by)``."""
        where = " WHERE withdrawn_at IS NULL" if standing else ""
        return {
            row[0]: row[1:]
            for row in query(
                self.hall.database,
                "SELECT id, level, period, count, status, withdrawn_at IS NOT NULL, superseded_by"
                f" FROM warnings{where} ORDER BY id",
            )
        }

    def count(self, scope: str, subject: str, period: str, column: str = "dissatisfied") -> int:
        rows = query(
            self.hall.database,
            f"SELECT {column} FROM counts WHERE scope = ? AND subject = ? AND period = ?",
            (scope, subject, period),
        )
        return rows[0][0] if rows else 0

    def events(self, warning_id: str) -> list[str]:
        return [
            row[0]
            for row in query(
                self.hall.database,
                "SELECT event FROM warning_events WHERE warning_id = ? ORDER BY seq",
                (warning_id,),
            )
        ]

    def close(self) -> None:
        self.store.close()


def counting_hub(root: Path, *, extra: str = "", windows: int = 3, kiosks: int = 0) -> CountingHub:
    """A hall directory and hub config under ``root``, and its counting store (no broker).

    With ``kiosks``, the directory also lists that many kiosks (``kiosk-01``...).
    """
    hall = (
        KioskHall(root, port=1883, windows=windows, kiosks=kiosks)
        if kiosks
        else Hall(root, port=1883, windows=windows)
    )
    config = load_hub_config(hall.hub_config(extra=extra))
    clock = Clock()
    counting = Counting(config, now=clock)
    store = Store(config.database, counting=counting, rules=counting.rules)
    return CountingHub(hall, config, store, counting, clock)
