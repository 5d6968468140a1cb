"""The hub's JSON API, version 1: health, votes, quarantine, devices.

Handlers only read the database, through the request's read-only connection
(:func:`hub.db.get_db`); nothing here touches MQTT.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from hub import quarantine as quarantined
from hub.db import get_db, hub_config
from hub.device_states import device_states, last_seq
from hub.instants import iso, ms_of_text
from hub.query_args import int_arg
from hub.vote_pages import PageQuery, read_page

bp = Blueprint("api", __name__)

MAX_PAGE = 1000
# A quarantine page: at most this many rows, and this much of their payload prefixes
# past the first row, so one answer stays well under a megabyte.
QUARANTINE_PAGE = 50
QUARANTINE_MAX_PAGE = 100
QUARANTINE_MAX_BYTES = 256 * 1024
STALL_S = 10.0  # the ingest loop is called stalled past this


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Whether the hub is connected, writing, and its loop alive; 503 when not."""
    state = current_app.config["HALLRATE_STATE"]
    loop_age = time.monotonic() - state.last_loop
    problems = []
    if not state.connected:
        problems.append("not connected to the broker")
    if state.store_error:
        problems.append(state.store_error)
    if loop_age > STALL_S:
        problems.append(f"ingest loop stalled for {loop_age:.0f} s")
    try:
        pruned = quarantined.totals(get_db().conn)["pruned_rows"]
    except sqlite3.Error as exc:
        pruned = None
        problems.append(f"cannot read the database: {exc}")
    body = {
        "status": "ok" if not problems else "degraded",
        "problems": problems,
        "broker_connected": state.connected,
        "last_commit_at": state.last_commit_at,
        "stored": state.stored,
        "repeated": state.repeated,
        "conflicting": state.conflicting,
        "quarantined": state.quarantined,
        # Rows the quarantine's limits removed: non-zero means it overflowed.
        "quarantine_pruned": pruned,
    }
    return jsonify(body), 200 if not problems else 503


@bp.get("/api/v1/votes")
def votes() -> ResponseReturnValue:
    """Stored votes in arrival order, paged by ``after``.

    Filters: ``device``, ``window``, ``staff``, ``since``, and ``rule`` (the votes
    a device's or the hub's rule kept from counting, e.g. ``rule=closed_period``
    for the votes held for the office).
    """
    limit = int_arg("limit", 100, 1, MAX_PAGE)
    after = int_arg("after", 0, 0, 2**63 - 1)
    since_ms = None
    since = request.args.get("since")
    if since:
        try:
            since_ms = ms_of_text(since)
        except (ValueError, OverflowError):
            # OverflowError: a time near year 1 or 9999 whose UTC lies out of range.
            abort(400, description="since: must be an ISO 8601 time with offset")
    query = PageQuery(
        after=after,
        limit=limit,
        device=request.args.get("device") or None,
        window=request.args.get("window") or None,
        staff=request.args.get("staff") or None,
        rule=request.args.get("rule") or None,
        since_ms=since_ms,
    )
    rows = read_page(get_db().conn, query)
    items = [_vote(row) for row in rows]
    next_after = rows[-1][0] if len(rows) == limit else None
    return jsonify({"votes": items, "next_after": next_after})


@bp.get("/api/v1/quarantine")
def quarantine() -> ResponseReturnValue:
    """Payloads the hub refused to count, with the reason, oldest first, paged by ``after``.

    Each shows a redacted prefix with the size and SHA-256 of the whole;
    ``totals`` says how much is kept and how much the limits pruned.
    """
    limit = int_arg("limit", QUARANTINE_PAGE, 1, QUARANTINE_MAX_PAGE)
    after = int_arg("after", 0, 0, 2**63 - 1)
    conn = get_db().conn
    body = quarantined.page(conn, after=after, limit=limit, max_bytes=QUARANTINE_MAX_BYTES)
    return jsonify({**body, "totals": quarantined.totals(conn)})


@bp.get("/api/v1/devices")
def devices() -> ResponseReturnValue:
    """Every device of the directory with its last status, info, telemetry and config answer."""
    directory = hub_config().directory
    conn = get_db().conn
    seen = device_states(conn)
    items = []
    for device in directory.devices.values():
        row = seen.get(device.id)
        items.append(
            {
                "id": device.id,
                "kind": device.kind,
                "window": device.window,
                "status": row[1] if row else None,
                "status_at": row[2] if row else None,
                "info": _loads(row[3]) if row else None,
                "telemetry": _loads(row[4]) if row else None,
                "telemetry_at": row[5] if row else None,
                "config": _loads(row[6]) if row else None,
                "config_at": row[7] if row else None,
                "last_seq": last_seq(conn, device.id),
            }
        )
    return jsonify({"devices": items})


def _vote(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": row[1],
        "device": row[2],
        "seq": row[3],
        "channel": row[4],
        "window": row[5],
        "staff": row[6],
        "ticket": row[7],
        "level": row[8],
        "dims": _loads(row[9]),
        "reasons": json.loads(row[10]),
        "comment": row[11],
        "anonymous": bool(row[12]),
        "flags": json.loads(row[13]),
        "ts": row[14],
        "cast_at": iso(row[15]),
        "sent": row[16],
        "received_at": iso(row[17]),
        "counted": bool(row[18]),
        # Why a vote does not count: the device's anti-manipulation rule and its version,
        # or the hub's rule (directory binding, anti-stuffing, time; see hub.rules).
        "filter": {"rule": row[19], "version": row[20]} if row[19] else None,
        "service": row[21],
        "hub_rule": {"rule": row[22], "version": row[23]} if row[22] else None,
    }


def _loads(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value
