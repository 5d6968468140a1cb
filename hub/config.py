"""The hub's configuration file (TOML), validated as a whole up front."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationInfo

from device_agent.configfile import (
    FilePath,
    Float,
    Int,
    Problems,
    Str,
    TimeZone,
    between,
    cross_check,
    document,
    load_toml,
    matching,
    section,
    validate,
)
from device_agent.errors import ConfigError
from device_agent.mqtt import BrokerSettings
from device_agent.topics import DEFAULT_BASE, ID_PATTERN
from hub.boards.layout import BoardLayout, board_id_problems
from hub.cases.settings import CaseSettings
from hub.central import CentralSettings
from hub.console.settings import ConsoleSettings
from hub.directory import Directory, load_directory
from hub.forwarding import ForwardingSettings
from hub.notify.settings import NotifySettings
from hub.quarantine import QuarantineSettings
from hub.rules import RuleSettings
from hub.supervision import SupervisionSettings
from hub.warnings import WarningSettings


@section
class IngestSettings:
    """How the hub batches commits: at most ``batch_max`` messages or ``batch_ms``."""

    batch_max: Annotated[Int, between(1, 10_000)] = 500
    batch_ms: Annotated[Int, between(1, 1000)] = 20
    receive_maximum: Annotated[Int, between(20, 65535)] = 1000
    clock_skew_s: Annotated[Float, between(1, 10**7)] = 120.0


@section
class ApiSettings:
    """Where the hub's HTTP API listens."""

    host: Str = "127.0.0.1"
    port: Annotated[Int, between(0, 65535)] = 8080
    threads: Annotated[Int, between(1, 64)] = 4


@section
class HubSection:
    """The ``[hub]`` table: which hall, and where its database and directory are."""

    hall: Annotated[Str, matching(ID_PATTERN, "not a valid id")]
    directory: FilePath
    database: FilePath = Field(default="hub.sqlite", validate_default=True)
    client_id: Str = ""  # "": hub-{hall}
    base_topic: Str = DEFAULT_BASE
    timezone: TimeZone = "Asia/Shanghai"


def _hub_problems(data: dict[str, Any], problems: Problems, info: ValidationInfo) -> None:
    board_id_problems(data.get("boards"), problems)
    listed = (info.context or {}).get("directory_hall")
    hub = data.get("hub")
    hall = hub.get("hall") if isinstance(hub, dict) else None
    if isinstance(listed, str) and isinstance(hall, str) and listed != hall:
        problems.add("hub.directory", f"lists hall {listed!r}, this hub is {hall!r}")


@document
class HubFile:
    """A hub's configuration file, table by table."""

    hub: HubSection = Field(default_factory=dict, validate_default=True)
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
    # Issue 13: who is told of warnings and offline devices, through apprise (hub.notify).
    notify: NotifySettings = field(default_factory=NotifySettings)
    # Issue 14: case classes, their stages and the working-day calendar (hub.cases).
    cases: CaseSettings = field(default_factory=CaseSettings)
    # Issue 14: service-time supervision and presence (hub.supervision, hub.presence).
    supervision: SupervisionSettings = field(default_factory=SupervisionSettings)
    # Issue 13: the console's sessions and live hall (hub.console).
    console: ConsoleSettings = field(default_factory=ConsoleSettings)

    _cross = cross_check(_hub_problems)


@dataclass(frozen=True, slots=True)
class HubConfig:
    """Everything one hall hub needs to run: its file's tables and the directory it names."""

    hall: str
    database: Path
    directory: Directory
    client_id: str
    base_topic: str
    timezone: str
    broker: BrokerSettings
    ingest: IngestSettings
    api: ApiSettings
    warnings: WarningSettings
    forwarding: ForwardingSettings
    central: CentralSettings
    boards: tuple[BoardLayout, ...]
    rules: RuleSettings
    quarantine: QuarantineSettings
    notify: NotifySettings = field(default_factory=NotifySettings)
    cases: CaseSettings = field(default_factory=CaseSettings)
    supervision: SupervisionSettings = field(default_factory=SupervisionSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    source: Path | None = None


def load_hub_config(path: str | Path) -> HubConfig:
    """Load and validate a hub configuration and the directory it names.

    Raises ConfigError listing every problem of both files.
    """
    path = Path(path)
    data = load_toml(path)
    problems: list[str] = []
    directory, listed = None, None
    hub = data.get("hub")
    name = hub.get("directory") if isinstance(hub, dict) else None
    if isinstance(name, str):
        directory_path = (path.parent / name).resolve()
        try:
            directory = load_directory(directory_path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            # Which hall it lists, if that much can be read, for the check below.
            with contextlib.suppress(ConfigError, AttributeError):
                listed = load_toml(directory_path).get("hall", {}).get("id")
        else:
            listed = directory.hall
    try:
        checked = validate(HubFile, data, path, directory=directory, directory_hall=listed)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    assert directory is not None  # a hub file is valid only with its directory
    return HubConfig(
        hall=checked.hub.hall,
        database=checked.hub.database,
        directory=directory,
        client_id=checked.hub.client_id or f"hub-{checked.hub.hall}",
        base_topic=checked.hub.base_topic,
        timezone=checked.hub.timezone,
        broker=checked.broker,
        ingest=checked.ingest,
        api=checked.api,
        warnings=checked.warnings,
        forwarding=checked.forwarding,
        central=checked.central,
        boards=checked.boards,
        rules=checked.rules,
        quarantine=checked.quarantine,
        notify=checked.notify,
        cases=checked.cases,
        supervision=checked.supervision,
        console=checked.console,
        source=path,
    )
