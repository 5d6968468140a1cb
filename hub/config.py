"""The hub's configuration file (TOML), validated as a whole up front."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from device_agent.configfile import ConfigReader, in_range
from device_agent.mqtt import BrokerSettings, read_broker
from device_agent.topics import DEFAULT_BASE, ID_PATTERN
from hub.boards.layout import BoardLayout, read_boards
from hub.central import CentralSettings, read_central
from hub.console.settings import ConsoleSettings, read_console_settings
from hub.directory import Directory, read_directory
from hub.forwarding import ForwardingSettings, read_forwarding
from hub.quarantine import QuarantineSettings, read_quarantine_settings
from hub.rules import RuleSettings, read_rule_settings
from hub.warnings import WarningSettings, read_warning_settings


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """How the hub batches commits: at most ``batch_max`` messages or ``batch_ms``."""

    batch_max: int = 500
    batch_ms: int = 20
    receive_maximum: int = 1000
    clock_skew_s: float = 120.0


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Where the hub's HTTP API listens."""

    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 4


@dataclass(frozen=True, slots=True)
class HubConfig:
    """Everything one hall hub needs to run."""

    hall: str
    database: Path
    directory: Directory
    client_id: str
    base_topic: str = DEFAULT_BASE
    timezone: str = "Asia/Shanghai"
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    warnings: WarningSettings = field(default_factory=WarningSettings)
    forwarding: ForwardingSettings = field(default_factory=ForwardingSettings)
    central: CentralSettings = field(default_factory=CentralSettings)
    boards: tuple[BoardLayout, ...] = ()
    rules: RuleSettings = field(default_factory=RuleSettings)
    # Issue 10: how much of what the hub refuses it keeps (hub.quarantine).
    quarantine: QuarantineSettings = field(default_factory=QuarantineSettings)
    # Issue 13: the console's sessions and live hall (hub.console).
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    source: Path | None = None


def _zone_check(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r}"
    return None


def read_hub_config(reader: ConfigReader) -> HubConfig:
    """Read a hub configuration and the directory it names, recording every problem."""
    reader.reject_unknown(
        "",
        (
            "hub",
            "broker",
            "ingest",
            "api",
            "warnings",
            "forwarding",
            "central",
            "boards",
            "quarantine",
            "rules",
            "console",
        ),
    )
    reader.reject_unknown(
        "hub", ("hall", "database", "directory", "client_id", "base_topic", "timezone")
    )
    reader.reject_unknown("ingest", ("batch_max", "batch_ms", "receive_maximum", "clock_skew_s"))
    reader.reject_unknown("api", ("host", "port", "threads"))
    hall = reader.get(
        "hub.hall", str, check=lambda v: None if ID_PATTERN.fullmatch(v) else "not a valid id"
    )
    directory_path = reader.path_value("hub.directory")
    sub = ConfigReader(directory_path, problems=reader.problems)
    directory = read_directory(sub)
    if directory.hall and hall and directory.hall != hall:
        reader.problem("hub.directory", f"lists hall {directory.hall!r}, this hub is {hall!r}")
    return HubConfig(
        hall=hall,
        database=reader.path_value("hub.database", default="hub.sqlite"),
        directory=directory,
        client_id=reader.get("hub.client_id", str, default=f"hub-{hall}"),
        base_topic=reader.get("hub.base_topic", str, default=DEFAULT_BASE),
        timezone=reader.get("hub.timezone", str, default="Asia/Shanghai", check=_zone_check),
        broker=read_broker(reader),
        ingest=IngestSettings(
            batch_max=reader.get("ingest.batch_max", int, default=500, check=in_range(1, 10_000)),
            batch_ms=reader.get("ingest.batch_ms", int, default=20, check=in_range(1, 1000)),
            receive_maximum=reader.get(
                "ingest.receive_maximum", int, default=1000, check=in_range(20, 65535)
            ),
            clock_skew_s=reader.get(
                "ingest.clock_skew_s", float, default=120.0, check=in_range(1, 10**7)
            ),
        ),
        api=ApiSettings(
            host=reader.get("api.host", str, default="127.0.0.1"),
            port=reader.get("api.port", int, default=8080, check=in_range(0, 65535)),
            threads=reader.get("api.threads", int, default=4, check=in_range(1, 64)),
        ),
        warnings=read_warning_settings(reader),
        forwarding=read_forwarding(reader),
        central=read_central(reader),
        boards=read_boards(reader, directory),
        rules=read_rule_settings(reader),
        quarantine=read_quarantine_settings(reader),
        console=read_console_settings(reader),
        source=reader.path,
    )


def load_hub_config(path: str | Path) -> HubConfig:
    """Load and validate a hub configuration; raises ConfigError listing every problem."""
    reader = ConfigReader(path)
    config = read_hub_config(reader)
    reader.finish()
    return config
