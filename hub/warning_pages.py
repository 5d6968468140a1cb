"""The warnings API's reads: warnings by filter, newest first, and the votes behind one.

The documents themselves are :func:`hub.warnings.warning_document`, which
central receives too; this module holds only what the API lists and shows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from hub.instants import iso

# The columns a list may be narrowed by, each to one value.
WARNING_FILTERS = ("staff", "level", "period", "status", "department")

VOTE_DETAILS_SQL = (
    "SELECT v.id, v.device, v.channel, v.window, v.level, v.reasons, v.comment, v.flags,"
    " v.cast_at, v.received_at, x.reason, x.by, x.at FROM warning_votes w"
    " JOIN votes v ON v.id = w.vote_id LEFT JOIN vote_voids x ON x.vote_id = v.id"
    " WHERE w.warning_id = ? ORDER BY v.rowid"
)


def where_filtered(
    filters: Mapping[str, str], names: Iterable[str], *, standing: bool
) -> tuple[str, list[Any]]:
    """A WHERE clause (and its parameters) for a warnings list: each of ``names`` that
    ``filters`` gives must equal it; ``standing`` leaves withdrawn warnings out."""
    where, params = ["1 = 1"], []
    for name in names:
        value = filters.get(name)
        if value:
            where.append(f"{name} = ?")
            params.append(value)
    if standing:
        where.append("withdrawn_at IS NULL")
    return " AND ".join(where), params


def warning_ids_sql(filters: Mapping[str, str], *, standing: bool) -> tuple[str, list[Any]]:
    """The list read: ids of warnings matching ``filters`` (names from :data:`WARNING_FILTERS`)."""
    where, params = where_filtered(filters, WARNING_FILTERS, standing=standing)
    sql = f"SELECT id FROM warnings WHERE {where} ORDER BY raised_at DESC, id LIMIT ?"
    return sql, params


def warning_ids(
    conn: sqlite3.Connection, filters: Mapping[str, str], *, standing: bool, limit: int
) -> list[str]:
    """Ids of the warnings matching ``filters``, newest first; ``standing`` leaves out withdrawn."""
    sql, params = warning_ids_sql(filters, standing=standing)
    return [row[0] for row in conn.execute(sql, [*params, limit])]


def vote_details(conn: sqlite3.Connection, ident: str) -> list[dict[str, Any]]:
    """The votes behind a warning as stored, in arrival order, each with its void if voided."""
    return [
        {
            "id": r[0],
            "device": r[1],
            "channel": r[2],
            "window": r[3],
            "level": r[4],
            "reasons": json.loads(r[5]),
            "comment": r[6],
            "flags": json.loads(r[7]),
            "cast_at": iso(r[8]),
            "received_at": iso(r[9]),
            "voided": None if r[10] is None else {"reason": r[10], "by": r[11], "at": r[12]},
        }
        for r in conn.execute(VOTE_DETAILS_SQL, (ident,))
    ]
