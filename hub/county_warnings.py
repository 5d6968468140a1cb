"""Central's reads: every hall's warnings with their events, and each hall's latest summary.

:func:`hub.central.accept` writes these tables; the central API reads them here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from hub.warning_pages import where_filtered

# The columns a list may be narrowed by, each to one value.
COUNTY_FILTERS = ("hall", "level", "status", "staff", "period")
MAX_LIST = 1000

WARNING_SQL = "SELECT document FROM central_warnings WHERE hall = ? AND id = ?"
EVENTS_SQL = (
    "SELECT seq, event, at, by, detail FROM central_warning_events"
    " WHERE hall = ? AND warning_id = ? ORDER BY seq"
)
SUMMARIES_SQL = "SELECT document, received_at FROM central_summaries ORDER BY hall"


def county_warnings_sql(filters: Mapping[str, str], *, standing: bool) -> tuple[str, list[Any]]:
    """The list read of every hall's warnings matching ``filters``, newest first."""
    where, params = where_filtered(filters, COUNTY_FILTERS, standing=standing)
    sql = (
        f"SELECT hall, document, received_at FROM central_warnings WHERE {where}"
        f" ORDER BY raised_at DESC, hall, id LIMIT {MAX_LIST}"
    )
    return sql, params


def county_warnings(
    conn: sqlite3.Connection, filters: Mapping[str, str], *, standing: bool
) -> list[dict[str, Any]]:
    """Warnings of every hall as central last heard of them, newest first, at most 1000."""
    sql, params = county_warnings_sql(filters, standing=standing)
    items = []
    for hall, document, received_at in conn.execute(sql, params):
        body = json.loads(document)
        body.pop("event", None)
        items.append({**body, "hall": hall, "received_at": received_at})
    return items


def county_warning(conn: sqlite3.Connection, hall: str, ident: str) -> dict[str, Any] | None:
    """One hall's warning with every event central received of it; None when unknown."""
    row = conn.execute(WARNING_SQL, (hall, ident)).fetchone()
    if row is None:
        return None
    body: dict[str, Any] = json.loads(row[0])
    body.pop("event", None)
    body["events"] = [
        {"seq": r[0], "event": r[1], "at": r[2], "by": r[3], "detail": json.loads(r[4])}
        for r in conn.execute(EVENTS_SQL, (hall, ident))
    ]
    return body


def summaries(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The latest summary of every hall, by hall."""
    return [
        {**json.loads(document), "received_at": received_at}
        for document, received_at in conn.execute(SUMMARIES_SQL)
    ]
