"""Filtered presses at the hub: stored like every vote, never counted, always explained.

A window device marks a press that an anti-manipulation rule caught with
``filter: {"rule": ..., "version": ...}`` (see ``device_agent/session.py``).
The hub stores it with ``counted = 0`` and the rule in ``filter_rule`` and
``filter_version``, so no count or warning includes it, and
:func:`presses_by_day` tells, per window and day, how many presses each rule
filtered beside how many counted.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from device_agent.protocol import format_time


def add_filter_columns(db: sqlite_utils.Database) -> None:
    """Migration: the rule that filtered a vote, and the service a vote or event belongs to."""
    db.execute("ALTER TABLE votes ADD COLUMN filter_rule TEXT")
    db.execute("ALTER TABLE votes ADD COLUMN filter_version INTEGER")
    db.execute("ALTER TABLE votes ADD COLUMN service TEXT")
    db.execute("ALTER TABLE service_events ADD COLUMN service TEXT")


@dataclass(slots=True)
class DayAtWindow:
    """What happened to the presses at one window on one day."""

    window: str
    day: str
    presses: int = 0
    counted: int = 0
    unsolicited: int = 0
    filtered: dict[str, int] = field(default_factory=dict)
    rule_versions: dict[str, list[int]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The API's form of it."""
        return {
            "window": self.window,
            "day": self.day,
            "presses": self.presses,
            "counted": self.counted,
            "unsolicited": self.unsolicited,
            "filtered": dict(sorted(self.filtered.items())),
            "rule_versions": {k: sorted(v) for k, v in sorted(self.rule_versions.items())},
        }


def day_bounds(day: date, zone: ZoneInfo) -> tuple[str, str]:
    """The UTC ``cast_at`` range ``[start, end)`` of a calendar day in the hall's zone."""
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return format_time(start.astimezone(UTC)), format_time(end.astimezone(UTC))


def presses_by_day(
    db: sqlite_utils.Database,
    *,
    windows: list[str],
    first: date,
    last: date,
    zone: ZoneInfo,
) -> list[DayAtWindow]:
    """Per window and day from ``first`` to ``last``: presses, counted, and filtered by rule.

    Each (window, day) is one range scan of the ``(window, cast_at)`` index,
    so the cost follows the votes asked about, not the size of the table.
    Days and windows without a press are left out.
    """
    result = []
    day = first
    while day <= last:
        start, end = day_bounds(day, zone)
        for window in windows:
            rows = db.execute(
                "SELECT counted, filter_rule, filter_version, flags, count(*) FROM votes"
                " WHERE window = ? AND cast_at >= ? AND cast_at < ?"
                " GROUP BY counted, filter_rule, filter_version, flags",
                (window, start, end),
            ).fetchall()
            if rows:
                result.append(_summarise(window, day.isoformat(), rows))
        day += timedelta(days=1)
    return result


def _summarise(window: str, day: str, rows: list[tuple[Any, ...]]) -> DayAtWindow:
    summary = DayAtWindow(window, day)
    filtered: defaultdict[str, int] = defaultdict(int)
    versions: defaultdict[str, set[int]] = defaultdict(set)
    for counted, rule, version, flags, n in rows:
        summary.presses += n
        if counted:
            summary.counted += n
            if "unsolicited" in json.loads(flags):
                summary.unsolicited += n
        else:
            # A vote not counted for another reason than a device rule (none yet) still shows.
            name = rule or "unexplained"
            filtered[name] += n
            if version is not None:
                versions[name].add(version)
    summary.filtered = dict(filtered)
    summary.rule_versions = {k: sorted(v) for k, v in versions.items()}
    return summary
