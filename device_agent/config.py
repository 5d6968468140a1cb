"""The device agent's configuration file (TOML), validated as a whole up front."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from device_agent.configfile import ConfigReader, in_range
from device_agent.keypad import KeypadSettings, read_keypad_settings
from device_agent.mqtt import BrokerSettings, read_broker
from device_agent.protocol import LEVELS
from device_agent.session import SessionSettings, read_session_settings
from device_agent.topics import DEFAULT_BASE, ID_PATTERN

logger = logging.getLogger(__name__)

DEFAULT_KEYS: dict[str | int, int] = {
    "GPIO17": 5,
    "GPIO27": 4,
    "GPIO22": 3,
    "GPIO23": 2,
    "GPIO24": 1,
}


@dataclass(frozen=True, slots=True)
class EvaluatorSettings:
    """The buttons: which pin rates which level, and the thank-you light."""

    keys: dict[str | int, int] = field(default_factory=lambda: dict(DEFAULT_KEYS))
    debounce_ms: int = 80
    thank_you_pin: str | None = None
    thank_you_s: float = 3.0
    # The staff console button (start/end of service) and the invitation buzzer.
    console_pin: str | None = None
    buzzer_pin: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    """Where the outbox lives and how unreceipted records are resent."""

    path: Path
    limit: int = 1_000_000
    resend_after_s: float = 15.0
    in_flight: int = 200


# ``first_seq`` numbered a replaced card's outbox above the old one's ids. Ids
# now carry the outbox's own random epoch, so it is accepted (older files
# keep loading) and ignored, with a warning.
OUTBOX_KEYS = ("path", "limit", "resend_after_s", "in_flight", "first_seq")


def read_outbox(reader: ConfigReader, *, default_path: str) -> OutboxSettings:
    """The ``[outbox]`` table of an agent's or a kiosk's file."""
    reader.reject_unknown("outbox", OUTBOX_KEYS)
    if reader.has("outbox.first_seq"):
        logger.warning(
            "%s: outbox.first_seq is no longer used and is ignored: every outbox file"
            " names its records with an epoch of its own, so a replaced card never"
            " repeats an id; delete the line",
            reader.path,
        )
    return OutboxSettings(
        path=reader.path_value("outbox.path", default=default_path),
        limit=reader.get("outbox.limit", int, default=1_000_000, check=in_range(1, 10**9)),
        resend_after_s=reader.get(
            "outbox.resend_after_s", float, default=15.0, check=in_range(0.5, 3600)
        ),
        in_flight=reader.get("outbox.in_flight", int, default=200, check=in_range(1, 10_000)),
    )


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Everything one device agent needs to run."""

    device: str
    hall: str
    window: str | None
    staff: str | None
    outbox: OutboxSettings
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    evaluator: EvaluatorSettings = field(default_factory=EvaluatorSettings)
    base_topic: str = DEFAULT_BASE
    source: Path | None = None
    session: SessionSettings = field(default_factory=SessionSettings)
    keypad: KeypadSettings | None = None
    telemetry_s: float = 30.0


def _id_check(value: str) -> str | None:
    return None if ID_PATTERN.fullmatch(value) else f"must match {ID_PATTERN.pattern}"


def read_agent_config(reader: ConfigReader) -> AgentConfig:
    """Read an agent configuration, recording every problem in ``reader``."""
    reader.reject_unknown(
        "", ("device", "broker", "outbox", "evaluator", "session", "keypad", "telemetry")
    )
    reader.reject_unknown("device", ("id", "hall", "window", "staff", "base_topic"))
    reader.reject_unknown(
        "evaluator",
        ("keys", "debounce_ms", "thank_you_pin", "thank_you_s", "console_pin", "buzzer_pin"),
    )
    reader.reject_unknown("telemetry", ("interval_s",))
    device = reader.get("device.id", str, check=_id_check)
    window = reader.get("device.window", str, default="", check=_id_check) or None
    staff = reader.get("device.staff", str, default="", check=_id_check) or None
    outbox = read_outbox(reader, default_path=f"{device or 'agent'}-outbox.sqlite")
    evaluator = _read_evaluator(reader)
    return AgentConfig(
        device=device,
        hall=reader.get("device.hall", str, check=_id_check),
        window=window,
        staff=staff,
        base_topic=reader.get("device.base_topic", str, default=DEFAULT_BASE),
        broker=read_broker(reader),
        outbox=outbox,
        evaluator=evaluator,
        source=reader.path,
        session=read_session_settings(reader, thank_s=evaluator.thank_you_s),
        keypad=read_keypad_settings(reader),
        telemetry_s=reader.get(
            "telemetry.interval_s", float, default=30.0, check=in_range(0.1, 3600)
        ),
    )


def _read_evaluator(reader: ConfigReader) -> EvaluatorSettings:
    keys: dict[str | int, int] = dict(DEFAULT_KEYS)
    if reader.has("evaluator.keys"):
        table = reader.get("evaluator.keys", dict, default={})
        keys = {}
        for pin, level in table.items():
            if not isinstance(level, int) or isinstance(level, bool) or level not in LEVELS:
                reader.problem(f"evaluator.keys.{pin}", f"level must be 1 to 5, got {level!r}")
                continue
            keys[pin] = level
        if table and not keys:
            reader.problem("evaluator.keys", "no valid key")
    thank_you = reader.get("evaluator.thank_you_pin", str, default="")
    console = reader.get("evaluator.console_pin", str, default="")
    buzzer = reader.get("evaluator.buzzer_pin", str, default="")
    return EvaluatorSettings(
        keys=keys,
        debounce_ms=reader.get("evaluator.debounce_ms", int, default=80, check=in_range(0, 2000)),
        thank_you_pin=thank_you or None,
        thank_you_s=reader.get(
            "evaluator.thank_you_s", float, default=3.0, check=in_range(0.5, 60)
        ),
        console_pin=console or None,
        buzzer_pin=buzzer or None,
    )


def load_agent_config(path: str | Path) -> AgentConfig:
    """Load and validate an agent configuration file; raises ConfigError listing every problem."""
    reader = ConfigReader(path)
    config = read_agent_config(reader)
    reader.finish()
    return config
