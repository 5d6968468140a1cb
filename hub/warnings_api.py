"""The warnings API: list and read warnings, and move them along their lifecycle.

Reads use the request's read-only connection; each write action opens a
write transaction of its own (``BEGIN IMMEDIATE``, so it waits its turn with
the ingest loop) and needs a bearer token whose role allows it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Flask, abort, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from device_agent.storage import open_database, write_transaction
from hub.api import _db, _int_arg
from hub.config import HubConfig
from hub.counting import Counting
from hub.errors import StateError, UnknownRecord
from hub.instants import iso
from hub.tokens import require
from hub.warnings import MAX_NOTE_CHARS, STATUSES, warning_document, warning_events

bp = Blueprint("warnings", __name__)

MAX_PAGE = 1000


def init_app(app: Flask, config: HubConfig) -> None:
    """Register the warnings API with the hall's counting (rules, forwarding)."""
    app.config["HALLRATE_CONFIG"] = config
    app.extensions["hallrate.counting"] = Counting(config)
    app.register_blueprint(bp)


def counting() -> Counting:
    """The app's :class:`Counting`."""
    return current_app.extensions["hallrate.counting"]  # type: ignore[no-any-return]


@contextmanager
def write() -> Iterator[Any]:
    """A write transaction on the hub's database, for one request."""
    db = open_database(current_app.config["HALLRATE_DATABASE"])
    try:
        with write_transaction(db) as conn:
            yield conn
    except UnknownRecord as exc:
        abort(404, description=str(exc))
    except StateError as exc:
        abort(409, description=str(exc))
    finally:
        db.close()


@bp.get("/api/v1/warnings")
def warnings() -> ResponseReturnValue:
    """Warnings, newest first; filters ``staff``, ``level``, ``period``, ``status``, ``standing``.

    ``standing=1`` leaves out withdrawn warnings; by default they are listed,
    with ``withdrawn_at`` set, because they are part of the record.
    """
    hall = current_app.config["HALLRATE_CONFIG"].hall
    where, params = ["1 = 1"], []
    for name in ("staff", "level", "period", "status", "department"):
        value = request.args.get(name)
        if value:
            where.append(f"{name} = ?")
            params.append(value)
    if request.args.get("standing") in ("1", "true"):
        where.append("withdrawn_at IS NULL")
    limit = _int_arg("limit", 200, 1, MAX_PAGE)
    conn = _db().conn
    ids = [
        r[0]
        for r in conn.execute(
            f"SELECT id FROM warnings WHERE {' AND '.join(where)}"
            " ORDER BY raised_at DESC, id LIMIT ?",
            [*params, limit],
        )
    ]
    items = [warning_document(conn, ident, hall=hall) for ident in ids]
    return jsonify({"warnings": items})


@bp.get("/api/v1/warnings/<ident>")
def warning(ident: str) -> ResponseReturnValue:
    """One warning with its votes (as stored, voids marked) and its audit log."""
    hall = current_app.config["HALLRATE_CONFIG"].hall
    conn = _db().conn
    try:
        document = warning_document(conn, ident, hall=hall)
    except UnknownRecord as exc:
        abort(404, description=str(exc))
    document["vote_details"] = [
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
        for r in conn.execute(
            "SELECT v.id, v.device, v.channel, v.window, v.level, v.reasons, v.comment, v.flags,"
            " v.cast_at, v.received_at, x.reason, x.by, x.at FROM warning_votes w"
            " JOIN votes v ON v.id = w.vote_id LEFT JOIN vote_voids x ON x.vote_id = v.id"
            " WHERE w.warning_id = ? ORDER BY v.rowid",
            (ident,),
        )
    ]
    document["events"] = warning_events(conn, ident)
    document["statuses"] = list(STATUSES)
    return jsonify(document)


def _act(ident: str, step: Callable[..., dict[str, Any]], **kwargs: Any) -> ResponseReturnValue:
    with write() as conn:
        step(conn, ident, by=g.actor, **kwargs)
        document = warning_document(conn, ident, hall=counting().config.hall)
    return jsonify(document)


def _text(name: str, *, required: bool) -> str | None:
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        abort(400, description="send a JSON object")
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        abort(400, description=f"{name}: required text")
    if len(value) > MAX_NOTE_CHARS:
        abort(400, description=f"{name}: at most {MAX_NOTE_CHARS} characters")
    return value


@bp.post("/api/v1/warnings/<ident>/acknowledge")
@require("acknowledge")
def acknowledge(ident: str) -> ResponseReturnValue:
    """Acknowledge a raised warning; body ``{"note": ...}`` optional."""
    return _act(ident, counting().engine.acknowledge, note=_text("note", required=False))


@bp.post("/api/v1/warnings/<ident>/action")
@require("action")
def record_action(ident: str) -> ResponseReturnValue:
    """Record the action taken; body ``{"what": "效能告诫 delivered in person"}``."""
    return _act(ident, counting().engine.record_action, what=_text("what", required=True))


@bp.post("/api/v1/warnings/<ident>/close")
@require("close")
def close(ident: str) -> ResponseReturnValue:
    """Close a warning whose action is recorded; body ``{"note": ...}`` optional."""
    return _act(ident, counting().engine.close, note=_text("note", required=False))
