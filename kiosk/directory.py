"""The kiosk's copy of the hall directory: what it shows, kept on disk for when the hub is away.

The hub publishes the directory as JSON (``GET /api/v1/directory``); the kiosk
parses it into the shared model (:class:`device_agent.directory.Directory`),
refusing a malformed document as a whole, and keeps the last good copy in a
file written atomically, so a kiosk that boots while the hub or network is
down shows what it last knew.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from device_agent.directory import (
    Announcement,
    Department,
    Directory,
    ServiceItem,
    Staff,
    Window,
)
from kiosk.errors import DirectoryError

logger = logging.getLogger(__name__)

MAX_TEXT = 4000


def parse_directory(body: Any) -> Directory:
    """Parse the hub's document; raises DirectoryError naming the first bad field."""
    if not isinstance(body, dict) or body.get("v") != 1:
        raise DirectoryError("not a version 1 hall directory")
    hall = _object(body, "hall")
    windows = _entries(body, "windows", Window)
    # Who is on duty is the hub's answer of the moment, not the window's: kept beside it.
    duty = {
        window["id"]: _texts(window, f"windows[{i}].on_duty")
        for i, window in enumerate(body.get("windows") or [])
    }
    return Directory(
        hall=_text(hall, "hall.id"),
        name=_text(hall, "hall.name"),
        version=_text(body, "version"),
        departments=_entries(body, "departments", Department),
        windows=windows,
        duty=duty,
        staff=_entries(body, "staff", Staff),
        service_items=_entries(body, "service_items", ServiceItem),
        announcements=_entries(body, "announcements", Announcement),
    )


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise DirectoryError(f"{key}: must be an object")
    return value


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key.rsplit(".", 1)[-1])
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise DirectoryError(f"{key}: must be a string of at most {MAX_TEXT} characters")
    return value


def _optional(body: dict[str, Any], key: str) -> str | None:
    if body.get(key.rsplit(".", 1)[-1]) is None:
        return None
    return _text(body, key) or None


def _texts(body: dict[str, Any], key: str) -> tuple[str, ...]:
    value = body.get(key.rsplit(".", 1)[-1]) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DirectoryError(f"{key}: must be a list of strings")
    return tuple(value)


def _date(body: dict[str, Any], key: str) -> date:
    try:
        return date.fromisoformat(_text(body, key))
    except ValueError:
        raise DirectoryError(f"{key}: must be a date such as 2026-11-01") from None


def _optional_date(body: dict[str, Any], key: str) -> date | None:
    return _date(body, key) if body.get(key.rsplit(".", 1)[-1]) else None


def _optional_int(body: dict[str, Any], key: str) -> int | None:
    # The hub keeps a service item's supervision limits to itself; a kiosk's copy has none.
    value = body.get(key.rsplit(".", 1)[-1])
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise DirectoryError(f"{key}: must be an integer or null")
    return value


# How a field of the shared model is read from the hub's JSON, by its declared type.
_READERS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "str": _text,
    "str | None": _optional,
    "tuple[str, ...]": _texts,
    "date": _date,
    "date | None": _optional_date,
    "Seconds | None": _optional_int,
}

T = TypeVar("T", Department, Window, Staff, ServiceItem, Announcement)


def _entries(body: dict[str, Any], key: str, model: type[T]) -> dict[str, T]:
    """The objects of the list ``key`` by id, each read field by field as ``model`` declares."""
    items = body.get(key) or []
    if not isinstance(items, list):
        raise DirectoryError(f"{key}: must be a list")
    entries: dict[str, T] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise DirectoryError(f"{key}[{i}]: must be an object")
        values = {
            f.name: _READERS[str(f.type)](item, f"{key}[{i}].{f.name}") for f in fields(model)
        }
        entry = model(**values)
        entries[entry.id] = entry
    return entries


class LocalDirectory:
    """The current directory in memory, backed by a JSON file that survives restarts.

    Request threads read :attr:`current`; the sync thread replaces it whole,
    so a page never sees half of an old directory and half of a new one.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._current = Directory()
        self._raw: dict[str, Any] = {}

    @property
    def current(self) -> Directory:
        """The directory to show now (empty before the first sync ever)."""
        return self._current

    @property
    def raw(self) -> dict[str, Any]:
        """The hub's document behind :attr:`current`."""
        return self._raw

    def load(self) -> bool:
        """Read the copy kept on disk; False when there is none or it is unusable."""
        try:
            body = json.loads(self.path.read_text(encoding="utf-8"))
            directory = parse_directory(body)
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            logger.warning("ignoring the local directory copy %s: %s", self.path, exc)
            return False
        with self._lock:
            self._current, self._raw = directory, body
        return True

    def replace(self, body: dict[str, Any]) -> Directory:
        """Adopt a new document from the hub: parse it, write it to disk, then show it."""
        directory = parse_directory(body)
        write_atomically(self.path, json.dumps(body, ensure_ascii=False).encode())
        with self._lock:
            self._current, self._raw = directory, body
        return directory


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a power cut leaves the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
