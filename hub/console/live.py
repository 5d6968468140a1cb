"""The live hall's numbers: every window of the directory today, read from the hub's database.

The one place the live hall queries. Votes and satisfaction come from the
incremental ``counts`` (through the boards' reads in :mod:`hub.boards.content`,
the same numbers the LED boards show), who is on duty from the sign events
(:mod:`hub.duty`), the devices from what they last reported
(:mod:`hub.device_states`). The response rate is the services that ended at
a window today against the services its votes rated. Every query reads one
window's rows of today through an index, so the page costs the same in a
hall's seventh year as in its first week.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlite_utils

from hub.boards.content import Tally, window_duty, window_summary
from hub.config import HubConfig
from hub.device_states import device_states
from hub.periods import Calendar

# Services that ended at a window in a period (cast_at is UTC text there).
ENDED_SQL = (
    "SELECT count(*) FROM service_events"
    " WHERE window = ? AND event = 'end' AND cast_at >= ? AND cast_at < ?"
)
# The services the window's votes rated in a period (cast_at is milliseconds here):
# its counted votes that name a service. A device counts one vote per service and
# stores a repeat press as filtered (counted = 0), so each service counts once.
RATED_SQL = (
    "SELECT count(*) FROM votes WHERE window = ? AND cast_at >= ? AND cast_at < ?"
    " AND service IS NOT NULL AND counted = 1"
)


@dataclass(frozen=True, slots=True)
class DeviceState:
    """A window's device as it last reported."""

    id: str
    kind: str
    status: str | None  # "online", "offline", or None before it ever reported
    last_seen: str | None
    outbox_depth: int | None
    # last_seen in the hall's time zone as the page shows it: a time today, else a date too.
    seen: str | None = None


@dataclass(frozen=True, slots=True)
class LiveWindow:
    """One window today."""

    id: str
    name: str
    department: str
    department_name: str
    tally: Tally
    ended: int
    rated: int
    on_duty: tuple[str, ...]
    paused: bool
    devices: tuple[DeviceState, ...]
    red: bool

    @property
    def response_rate(self) -> float | None:
        """Rated services per ended service (at most 1), or None before any ended."""
        if self.ended == 0:
            return None
        return min(1.0, self.rated / self.ended)


@dataclass(frozen=True, slots=True)
class LiveHall:
    """The hall today, as the live hall page shows it."""

    day: str
    hall_name: str
    windows: list[LiveWindow]
    red_below: float
    red_min_votes: int
    staff_names: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> Tally:
        """Every shown window's votes added up."""
        levels = [sum(w.tally.level(n) for w in self.windows) for n in range(1, 6)]
        return Tally(
            total=sum(w.tally.total for w in self.windows),
            dissatisfied=sum(w.tally.dissatisfied for w in self.windows),
            levels=tuple(levels),  # type: ignore[arg-type]
        )

    @property
    def ended(self) -> int:
        """Services ended today at the shown windows."""
        return sum(w.ended for w in self.windows)

    @property
    def rated(self) -> int:
        """Services rated today at the shown windows."""
        return sum(w.rated for w in self.windows)

    @property
    def red(self) -> int:
        """How many shown windows are marked red."""
        return sum(1 for w in self.windows if w.red)

    def as_json(self) -> dict[str, Any]:
        """The live hall for the page's live updates."""
        total = self.total
        return {
            "day": self.day,
            "hall": {
                "votes": total.total,
                "satisfaction": total.satisfaction,
                "ended": self.ended,
                "rated": self.rated,
                "red": self.red,
                "red_names": [short_name(w.name) for w in self.windows if w.red],
            },
            "windows": [
                {
                    "id": w.id,
                    "votes": w.tally.total,
                    "dissatisfied": w.tally.dissatisfied,
                    "satisfaction": w.tally.satisfaction,
                    "ended": w.ended,
                    "rated": w.rated,
                    "response_rate": w.response_rate,
                    "on_duty": [self.staff_names.get(s, s) for s in w.on_duty],
                    "paused": w.paused,
                    "devices": [
                        {
                            "id": d.id,
                            "status": d.status,
                            "last_seen": d.last_seen,
                            "outbox_depth": d.outbox_depth,
                            "seen": d.seen,
                        }
                        for d in w.devices
                    ],
                    "red": w.red,
                }
                for w in self.windows
            ],
        }


def short_name(name: str) -> str:
    """A window's name up to its first space: ``6号窗口`` of ``6号窗口 不动产登记``."""
    return name.split(" ", 1)[0]


def _outbox_depth(telemetry: str | None) -> int | None:
    if not telemetry:
        return None
    try:
        depth = json.loads(telemetry).get("outbox", {}).get("depth")
    except (ValueError, AttributeError):
        return None
    return depth if isinstance(depth, int) else None


def _local(moment: str | None, calendar: Calendar, day: str) -> str | None:
    """``moment`` (UTC text) in the hall's time zone: ``HH:MM:SS`` today, else ``MM-DD HH:MM``."""
    if not moment:
        return None
    try:
        local = datetime.fromisoformat(moment).astimezone(calendar.zone)
    except ValueError:
        return moment
    if local.date().isoformat() == day:
        return local.strftime("%H:%M:%S")
    return local.strftime("%m-%d %H:%M")


def read_live_hall(
    db: sqlite_utils.Database,
    config: HubConfig,
    *,
    now: datetime,
    department: str | None = None,
) -> LiveHall:
    """Every window of the directory today (only ``department``'s when given)."""
    directory = config.directory
    calendar = Calendar(config.timezone)
    day = calendar.current(now, "day")
    since, until = calendar.bounds(day)
    since_ms, until_ms = calendar.bounds_ms(day)
    windows = [
        w for w in directory.windows.values() if department is None or w.department == department
    ]
    ids = [w.id for w in windows]
    settings = config.console
    db.execute("BEGIN")
    try:
        tallies = window_summary(db, ids, day)
        duty = window_duty(db, directory, since=since, windows=ids)
        states = device_states(db.conn)
        found = []
        for window in windows:
            tally = tallies.get(window.id, Tally())
            ended = db.execute(ENDED_SQL, (window.id, since, until)).fetchone()[0]
            rated = db.execute(RATED_SQL, (window.id, since_ms, until_ms)).fetchone()[0]
            devices = []
            for device in directory.devices.values():
                if device.window != window.id:
                    continue
                row = states.get(device.id)
                if row is None:
                    devices.append(DeviceState(device.id, device.kind, None, None, None))
                    continue
                _, status, status_at, _, telemetry, telemetry_at, _, _ = row
                last_seen = max(filter(None, (status_at, telemetry_at)), default=None)
                devices.append(
                    DeviceState(
                        device.id,
                        device.kind,
                        status,
                        last_seen,
                        _outbox_depth(telemetry),
                        _local(last_seen, calendar, day),
                    )
                )
            satisfaction = tally.satisfaction
            red = (
                satisfaction is not None
                and tally.total >= settings.red_min_votes
                and satisfaction < settings.red_below
            )
            department_entry = directory.departments.get(window.department)
            found.append(
                LiveWindow(
                    id=window.id,
                    name=window.name,
                    department=window.department,
                    department_name=department_entry.name
                    if department_entry
                    else window.department,
                    tally=tally,
                    ended=ended,
                    rated=rated,
                    on_duty=duty[window.id].staff,
                    paused=duty[window.id].paused,
                    devices=tuple(devices),
                    red=red,
                )
            )
    finally:
        db.execute("COMMIT")
    return LiveHall(
        day=day,
        hall_name=directory.name,
        windows=found,
        red_below=settings.red_below,
        red_min_votes=settings.red_min_votes,
        staff_names={s.id: s.name for s in directory.staff.values()},
    )
