"""Configuration the hub sets remotely: retained ``config/set`` in, ``config`` report out.

The hub publishes a device's desired settings, retained, on
``{base}/device/{id}/config/set``::

    {"v": 1, "config_version": 7,
     "window": "w02", "staff": "s05",
     "keys": {"GPIO17": 5, "GPIO27": 4},
     "keypad_keys": {"1": 1, "5": 5},
     "session": {"invite_s": 60, "thank_s": 3, "cooldown_s": 3,
                 "out_of_service": "unsolicited"},
     "telemetry_s": 30}

Every field but ``v`` and ``config_version`` is optional; one left out takes
the value of the device's own configuration file, so the document is the
whole desired state, not a patch. The device checks all of it before
changing anything: a document with any problem is refused as a whole, every
problem is reported, and the settings in force stay. The device answers,
retained, on ``{base}/device/{id}/config``::

    {"v": 1, "config_version": 7, "applied": true, "error": null, "active_version": 7}

The last applied document is kept in a file beside the outbox, so a device
restarted while the broker is away comes back with the hub's settings.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from device_agent.config import AgentConfig
from device_agent.configfile import ConfigReader, in_range, one_of
from device_agent.errors import ConfigError
from device_agent.keypad import keypad_key_problem
from device_agent.protocol import LEVELS, VERSION, load_object
from device_agent.session import OUT_OF_SERVICE_POLICIES, SessionSettings
from device_agent.topics import ID_PATTERN

logger = logging.getLogger(__name__)

SOURCE = "config/set"
TOP_KEYS = (
    "v",
    "config_version",
    "window",
    "staff",
    "keys",
    "keypad_keys",
    "session",
    "telemetry_s",
)
SESSION_KEYS = ("invite_s", "thank_s", "cooldown_s", "out_of_service")


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """The settings of a window device that the hub may change while it runs."""

    window: str | None
    staff: str | None
    keys: dict[str | int, int]
    keypad_keys: dict[str, int] = field(default_factory=dict)
    session: SessionSettings = field(default_factory=SessionSettings)
    telemetry_s: float = 30.0


def local_settings(config: AgentConfig) -> DeviceSettings:
    """The settings as the device's own configuration file gives them."""
    return DeviceSettings(
        window=config.window,
        staff=config.staff,
        keys=dict(config.evaluator.keys),
        keypad_keys=dict(config.keypad.keys) if config.keypad else {},
        session=config.session,
        telemetry_s=config.telemetry_s,
    )


@dataclass(frozen=True, slots=True)
class RemoteConfig:
    """A checked ``config/set`` document: its version and the settings it asks for."""

    version: int
    settings: DeviceSettings


def requested_version(payload: bytes) -> int | None:
    """The ``config_version`` a payload asks for, if it can be read at all."""
    try:
        version = json.loads(payload).get("config_version")
    except (ValueError, AttributeError):
        return None
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def parse_remote_config(payload: bytes, base: DeviceSettings) -> RemoteConfig:
    """Check a ``config/set`` payload against ``base``; raises ConfigError listing every problem."""
    try:
        body = load_object(payload)
    except ValueError as exc:
        raise ConfigError([f"{SOURCE}: {exc}"]) from None
    reader = ConfigReader(SOURCE, data=body)
    reader.reject_unknown("", TOP_KEYS)
    reader.reject_unknown("session", SESSION_KEYS)
    version = reader.get("config_version", int, check=in_range(0, 2**53))
    settings = DeviceSettings(
        window=_nullable_id(reader, "window", base.window),
        staff=_nullable_id(reader, "staff", base.staff),
        keys=_key_map(reader, "keys", base.keys),
        keypad_keys=_keypad_keys(reader, base.keypad_keys),
        session=_session(reader, base.session),
        telemetry_s=reader.get(
            "telemetry_s", float, default=base.telemetry_s, check=in_range(0.1, 3600)
        ),
    )
    if settings.window is None and base.window is not None:
        reader.problem("window", "a window device needs its window")
    reader.finish()
    return RemoteConfig(version, settings)


def config_report(
    version: int | None, *, applied: bool, error: str | None, active_version: int | None
) -> dict[str, Any]:
    """The retained answer on ``config``: what was asked, whether it holds, and why not."""
    return {
        "v": VERSION,
        "config_version": version,
        "applied": applied,
        "error": error,
        "active_version": active_version,
    }


class AppliedConfigFile:
    """The last applied ``config/set`` document, kept on the device's disk."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> bytes | None:
        """The saved document, or None when there is none or it cannot be read."""
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            # Like a corrupt document: start with the local settings, not at all.
            logger.error("cannot read the saved config %s: %s", self.path, exc)
            return None

    def save(self, payload: bytes) -> None:
        """Replace the saved document atomically (a power cut leaves the old or the new one)."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _nullable_id(reader: ConfigReader, key: str, default: str | None) -> str | None:
    if not reader.has(key):
        return default
    value = reader.data.get(key)
    if value is None:
        return None
    return reader.get(key, str, check=lambda v: None if ID_PATTERN.fullmatch(v) else "not an id")


def _key_map(reader: ConfigReader, key: str, default: dict[str | int, int]) -> dict[str | int, int]:
    if not reader.has(key):
        return dict(default)
    table = reader.get(key, dict, default={})
    keys: dict[str | int, int] = {}
    for pin, level in table.items():
        if not isinstance(level, int) or isinstance(level, bool) or level not in LEVELS:
            reader.problem(f"{key}.{pin}", f"level must be 1 to 5, got {level!r}")
            continue
        keys[pin] = level
    return keys


def _keypad_keys(reader: ConfigReader, default: dict[str, int]) -> dict[str, int]:
    if not reader.has("keypad_keys"):
        return dict(default)
    keys: dict[str, int] = {}
    for key, level in reader.get("keypad_keys", dict, default={}).items():
        problem = keypad_key_problem(key, level)
        if problem:
            reader.problem(f"keypad_keys.{key}", problem)
        else:
            keys[key] = level
    return keys


def _session(reader: ConfigReader, base: SessionSettings) -> SessionSettings:
    return replace(
        base,
        invite_s=reader.get(
            "session.invite_s", float, default=base.invite_s, check=in_range(1, 3600)
        ),
        thank_s=reader.get("session.thank_s", float, default=base.thank_s, check=in_range(0.5, 60)),
        cooldown_s=reader.get(
            "session.cooldown_s", float, default=base.cooldown_s, check=in_range(0, 600)
        ),
        out_of_service=reader.get(
            "session.out_of_service",
            str,
            default=base.out_of_service,
            check=one_of(*OUT_OF_SERVICE_POLICIES),
        ),
    )
