"""The central role's API: county-wide warnings and summaries, and the signed webhook inbox."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, abort, jsonify, request
from flask.typing import ResponseReturnValue

from device_agent.errors import ProtocolError
from device_agent.protocol import format_time
from hub import county_people, county_warnings
from hub.central import MAX_MESSAGE_BYTES, CentralSettings, accept, decode_message
from hub.db import get_db, hub_config, write
from hub.forwarding import HALL_HEADER, KIND_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from hub.periods import Calendar

bp = Blueprint("central", __name__)

# A signed post older or newer than this is refused (a replay would be harmless,
# since storing is idempotent, but there is no reason to accept one).
MAX_CLOCK_SKEW_S = 300


def init_app(app: Flask) -> None:
    """Register the central API; it answers 404 unless the hub is in central role."""
    app.register_blueprint(bp)


def _settings() -> CentralSettings:
    settings = hub_config().central
    if not settings.enabled:
        abort(404, description="this hub is not in central role")
    return settings


@bp.get("/api/v1/central/warnings")
def warnings() -> ResponseReturnValue:
    """Every hall's warnings, newest first; filters hall, level, status, staff, period, standing."""
    _settings()
    filters = {name: request.args.get(name, "") for name in county_warnings.COUNTY_FILTERS}
    standing = request.args.get("standing") in ("1", "true")
    items = county_warnings.county_warnings(get_db().conn, filters, standing=standing)
    return jsonify({"warnings": items})


@bp.get("/api/v1/central/warnings/<hall>/<ident>")
def warning(hall: str, ident: str) -> ResponseReturnValue:
    """One hall's warning as central last heard of it, with every event it received."""
    _settings()
    body = county_warnings.county_warning(get_db().conn, hall, ident)
    if body is None:
        abort(404, description=f"no warning {ident!r} from hall {hall!r}")
    return jsonify(body)


@bp.get("/api/v1/central/summaries")
def summaries() -> ResponseReturnValue:
    """The latest summary of every hall."""
    _settings()
    items = county_warnings.summaries(get_db().conn)
    return jsonify({"summaries": items})


@bp.get("/api/v1/central/people")
def people() -> ResponseReturnValue:
    """Every person's figures in ``period`` (default this month) added across halls."""
    _settings()
    period = request.args.get("period") or current_month()
    try:
        items = county_people.people(get_db().conn, period)
    except ValueError as exc:
        abort(400, description=f"period: {exc}")
    return jsonify({"period": period, "people": items})


@bp.get("/api/v1/central/people/warnings")
def people_warnings() -> ResponseReturnValue:
    """County warnings per person (``[central] count_per_person``), this month and year."""
    settings = _settings()
    periods = request.args.getlist("period") or [current_month(), current_month()[:4]]
    if not settings.count_per_person:
        return jsonify({"count_per_person": False, "warnings": []})
    try:
        items = county_people.person_warnings(get_db().conn, hub_config().warnings.rules, periods)
    except ValueError as exc:
        abort(400, description=f"period: {exc}")
    return jsonify({"count_per_person": True, "warnings": items})


def current_month() -> str:
    """This month's key in central's time zone."""
    return Calendar(hub_config().timezone).current(datetime.now(UTC), "month")


@bp.post("/api/v1/central/inbox")
def inbox() -> ResponseReturnValue:
    """A hall hub's signed webhook post: a warning event or a summary, stored once."""
    settings = _settings()
    hall = request.headers.get(HALL_HEADER, "")
    secret = settings.secret(hall)
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
        with write() as conn:
            message_id = accept(
                conn, hall, kind, message, received_at=format_time(datetime.now(UTC))
            )
    except ProtocolError as exc:
        abort(400, description=str(exc))
    result: dict[str, Any] = {"stored": message_id}
    return jsonify(result)
