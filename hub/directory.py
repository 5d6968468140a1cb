"""The hall's directory file, read into the shared model of :mod:`device_agent.directory`.

The hub owns the directory; kiosks sync its public part (see
``hub/kiosk_api.py``). A device that is not listed here cannot have its votes
counted: its messages are quarantined as coming from an unknown device.
"""

from __future__ import annotations

from dataclasses import field, replace
from pathlib import Path
from typing import Any, Self, TypeVar

from pydantic import Field, ValidationInfo, model_validator

from device_agent.configfile import (
    Id,
    Problems,
    Str,
    base_of,
    cross_check,
    load,
    repeats,
    section,
)
from device_agent.directory import (
    DEVICE_KINDS,
    Announcement,
    Department,
    Device,
    Directory,
    Seconds,
    ServiceItem,
    Staff,
    Window,
)
from device_agent.topics import ID_PATTERN

# The model is the shared one; the hub's modules name it through here, with its file's shape.
__all__ = [
    "Announcement",
    "Department",
    "Device",
    "Directory",
    "DirectoryFile",
    "Seconds",
    "ServiceItem",
    "Staff",
    "Window",
    "load_directory",
    "order_problems",
]


def order_problems(data: dict[str, Any], problems: Problems, prefix: str = "") -> None:
    """A service's shortest time (``min_s``) below its longest (``max_s``), as written."""
    low, high = data.get("min_s"), data.get("max_s")
    if type(low) is int and type(high) is int and low >= high:
        problems.add(f"{prefix}max_s", f"must exceed min_s ({low})")


T = TypeVar("T", Department, Window, Staff, Device, ServiceItem, Announcement)


@section
class HallSection:
    """The ``[hall]`` table: which hall this directory lists."""

    id: Id
    name: Str = ""  # "": the id


def _reference_problems(data: dict[str, Any], problems: Problems, info: ValidationInfo) -> None:
    """Ids well formed and unique, references to entries that exist (on the file as written)."""
    entries = {key: _tables(data.get(key)) for key in ENTRY_KEYS}
    ids = {key: _id_problems(problems, key, tables) for key, tables in entries.items()}
    departments, windows = ids["departments"], ids["windows"]
    for key in ("service_items", "windows", "staff"):
        for i, entry in enumerate(entries[key]):
            department = entry.get("department")
            if isinstance(department, str) and department not in departments:
                problems.add(f"{key}[{i}].department", f"unknown department {department!r}")
    for i, item in enumerate(entries["service_items"]):
        order_problems(item, problems, f"service_items[{i}].")
        listed = item.get("windows")
        for window in listed if isinstance(listed, list) else ():
            if isinstance(window, str) and window not in windows:
                problems.add(f"service_items[{i}].windows", f"unknown window {window!r}")
    for key in ("staff", "devices"):
        for i, entry in enumerate(entries[key]):
            window = entry.get("window")
            if isinstance(window, str) and window not in windows:
                problems.add(f"{key}[{i}].window", f"unknown window {window!r}")
    for i, device in enumerate(entries["devices"]):
        kind = device.get("kind")
        if isinstance(kind, str) and kind not in DEVICE_KINDS:
            problems.add(
                f"devices[{i}].kind", f"must be one of {', '.join(DEVICE_KINDS)}, got {kind!r}"
            )
        if kind == "evaluator" and device.get("window") is None:
            problems.add(f"devices[{i}].window", "an evaluator needs its window")


def _tables(value: object) -> list[dict[str, Any]]:
    """The tables of an array of tables as written; anything else is pydantic's to report."""
    if not isinstance(value, list):
        return []
    return [v if isinstance(v, dict) else {} for v in value]


def _id_problems(problems: Problems, key: str, entries: list[dict[str, Any]]) -> set[str]:
    """The ids of ``entries``; a problem for each malformed or repeated one."""
    ids = [entry.get("id") for entry in entries]
    for i, ident in enumerate(ids):
        if isinstance(ident, str) and not ID_PATTERN.fullmatch(ident):
            problems.add(f"{key}[{i}].id", f"must match {ID_PATTERN.pattern}")
    for i, ident in repeats(entries, "id"):
        if ID_PATTERN.fullmatch(ident):
            problems.add(f"{key}[{i}].id", f"duplicate id {ident!r}")
    return {ident for ident in ids if isinstance(ident, str)}


ENTRY_KEYS = ("departments", "windows", "staff", "devices", "service_items", "announcements")


@section
class DirectoryFile:
    """A hall's directory file: the entries as the shared model declares them, cross-checked."""

    hall: HallSection = Field(default_factory=dict, validate_default=True)
    departments: list[Department] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    staff: list[Staff] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    service_items: list[ServiceItem] = field(default_factory=list)
    announcements: list[Announcement] = field(default_factory=list)

    _cross = cross_check(_reference_problems)

    @model_validator(mode="after")
    def _photos(self, info: ValidationInfo) -> Self:
        base = base_of(info)
        # A photo's path is relative to the directory file.
        self.staff[:] = [
            s if s.photo is None else replace(s, photo=str((base / s.photo).resolve()))
            for s in self.staff
        ]
        return self

    def directory(self) -> Directory:
        """The shared model of this file: each kind of entry by id, in file order."""
        return Directory(
            hall=self.hall.id,
            name=self.hall.name or self.hall.id,
            departments=_index(self.departments),
            windows=_index(self.windows),
            staff=_index(self.staff),
            devices=_index(self.devices),
            service_items=_index(self.service_items),
            announcements=_index(self.announcements),
        )


def _index(entries: list[T]) -> dict[str, T]:
    return {entry.id: entry for entry in entries}


def load_directory(path: str | Path) -> Directory:
    """Load and validate a directory file; raises ConfigError listing every problem."""
    return load(DirectoryFile, path).directory()
