"""The notice log's query: every notice, newest first, by event, status and department."""

from __future__ import annotations

import sqlite3
from typing import Any

from hub.notify.notices import LOG_COLUMNS, log_entries

# Newest first below an id, filtered by event, status and (for a department head) department.
NOTICES_SQL = f"""
    SELECT {", ".join(LOG_COLUMNS)}
    FROM notices
    WHERE id < :before
      AND (:event = '' OR event = :event)
      AND (:status = '' OR status = :status)
      AND (:department = '' OR (department = :department AND role != 'person'))
    ORDER BY id DESC LIMIT :limit"""


def notices(
    conn: sqlite3.Connection,
    *,
    event: str = "",
    status: str = "",
    department: str = "",
    before: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """A page of the notice log (as :func:`hub.notify.notices.notice_log`), filtered."""
    rows = conn.execute(
        NOTICES_SQL,
        {
            "before": 2**63 - 1 if before is None else before,
            "event": event,
            "status": status,
            "department": department,
            "limit": limit,
        },
    )
    return log_entries(rows)
