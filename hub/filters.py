"""Filtered presses at the hub: stored like every vote, never counted, always explained.

A window device marks a press that an anti-manipulation rule caught with
``filter: {"rule": ..., "version": ...}`` (see ``device_agent/session.py``).
The hub stores it with ``counted = 0`` and the rule in ``filter_rule`` and
``filter_version``; a vote the hub's own rules caught (``hub/rules.py``) has
its rule in ``hub_rule`` and ``hub_rule_version``. No count or warning
includes either, and :func:`presses_by_day` tells, per window (and per
kiosk) and day, how many presses each rule filtered beside how many counted.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from hub.instants import ms_of


@dataclass(slots=True)
class DayAtWindow:
    """What happened to the presses at one window on one day."""

    window: str | None
    day: str
    presses: int = 0
    counted: int = 0
    unsolicited: int = 0
    filtered: dict[str, int] = field(default_factory=dict)
    rule_versions: dict[str, list[int]] = field(default_factory=dict)
    # Set for a kiosk's row (its votes name a staff member, not always a window).
    kiosk: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The API's form of it."""
        return {
            "window": self.window,
            **({"kiosk": self.kiosk} if self.kiosk else {}),
            "day": self.day,
            "presses": self.presses,
            "counted": self.counted,
            "unsolicited": self.unsolicited,
            "filtered": dict(sorted(self.filtered.items())),
            "rule_versions": {k: sorted(v) for k, v in sorted(self.rule_versions.items())},
        }


# The rule that kept a vote from counting: the device's, or else the hub's.
_SUMMARY = (
    "counted, coalesce(filter_rule, hub_rule), coalesce(filter_version, hub_rule_version),"
    " flags, count(*)"
)
# One window's presses on one day, a range of the (window, cast_at) index; a kiosk's, of
# the (device, cast_at) index over kiosk votes.
WINDOW_DAY_SQL = (
    f"SELECT {_SUMMARY} FROM votes WHERE window = ? AND channel = 'window'"
    " AND cast_at >= ? AND cast_at < ? GROUP BY 1, 2, 3, 4"
)
KIOSK_DAY_SQL = (
    f"SELECT {_SUMMARY} FROM votes WHERE device = ? AND channel = 'kiosk'"
    " AND cast_at >= ? AND cast_at < ? GROUP BY 1, 2, 3, 4"
)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[int, int]:
    """The ``cast_at`` range ``[start, end)``, in milliseconds, of a day in the hall's zone."""
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return ms_of(start), ms_of(end)


def presses_by_day(
    db: sqlite_utils.Database,
    *,
    windows: list[str],
    first: date,
    last: date,
    zone: ZoneInfo,
    kiosks: Sequence[str] = (),
) -> list[DayAtWindow]:
    """Per window and day from ``first`` to ``last``: presses, counted, and filtered by rule.

    Each (window, day) is one range scan of the ``(window, cast_at)`` index,
    so the cost follows the votes asked about, not the size of the table.
    Kiosk votes (``kiosks``) come after, one row per kiosk and day.
    Days and windows without a press are left out.
    """
    days = []
    day = first
    while day <= last:
        days.append((day.isoformat(), day_bounds(day, zone)))
        day += timedelta(days=1)
    result = [
        found
        for key, bounds in days
        for window in windows
        if (found := _day_of(db, window, key, bounds, kiosk=False)) is not None
    ]
    return result + [
        found
        for kiosk in kiosks
        for key, bounds in days
        if (found := _day_of(db, kiosk, key, bounds, kiosk=True)) is not None
    ]


def _day_of(
    db: sqlite_utils.Database, subject: str, day: str, bounds: tuple[int, int], *, kiosk: bool
) -> DayAtWindow | None:
    """One window's (or kiosk's) presses on one day, or None when it had none."""
    rows = db.execute(KIOSK_DAY_SQL if kiosk else WINDOW_DAY_SQL, (subject, *bounds)).fetchall()
    if not rows:
        return None
    if kiosk:
        return _summarise(None, day, rows, kiosk=subject)
    return _summarise(subject, day, rows)


def _summarise(
    window: str | None, day: str, rows: list[tuple[Any, ...]], *, kiosk: str | None = None
) -> DayAtWindow:
    summary = DayAtWindow(window, day, kiosk=kiosk)
    filtered: defaultdict[str, int] = defaultdict(int)
    versions: defaultdict[str, set[int]] = defaultdict(set)
    for counted, rule, version, flags, n in rows:
        summary.presses += n
        if counted:
            summary.counted += n
            if "unsolicited" in json.loads(flags):
                summary.unsolicited += n
        else:
            # A vote not counted without a rule (none should be) still shows.
            name = rule or "unexplained"
            filtered[name] += n
            if version is not None:
                versions[name].add(version)
    summary.filtered = dict(filtered)
    summary.rule_versions = {k: sorted(v) for k, v in versions.items()}
    return summary
