"""The console's devices and quarantine pages: what they read, and nothing else.

Devices: every device of the directory (and any other that reported) with
what the hub last heard from it (:mod:`hub.device_states`): status, info
(software, config version), the latest telemetry (outbox, keypad, alarm) and
its answer to the last remote configuration. Quarantine: what the hub refused,
as :mod:`hub.quarantine` keeps it (bounded, redacted), newest first, one
keyset page at a time.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from hub import quarantine
from hub.config import HubConfig
from hub.device_states import device_states
from hub.instants import parse_time

QUARANTINE_PAGE = 25
# Newest first from a rowid: the table's own key walked backwards.
QUARANTINE_NEWEST_SQL = (
    "SELECT rowid, topic, device, record_id, reason, payload, payload_bytes, payload_sha256,"
    " first_seen, last_seen, times FROM quarantine WHERE rowid < ? ORDER BY rowid DESC LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """One device as the page shows it."""

    id: str
    kind: str | None
    window: str | None
    status: str | None
    last_seen: str | None
    software: str | None
    config_version: int | None  # what the device says is in force
    outbox_depth: int | None
    outbox_limit: int | None
    oldest_unreceipted_s: float | None
    malformed: int | None
    keypad_state: str | None
    alarm: str | None
    telemetry_at: str | None
    config_answer: dict[str, Any] | None  # its report on the last config/set
    config_at: str | None
    telemetry: dict[str, Any] = field(default_factory=dict)

    @property
    def config_errors(self) -> list[str]:
        """The problems the device listed when it refused a configuration."""
        if not self.config_answer or self.config_answer.get("applied"):
            return []
        error = self.config_answer.get("error")
        if isinstance(error, list):
            return [str(e) for e in error]
        return str(error).splitlines() if error else []


def _json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _local(text: str | None, zone: ZoneInfo) -> str | None:
    if not text:
        return None
    try:
        return parse_time(text).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_devices(conn: sqlite3.Connection, config: HubConfig) -> list[DeviceRow]:
    """Every device of the directory in its order, then any other that reported."""
    zone = ZoneInfo(config.timezone)
    states = device_states(conn)
    known = config.directory.devices
    rows = []
    for device_id in [*known, *sorted(set(states) - set(known))]:
        entry = known.get(device_id)
        state = states.get(device_id)
        _, status, status_at, info, telemetry, telemetry_at, answer, answer_at = state or (
            (None,) * 8
        )
        facts = _json(info)
        heard = _json(telemetry)
        outbox = heard.get("outbox") if isinstance(heard.get("outbox"), dict) else {}
        keypad = heard.get("keypad") if isinstance(heard.get("keypad"), dict) else {}
        seen = max((t for t in (status_at, telemetry_at) if t), default=None)
        rows.append(
            DeviceRow(
                id=device_id,
                kind=entry.kind if entry else None,
                window=entry.window if entry else None,
                status=_status(status),
                last_seen=_local(seen, zone),
                software=str(facts["software"]) if facts.get("software") else None,
                config_version=_int(heard.get("config_version", facts.get("config_version"))),
                outbox_depth=_int(outbox.get("depth")),
                outbox_limit=_int(outbox.get("limit")),
                oldest_unreceipted_s=outbox.get("oldest_unreceipted_s"),
                malformed=_int(keypad.get("malformed")),
                keypad_state=str(keypad["state"]) if keypad.get("state") else None,
                alarm=str(heard["alarm"]) if heard.get("alarm") else None,
                telemetry_at=_local(telemetry_at, zone),
                config_answer=_json(answer) or None,
                config_at=_local(answer_at, zone),
                telemetry=heard,
            )
        )
    return rows


def _status(raw: str | None) -> str | None:
    """``online``/``offline`` from the stored status (a word, or a JSON document)."""
    if raw is None:
        return None
    found = _json(raw).get("status") if raw.startswith("{") else raw
    return str(found) if found else None


def next_config_version(row: DeviceRow | None) -> int:
    """The version a new configuration should carry: past any the device has seen."""
    if row is None:
        return 1
    seen = [row.config_version or 0]
    if row.config_answer:
        for key in ("config_version", "active_version"):
            value = _int(row.config_answer.get(key))
            if value is not None:
                seen.append(value)
    return max(seen) + 1


@dataclass(frozen=True, slots=True)
class QuarantinePage:
    """One page of refused messages, newest first, and where the older ones start."""

    items: list[dict[str, Any]]
    older_before: int | None
    totals: dict[str, Any]


def read_quarantine(
    conn: sqlite3.Connection, config: HubConfig, *, before: int | None
) -> QuarantinePage:
    """The refused messages before rowid ``before`` (the newest without), and the totals."""
    zone = ZoneInfo(config.timezone)
    rows = conn.execute(
        QUARANTINE_NEWEST_SQL, (before if before is not None else 2**62, QUARANTINE_PAGE + 1)
    ).fetchall()
    items = []
    for r in rows[:QUARANTINE_PAGE]:
        item = quarantine.item_of(r)
        item["rowid"] = r[0]
        item["first_seen"] = _local(item["first_seen"], zone)
        item["last_seen"] = _local(item["last_seen"], zone)
        items.append(item)
    older = items[-1]["rowid"] if len(rows) > QUARANTINE_PAGE else None
    return QuarantinePage(items, older, quarantine.totals(conn))
