"""The hall's directory file, read into the shared model of :mod:`device_agent.directory`.

The hub owns the directory; kiosks sync its public part (see
``hub/kiosk_api.py``). A device that is not listed here cannot have its votes
counted: its messages are quarantined as coming from an unknown device.
"""

from __future__ import annotations

from dataclasses import field, replace
from pathlib import Path
from typing import Self, TypeVar

from pydantic import Field, ValidationInfo, model_validator

from device_agent.configfile import Id, Problems, Str, base_of, load, section
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

# The model is the shared one; the hub's modules name it through here, with its file's shape.
__all__ = [
    "Announcement",
    "Department",
    "Device",
    "Directory",
    "DirectoryFile",
    "ServiceItem",
    "Staff",
    "Window",
    "load_directory",
]

T = TypeVar("T", Department, Window, Staff, Device, ServiceItem, Announcement)


@section
class HallSection:
    """The ``[hall]`` table: which hall this directory lists."""

    id: Id
    name: Str = ""  # "": the id


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

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Self:
        problems = Problems()
        # Each entry's problems are keyed by its place in the file.
        departments = _by_id(problems, "departments", self.departments)
        windows = _by_id(problems, "windows", self.windows)
        _by_id(problems, "staff", self.staff)
        _by_id(problems, "devices", self.devices)
        _by_id(problems, "service_items", self.service_items)
        _by_id(problems, "announcements", self.announcements)
        for i, item in enumerate(self.service_items):
            if item.department not in departments:
                problems.add(
                    f"service_items[{i}].department", f"unknown department {item.department!r}"
                )
            for window in item.windows:
                if window not in windows:
                    problems.add(f"service_items[{i}].windows", f"unknown window {window!r}")
        for i, w in enumerate(self.windows):
            if w.department not in departments:
                problems.add(f"windows[{i}].department", f"unknown department {w.department!r}")
        for i, s in enumerate(self.staff):
            if s.department not in departments:
                problems.add(f"staff[{i}].department", f"unknown department {s.department!r}")
            if s.window is not None and s.window not in windows:
                problems.add(f"staff[{i}].window", f"unknown window {s.window!r}")
        for i, d in enumerate(self.devices):
            if d.kind not in DEVICE_KINDS:
                problems.add(
                    f"devices[{i}].kind",
                    f"must be one of {', '.join(DEVICE_KINDS)}, got {d.kind!r}",
                )
            if d.window is not None and d.window not in windows:
                problems.add(f"devices[{i}].window", f"unknown window {d.window!r}")
            if d.kind == "evaluator" and d.window is None:
                problems.add(f"devices[{i}].window", "an evaluator needs its window")
        problems.check()
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


def _by_id(problems: Problems, key: str, entries: list[T]) -> set[str]:
    """The ids of ``entries``; a problem for each malformed or repeated one."""
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if not ID_PATTERN.fullmatch(entry.id):
            problems.add(f"{key}[{i}].id", f"must match {ID_PATTERN.pattern}")
        elif entry.id in seen:
            problems.add(f"{key}[{i}].id", f"duplicate id {entry.id!r}")
        seen.add(entry.id)
    return seen


def load_directory(path: str | Path) -> Directory:
    """Load and validate a directory file; raises ConfigError listing every problem."""
    return load(DirectoryFile, path).directory()
