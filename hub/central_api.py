"""The central role's API: county-wide warnings and summaries, and the signed webhook inbox."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from device_agent.errors import ProtocolError
from device_agent.protocol import format_time
from device_agent.storage import open_database, write_transaction
from hub.api import _db
from hub.central import MAX_MESSAGE_BYTES, CentralSettings, accept, decode_message
from hub.forwarding import HALL_HEADER, KIND_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

bp = Blueprint("central", __name__)

# A signed post older or newer than this is refused (a replay would be harmless,
# since storing is idempotent, but there is no reason to accept one).
MAX_CLOCK_SKEW_S = 300


def init_app(app: Flask, settings: CentralSettings) -> None:
    """Register the central API; it answers 404 unless the hub is in central role."""
    app.config["HALLRATE_CENTRAL"] = settings
    app.register_blueprint(bp)


def _settings() -> CentralSettings:
    settings: CentralSettings = current_app.config["HALLRATE_CENTRAL"]
    if not settings.enabled:
        abort(404, description="this hub is not in central role")
    return settings


@bp.get("/api/v1/central/warnings")
def warnings() -> ResponseReturnValue:
    """Every hall's warnings, newest first; filters hall, level, status, staff, period, standing."""
    _settings()
    where, params = ["1 = 1"], []
    for name in ("hall", "level", "status", "staff", "period"):
        value = request.args.get(name)
        if value:
            where.append(f"{name} = ?")
            params.append(value)
    if request.args.get("standing") in ("1", "true"):
        where.append("withdrawn_at IS NULL")
    rows = _db().execute(
        f"SELECT hall, document, received_at FROM central_warnings WHERE {' AND '.join(where)}"
        " ORDER BY raised_at DESC, hall, id LIMIT 1000",
        params,
    )
    items = []
    for hall, document, received_at in rows:
        body = json.loads(document)
        body.pop("event", None)
        items.append({**body, "hall": hall, "received_at": received_at})
    return jsonify({"warnings": items})


@bp.get("/api/v1/central/warnings/<hall>/<ident>")
def warning(hall: str, ident: str) -> ResponseReturnValue:
    """One hall's warning as central last heard of it, with every event it received."""
    _settings()
    row = (
        _db()
        .execute("SELECT document FROM central_warnings WHERE hall = ? AND id = ?", (hall, ident))
        .fetchone()
    )
    if row is None:
        abort(404, description=f"no warning {ident!r} from hall {hall!r}")
    body = json.loads(row[0])
    body.pop("event", None)
    body["events"] = [
        {"seq": r[0], "event": r[1], "at": r[2], "by": r[3], "detail": json.loads(r[4])}
        for r in _db().execute(
            "SELECT seq, event, at, by, detail FROM central_warning_events"
            " WHERE hall = ? AND warning_id = ? ORDER BY seq",
            (hall, ident),
        )
    ]
    return jsonify(body)


@bp.get("/api/v1/central/summaries")
def summaries() -> ResponseReturnValue:
    """The latest summary of every hall."""
    _settings()
    items = [
        {**json.loads(document), "received_at": received_at}
        for document, received_at in _db().execute(
            "SELECT document, received_at FROM central_summaries ORDER BY hall"
        )
    ]
    return jsonify({"summaries": items})


@bp.post("/api/v1/central/inbox")
def inbox() -> ResponseReturnValue:
    """A hall hub's signed webhook post: a warning event or a summary, stored once."""
    settings = _settings()
    hall = request.headers.get(HALL_HEADER, "")
    secret = settings.halls.get(hall)
    if secret is None:
        abort(401, description="unknown hall, or no webhook secret configured for it")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    # A large hall's summary may exceed the API's usual request limit.
    request.max_content_length = MAX_MESSAGE_BYTES
    body = request.get_data()
    if not verify(
        secret.reveal().encode(), timestamp, body, request.headers.get(SIGNATURE_HEADER, "")
    ):
        abort(401, description="bad signature")
    # isascii: str.isdigit() also takes digits such as "²" that int() refuses.
    if not (timestamp.isascii() and timestamp.isdigit()) or (
        abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW_S
    ):
        abort(401, description="timestamp too far from central's clock")
    kind = request.headers.get(KIND_HEADER, "")
    try:
        message = decode_message(body)
        db = open_database(current_app.config["HALLRATE_DATABASE"])
        try:
            with write_transaction(db) as conn:
                message_id = accept(
                    conn, hall, kind, message, received_at=format_time(datetime.now(UTC))
                )
        finally:
            db.close()
    except ProtocolError as exc:
        abort(400, description=str(exc))
    result: dict[str, Any] = {"stored": message_id}
    return jsonify(result)
