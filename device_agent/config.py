"""The device agent's configuration file (TOML), validated as a whole up front."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, model_validator

from device_agent.configfile import (
    FilePath,
    Float,
    Id,
    Int,
    Problems,
    Str,
    between,
    cross_check,
    document,
    load_toml,
    section,
    validate,
)
from device_agent.keypad import KeypadSettings, Level
from device_agent.mqtt import BrokerSettings
from device_agent.session import SessionSettings
from device_agent.topics import DEFAULT_BASE

logger = logging.getLogger(__name__)

DEFAULT_KEYS: dict[str | int, int] = {
    "GPIO17": 5,
    "GPIO27": 4,
    "GPIO22": 3,
    "GPIO23": 2,
    "GPIO24": 1,
}
# A pin of the evaluator and the level its button gives.
PinKeys = dict[Str | Int, Level]


def _evaluator_problems(data: dict[str, Any], problems: Problems, info: ValidationInfo) -> None:
    keys = data.get("keys")
    if isinstance(keys, dict) and keys and not any(_is_level(v) for v in keys.values()):
        problems.add("keys", "no valid key")


def _is_level(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5


@section
class EvaluatorSettings:
    """The buttons: which pin rates which level, and the thank-you light (``[evaluator]``)."""

    keys: PinKeys = field(default_factory=lambda: dict(DEFAULT_KEYS))
    debounce_ms: Annotated[Int, between(0, 2000)] = 80
    thank_you_pin: Str | None = None
    thank_you_s: Annotated[Float, between(0.5, 60)] = 3.0
    # The staff console button (start/end of service) and the invitation buzzer.
    console_pin: Str | None = None
    buzzer_pin: Str | None = None

    _cross = cross_check(_evaluator_problems)

    @model_validator(mode="after")
    def _no_empty_pins(self) -> EvaluatorSettings:
        for name in ("thank_you_pin", "console_pin", "buzzer_pin"):
            if getattr(self, name) == "":
                object.__setattr__(self, name, None)
        return self


@section
class OutboxSettings:
    """Where the outbox lives and how unreceipted records are resent (``[outbox]``)."""

    # The default depends on the file: {device}-outbox.sqlite beside an agent's,
    # outbox.sqlite in a kiosk's data_dir.
    path: FilePath
    limit: Annotated[Int, between(1, 10**9)] = 1_000_000
    resend_after_s: Annotated[Float, between(0.5, 3600)] = 15.0
    in_flight: Annotated[Int, between(1, 10_000)] = 200

    @model_validator(mode="before")
    @classmethod
    def _first_seq(cls, data: Any, info: ValidationInfo) -> Any:
        # ``first_seq`` numbered a replaced card's outbox above the old one's ids.
        # Ids now carry the outbox's own random epoch, so it is accepted (older
        # files keep loading) and ignored, with a warning.
        if isinstance(data, dict) and "first_seq" in data:
            logger.warning(
                "%s: outbox.first_seq is no longer used and is ignored: every outbox file"
                " names its records with an epoch of its own, so a replaced card never"
                " repeats an id; delete the line",
                (info.context or {}).get("source"),
            )
            data = {k: v for k, v in data.items() if k != "first_seq"}
        return data


def outbox_table(data: dict[str, Any], default_path: str) -> dict[str, Any]:
    """``data`` with its ``[outbox]`` table given ``path = default_path`` when it has none."""
    outbox = data.get("outbox", {})
    if isinstance(outbox, dict) and "path" not in outbox:
        return {**data, "outbox": {**outbox, "path": default_path}}
    return data


@section
class DeviceSection:
    """The ``[device]`` table: which device this is, in which hall, at which window."""

    id: Id
    hall: Id
    window: Id | None = None
    staff: Id | None = None
    base_topic: Str = DEFAULT_BASE


@section
class TelemetrySection:
    """The ``[telemetry]`` table."""

    interval_s: Annotated[Float, between(0.1, 3600)] = 30.0


@document
class AgentFile:
    """A device agent's configuration file, table by table."""

    device: DeviceSection = Field(default_factory=dict, validate_default=True)
    outbox: OutboxSettings
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    evaluator: EvaluatorSettings = field(default_factory=EvaluatorSettings)
    # Without thank_s, the session thanks as long as evaluator.thank_you_s.
    session: SessionSettings = field(default_factory=SessionSettings)
    keypad: KeypadSettings | None = None
    telemetry: TelemetrySection = field(default_factory=TelemetrySection)


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Everything one device agent needs to run."""

    device: str
    hall: str
    window: str | None
    staff: str | None
    outbox: OutboxSettings
    broker: BrokerSettings
    evaluator: EvaluatorSettings
    base_topic: str
    source: Path | None
    session: SessionSettings
    keypad: KeypadSettings | None
    telemetry_s: float


def load_agent_config(path: str | Path) -> AgentConfig:
    """Load and validate an agent configuration file; raises ConfigError listing every problem."""
    path = Path(path)
    data = load_toml(path)
    device = data.get("device")
    ident = device.get("id") if isinstance(device, dict) else None
    default_outbox = f"{ident if isinstance(ident, str) and ident else 'agent'}-outbox.sqlite"
    checked = validate(AgentFile, outbox_table(data, default_outbox), path)
    session = checked.session
    given = data.get("session")
    if not (isinstance(given, dict) and "thank_s" in given):
        session = replace(session, thank_s=checked.evaluator.thank_you_s)
    return AgentConfig(
        device=checked.device.id,
        hall=checked.device.hall,
        window=checked.device.window,
        staff=checked.device.staff,
        base_topic=checked.device.base_topic,
        broker=checked.broker,
        outbox=checked.outbox,
        evaluator=checked.evaluator,
        source=path,
        session=session,
        keypad=checked.keypad,
        telemetry_s=checked.telemetry.interval_s,
    )
