"""The quarantine: what the hub refused to count, kept bounded and without personal data.

Each refused payload is kept once (by the digest of its topic and bytes,
with how often and when it was seen) as a prefix of at most
``prefix_bytes`` plus the SHA-256 and size of the whole, so a flood of large
payloads costs little. A complaint's contact, password hash and text are
redacted before anything is stored; a complaint that cannot be parsed keeps
only its hash and size. The table's total size and age are capped: the
oldest rows go first, and the totals row counts what was pruned, so an
operator sees that the quarantine overflowed. Triggers keep the running
total, so a commit never scans the table to know its size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from device_agent.configfile import Int, between, section
from device_agent.protocol import format_time

logger = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * KIB
# The longest topic, reason, device and record id kept: each row stays small
# whatever a client sends (an MQTT topic may be 64 KiB long).
MAX_TOPIC_CHARS = 256
MAX_REASON_CHARS = 512
MAX_ID_CHARS = 128
ROW_OVERHEAD = 256  # digests, times, counters and SQLite's own bytes, roughly
# Pruning goes below the cap by this share, so it runs now and then, not at every commit.
PRUNE_TO = 0.9
PRUNE_STEP = 256  # rows read per step of pruning
PRUNE_STEPS = 16  # steps per commit at most; the rest waits for the next commit
# Fields of a quarantined payload that may identify a citizen.
PERSONAL_FIELDS = ("contact", "secret")
COMPLAINT_FIELDS = ("text",)  # a complaint's own words may name and number people too
REDACTED = "[redacted]"
MAX_PARSE_BYTES = 256 * KIB  # larger payloads are not parsed (the broker caps them lower)


@section
class QuarantineSettings:
    """How much of the quarantine the hub keeps: the ``[quarantine]`` table."""

    # The hub refuses payloads over 8 KiB: more than that of one is never needed.
    prefix_bytes: Annotated[Int, between(0, 8192)] = 1 * KIB
    max_total_bytes: Annotated[Int, between(64 * KIB, 2**40)] = 64 * MIB
    max_age_days: Annotated[Int, between(1, 3650)] = 90


@dataclass(slots=True)
class Quarantined:
    """A payload the hub will not count, kept with the reason."""

    topic: str
    device: str | None
    record_id: str | None
    reason: str
    payload: bytes
    received_at: str


@dataclass(frozen=True, slots=True)
class StoredForm:
    """What is kept of one payload: a redacted prefix, and the size and hash of the whole."""

    prefix: bytes
    size: int
    sha256: str


def stored_form(topic: str, payload: bytes, prefix_bytes: int) -> StoredForm:
    """What the quarantine keeps of ``payload``, published on ``topic``."""
    size, sha256 = len(payload), hashlib.sha256(payload).hexdigest()
    complaint = "complaint" in topic.split("/")
    body = _parsed(payload)
    if body is None:
        if complaint or any(name.encode() in payload for name in PERSONAL_FIELDS):
            # Unparsed, its personal fields cannot be found: keep none of it.
            return StoredForm(b"", size, sha256)
        return StoredForm(payload[:prefix_bytes], size, sha256)
    # A complaint sent on another topic is still a complaint: it carries a contact or secret.
    complaint = complaint or (isinstance(body, dict) and any(n in body for n in PERSONAL_FIELDS))
    redacted = _redacted(body, PERSONAL_FIELDS + (COMPLAINT_FIELDS if complaint else ()))
    if redacted:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return StoredForm(payload[:prefix_bytes], size, sha256)


def store(
    conn: sqlite3.Connection,
    items: list[Quarantined],
    settings: QuarantineSettings,
    *,
    now: datetime,
) -> None:
    """Keep ``items`` (a repeat only counts again), then prune what is past the limits."""
    for q in items:
        topic, device, record_id, reason, prefix, size, sha256, stored_bytes = stored_row(
            q, settings.prefix_bytes
        )
        conn.execute(
            "INSERT INTO quarantine (digest, topic, device, record_id, reason, payload,"
            " payload_bytes, payload_sha256, stored_bytes, first_seen, last_seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (digest) DO UPDATE SET times = times + 1,"
            " last_seen = excluded.last_seen",
            (
                # The whole topic and payload: a repeat is the same message, not one alike.
                hashlib.sha256(q.topic.encode() + b"\0" + q.payload).hexdigest(),
                topic,
                device,
                record_id,
                reason,
                prefix,
                size,
                sha256,
                stored_bytes,
                q.received_at,
                q.received_at,
            ),
        )
    prune(conn, settings, now=now)


def prune(conn: sqlite3.Connection, settings: QuarantineSettings, *, now: datetime) -> int:
    """Remove the oldest rows past the age limit or over the size cap; returns how many.

    Reads the head of the table in rowid order only, a few steps at most:
    a commit never scans the whole quarantine.
    """
    cutoff = format_time(now - timedelta(days=settings.max_age_days))
    total = conn.execute("SELECT stored_bytes FROM quarantine_totals WHERE id = 1").fetchone()[0]
    target = int(settings.max_total_bytes * PRUNE_TO) if total > settings.max_total_bytes else None
    if target is None:
        oldest = conn.execute("SELECT first_seen FROM quarantine ORDER BY rowid LIMIT 1").fetchone()
        if oldest is None or oldest[0] >= cutoff:
            return 0  # the common case: one row read
    removed_rows = removed_bytes = 0
    for _ in range(PRUNE_STEPS):
        head = conn.execute(
            "SELECT rowid, first_seen, stored_bytes FROM quarantine ORDER BY rowid LIMIT ?",
            (PRUNE_STEP,),
        ).fetchall()
        last = None
        for rowid, first_seen, stored_bytes in head:
            if first_seen >= cutoff and (target is None or total <= target):
                break
            last, total = rowid, total - stored_bytes
            removed_rows, removed_bytes = removed_rows + 1, removed_bytes + stored_bytes
        if last is None:
            break
        conn.execute("DELETE FROM quarantine WHERE rowid <= ?", (last,))
        if last != head[-1][0] or len(head) < PRUNE_STEP:
            break
    if removed_rows:
        conn.execute(
            "UPDATE quarantine_totals SET pruned_rows = pruned_rows + ?,"
            " pruned_bytes = pruned_bytes + ?, last_pruned_at = ? WHERE id = 1",
            (removed_rows, removed_bytes, format_time(now)),
        )
        logger.warning(
            "quarantine past its limits (%d bytes, %d days): removed the %d oldest payloads",
            settings.max_total_bytes,
            settings.max_age_days,
            removed_rows,
        )
    return removed_rows


def totals(conn: sqlite3.Connection) -> dict[str, Any]:
    """How much the quarantine holds and how much was pruned, for the API and health check."""
    row = conn.execute(
        "SELECT rows, stored_bytes, pruned_rows, pruned_bytes, last_pruned_at"
        " FROM quarantine_totals WHERE id = 1"
    ).fetchone()
    names = ("rows", "stored_bytes", "pruned_rows", "pruned_bytes", "last_pruned_at")
    return dict(zip(names, row or (0, 0, 0, 0, None), strict=True))


PAGE_SQL = (
    "SELECT rowid, topic, device, record_id, reason, payload, payload_bytes, payload_sha256,"
    " first_seen, last_seen, times FROM quarantine WHERE rowid > ? ORDER BY rowid LIMIT ?"
)


def page(conn: sqlite3.Connection, *, after: int, limit: int, max_bytes: int) -> dict[str, Any]:
    """Quarantined payloads after rowid ``after``, oldest first.

    At most ``limit`` rows and, past the first, about ``max_bytes`` of
    payload prefixes; ``next_after`` is where the next page starts, or None.
    """
    rows = conn.execute(PAGE_SQL, (after, limit)).fetchall()
    items, spent = [], 0
    for r in rows:
        prefix = bytes(r[5])
        if items and spent + len(prefix) > max_bytes:
            break
        spent += len(prefix)
        items.append(item_of(r))
    more = len(items) < len(rows) or len(rows) == limit
    return {"quarantine": items, "next_after": rows[len(items) - 1][0] if more else None}


def item_of(row: tuple[Any, ...]) -> dict[str, Any]:
    """One row as :data:`PAGE_SQL` reads it, as the API (and the console) show it."""
    prefix = bytes(row[5])
    return {
        "topic": row[1],
        "device": row[2],
        "record_id": row[3],
        "reason": row[4],
        "payload": prefix.decode("utf-8", "replace"),
        "payload_bytes": row[6],
        "payload_sha256": row[7],
        "payload_truncated": len(prefix) < row[6],
        "first_seen": row[8],
        "last_seen": row[9],
        "times": row[10],
    }


def stored_row(
    q: Quarantined, prefix_bytes: int
) -> tuple[str, str | None, str | None, str, bytes, int, str, int]:
    """The columns kept of one quarantined message, and what they cost."""
    form = stored_form(q.topic, q.payload, prefix_bytes)
    topic, reason = _clip(q.topic, MAX_TOPIC_CHARS), _clip(q.reason, MAX_REASON_CHARS)
    device = None if q.device is None else _clip(q.device, MAX_ID_CHARS)
    record_id = None if q.record_id is None else _clip(q.record_id, MAX_ID_CHARS)
    cost = (
        ROW_OVERHEAD
        + len(form.prefix)
        + sum(len(text.encode()) for text in (topic, reason, device or "", record_id or ""))
    )
    return topic, device, record_id, reason, form.prefix, form.size, form.sha256, cost


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parsed(payload: bytes) -> Any:
    """The payload's JSON value, or None when it is too large or not JSON."""
    if len(payload) > MAX_PARSE_BYTES:
        return None
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return None


def _redacted(value: Any, names: tuple[str, ...]) -> bool:
    """Replace the values of keys named ``names`` at any depth; whether any was there."""
    found = False
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in item:
                if key in names and item[key] not in (None, ""):
                    item[key], found = REDACTED, True
                else:
                    stack.append(item[key])
        elif isinstance(item, list):
            stack.extend(item)
    return found
