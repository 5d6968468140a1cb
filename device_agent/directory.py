"""The hall directory model: departments, windows, staff, service items, announcements, devices.

One model for both ends of a contract between roles, like the wire protocol:
the hub reads it from its directory file (``hub/directory.py``) and serves
the public part as JSON (``GET /api/v1/directory``); a kiosk parses that JSON
back into the same classes (``kiosk/directory.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Annotated

from pydantic import ConfigDict

from device_agent.configfile import Int, between

DEVICE_KINDS = ("evaluator", "kiosk")
# When the hub checks its directory file (hub/directory.py), a key no entry has is a typo.
FILE_ENTRY = ConfigDict(extra="forbid")
# A service's time limit in seconds: at most a week.
Seconds = Annotated[Int, between(1, 7 * 86_400)]


@dataclass(frozen=True, slots=True)
class Department:
    """A department (unit) with windows in the hall."""

    __pydantic_config__ = FILE_ENTRY

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Window:
    """A service counter."""

    __pydantic_config__ = FILE_ENTRY

    id: str
    name: str
    department: str


@dataclass(frozen=True, slots=True)
class Staff:
    """An evaluated staff member and their public profile."""

    __pydantic_config__ = FILE_ENTRY

    id: str
    name: str
    department: str
    window: str | None = None
    gender: str | None = None
    post: str | None = None
    duties: str | None = None
    # Where the photo is for whoever holds this directory: the file's path at
    # the hub, the digest the hub served it under in a kiosk's copy.
    photo: str | None = None
    # The county-wide person id (a national staff number, say): central counts a
    # person who works in two halls as one. None: the hall and the staff id.
    person: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceItem:
    """A service the hall offers: what to bring, how long it takes, what it costs, where."""

    __pydantic_config__ = FILE_ENTRY

    id: str
    name: str
    department: str
    materials: tuple[str, ...] = ()
    time_limit: str | None = None
    fees: str | None = None
    windows: tuple[str, ...] = ()
    notes: str | None = None
    # Service-time supervision (hub/supervision.py): a service of this item that
    # ends sooner than min_s seconds, or stays open past max_s, raises an alert.
    min_s: Seconds | None = None
    max_s: Seconds | None = None


@dataclass(frozen=True, slots=True)
class Announcement:
    """A notice shown on the kiosks from ``published`` until ``until`` (inclusive)."""

    __pydantic_config__ = FILE_ENTRY

    id: str
    title: str
    body: str
    published: date
    until: date | None = None


@dataclass(frozen=True, slots=True)
class Device:
    """A window evaluator or a kiosk allowed to publish to the hub."""

    __pydantic_config__ = FILE_ENTRY

    id: str
    kind: str
    window: str | None = None


@dataclass(frozen=True, slots=True)
class Directory:
    """Everything a hall's directory lists, each kind of entry by id in directory order.

    The hub's copy has the devices and every announcement; a kiosk's copy (the
    public JSON) has neither devices nor announcements out of date, but says
    who is on duty at each window (``duty``) and which ``version`` it is.
    """

    hall: str = ""
    name: str = ""
    departments: dict[str, Department] = field(default_factory=dict)
    windows: dict[str, Window] = field(default_factory=dict)
    staff: dict[str, Staff] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    service_items: dict[str, ServiceItem] = field(default_factory=dict)
    announcements: dict[str, Announcement] = field(default_factory=dict)
    duty: dict[str, tuple[str, ...]] = field(default_factory=dict)
    version: str = ""

    @property
    def empty(self) -> bool:
        """True for a kiosk's copy before its first successful sync."""
        return not self.version

    def windows_of(self, department: str) -> list[Window]:
        """The windows of ``department``, in directory order."""
        return [w for w in self.windows.values() if w.department == department]

    def staff_of(self, department: str) -> list[Staff]:
        """The staff of ``department``, in directory order."""
        return [s for s in self.staff.values() if s.department == department]

    def items_of(self, department: str) -> list[ServiceItem]:
        """The service items of ``department``, in directory order."""
        return [i for i in self.service_items.values() if i.department == department]

    def on_duty(self, window: str) -> list[Staff]:
        """The staff on duty at ``window`` (as of the hub's last answer)."""
        return [self.staff[s] for s in self.duty.get(window, ()) if s in self.staff]

    def current_announcements(self, today: date) -> list[Announcement]:
        """The announcements to show on ``today``, newest first."""
        shown = [
            a
            for a in self.announcements.values()
            if a.published <= today and (a.until is None or today <= a.until)
        ]
        return sorted(shown, key=lambda a: a.published, reverse=True)
