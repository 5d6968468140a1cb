"""The console's votes list and filter summary: the reads behind ``/console/votes``.

A page of votes is one keyset walk of :mod:`hub.vote_pages` (next: the votes
after the page's last rowid; previous: the votes before its first), never an
``OFFSET``, so the hundredth page costs what the first does. The date range
is days in the hall's time zone; a department's list is the votes at its
windows or naming its staff. The filter summary counts, per rule, the presses
it filtered in the range: one walk of the ``votes_rule`` index per rule (the
votes a rule caught, about a hundredth of a hall's) from the first vote cast
in the range's first hour; the counted votes come from the day counts.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from hub.config import HubConfig
from hub.filters import day_bounds
from hub.instants import moment
from hub.vote_pages import COLUMNS, PageQuery, read_page
from hub.vote_rows import first_rowid_cast_since

PAGE_SIZE = 50
# A page walks the table at most this many rowids, a span at a time: a rare filter
# over old days stops there and offers to search on, instead of walking to the end.
WALK_SPAN = 100_000
WALK_SPANS = 4
MAX_SUMMARY_DAYS = 92
CHANNELS = ("window", "kiosk")
STATUSES = ("counted", "filtered")
# The rules a device or the hub may store with a vote (device_agent/session.py, hub/rules.py);
# each has its explanation in the console's messages as "votes.rule.<name>".
KNOWN_RULES = (
    "one_per_service",
    "cooldown",
    "no_service",
    "device_window",
    "unknown_window",
    "unknown_staff",
    "not_on_duty",
    "future_cast",
    "closed_period",
    "ticket_repeat",
    "kiosk_burst",
)
_NAMES = [name.strip() for name in COLUMNS.split(",")]
MAX_ROWID_SQL = "SELECT max(rowid) FROM votes"


class BadFilter(ValueError):
    """A filter the list cannot apply (its message says which)."""


@dataclass(frozen=True, slots=True)
class VoteFilters:
    """What the list is asked for; dates are days in the hall's time zone, both included."""

    first: date
    last: date
    window: str | None = None
    staff: str | None = None
    department: str | None = None
    level: int | None = None
    channel: str | None = None
    status: str | None = None  # "counted", "filtered" or None for both
    rule: str | None = None
    comment: bool = False

    def as_args(self) -> dict[str, str]:
        """The filters as the page's query string writes them (empty ones left out)."""
        args = {"from": self.first.isoformat(), "until": self.last.isoformat()}
        for name in ("window", "staff", "department", "level", "channel", "status", "rule"):
            value = getattr(self, name)
            if value is not None:
                args[name] = str(value)
        if self.comment:
            args["comment"] = "1"
        return args


@dataclass(frozen=True, slots=True)
class VoteRow:
    """One vote as the list shows it."""

    rowid: int
    id: str
    cast: str  # in the hall's time zone
    device: str
    channel: str
    window: str | None
    staff: str | None
    level: int
    comment: str | None
    reasons: list[str]
    counted: bool
    rule: str | None  # the rule that kept it from counting: the device's, else the hub's
    rule_version: int | None
    by_hub: bool


@dataclass(slots=True)
class VotesPage:
    """One page: its votes in arrival order and where the pages next to it start."""

    rows: list[VoteRow] = field(default_factory=list)
    next_after: int | None = None
    previous_before: int | None = None
    # Set when the walk stopped at its budget: every vote up to (or from) this rowid was read.
    searched_to: int | None = None


def parse_filters(
    args: Any, config: HubConfig, *, today: date, department: str | None
) -> VoteFilters:
    """The filters of a request's query string; ``department`` binds a department head's."""
    directory = config.directory

    def text(name: str) -> str | None:
        value = (args.get(name) or "").strip()
        return value or None

    def day(name: str, default: date) -> date:
        raw = text(name)
        if raw is None:
            return default
        try:
            return date.fromisoformat(raw)
        except ValueError as exc:
            raise BadFilter(f"{name}: {raw!r} is not a date like 2026-11-22") from exc

    first = day("from", today.replace(day=1))
    last = day("until", today)
    if last < first:
        raise BadFilter("until: must not be before from")
    window, staff, chosen = text("window"), text("staff"), text("department")
    if window is not None and window not in directory.windows:
        raise BadFilter(f"window: {window!r} is not in the directory")
    if staff is not None and staff not in directory.staff:
        raise BadFilter(f"staff: {staff!r} is not in the directory")
    if chosen is not None and chosen not in directory.departments:
        raise BadFilter(f"department: {chosen!r} is not in the directory")
    if department is not None:
        if chosen not in (None, department):
            raise PermissionError("another department")
        chosen = department
        if window is not None and directory.windows[window].department != department:
            raise PermissionError("a window of another department")
        if staff is not None and directory.staff[staff].department != department:
            raise PermissionError("staff of another department")
    level = text("level")
    if level is not None and level not in {"1", "2", "3", "4", "5"}:
        raise BadFilter("level: must be 1 to 5")
    channel, status, rule = text("channel"), text("status"), text("rule")
    if channel is not None and channel not in CHANNELS:
        raise BadFilter(f"channel: must be one of {', '.join(CHANNELS)}")
    if status is not None and status not in STATUSES:
        raise BadFilter(f"status: must be one of {', '.join(STATUSES)}")
    if rule is not None and rule not in KNOWN_RULES:
        raise BadFilter(f"rule: {rule!r} is not a filter rule")
    return VoteFilters(
        first=first,
        last=last,
        window=window,
        staff=staff,
        department=chosen,
        level=None if level is None else int(level),
        channel=channel,
        status=status,
        rule=rule,
        comment=text("comment") is not None,
    )


def page_query(
    config: HubConfig, filters: VoteFilters, *, after: int = 0, before: int | None = None
) -> PageQuery:
    """The keyset query of one page (one vote more than shown, to know whether more follow)."""
    zone = ZoneInfo(config.timezone)
    since, _ = day_bounds(filters.first, zone)
    _, until = day_bounds(filters.last, zone)
    windows_in = staff_in = None
    if filters.department is not None:
        directory = config.directory
        windows_in = tuple(
            w.id for w in directory.windows.values() if w.department == filters.department
        )
        staff_in = tuple(
            s.id for s in directory.staff.values() if s.department == filters.department
        )
    counted = None if filters.status is None else filters.status == "counted"
    if filters.rule is not None:
        counted = False
    return PageQuery(
        after=after,
        before=before,
        limit=PAGE_SIZE + 1,
        window=filters.window,
        staff=filters.staff,
        rule=filters.rule,
        since_ms=since,
        until_ms=until,
        level=filters.level,
        channel=filters.channel,
        counted=counted,
        with_comment=filters.comment,
        windows_in=windows_in,
        staff_in=staff_in,
    )


def read_votes(
    conn: sqlite3.Connection,
    config: HubConfig,
    filters: VoteFilters,
    *,
    after: int = 0,
    before: int | None = None,
    span: int = WALK_SPAN,
    spans: int = WALK_SPANS,
) -> VotesPage:
    """The page after rowid ``after`` (or before rowid ``before``) of the filtered votes.

    The walk reads at most ``spans`` spans of ``span`` rowids; when they hold
    fewer votes than a page, the page says how far it searched
    (``searched_to``) and its next (or previous) link goes on from there, so
    no vote is skipped or shown twice.
    """
    since, _ = day_bounds(filters.first, ZoneInfo(config.timezone))
    first = first_rowid_cast_since(conn, since)
    start = 0 if first is None else first - 1  # no vote of the range has a rowid <= start
    top = conn.execute(MAX_ROWID_SQL).fetchone()[0] or 0
    rows: list[tuple[Any, ...]] = []
    page = VotesPage()
    if before is None:
        cursor = max(after, start)
        for _ in range(spans):
            if first is None or cursor >= top:
                break
            below = cursor + span + 1
            query = page_query(config, filters, after=cursor)
            query = replace(query, below=below, limit=PAGE_SIZE + 1 - len(rows))
            rows += read_page(conn, query)
            cursor = below - 1
            if len(rows) > PAGE_SIZE:
                break
        shown = rows[:PAGE_SIZE]
        if len(rows) > PAGE_SIZE:
            page.next_after = shown[-1][0]
        elif cursor < top and first is not None:
            page.next_after = page.searched_to = cursor
        page.previous_before = (shown[0][0] if shown else cursor + 1) if after > start else None
    else:
        cursor = before
        for _ in range(spans):
            if cursor <= start + 1:
                break
            lower = max(start, cursor - span - 1)
            query = page_query(config, filters, after=lower, before=cursor)
            query = replace(query, limit=PAGE_SIZE + 1 - len(rows))
            rows = read_page(conn, query) + rows
            cursor = lower + 1
            if len(rows) > PAGE_SIZE:
                break
        shown = rows[-PAGE_SIZE:]
        if len(rows) > PAGE_SIZE:
            page.previous_before = shown[0][0]
        elif cursor > start + 1:
            page.previous_before = page.searched_to = cursor
        page.next_after = shown[-1][0] if shown else before - 1
    zone = ZoneInfo(config.timezone)
    page.rows = [_row(dict(zip(_NAMES, row, strict=True)), zone) for row in shown]
    return page


def _row(raw: dict[str, Any], zone: ZoneInfo) -> VoteRow:
    rule = raw["filter_rule"] or raw["hub_rule"]
    version = raw["filter_version"] if raw["filter_rule"] else raw["hub_rule_version"]
    reasons = json.loads(raw["reasons"]) if raw["reasons"] else []
    return VoteRow(
        rowid=raw["rowid"],
        id=raw["id"],
        cast=moment(raw["cast_at"]).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
        device=raw["device"],
        channel=raw["channel"],
        window=raw["window"],
        staff=raw["staff"],
        level=raw["level"],
        comment=raw["comment"] or None,
        reasons=[str(r) for r in reasons] if isinstance(reasons, list) else [],
        counted=bool(raw["counted"]),
        rule=rule,
        rule_version=version,
        by_hub=not raw["filter_rule"] and raw["hub_rule"] is not None,
    )


# The votes one rule filtered, from a rowid on: a range of the votes_rule index (the
# votes a rule caught, a hundredth of a hall's), the range's days a test on each.
RULE_SQL = (
    "SELECT coalesce(filter_version, hub_rule_version), window, staff FROM votes"
    " WHERE coalesce(filter_rule, hub_rule) = ? AND rowid > ? AND +cast_at >= ? AND +cast_at < ?"
)
# The counted votes of the hall (or a department) on a range of days, from the counts.
COUNTED_SQL = (
    "SELECT coalesce(sum(total), 0) FROM counts"
    " WHERE scope = ? AND period BETWEEN ? AND ? AND subject = ? AND grain = 'day'"
)


@dataclass(frozen=True, slots=True)
class RuleCount:
    """One rule in the summary: the presses it filtered in the range."""

    rule: str
    presses: int
    versions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FilterSummary:
    """The range's counted votes, and the presses each rule filtered (most first)."""

    counted: int
    rules: list[RuleCount]

    @property
    def filtered(self) -> int:
        return sum(rule.presses for rule in self.rules)


def filter_summary(
    conn: sqlite3.Connection,
    config: HubConfig,
    *,
    first: date,
    last: date,
    department: str | None,
) -> FilterSummary:
    """Per rule, the presses it filtered from ``first`` to ``last`` (at most 92 days).

    Each rule is one walk of its votes from the first vote cast in the hour
    the range starts; a department's are the votes at its windows or naming its
    staff. The counted votes come from the day counts.
    """
    if (last - first).days >= MAX_SUMMARY_DAYS:
        raise BadFilter(f"at most {MAX_SUMMARY_DAYS} days at a time")
    zone = ZoneInfo(config.timezone)
    since, _ = day_bounds(first, zone)
    _, until = day_bounds(last, zone)
    start = first_rowid_cast_since(conn, since)
    directory = config.directory
    windows = {w.id for w in directory.windows.values() if w.department == department}
    staff = {s.id for s in directory.staff.values() if s.department == department}
    rules = []
    if start is not None:
        for rule in KNOWN_RULES:
            count = 0
            versions: set[int] = set()
            for version, window, person in conn.execute(RULE_SQL, (rule, start - 1, since, until)):
                if department is not None and window not in windows and person not in staff:
                    continue
                count += 1
                if version is not None:
                    versions.add(version)
            if count:
                rules.append(RuleCount(rule, count, tuple(sorted(versions))))
    rules.sort(key=lambda r: (-r.presses, r.rule))
    scope, subject = ("hall", config.hall) if department is None else ("department", department)
    counted = conn.execute(
        COUNTED_SQL, (scope, first.isoformat(), last.isoformat(), subject)
    ).fetchone()[0]
    return FilterSummary(counted, rules)
