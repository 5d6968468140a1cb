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
from typing import Any, TypeVar

from device_agent.configfile import ConfigReader, in_range, one_of
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
    departments = _by_id(reader, at, "departments", Department)
    windows = _by_id(reader, at, "windows", Window)
    staff = _by_id(reader, at, "staff", Staff)
    devices = _by_id(reader, at, "devices", Device)
    service_items = _by_id(reader, at, "service_items", ServiceItem)
    announcements = _by_id(reader, at, "announcements", Announcement)
    for item in service_items.values():
        i = at["service_items", item.id]
        if item.department not in departments:
            reader.problem(
                f"service_items[{i}].department", f"unknown department {item.department!r}"
            )
        for window in item.windows:
            if window not in windows:
                reader.problem(f"service_items[{i}].windows", f"unknown window {window!r}")
        if item.min_s is not None and item.max_s is not None and item.min_s >= item.max_s:
            reader.problem(f"service_items[{i}].max_s", f"must exceed min_s ({item.min_s})")
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


# How an entry's field is read from the file, by its declared type...
_BY_TYPE: dict[str, Callable[[ConfigReader, str], Any]] = {
    "str": lambda r, key: r.get(key, str),
    "str | None": lambda r, key: r.get(key, str, default="") or None,
    "tuple[str, ...]": _texts,
    "date": lambda r, key: _date(r, key, required=True) or date.min,
    "date | None": lambda r, key: _date(r, key, required=False),
    # Seconds (a service item's supervision limits): at most a week.
    "int | None": lambda r, key: (
        r.get(key, int, check=in_range(1, 7 * 86_400)) if r.has(key) else None
    ),
}
# ...except these: checked ids and kinds, a path, a text that may be left out.
_SPECIAL: dict[tuple[type, str], Callable[[ConfigReader], Any]] = {
    (Device, "kind"): lambda r: r.get("kind", str, check=one_of(*DEVICE_KINDS)),
    (Staff, "photo"): lambda r: str(r.path_value("photo")) if r.has("photo") else None,
    (Announcement, "body"): lambda r: r.get("body", str, default=""),
}

T = TypeVar("T", Department, Window, Staff, Device, ServiceItem, Announcement)


def _entry(reader: ConfigReader, model: type[T]) -> T:
    """One table of the file read field by field as ``model`` declares them."""
    values: dict[str, Any] = {}
    for f in fields(model):
        special = _SPECIAL.get((model, f.name))
        if f.name == "id":
            values["id"] = reader.get("id", str, check=_id_check)
        elif special is not None:
            values[f.name] = special(reader)
        else:
            values[f.name] = _BY_TYPE[str(f.type)](reader, f.name)
    return model(**values)


def _by_id(
    reader: ConfigReader,
    at: dict[tuple[str, str], int],
    key: str,
    model: type[T],
) -> dict[str, T]:
    """The entries of the array ``key`` by id; records in ``at`` where each kept one is."""
    entries: dict[str, T] = {}
    for i, item in enumerate(reader.items(key)):
        entry = _entry(item, model)
        # Each entry's keys are its fields: anything else is a typo to report.
        item.reject_unknown("", (f.name for f in fields(model)))
        if entry.id in entries:
            reader.problem(f"{key}[{i}].id", f"duplicate id {entry.id!r}")
        entries[entry.id] = entry
        at[key, entry.id] = i
    return entries
