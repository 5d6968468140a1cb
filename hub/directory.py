"""The hall's directory file, read into the shared model of :mod:`device_agent.directory`.

The hub owns the directory; kiosks sync its public part (see
``hub/kiosk_api.py``). A device that is not listed here cannot have its votes
counted: its messages are quarantined as coming from an unknown device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import date, datetime
from pathlib import Path
from typing import Protocol, TypeVar

from device_agent.configfile import ConfigReader, one_of
from device_agent.directory import (
    DEVICE_KINDS,
    Announcement,
    Department,
    Device,
    Directory,
    ServiceItem,
    Staff,
    Window,
)
from device_agent.topics import ID_PATTERN

# The model is the shared one; the hub's modules name it through here, with its reader.
__all__ = [
    "Announcement",
    "Department",
    "Device",
    "Directory",
    "ServiceItem",
    "Staff",
    "Window",
    "load_directory",
    "read_directory",
]


def read_directory(reader: ConfigReader) -> Directory:
    """Read a directory file, recording every problem (missing ids, dangling references)."""
    reader.reject_unknown(
        "",
        ("hall", "departments", "windows", "staff", "devices", "service_items", "announcements"),
    )
    reader.reject_unknown("hall", ("id", "name"))
    hall = reader.get("hall.id", str, check=_id_check)
    name = reader.get("hall.name", str, default=hall)
    # Where each kept entry is in its file's array, for the keys of its problems.
    at: dict[tuple[str, str], int] = {}
    departments = _by_id(
        reader,
        at,
        "departments",
        lambda r: Department(id=r.get("id", str, check=_id_check), name=r.get("name", str)),
    )
    windows = _by_id(
        reader,
        at,
        "windows",
        lambda r: Window(
            id=r.get("id", str, check=_id_check),
            name=r.get("name", str),
            department=r.get("department", str),
        ),
    )
    staff = _by_id(
        reader,
        at,
        "staff",
        lambda r: Staff(
            id=r.get("id", str, check=_id_check),
            name=r.get("name", str),
            department=r.get("department", str),
            window=r.get("window", str, default="") or None,
            gender=r.get("gender", str, default="") or None,
            post=r.get("post", str, default="") or None,
            duties=r.get("duties", str, default="") or None,
            photo=str(r.path_value("photo")) if r.has("photo") else None,
        ),
    )
    devices = _by_id(
        reader,
        at,
        "devices",
        lambda r: Device(
            id=r.get("id", str, check=_id_check),
            kind=r.get("kind", str, check=one_of(*DEVICE_KINDS)),
            window=r.get("window", str, default="") or None,
        ),
    )
    service_items = _by_id(
        reader,
        at,
        "service_items",
        lambda r: ServiceItem(
            id=r.get("id", str, check=_id_check),
            name=r.get("name", str),
            department=r.get("department", str),
            materials=_texts(r, "materials"),
            time_limit=r.get("time_limit", str, default="") or None,
            fees=r.get("fees", str, default="") or None,
            windows=_texts(r, "windows"),
            notes=r.get("notes", str, default="") or None,
        ),
    )
    announcements = _by_id(
        reader,
        at,
        "announcements",
        lambda r: Announcement(
            id=r.get("id", str, check=_id_check),
            title=r.get("title", str),
            body=r.get("body", str, default=""),
            published=_date(r, "published", required=True) or date.min,
            until=_date(r, "until", required=False),
        ),
    )
    for item in service_items.values():
        i = at["service_items", item.id]
        if item.department not in departments:
            reader.problem(
                f"service_items[{i}].department", f"unknown department {item.department!r}"
            )
        for window in item.windows:
            if window not in windows:
                reader.problem(f"service_items[{i}].windows", f"unknown window {window!r}")
    for w in windows.values():
        i = at["windows", w.id]
        if w.department not in departments:
            reader.problem(f"windows[{i}].department", f"unknown department {w.department!r}")
    for s in staff.values():
        i = at["staff", s.id]
        if s.department not in departments:
            reader.problem(f"staff[{i}].department", f"unknown department {s.department!r}")
        if s.window is not None and s.window not in windows:
            reader.problem(f"staff[{i}].window", f"unknown window {s.window!r}")
    for d in devices.values():
        i = at["devices", d.id]
        if d.window is not None and d.window not in windows:
            reader.problem(f"devices[{i}].window", f"unknown window {d.window!r}")
        if d.kind == "evaluator" and d.window is None:
            reader.problem(f"devices[{i}].window", "an evaluator needs its window")
    return Directory(
        hall=hall,
        name=name,
        departments=departments,
        windows=windows,
        staff=staff,
        devices=devices,
        service_items=service_items,
        announcements=announcements,
    )


def load_directory(path: str | Path) -> Directory:
    """Load and validate a directory file; raises ConfigError listing every problem."""
    reader = ConfigReader(path)
    directory = read_directory(reader)
    reader.finish()
    return directory


def _texts(reader: ConfigReader, key: str) -> tuple[str, ...]:
    values = reader.get(key, list, default=[])
    if not all(isinstance(v, str) for v in values):
        reader.problem(key, "must be a list of strings")
        return ()
    return tuple(values)


def _date(reader: ConfigReader, key: str, *, required: bool) -> date | None:
    """A date written as a TOML date (2026-11-01) or as an ISO string."""
    if not reader.has(key):
        if required:
            reader.problem(key, "is required")
        return None
    value = reader.get(key, object)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    reader.problem(key, f"must be a date such as 2026-11-01, got {value!r}")
    return None


def _id_check(value: str) -> str | None:
    return None if ID_PATTERN.fullmatch(value) else f"must match {ID_PATTERN.pattern}"


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


def _by_id(
    reader: ConfigReader,
    at: dict[tuple[str, str], int],
    key: str,
    build: Callable[[ConfigReader], T],
) -> dict[str, T]:
    """The entries of the array ``key`` by id; records in ``at`` where each kept one is."""
    entries: dict[str, T] = {}
    for i, item in enumerate(reader.items(key)):
        entry = build(item)
        # Each entry's keys are its fields: anything else is a typo to report.
        item.reject_unknown("", (f.name for f in fields(entry)))  # type: ignore[arg-type]
        if entry.id in entries:
            reader.problem(f"{key}[{i}].id", f"duplicate id {entry.id!r}")
        entries[entry.id] = entry
        at[key, entry.id] = i
    return entries
