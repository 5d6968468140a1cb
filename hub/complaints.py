"""Complaints at the hub: their table, storing them once, and the citizen's lookup.

A complaint arrives from a kiosk's outbox like a vote and is stored once per
id. Its status starts as ``received``; from there its case (:mod:`hub.cases`,
opened in the same transaction) carries it along the chain to its answer.
A citizen looks it up with the claim code and password: the answer carries
the status and the published answer only, never the contact, and an unknown
code costs as much time as a wrong password.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import sqlite_utils

from device_agent.claim import DECOY_SECRET, password_matches
from device_agent.protocol import Complaint

STATUSES = ("received", "handling", "answered", "closed", "merged")


@dataclass(slots=True)
class StoredComplaint:
    """A complaint ready to store: the envelope plus what the hub measured."""

    complaint: Complaint
    cast_at: str
    received_at: str


_INSERT = """
    INSERT INTO complaints (id, device, seq, code, secret, category, text, staff, department,
                            anonymous, contact, ts, cast_at, sent, received_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO NOTHING"""


def store_complaints(conn: sqlite3.Connection, items: Sequence[StoredComplaint]) -> list[str]:
    """Insert complaints inside the caller's transaction; returns the ids new to the hub."""
    stored = []
    for item in items:
        c = item.complaint
        cursor = conn.execute(
            _INSERT,
            (
                c.id,
                c.device,
                c.seq,
                c.code,
                c.secret,
                c.category,
                c.text,
                c.staff,
                c.department,
                int(c.anonymous),
                None if c.anonymous else c.contact,
                c.ts,
                item.cast_at,
                c.sent,
                item.received_at,
                item.received_at,
            ),
        )
        if cursor.rowcount:
            stored.append(c.id)
    return stored


@dataclass(frozen=True, slots=True)
class Handling:
    """What a citizen may learn about their complaint."""

    status: str
    category: str
    filed_at: str
    answer: str | None
    updated_at: str
    # The complaint's id, for its case (hub.cases): never shown to the citizen.
    ident: str = ""


def lookup_complaint(db: sqlite_utils.Database, code: str, password: str) -> Handling | None:
    """The handling of the complaint with ``code`` whose password is ``password``, or None.

    Codes are random and short, so two complaints may share one: each one's
    password is checked, and every check costs the same whether or not the
    code exists.
    """
    rows = db.execute(
        "SELECT secret, status, category, cast_at, answer, updated_at, id FROM complaints"
        " WHERE code = ? ORDER BY rowid",
        (code,),
    ).fetchall()
    if not rows:
        password_matches(password, DECOY_SECRET)
        return None
    found = None
    for secret, *rest in rows:
        if password_matches(password, secret) and found is None:
            found = rest
    if found is None:
        return None
    status, category, cast_at, answer, updated_at, ident = found
    published = answer if status in ("answered", "closed", "merged") else None
    return Handling(
        status=status,
        category=category,
        filed_at=cast_at,
        answer=published,
        updated_at=updated_at,
        ident=ident,
    )
