"""The efficiency warning engine: rules, raising, supersession, lifecycle and audit log.

A rule names a level, its action and the dissatisfied-vote counts that call
for it in a month or in a year (the defaults are Nanfeng county's, see
``docs/warnings.md``). :meth:`WarningEngine.review` runs in the transaction
that changed a staff member's counts: a warning is raised by the vote that
brings a count to its threshold, once per staff member, level and period,
under the deterministic id ``<staff>-<level>-<period>``; a higher level in the
same period supersedes the lower; a warning whose count falls below its
threshold (a vote voided on appeal) is withdrawn and kept, with both states
in its audit log. Every change is a numbered event in ``warning_events`` and
is handed to the forwarding outbox in the same transaction.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any

from pydantic import ValidationInfo

from device_agent.configfile import (
    Bool,
    Int,
    Problems,
    Str,
    between,
    checked,
    cross_check,
    empty_means,
    matching,
    section,
)
from device_agent.protocol import format_time
from hub.aggregates import Attribution, dissatisfied
from hub.errors import StateError, UnknownRecord
from hub.forwarding import ForwardingQueue
from hub.notify.notices import NoticeQueue
from hub.periods import Calendar, grain_of

LEVEL_NAME = re.compile(r"[A-Za-z0-9]{1,8}")
STATUSES = ("raised", "acknowledged", "actioned", "closed")
MAX_ACTION_CHARS = 64
MAX_NOTE_CHARS = 2000
CHUNK = 400  # staff ids per IN (...), under SQLite's parameter limit with the periods
Threshold = Annotated[Int, between(1, 1_000_000)]
NOTIFIED_EVENTS = ("raised", "reinstated")  # the events the roles are told of (hub.notify)


def _action_problem(value: str) -> str | None:
    return None if 0 < len(value) <= MAX_ACTION_CHARS else "must be 1-64 characters"


def _rule_problems(data: dict[str, Any], problems: Problems, info: ValidationInfo) -> None:
    if "monthly" not in data and "yearly" not in data:
        problems.add("monthly", "a rule needs a monthly or a yearly threshold, or both")


@section
class WarningRule:
    """One warning level: its name, the action it calls for, and its thresholds."""

    level: Annotated[Str, matching(LEVEL_NAME, "must be 1-8 letters or digits")]
    action: Annotated[Str, checked(_action_problem)]
    monthly: Threshold | None = None
    yearly: Threshold | None = None

    _cross = cross_check(_rule_problems)

    def threshold(self, grain: str) -> int | None:
        """The dissatisfied votes that call for this level in a ``month`` or ``year``."""
        return {"month": self.monthly, "year": self.yearly}.get(grain)


DEFAULT_RULES = (
    WarningRule("III", "效能告诫", monthly=10, yearly=40),
    WarningRule("II", "效能谈话", monthly=20, yearly=80),
    WarningRule("I", "诫勉谈话", monthly=40, yearly=120),
)


def _order_problems(data: dict[str, Any], problems: Problems, info: ValidationInfo) -> None:
    """Levels are named once and go from least to most severe (as written, checked or not)."""
    rules = data.get("rules", [])
    rules = [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []
    seen: set[object] = set()
    for i, rule in enumerate(rules):
        level = rule.get("level")
        if isinstance(level, str) and level in seen:
            problems.add(f"rules[{i}].level", f"duplicate level {level!r}")
        seen.add(level)
    for key in ("monthly", "yearly"):
        previous: int | None = None
        for i, rule in enumerate(rules):
            threshold = rule.get(key)
            if not isinstance(threshold, int) or isinstance(threshold, bool):
                continue
            if previous is not None and threshold <= previous:
                problems.add(
                    f"rules[{i}].{key}",
                    f"must exceed the less severe level's {previous}: rules go from least"
                    " to most severe",
                )
            previous = threshold


@section
class WarningSettings:
    """The ``[warnings]`` section: the rules, least severe first.

    ``enabled = false`` stops counting and warnings on ingest (benchmarks
    compare the two); ``hallrate hub rebuild`` then catches up.
    """

    enabled: Bool = True
    rules: Annotated[tuple[WarningRule, ...], empty_means(DEFAULT_RULES)] = DEFAULT_RULES

    _cross = cross_check(_order_problems)


def warning_id(staff: str, level: str, period: str) -> str:
    """The deterministic id of a staff member's warning at ``level`` in ``period``."""
    return f"{staff}-{level}-{period}"


_COLUMNS = (
    "id, staff, department, level, rank, grain, period, threshold, action, count,"
    " trigger_vote, raised_at, status, withdrawn_at, superseded_by, updated_at, events"
)
_NAMES = [c.strip() for c in _COLUMNS.split(",")]


# One staff member's counted dissatisfied votes in one period, read through the
# (staff, cast_at) index; sorting that handful into arrival order is the only sort.
VOTES_BEHIND_SQL = (
    "SELECT v.id FROM votes v WHERE v.staff = ? AND v.cast_at >= ? AND v.cast_at < ?"
    " AND v.counted = 1 AND v.level <= 2"
    " AND NOT EXISTS (SELECT 1 FROM vote_voids x WHERE x.vote_id = v.id)"
    " ORDER BY v.rowid"
)


def crossed_sql(staff: int, periods: int) -> str:
    """The counts read that tells which thresholds were crossed, for so many staff and periods."""
    return (
        "SELECT subject, period, dissatisfied FROM counts WHERE scope = 'staff'"
        f" AND subject IN ({', '.join('?' * staff)})"
        f" AND period IN ({', '.join('?' * periods)})"
    )


class WarningEngine:
    """Raises, supersedes, withdraws and moves warnings along their lifecycle."""

    def __init__(
        self,
        rules: Iterable[WarningRule],
        *,
        attribution: Attribution,
        calendar: Calendar,
        outbox: ForwardingQueue | None = None,
        notices: NoticeQueue | None = None,
        now: Callable[[], datetime],
    ) -> None:
        self.rules = tuple(rules)
        self.attribution = attribution
        self.calendar = calendar
        self.outbox = outbox
        self.notices = notices
        self._now = now
        # Issue 14: called with (conn, warning, by, what) when the office records the
        # notice sent (预警告知函, 限期整改); hub.cases opens the notice's case.
        self.on_notice: Callable[[sqlite3.Connection, dict[str, Any], str, str], object] | None = (
            None
        )

    # Raising, reinstating, withdrawing, superseding.

    def review(
        self,
        conn: sqlite3.Connection,
        staff_periods: Iterable[tuple[str, str]],
        *,
        by: str = "hub",
        cause: dict[str, Any] | None = None,
    ) -> list[str]:
        """Bring the warnings of each ``(staff, month or year)`` in line with its count.

        Returns the ids of the warnings that changed.
        """
        changed: list[str] = []
        for staff, period in sorted(set(staff_periods)):
            if grain_of(period) == "day":
                continue
            changed.extend(self._review_one(conn, staff, period, by=by, cause=cause or {}))
        return changed

    def crossed(
        self, conn: sqlite3.Connection, increases: dict[tuple[str, str], int]
    ) -> list[tuple[str, str]]:
        """The ``(staff, period)`` whose count just rose past a threshold, of those that rose.

        Counts that only rose cannot withdraw anything, so only a threshold
        crossed from below can change a warning: checking this first spares the
        hot path a review of every staff member in every batch.
        """
        if not increases:
            return []
        staff = sorted({s for s, _ in increases})
        periods = sorted({p for _, p in increases})
        now: dict[tuple[str, str], int] = {}
        for start in range(0, len(staff), CHUNK):
            chunk = staff[start : start + CHUNK]
            now.update(
                ((row[0], row[1]), row[2])
                for row in conn.execute(crossed_sql(len(chunk), len(periods)), [*chunk, *periods])
            )
        due = []
        for key, rise in increases.items():
            grain = grain_of(key[1])
            count = now.get(key, 0)
            thresholds = (rule.threshold(grain) for rule in self.rules)
            if any(t is not None and count - rise < t <= count for t in thresholds):
                due.append(key)
        return due

    def _review_one(
        self,
        conn: sqlite3.Connection,
        staff: str,
        period: str,
        *,
        by: str,
        cause: dict[str, Any],
    ) -> list[str]:
        grain = grain_of(period)
        count = dissatisfied(conn, staff, period)
        existing = {
            row["level"]: row
            for row in self._rows(conn, "WHERE staff = ? AND period = ?", (staff, period))
        }
        changed = []
        votes: list[str] | None = None
        for rank, rule in enumerate(self.rules):
            threshold = rule.threshold(grain)
            if threshold is None:
                continue
            holds = count >= threshold
            row = existing.get(rule.level)
            if holds and (row is None or row["withdrawn_at"] is not None):
                if votes is None:
                    votes = self.votes_behind(conn, staff, period)
                ident = warning_id(staff, rule.level, period)
                if row is None:
                    self._raise(
                        conn,
                        ident,
                        staff=staff,
                        period=period,
                        rank=rank,
                        rule=rule,
                        votes=votes,
                        by=by,
                        cause=cause,
                    )
                else:
                    self._reinstate(
                        conn, ident, rule=rule, threshold=threshold, votes=votes, by=by, cause=cause
                    )
                changed.append(ident)
            elif not holds and row is not None and row["withdrawn_at"] is None:
                now = self._stamp()
                conn.execute(
                    "UPDATE warnings SET withdrawn_at = ?, updated_at = ? WHERE id = ?",
                    (now, now, row["id"]),
                )
                self._event(
                    conn,
                    row["id"],
                    "withdrawn",
                    by,
                    {**cause, "count": count, "threshold": threshold},
                )
                changed.append(row["id"])
        changed.extend(self._supersede(conn, staff, period, by))
        return changed

    def _raise(
        self,
        conn: sqlite3.Connection,
        ident: str,
        *,
        staff: str,
        period: str,
        rank: int,
        rule: WarningRule,
        votes: list[str],
        by: str,
        cause: dict[str, Any],
    ) -> None:
        grain = grain_of(period)
        threshold = rule.threshold(grain)
        assert threshold is not None
        now = self._stamp()
        conn.execute(
            f"INSERT INTO warnings ({_COLUMNS}) VALUES ({', '.join('?' * len(_NAMES))})",
            (
                ident,
                staff,
                self.attribution.department(None, staff),
                rule.level,
                rank,
                grain,
                period,
                threshold,
                rule.action,
                len(votes),
                _trigger(votes, threshold),
                now,
                "raised",
                None,
                None,
                now,
                0,
            ),
        )
        conn.executemany(
            "INSERT INTO warning_votes (warning_id, vote_id) VALUES (?, ?)",
            [(ident, vote) for vote in votes],
        )
        self._event(
            conn,
            ident,
            "raised",
            by,
            {**cause, "count": len(votes), "threshold": threshold, "rule": _rule_text(rule, grain)},
        )

    def _reinstate(
        self,
        conn: sqlite3.Connection,
        ident: str,
        *,
        rule: WarningRule,
        threshold: int,
        votes: list[str],
        by: str,
        cause: dict[str, Any],
    ) -> None:
        # The same warning holds again: a new lifecycle, the old one kept in the log.
        now = self._stamp()
        conn.execute(
            "UPDATE warnings SET withdrawn_at = NULL, status = 'raised', count = ?,"
            " threshold = ?, action = ?, trigger_vote = ?, updated_at = ? WHERE id = ?",
            (len(votes), threshold, rule.action, _trigger(votes, threshold), now, ident),
        )
        self._replace_votes(conn, ident, votes)
        self._event(
            conn, ident, "reinstated", by, {**cause, "count": len(votes), "threshold": threshold}
        )

    def _supersede(self, conn: sqlite3.Connection, staff: str, period: str, by: str) -> list[str]:
        standing = self._rows(
            conn, "WHERE staff = ? AND period = ? AND withdrawn_at IS NULL", (staff, period)
        )
        if not standing:
            return []
        ranks = {rule.level: rank for rank, rule in enumerate(self.rules)}
        top = max(standing, key=lambda r: ranks.get(r["level"], r["rank"]))
        changed = []
        for row in standing:
            wanted = None if row["id"] == top["id"] else top["id"]
            if row["superseded_by"] == wanted:
                continue
            conn.execute(
                "UPDATE warnings SET superseded_by = ?, updated_at = ? WHERE id = ?",
                (wanted, self._stamp(), row["id"]),
            )
            if wanted is None:
                self._event(conn, row["id"], "unsuperseded", by, {})
            else:
                self._event(conn, row["id"], "superseded", by, {"by_warning": wanted})
            changed.append(row["id"])
        return changed

    def drop_vote(
        self, conn: sqlite3.Connection, vote_id: str, *, by: str, cause: dict[str, Any]
    ) -> list[str]:
        """Take a voided vote out of the evidence of the standing warnings that cite it."""
        changed = []
        for (ident,) in conn.execute(
            "SELECT w.id FROM warning_votes x JOIN warnings w ON w.id = x.warning_id"
            " WHERE x.vote_id = ? AND w.withdrawn_at IS NULL",
            (vote_id,),
        ).fetchall():
            row = self.get(conn, ident)
            votes = self.votes_behind(conn, row["staff"], row["period"])
            self._replace_votes(conn, ident, votes)
            conn.execute(
                "UPDATE warnings SET count = ?, trigger_vote = ?, updated_at = ? WHERE id = ?",
                (len(votes), _trigger(votes, row["threshold"]), self._stamp(), ident),
            )
            self._event(conn, ident, "votes_changed", by, {**cause, "count": len(votes)})
            changed.append(ident)
        return changed

    def votes_behind(self, conn: sqlite3.Connection, staff: str, period: str) -> list[str]:
        """The counted dissatisfied votes of a staff member in a period, in arrival order."""
        start, end = self.calendar.bounds_ms(period)
        return [row[0] for row in conn.execute(VOTES_BEHIND_SQL, (staff, start, end))]

    # The lifecycle: raised -> acknowledged -> actioned -> closed.

    def acknowledge(
        self, conn: sqlite3.Connection, ident: str, *, by: str, note: str | None = None
    ) -> dict[str, Any]:
        """A manager has seen the warning."""
        return self._step(
            conn, ident, allowed=("raised",), status="acknowledged", by=by, detail=_note(note)
        )

    def record_action(
        self, conn: sqlite3.Connection, ident: str, *, by: str, what: str
    ) -> dict[str, Any]:
        """Record what the efficiency office did (the talk held, the notice sent)."""
        if not what.strip():
            raise StateError("what: say what was done")
        if len(what) > MAX_NOTE_CHARS:
            raise StateError(f"what: at most {MAX_NOTE_CHARS} characters")
        row = self._step(
            conn,
            ident,
            allowed=("acknowledged", "actioned"),
            status="actioned",
            by=by,
            detail={"what": what},
            event="action",
        )
        if self.on_notice is not None:
            self.on_notice(conn, row, by, what)
        return row

    def close(
        self, conn: sqlite3.Connection, ident: str, *, by: str, note: str | None = None
    ) -> dict[str, Any]:
        """Close a warning whose action is recorded."""
        return self._step(
            conn, ident, allowed=("actioned",), status="closed", by=by, detail=_note(note)
        )

    def _step(
        self,
        conn: sqlite3.Connection,
        ident: str,
        *,
        allowed: tuple[str, ...],
        status: str,
        by: str,
        detail: dict[str, Any],
        event: str | None = None,
    ) -> dict[str, Any]:
        row = self.get(conn, ident)
        if row["withdrawn_at"] is not None:
            raise StateError(f"warning {ident} was withdrawn at {row['withdrawn_at']}")
        if row["status"] not in allowed:
            raise StateError(
                f"warning {ident} is {row['status']}; this needs it {' or '.join(allowed)}"
            )
        conn.execute(
            "UPDATE warnings SET status = ?, updated_at = ? WHERE id = ?",
            (status, self._stamp(), ident),
        )
        self._event(conn, ident, event or status, by, detail)
        return self.get(conn, ident)

    # Records and the audit log.

    def get(self, conn: sqlite3.Connection, ident: str) -> dict[str, Any]:
        """One warning's row as a dict; raises UnknownRecord."""
        rows = self._rows(conn, "WHERE id = ?", (ident,))
        if not rows:
            raise UnknownRecord(f"no warning {ident!r}")
        return rows[0]

    def _rows(
        self, conn: sqlite3.Connection, where: str, params: tuple[Any, ...]
    ) -> list[dict[str, Any]]:
        return [
            dict(zip(_NAMES, row, strict=True))
            for row in conn.execute(f"SELECT {_COLUMNS} FROM warnings {where}", params)
        ]

    def _replace_votes(self, conn: sqlite3.Connection, ident: str, votes: list[str]) -> None:
        conn.execute("DELETE FROM warning_votes WHERE warning_id = ?", (ident,))
        conn.executemany(
            "INSERT INTO warning_votes (warning_id, vote_id) VALUES (?, ?)",
            [(ident, vote) for vote in votes],
        )

    def _event(
        self, conn: sqlite3.Connection, ident: str, name: str, by: str, detail: dict[str, Any]
    ) -> None:
        seq = conn.execute(
            "UPDATE warnings SET events = events + 1 WHERE id = ? RETURNING events", (ident,)
        ).fetchone()[0]
        at = self._stamp()
        conn.execute(
            "INSERT INTO warning_events (warning_id, seq, event, at, by, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (ident, seq, name, at, by, json.dumps(detail, ensure_ascii=False, sort_keys=True)),
        )
        if self.outbox is not None and self.outbox.channels:
            document = warning_document(conn, ident, hall=self.attribution.hall)
            document["event"] = {"seq": seq, "name": name, "at": at, "by": by, "detail": detail}
            document["message_id"] = f"{ident}.{seq}"
            self.outbox.enqueue(conn, "warning", document["message_id"], document)
        if self.notices is not None and name in NOTIFIED_EVENTS:
            # Queued in this transaction; hub.notify.sender does the network, later.
            self.notices.warning(conn, ident, seq)

    def _stamp(self) -> str:
        return format_time(self._now())


def warning_document(conn: sqlite3.Connection, ident: str, *, hall: str) -> dict[str, Any]:
    """A warning as the API shows it and central receives it (protocol.md, warning event)."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM warnings WHERE id = ?", (ident,)).fetchone()
    if row is None:
        raise UnknownRecord(f"no warning {ident!r}")
    record = dict(zip(_NAMES, row, strict=True))
    votes = [
        r[0]
        for r in conn.execute(
            "SELECT x.vote_id FROM warning_votes x JOIN votes v ON v.id = x.vote_id"
            " WHERE x.warning_id = ? ORDER BY v.rowid",
            (ident,),
        )
    ]
    return {
        "v": 1,
        "id": record["id"],
        "hall": hall,
        "staff": record["staff"],
        "department": record["department"],
        "level": record["level"],
        "grain": record["grain"],
        "period": record["period"],
        "count": record["count"],
        "threshold": record["threshold"],
        "action": record["action"],
        "raised_at": record["raised_at"],
        "trigger_vote": record["trigger_vote"],
        "status": record["status"],
        "withdrawn_at": record["withdrawn_at"],
        "superseded_by": record["superseded_by"],
        "updated_at": record["updated_at"],
        "votes": votes,
    }


def warning_events(conn: sqlite3.Connection, ident: str) -> list[dict[str, Any]]:
    """A warning's audit log, oldest first."""
    return [
        {"seq": r[0], "event": r[1], "at": r[2], "by": r[3], "detail": json.loads(r[4])}
        for r in conn.execute(
            "SELECT seq, event, at, by, detail FROM warning_events WHERE warning_id = ?"
            " ORDER BY seq",
            (ident,),
        )
    ]


def _trigger(votes: list[str], threshold: int) -> str | None:
    """The vote that brought the count to ``threshold`` (votes are in arrival order)."""
    if not votes:
        return None
    return votes[min(threshold, len(votes)) - 1]


def _rule_text(rule: WarningRule, grain: str) -> str:
    return f"level {rule.level}: {rule.threshold(grain)} dissatisfied votes in a {grain}"


def _note(note: str | None) -> dict[str, Any]:
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise StateError(f"note: at most {MAX_NOTE_CHARS} characters")
    return {"note": note} if note else {}
