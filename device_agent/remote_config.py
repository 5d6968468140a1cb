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
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any

from pydantic import ValidationInfo

from device_agent.config import AgentConfig, PinKeys
from device_agent.configfile import (
    Float,
    Id,
    Int,
    Problems,
    between,
    cross_check,
    document,
    section,
    validate,
)
from device_agent.errors import ConfigError
from device_agent.keypad import KeypadKeys
from device_agent.protocol import VERSION, load_object
from device_agent.session import SessionSettings

logger = logging.getLogger(__name__)

SOURCE = "config/set"


@section
class DeviceSettings:
    """The settings of a window device that the hub may change while it runs."""

    window: Id | None
    staff: Id | None
    keys: PinKeys
    keypad_keys: KeypadKeys = field(default_factory=dict)
    session: SessionSettings = field(default_factory=SessionSettings)
    telemetry_s: Annotated[Float, between(0.1, 3600)] = 30.0


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


def _document_problems(data: dict[str, Any], problems: Problems, info: ValidationInfo) -> None:
    base: DeviceSettings = info.context["base_settings"]
    if "window" in data and data["window"] is None and base.window is not None:
        problems.add("window", "a window device needs its window")


@document
class RemoteDocument(DeviceSettings):
    """A ``config/set`` document: the device's settings, with its version."""

    v: Int = VERSION
    config_version: Annotated[Int, between(0, 2**53)]

    _cross = cross_check(_document_problems)

    def settings(self) -> DeviceSettings:
        """The settings the document asks for."""
        return DeviceSettings(**{f.name: getattr(self, f.name) for f in fields(DeviceSettings)})


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
    """Check a ``config/set`` payload against ``base``; raises ConfigError listing every problem.

    A field the document leaves out keeps its value in ``base``, a session
    setting too: the document is the whole desired state, not a patch.
    """
    try:
        body = load_object(payload)
    except ValueError as exc:
        raise ConfigError([f"{SOURCE}: {exc}"]) from None
    whole = {f.name: getattr(base, f.name) for f in fields(DeviceSettings)}
    session = body.get("session", {})
    if isinstance(session, dict):
        body = {**body, "session": {**_as_dict(base.session), **session}}
    document = validate(RemoteDocument, {**whole, **body}, SOURCE, base_settings=base)
    return RemoteConfig(document.config_version, document.settings())


def _as_dict(settings: SessionSettings) -> dict[str, Any]:
    return {f.name: getattr(settings, f.name) for f in fields(SessionSettings)}


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
