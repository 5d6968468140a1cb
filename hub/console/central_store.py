"""The reads of the central console pages (hub in central role), over what halls forwarded.

Every read is of central's own tables: ``central_warnings`` (each hall's
warnings), ``central_summaries`` (each hall's latest numbers) and
``central_person_counts`` (each hall's per-person figures), through
:mod:`hub.county_warnings` and :mod:`hub.county_people`.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from hub import county_people, county_warnings
from hub.config import HubConfig
from hub.periods import Calendar

HALL_WARNINGS_SHOWN = 200


def overview(conn: sqlite3.Connection, config: HubConfig, now: datetime) -> dict[str, Any]:
    """Standing warnings of every hall, county warnings per person, each hall's satisfaction."""
    calendar = Calendar(config.timezone)
    month = calendar.current(now, "month")
    year = calendar.current(now, "year")
    summaries = county_warnings.summaries(conn)
    reported = county_people.hall_satisfaction(summaries)
    seen = {row["hall"] for row in reported}
    # Halls central accepts that have sent nothing yet show too, as silent.
    silent = [hall for hall in config.central.halls if hall not in seen]
    warnings = county_warnings.county_warnings(conn, {}, standing=True)
    person_warnings = (
        county_people.person_warnings(conn, config.warnings.rules, [month, year])
        if config.central.count_per_person
        else []
    )
    return {
        "month": month,
        "year": year,
        "halls": reported,
        "silent": silent,
        "hall_names": {row["hall"]: row["name"] for row in reported},
        "warnings": warnings[:HALL_WARNINGS_SHOWN],
        "more_warnings": max(0, len(warnings) - HALL_WARNINGS_SHOWN),
        "person_warnings": person_warnings,
        "per_person": config.central.count_per_person,
    }


def people(
    conn: sqlite3.Connection, config: HubConfig, period: str | None, now: datetime
) -> dict[str, Any]:
    """Every person's figures in ``period`` (this month when None) added across halls.

    Raises ValueError for a period that is not a day, month or year key.
    """
    key = period or Calendar(config.timezone).current(now, "month")
    summaries = county_warnings.summaries(conn)
    return {
        "period": key,
        "people": county_people.people(conn, key),
        "hall_names": {s.get("hall"): s.get("name") or s.get("hall") for s in summaries},
    }
