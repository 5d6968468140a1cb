"""The hub's own rules: what a vote names must match what the hall knows.

A window device filters repeat presses itself (``device_agent/session.py``)
and says so in the vote's ``filter``. Everything else a device sends it could
have forged — the window, the staff member, the ticket, the time — so the hub
judges each vote that arrives unfiltered against the hall's directory, the
duty record, the votes already stored and the clock. The first rule that
catches a vote (in the order of :data:`RULES`) is stored with it in
``hub_rule`` and ``hub_rule_version``; the vote is kept and shown, and
counts toward nothing. ``hub rebuild`` judges every vote again, in arrival
order, with the same code, so it reaches the same verdicts.

A judgement only looks at what arrived before the vote (a lower ``rowid``,
an event received no later), so it is the same at ingest and at a rebuild.
One exception: accepting a held vote judges that vote again, not the later
votes its change may catch; the next rebuild brings those in line.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from device_agent.configfile import Bool, Int, between, section
from device_agent.protocol import VoteFilter
from hub import instants
from hub.directory import Directory
from hub.instants import iso

# Each rule and its version; a version goes up whenever what the rule catches changes.
RULES: dict[str, int] = {
    # A window vote for a window its device does not serve, or from a device of another kind.
    "device_window": 1,
    # A kiosk vote naming a window the directory does not list.
    "unknown_window": 1,
    # A vote naming a staff member the directory does not list.
    "unknown_staff": 1,
    # A window vote naming someone not signed in at that window, on a day the window
    # records who is on duty.
    "not_on_duty": 1,
    # A cast time later than its arrival by more than the allowed clock skew.
    "future_cast": 1,
    # Cast in a month already closed when it arrived: held for the office to accept.
    "closed_period": 1,
    # A ticket (one service) already rated that day, on any channel.
    "ticket_repeat": 1,
    # A dissatisfied kiosk vote for someone the same kiosk gave a counted
    # dissatisfied vote to a few minutes before.
    "kiosk_burst": 1,
}
# Held votes the efficiency office may accept into the counts (hub.appeals.accept_vote).
ACCEPTABLE = frozenset({"closed_period"})


@section
class RuleSettings:
    """The hall's choices for the hub's rules (``[rules]`` in the hub's file)."""

    # Window votes must name the person signed in at the window, when the window signs in.
    duty_binding: Bool = True
    # One rating per ticket per day across every channel.
    ticket_once: Bool = True
    # Minutes within which repeated dissatisfied kiosk votes for one person are a burst; 0: off.
    kiosk_burst_min: Annotated[Int, between(0, 24 * 60)] = 10
    # A month closes this many days after its last day; later arrivals for it are held.
    close_days: Annotated[Int, between(0, 366)] = 5


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the rules read of one vote. ``rowid`` is None for a vote not stored yet."""

    id: str
    device: str
    channel: str
    window: str | None
    staff: str | None
    ticket: str | None
    level: int
    cast_at: int  # milliseconds since the epoch (hub.instants), as stored
    received_at: int
    rowid: int | None = None


class BatchSeen:
    """The counted votes judged earlier in the batch being stored, not in the table yet.

    The store judges a batch in memory and inserts it at once; the rules that
    look back at counted votes (``ticket_repeat``, ``kiosk_burst``) look here
    too, so a vote is judged as if the ones before it in the batch were stored.
    """

    __slots__ = ("dissatisfied", "tickets")

    def __init__(self) -> None:
        self.tickets: dict[str, list[int]] = {}  # ticket: cast times
        self.dissatisfied: dict[tuple[str, str], list[int]] = {}  # (staff, device): cast times

    def add(self, vote: Candidate) -> None:
        """Note a vote that counts."""
        if vote.ticket is not None:
            self.tickets.setdefault(vote.ticket, []).append(vote.cast_at)
        if vote.staff is not None and vote.level <= 2:
            self.dissatisfied.setdefault((vote.staff, vote.device), []).append(vote.cast_at)

    def ticket(self, ticket: str, start: int, end: int) -> bool:
        return any(start <= cast < end for cast in self.tickets.get(ticket, ()))

    def burst(self, staff: str, device: str, low: int, high: int) -> bool:
        return any(low < cast < high for cast in self.dissatisfied.get((staff, device), ()))


class HubRules:
    """Judges votes for one hall; see the module's docstring."""

    def __init__(
        self,
        settings: RuleSettings,
        directory: Directory,
        *,
        timezone: str,
        clock_skew_s: float,
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.zone = ZoneInfo(timezone)
        self.skew_ms = round(clock_skew_s * 1000)

    def judge(
        self, conn: sqlite3.Connection, vote: Candidate, *, seen: BatchSeen | None = None
    ) -> VoteFilter | None:
        """The first rule that catches ``vote``, or None when it counts.

        ``seen``: the counted votes before it in a batch not stored yet.
        """
        rule = (
            self._binding(vote)
            or self._duty(conn, vote)
            or self._time(conn, vote)
            or self._repeat(conn, vote, seen)
        )
        return None if rule is None else VoteFilter(rule, RULES[rule])

    def event_problem(self, device: str, window: str | None, staff: str | None) -> str | None:
        """Why a service event from ``device`` cannot be accepted, or None."""
        served = self.directory.devices[device].window
        if window is not None and window != served:
            return f"window: {device!r} serves {served!r}, not {window!r}"
        if staff is not None and staff not in self.directory.staff:
            return f"staff: {staff!r} is not in the hall's directory"
        return None

    def _binding(self, vote: Candidate) -> str | None:
        device = self.directory.devices.get(vote.device)
        if device is None:  # ingest quarantines unknown devices; a rebuild may meet old ones
            return "device_window"
        if vote.channel == "window":
            if device.kind != "evaluator" or vote.window != device.window:
                return "device_window"
        elif device.kind != "kiosk":
            return "device_window"
        elif vote.window is not None and vote.window not in self.directory.windows:
            return "unknown_window"
        if vote.staff is not None and vote.staff not in self.directory.staff:
            return "unknown_staff"
        return None

    def _duty(self, conn: sqlite3.Connection, vote: Candidate) -> str | None:
        if not self.settings.duty_binding or vote.channel != "window" or vote.staff is None:
            return None
        # The window's latest sign-in or sign-out that day before the vote, as known
        # when the vote arrived. No such event: the window does not record duty today.
        # Service events keep their times as ISO text in UTC (few rows, compared as text).
        row = conn.execute(
            DUTY_SQL,
            (
                vote.window,
                iso(self._day_start(vote.cast_at)),
                iso(vote.cast_at),
                iso(vote.received_at),
            ),
        ).fetchone()
        if row is None:
            return None
        staff, event = row
        return None if event == "sign_in" and staff == vote.staff else "not_on_duty"

    def _time(self, conn: sqlite3.Connection, vote: Candidate) -> str | None:
        if vote.cast_at - vote.received_at > self.skew_ms:
            return "future_cast"
        # A month closes close_days after its end, so a vote that arrived sooner than
        # that after it was cast cannot be late: most votes skip the calendar below.
        if vote.received_at - vote.cast_at < self.settings.close_days * instants.DAY_MS:
            return None
        closes = self.closes(instants.moment(vote.cast_at))
        if instants.moment(vote.received_at) >= closes and not _accepted(conn, vote.id):
            return "closed_period"
        return None

    def _repeat(
        self, conn: sqlite3.Connection, vote: Candidate, seen: BatchSeen | None
    ) -> str | None:
        before = vote.rowid if vote.rowid is not None else 2**63 - 1
        if self.settings.ticket_once and vote.ticket is not None:
            start = self._day_start(vote.cast_at)
            end = start + instants.DAY_MS
            if (seen is not None and seen.ticket(vote.ticket, start, end)) or conn.execute(
                TICKET_SQL, (vote.ticket, start, end, before)
            ).fetchone():
                return "ticket_repeat"
        minutes = self.settings.kiosk_burst_min
        if minutes and vote.channel == "kiosk" and vote.staff is not None and vote.level <= 2:
            span = minutes * 60_000
            low, high = vote.cast_at - span, vote.cast_at + span
            if (seen is not None and seen.burst(vote.staff, vote.device, low, high)) or (
                conn.execute(BURST_SQL, (vote.staff, low, high, vote.device, before)).fetchone()
            ):
                return "kiosk_burst"
        return None

    def closes(self, cast: datetime) -> datetime:
        """When the month of ``cast`` (in the hall's zone) closes for late arrivals."""
        local = cast.astimezone(self.zone)
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        if year > 9999:
            return datetime.max.replace(tzinfo=UTC)
        first_of_next = datetime(year, month, 1, tzinfo=self.zone)
        return first_of_next + timedelta(days=self.settings.close_days)

    def _day_start(self, cast_at: int) -> int:
        """The start of the hall's calendar day holding ``cast_at`` (milliseconds)."""
        local = instants.moment(cast_at).astimezone(self.zone)
        return instants.ms_of(datetime(local.year, local.month, local.day, tzinfo=self.zone))


# The rules' reads, named so tests/test_query_plans.py checks the plan of exactly these.
DUTY_SQL = (
    "SELECT staff, event FROM service_events"
    " WHERE window = ? AND event IN ('sign_in', 'sign_out')"
    " AND cast_at >= ? AND cast_at <= ? AND received_at <= ?"
    " ORDER BY cast_at DESC, rowid DESC LIMIT 1"
)
TICKET_SQL = (
    "SELECT 1 FROM votes WHERE ticket = ? AND cast_at >= ? AND cast_at < ?"
    " AND counted = 1 AND rowid < ? LIMIT 1"
)
BURST_SQL = (
    "SELECT 1 FROM votes WHERE staff = ? AND cast_at > ? AND cast_at < ?"
    " AND device = ? AND level <= 2 AND counted = 1 AND rowid < ? LIMIT 1"
)

REJUDGE_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Rejudged:
    """One chunk of :func:`rejudge`: how far it judged, and the votes whose verdict moved.

    Every vote up to ``last`` (a rowid) has been judged; ``moved`` pairs each
    changed vote with whether it counted before. ``finished`` is true when no
    stored vote was left after ``last``; ``stopped`` when a judge-only pass
    stopped before a vote whose verdict would move.
    """

    last: int
    moved: list[tuple[Candidate, bool]]
    finished: bool
    stopped: bool = False


def rejudge(
    conn: sqlite3.Connection,
    rules: HubRules,
    *,
    after: int = 0,
    limit: int = REJUDGE_CHUNK,
    write: bool = True,
    enough: Callable[[], bool] = lambda: False,
) -> Rejudged:
    """Judge again, in arrival order, up to ``limit`` stored votes after rowid ``after``.

    ``hub rebuild`` calls this chunk after chunk, each in a short transaction
    of its own, so ingest never waits long for the write lock. With ``write``
    it stores every moved verdict (in the caller's write transaction) and
    stops early once ``enough()`` says the transaction has held the lock long
    enough; without it (a read transaction) it only looks, and stops before
    the first vote whose verdict would move, so that vote is judged again
    where the change can be written. A vote a device rule filtered keeps that
    rule.
    """
    rows = conn.execute(
        "SELECT rowid, id, device, channel, window, staff, ticket, level, cast_at,"
        " received_at, hub_rule, counted FROM votes"
        " WHERE rowid > ? AND filter_rule IS NULL ORDER BY rowid LIMIT ?",
        (after, limit),
    ).fetchall()
    last = after
    moved: list[tuple[Candidate, bool]] = []
    for n, row in enumerate(rows):
        rowid, ident, *fields, hub_rule, counted = row
        candidate = Candidate(ident, *fields, rowid=rowid)
        verdict = rules.judge(conn, candidate)
        rule = verdict.rule if verdict else None
        if rule != hub_rule or counted != (verdict is None):
            if not write:
                return Rejudged(last, moved, finished=False, stopped=True)
            moved.append((candidate, bool(counted)))
            conn.execute(
                "UPDATE votes SET hub_rule = ?, hub_rule_version = ?, counted = ? WHERE rowid = ?",
                (rule, verdict.version if verdict else None, int(verdict is None), rowid),
            )
        last = rowid
        if write and n + 1 < len(rows) and enough():
            return Rejudged(last, moved, finished=False)
    return Rejudged(last, moved, finished=len(rows) < limit)


def _accepted(conn: sqlite3.Connection, vote_id: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM vote_acceptances WHERE vote_id = ?", (vote_id,)).fetchone()
        is not None
    )
