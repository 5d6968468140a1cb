"""Appeals (申诉) and held votes: the office's decisions on single votes.

A manager voids a vote on appeal; the efficiency office accepts a vote the
hub held (cast in a month already closed). The counts and the warnings follow.

A voided vote stays in ``votes`` as it arrived; ``vote_voids`` says who voided
it, when and why. Voiding moves the vote from its level's count to
``voided`` in every period it counted in, in one transaction with the
warnings it touches: a warning that no longer holds is withdrawn (kept, with
both states in its audit log), one that still holds loses the vote from its
evidence.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from device_agent.protocol import format_time
from hub import aggregates
from hub.counting import Counting
from hub.errors import StateError, UnknownRecord
from hub.instants import iso
from hub.rules import ACCEPTABLE, Candidate

VOID_REASONS = {
    "malicious": "a malicious or bought rating",
    "not_about_staff": "the rating is not about this staff member's service",
    "duplicate": "a duplicate of another rating for the same service",
}
MAX_NOTE_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Voided:
    """What a void did: the vote, and the warnings it withdrew or changed."""

    vote_id: str
    reason: str
    at: str
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "vote": self.vote_id,
            "reason": self.reason,
            "at": self.at,
            "warnings_changed": self.warnings,
        }


def void_vote(
    conn: sqlite3.Connection,
    counting: Counting,
    vote_id: str,
    *,
    reason: str,
    by: str,
    note: str | None = None,
) -> Voided:
    """Void a stored vote inside the caller's write transaction; raises on a bad request."""
    if reason not in VOID_REASONS:
        raise StateError(f"reason: must be one of {', '.join(VOID_REASONS)}, got {reason!r}")
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise StateError(f"note: at most {MAX_NOTE_CHARS} characters")
    row = conn.execute(
        "SELECT window, staff, level, counted, cast_at, dims FROM votes WHERE id = ?", (vote_id,)
    ).fetchone()
    if row is None:
        raise UnknownRecord(f"no vote {vote_id!r}")
    existing = conn.execute(
        "SELECT at, by FROM vote_voids WHERE vote_id = ?", (vote_id,)
    ).fetchone()
    if existing is not None:
        raise StateError(f"vote {vote_id} was voided at {existing[0]} by {existing[1]}")
    # Count whatever was stored but not counted yet, so the change below has a base.
    counting.apply(conn)
    at = format_time(counting.now())
    conn.execute(
        "INSERT INTO vote_voids (vote_id, reason, note, by, at) VALUES (?, ?, ?, ?, ?)",
        (vote_id, reason, note, by, at),
    )
    window, staff, level, counted, cast_at, dims = row
    change = aggregates.Tally()
    aggregates.move(
        change,
        counting.attribution,
        counting.calendar,
        (window, staff, level, cast_at, dims),
        before=(bool(counted), False),
        after=(bool(counted), True),
    )
    aggregates.write_deltas(conn, change.deltas)
    cause = {"void": vote_id, "reason": reason}
    changed = counting.engine.review(conn, change.staff_periods, by=by, cause=cause)
    changed += counting.engine.drop_vote(conn, vote_id, by=by, cause=cause)
    return Voided(vote_id, reason, at, list(dict.fromkeys(changed)))


@dataclass(frozen=True, slots=True)
class Accepted:
    """What accepting a held vote did: the vote, and the warnings it raised or changed."""

    vote_id: str
    rule: str
    at: str
    counted: bool
    verdict: str | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "vote": self.vote_id,
            "rule": self.rule,
            "at": self.at,
            "counted": self.counted,
            "hub_rule": self.verdict,
            "warnings_changed": self.warnings,
        }


def accept_vote(
    conn: sqlite3.Connection,
    counting: Counting,
    vote_id: str,
    *,
    by: str,
    note: str | None = None,
) -> Accepted:
    """Accept a vote the hub held (cast in a month already closed) into the counts.

    The office decides, inside the caller's write transaction. The vote is
    judged again with the acceptance on record, so it still does not count if
    another rule catches it (a ticket rated before, say).
    """
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise StateError(f"note: at most {MAX_NOTE_CHARS} characters")
    row = conn.execute(
        "SELECT rowid, device, channel, window, staff, ticket, level, cast_at, received_at,"
        " hub_rule, EXISTS (SELECT 1 FROM vote_voids x WHERE x.vote_id = votes.id), dims"
        " FROM votes WHERE id = ?",
        (vote_id,),
    ).fetchone()
    if row is None:
        raise UnknownRecord(f"no vote {vote_id!r}")
    (
        rowid,
        device,
        channel,
        window,
        staff,
        ticket,
        level,
        cast_at,
        received_at,
        rule,
        voided,
        dims,
    ) = row
    if rule not in ACCEPTABLE:
        held = ", ".join(sorted(ACCEPTABLE))
        raise StateError(f"vote {vote_id} is not held by the hub ({held}); nothing to accept")
    counting.apply(conn)  # count whatever waits, so the change below has a base
    at = format_time(counting.now())
    conn.execute(
        "INSERT INTO vote_acceptances (vote_id, rule, note, by, at) VALUES (?, ?, ?, ?, ?)",
        (vote_id, rule, note, by, at),
    )
    candidate = Candidate(
        vote_id, device, channel, window, staff, ticket, level, cast_at, received_at, rowid=rowid
    )
    verdict = counting.rules.judge(conn, candidate)
    conn.execute(
        "UPDATE votes SET hub_rule = ?, hub_rule_version = ?, counted = ? WHERE rowid = ?",
        (
            verdict.rule if verdict else None,
            verdict.version if verdict else None,
            int(verdict is None),
            rowid,
        ),
    )
    if verdict is not None:
        return Accepted(vote_id, rule, at, False, verdict.rule)
    change = aggregates.Tally()
    aggregates.move(
        change,
        counting.attribution,
        counting.calendar,
        (window, staff, level, cast_at, dims),
        before=(False, bool(voided)),
        after=(True, bool(voided)),
    )
    aggregates.write_deltas(conn, change.deltas)
    cause = {"accepted": vote_id}
    changed = counting.engine.review(conn, change.staff_periods, by=by, cause=cause)
    return Accepted(vote_id, rule, at, True, None, changed)


RECENT_VOIDS_SQL = (
    "SELECT x.vote_id, x.reason, x.note, x.by, x.at, v.staff, v.window, v.level, v.cast_at"
    " FROM vote_voids x JOIN votes v ON v.id = x.vote_id ORDER BY x.at DESC LIMIT 1000"
)
_VOID_NAMES = ("vote", "reason", "note", "by", "at", "staff", "window", "level", "cast_at")


def recent_voids(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The latest 1000 voided votes with who voided them, when and why, newest first."""
    items = [dict(zip(_VOID_NAMES, row, strict=True)) for row in conn.execute(RECENT_VOIDS_SQL)]
    for item in items:
        item["cast_at"] = iso(item["cast_at"])
    return items
