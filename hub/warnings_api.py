"""The warnings API: list and read warnings, and move them along their lifecycle.

Reads use the request's read-only connection (:func:`hub.db.get_db`); each
write action runs in a write transaction of its own (:func:`hub.db.write`,
``BEGIN IMMEDIATE``, so it waits its turn with the ingest loop) and needs a
bearer token whose role allows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, abort, g, jsonify, request
from flask.typing import ResponseReturnValue

from hub.db import counting, get_db, hub_config, write
from hub.errors import UnknownRecord
from hub.query_args import body_text, int_arg
from hub.tokens import require
from hub.warning_pages import WARNING_FILTERS, vote_details, warning_ids
from hub.warnings import MAX_NOTE_CHARS, STATUSES, warning_document, warning_events

bp = Blueprint("warnings", __name__)

MAX_PAGE = 1000


def init_app(app: Flask) -> None:
    """Register the warnings API."""
    app.register_blueprint(bp)


@bp.get("/api/v1/warnings")
def warnings() -> ResponseReturnValue:
    """Warnings, newest first; filters ``staff``, ``level``, ``period``, ``status``, ``standing``.

    ``standing=1`` leaves out withdrawn warnings; by default they are listed,
    with ``withdrawn_at`` set, because they are part of the record.
    """
    hall = hub_config().hall
    filters = {name: request.args.get(name, "") for name in WARNING_FILTERS}
    standing = request.args.get("standing") in ("1", "true")
    limit = int_arg("limit", 200, 1, MAX_PAGE)
    conn = get_db().conn
    ids = warning_ids(conn, filters, standing=standing, limit=limit)
    items = [warning_document(conn, ident, hall=hall) for ident in ids]
    return jsonify({"warnings": items})


@bp.get("/api/v1/warnings/<ident>")
def warning(ident: str) -> ResponseReturnValue:
    """One warning with its votes (as stored, voids marked) and its audit log."""
    hall = hub_config().hall
    conn = get_db().conn
    try:
        document = warning_document(conn, ident, hall=hall)
    except UnknownRecord as exc:
        abort(404, description=str(exc))
    document["vote_details"] = vote_details(conn, ident)
    document["events"] = warning_events(conn, ident)
    document["statuses"] = list(STATUSES)
    return jsonify(document)


def _act(ident: str, step: Callable[..., dict[str, Any]], **kwargs: Any) -> ResponseReturnValue:
    with write() as conn:
        step(conn, ident, by=g.actor, **kwargs)
        document = warning_document(conn, ident, hall=hub_config().hall)
    return jsonify(document)


def _text(name: str, *, required: bool) -> str | None:
    return body_text(name, required=required, limit=MAX_NOTE_CHARS)


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
