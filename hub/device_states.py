"""What the hub last heard from each device: its status, info, telemetry, config answer, seq."""

from __future__ import annotations

import sqlite3
from typing import Any

DEVICE_STATES_SQL = (
    "SELECT id, status, status_at, info, telemetry, telemetry_at, config, config_at FROM devices"
)
# Each device's records, in the tables that keep its record numbers.
RECORD_TABLES = ("votes", "service_events", "complaints")
LAST_SEQ_SQL = {table: f"SELECT max(seq) FROM {table} WHERE device = ?" for table in RECORD_TABLES}


def device_states(conn: sqlite3.Connection) -> dict[str, tuple[Any, ...]]:
    """Each device's row of ``devices`` by its id, as :data:`DEVICE_STATES_SQL` reads it."""
    return {row[0]: row for row in conn.execute(DEVICE_STATES_SQL)}


def last_seq(conn: sqlite3.Connection, device: str) -> int | None:
    """The highest record number among the records the hub stored from ``device``.

    Numbers restart at 1 when a device's outbox is replaced (its ids carry a
    new epoch then), so this tells how far a device has counted, not more.
    """
    found = [conn.execute(sql, (device,)).fetchone()[0] for sql in LAST_SEQ_SQL.values()]
    return max((seq for seq in found if seq is not None), default=None)
