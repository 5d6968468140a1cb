"""MQTT topics of the wire protocol: built and parsed here and nowhere else."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from device_agent.errors import ProtocolError

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
DEFAULT_BASE = "hallrate/{hall_id}"


class DeviceTopic(enum.StrEnum):
    """The topics under ``{base}/device/{id}/``."""

    STATUS = "status"
    INFO = "info"
    VOTE = "vote"
    SERVICE = "service"
    COMPLAINT = "complaint"
    RECEIPT = "receipt"
    TELEMETRY = "telemetry"
    CONFIG_SET = "config/set"
    CONFIG = "config"
    SERVICE_COMMAND = "service/command"


class BoardTopic(enum.StrEnum):
    """The topics under ``{base}/board/{board}/``."""

    FRAME = "frame"
    STATUS = "status"


class HubTopic(enum.StrEnum):
    """The topics under ``{base}/hub/``."""

    STATUS = "status"
    WARNING = "warning"
    SUMMARY = "summary"
    # Central's receipt for forwarded warnings and summaries (back through the bridge).
    RECEIPT = "receipt"


def check_id(value: object, *, field: str = "id") -> str:
    """Return ``value`` if it is a valid hall, device, window or board id."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ProtocolError(f"must match {ID_PATTERN.pattern}, got {value!r}"[:120], field=field)
    return value


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """What a received topic names: the device (or board) and which of its topics."""

    device: str
    kind: DeviceTopic


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic tree of one hall, rooted at ``base``."""

    base: str

    @classmethod
    def for_hall(cls, hall_id: str, *, template: str = DEFAULT_BASE) -> Topics:
        """The tree of ``hall_id``; ``template`` may use ``{hall_id}``."""
        check_id(hall_id, field="hall")
        base = template.format(hall_id=hall_id).strip("/")
        if not base or any(c in base for c in "+#"):
            raise ProtocolError(f"invalid base topic {base!r}", field="base_topic")
        return cls(base)

    def device(self, device_id: str, kind: DeviceTopic) -> str:
        """The topic ``kind`` of device ``device_id``."""
        return f"{self.base}/device/{check_id(device_id, field='device')}/{kind.value}"

    def all_devices(self, kind: DeviceTopic) -> str:
        """A subscription filter matching topic ``kind`` of every device."""
        return f"{self.base}/device/+/{kind.value}"

    def board(self, board_id: str, kind: BoardTopic) -> str:
        """The topic ``kind`` of LED board ``board_id``."""
        return f"{self.base}/board/{check_id(board_id, field='board')}/{kind.value}"

    def hub(self, kind: HubTopic) -> str:
        """The hub's own topic ``kind``."""
        return f"{self.base}/hub/{kind.value}"

    def parse_device(self, topic: str) -> ParsedTopic:
        """Split a device topic of this tree into its device id and kind."""
        prefix = f"{self.base}/device/"
        if not topic.startswith(prefix):
            raise ProtocolError(f"not a device topic of {self.base}: {topic!r}", field="topic")
        device, _, rest = topic[len(prefix) :].partition("/")
        try:
            kind = DeviceTopic(rest)
        except ValueError:
            raise ProtocolError(f"unknown device topic {rest!r}", field="topic") from None
        return ParsedTopic(check_id(device, field="topic device"), kind)


def every_hall_hub(kind: HubTopic, *, template: str = DEFAULT_BASE) -> str:
    """Central's subscription filter for hub topic ``kind`` of every hall under ``template``."""
    return f"{template.replace('{hall_id}', '+').strip('/')}/hub/{kind.value}"


def parse_hall_hub(topic: str, *, template: str = DEFAULT_BASE) -> tuple[str, HubTopic]:
    """The hall id and hub topic kind of a topic matching :func:`every_hall_hub`."""
    prefix, marker, suffix = template.strip("/").partition("{hall_id}")
    pattern = re.escape(prefix) + "([^/]+)" + re.escape(suffix) + "/hub/([^/]+)"
    match = re.fullmatch(pattern, topic) if marker else None
    if match is None:
        raise ProtocolError(f"not a hall hub topic of {template!r}: {topic!r}", field="topic")
    try:
        kind = HubTopic(match[2])
    except ValueError:
        raise ProtocolError(f"unknown hub topic {match[2]!r}", field="topic") from None
    return check_id(match[1], field="hall"), kind
