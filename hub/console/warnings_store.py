"""The console's warnings and appeals pages: their reads, and the appeal records they write.

Warnings change only through :class:`hub.warnings.WarningEngine` (the same
calls as the JSON API) and votes are voided only by
:func:`hub.appeals.void_vote`; this module reads what the pages show and
keeps the appeals (``warning_appeals``): who filed one, when, against which
votes and why, and the office's decision. An appeal is never deleted.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hub.appeals import VOID_REASONS, void_vote
from hub.counting import Counting
from hub.errors import StateError, UnknownRecord
from hub.instants import moment

# A list shows at most this many warnings (a hall has a few per staff member a year).
LIST_LIMIT = 500
MAX_TEXT = 2000
# The state filter: ``open`` is every warning neither closed nor withdrawn.
STATES = ("open", "raised", "acknowledged", "actioned", "closed", "withdrawn", "all")
APPEAL_STATES = ("filed", "accepted", "rejected")

_LIST_COLUMNS = (
    "id, staff, department, level, rank, grain, period, threshold, action, count,"
    " raised_at, status, withdrawn_at, superseded_by"
)
# Open first, then the most severe, then the oldest: the order a queue is worked in.
WARNING_QUEUE_SQL = (
    f"SELECT {_LIST_COLUMNS} FROM warnings WHERE {{where}}"
    " ORDER BY (withdrawn_at IS NOT NULL OR status = 'closed'), rank DESC, raised_at, id"
    " LIMIT ?"
)
WARNING_ROW_SQL = f"SELECT {_LIST_COLUMNS} FROM warnings WHERE id = ?"
WARNING_VOTES_SQL = (
    "SELECT v.id, v.channel, v.window, v.level, v.reasons, v.comment, v.cast_at, v.counted,"
    " v.filter_rule, v.hub_rule, x.reason, x.by, x.at FROM warning_votes w"
    " JOIN votes v ON v.id = w.vote_id LEFT JOIN vote_voids x ON x.vote_id = v.id"
    " WHERE w.warning_id = ? ORDER BY v.rowid"
)
# Votes an appeal contested that left the warning's evidence (voided) are still shown.
APPEALED_VOTES_SQL = WARNING_VOTES_SQL.replace(
    "FROM warning_votes w JOIN votes v ON v.id = w.vote_id", "FROM votes v"
).replace("w.warning_id = ?", "v.id IN ({marks})")
_APPEAL_COLUMNS = (
    "id, warning_id, staff, department, votes, reason, text, filed_by, filed_at, status,"
    " decided_by, decided_at, decision_note"
)
APPEALS_OF_WARNING_SQL = (
    f"SELECT {_APPEAL_COLUMNS} FROM warning_appeals WHERE warning_id = ? ORDER BY id"
)
APPEALS_LIST_SQL = (
    f"SELECT {_APPEAL_COLUMNS} FROM warning_appeals WHERE {{where}}"
    " ORDER BY (status != 'filed'), id DESC LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class Scope:
    """What a user may see: one department's warnings, one person's, or every one."""

    department: str | None = None
    staff: str | None = None

    def allows(self, warning: dict[str, Any]) -> bool:
        """Whether a warning (its row) is within this scope."""
        if self.department is not None and warning["department"] != self.department:
            return False
        return self.staff is None or warning["staff"] == self.staff


def _where(scope: Scope, filters: dict[str, str]) -> tuple[str, list[Any]]:
    where, params = ["1 = 1"], []
    for column, value in (
        ("department", scope.department or filters.get("department")),
        ("staff", scope.staff),
        ("level", filters.get("level")),
        ("period", filters.get("period")),
    ):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    state = filters.get("state") or "open"
    if state == "open":
        where.append("withdrawn_at IS NULL AND status != 'closed'")
    elif state == "withdrawn":
        where.append("withdrawn_at IS NOT NULL")
    elif state in ("raised", "acknowledged", "actioned", "closed"):
        where.append("withdrawn_at IS NULL AND status = ?")
        params.append(state)
    return " AND ".join(where), params


def _warning(row: Sequence[Any]) -> dict[str, Any]:
    names = [c.strip() for c in _LIST_COLUMNS.split(",")]
    return dict(zip(names, row, strict=True))


def warning_queue(
    conn: sqlite3.Connection, scope: Scope, filters: dict[str, str], *, limit: int = LIST_LIMIT
) -> list[dict[str, Any]]:
    """The warnings ``scope`` sees that match ``filters``: open, most severe, oldest first."""
    where, params = _where(scope, filters)
    rows = conn.execute(WARNING_QUEUE_SQL.format(where=where), [*params, limit])
    return [_warning(row) for row in rows]


def warning_row(conn: sqlite3.Connection, ident: str, scope: Scope) -> dict[str, Any]:
    """One warning's row; UnknownRecord if there is none or ``scope`` may not see it."""
    row = conn.execute(WARNING_ROW_SQL, (ident,)).fetchone()
    if row is None or not scope.allows(_warning(row)):
        raise UnknownRecord(f"no warning {ident!r}")
    return _warning(row)


def local_time(stamp: str | int, zone: ZoneInfo) -> str:
    """A UTC time (protocol text or epoch ms) in the hall's zone: ``2026-11-30 23:59:59``."""
    when = moment(stamp) if isinstance(stamp, int) else datetime.fromisoformat(stamp)
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _vote(row: Sequence[Any], zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": row[0],
        "channel": row[1],
        "window": row[2],
        "level": row[3],
        "reasons": json.loads(row[4]) if row[4] else [],
        "comment": row[5],
        "cast_at": local_time(row[6], zone),
        "counted": bool(row[7]),
        "rule": row[9] or row[8],
        "voided": None if row[10] is None else {"reason": row[10], "by": row[11], "at": row[12]},
    }


def warning_votes(conn: sqlite3.Connection, ident: str, zone: ZoneInfo) -> list[dict[str, Any]]:
    """The votes behind a warning, in arrival order, with their rule and void if any."""
    return [_vote(row, zone) for row in conn.execute(WARNING_VOTES_SQL, (ident,))]


def votes_by_id(
    conn: sqlite3.Connection, ids: Sequence[str], zone: ZoneInfo
) -> list[dict[str, Any]]:
    """Stored votes by id (an accepted appeal's votes left the warning's evidence)."""
    if not ids:
        return []
    sql = APPEALED_VOTES_SQL.format(marks=", ".join("?" * len(ids)))
    return [_vote(row, zone) for row in conn.execute(sql, list(ids))]


def _appeal(row: Sequence[Any]) -> dict[str, Any]:
    names = [c.strip() for c in _APPEAL_COLUMNS.split(",")]
    item = dict(zip(names, row, strict=True))
    item["votes"] = json.loads(item["votes"])
    return item


def appeals_of(conn: sqlite3.Connection, ident: str) -> list[dict[str, Any]]:
    """A warning's appeals, oldest first."""
    return [_appeal(row) for row in conn.execute(APPEALS_OF_WARNING_SQL, (ident,))]


def appeals(
    conn: sqlite3.Connection, scope: Scope, state: str = "", *, limit: int = LIST_LIMIT
) -> list[dict[str, Any]]:
    """The appeals ``scope`` sees (of one ``state`` if given): undecided first, newest first."""
    where, params = ["1 = 1"], []
    for column, value in (
        ("department", scope.department),
        ("staff", scope.staff),
        ("status", state if state in APPEAL_STATES else None),
    ):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    sql = APPEALS_LIST_SQL.format(where=" AND ".join(where))
    return [_appeal(row) for row in conn.execute(sql, [*params, limit])]


def _text(value: str, name: str) -> str:
    value = value.strip()
    if not value:
        raise StateError(f"{name}: required")
    if len(value) > MAX_TEXT:
        raise StateError(f"{name}: at most {MAX_TEXT} characters")
    return value


def file_appeal(
    conn: sqlite3.Connection,
    warning: dict[str, Any],
    *,
    votes: Sequence[str],
    reason: str,
    text: str,
    by: str,
    at: str,
) -> int:
    """Record an appeal against some of a warning's votes; returns its number."""
    if reason not in VOID_REASONS:
        raise StateError(f"reason: must be one of {', '.join(VOID_REASONS)}")
    text = _text(text, "reason text")
    behind = {
        row[0]
        for row in conn.execute(
            "SELECT vote_id FROM warning_votes WHERE warning_id = ?", (warning["id"],)
        )
    }
    chosen = list(dict.fromkeys(votes))
    if not chosen:
        raise StateError("votes: contest at least one vote")
    if not set(chosen) <= behind:
        raise StateError("votes: only the votes behind this warning may be contested")
    cursor = conn.execute(
        "INSERT INTO warning_appeals (warning_id, staff, department, votes, reason, text,"
        " filed_by, filed_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'filed')",
        (
            warning["id"],
            warning["staff"],
            warning["department"],
            json.dumps(chosen),
            reason,
            text,
            by,
            at,
        ),
    )
    return int(cursor.lastrowid or 0)


def appeal(conn: sqlite3.Connection, appeal_id: int) -> dict[str, Any]:
    """One appeal; UnknownRecord if there is none."""
    row = conn.execute(
        f"SELECT {_APPEAL_COLUMNS} FROM warning_appeals WHERE id = ?", (appeal_id,)
    ).fetchone()
    if row is None:
        raise UnknownRecord(f"no appeal {appeal_id}")
    return _appeal(row)


def decide_appeal(
    conn: sqlite3.Connection,
    counting: Counting,
    appeal_id: int,
    *,
    accept: bool,
    note: str,
    by: str,
    at: str,
) -> list[str]:
    """The office's decision. Accepting voids each contested vote (still standing) through
    :func:`hub.appeals.void_vote`, which moves the counts and the warnings; rejecting needs
    a note. Returns the warnings that changed."""
    found = appeal(conn, appeal_id)
    if found["status"] != "filed":
        raise StateError(f"appeal {appeal_id} was {found['status']} at {found['decided_at']}")
    note = note.strip()
    if not accept:
        note = _text(note, "note")
    elif len(note) > MAX_TEXT:
        raise StateError(f"note: at most {MAX_TEXT} characters")
    changed: list[str] = []
    if accept:
        for vote in found["votes"]:
            voided = conn.execute("SELECT 1 FROM vote_voids WHERE vote_id = ?", (vote,)).fetchone()
            if voided is not None:
                continue
            done = void_vote(
                conn,
                counting,
                vote,
                reason=found["reason"],
                by=by,
                note=f"appeal {appeal_id}" + (f": {note}" if note else ""),
            )
            changed.extend(done.warnings)
    conn.execute(
        "UPDATE warning_appeals SET status = ?, decided_by = ?, decided_at = ?,"
        " decision_note = ? WHERE id = ?",
        ("accepted" if accept else "rejected", by, at, note or None, appeal_id),
    )
    return list(dict.fromkeys(changed))
