"""The supervision API: service-time alerts, their decisions and counts, and presence.

Reads use the request's read-only connection; a decision runs in a write
transaction of its own (:func:`hub.db.write`) and needs a token whose role
may ``supervise``; the token's name is who decided.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Flask, abort, g, jsonify, request
from flask.typing import ResponseReturnValue

from hub.cases.calendar import WorkCalendar
from hub.db import get_db, hub_config, write
from hub.errors import UnknownRecord
from hub.periods import Calendar
from hub.presence import staff_presence, supervisors_presence
from hub.query_args import body_text, int_arg, period_arg
from hub.supervision import (
    ALERT_FILTERS,
    KINDS,
    MAX_NOTE_CHARS,
    STATUSES,
    alert_document,
    alert_ids,
    confirm_alert,
    dismiss_alert,
    month_counts,
)
from hub.tokens import require

bp = Blueprint("supervision", __name__)

MAX_PAGE = 1000


def init_app(app: Flask) -> None:
    """Register the supervision API."""
    app.register_blueprint(bp)


def _calendar() -> Calendar:
    return Calendar(hub_config().timezone)


@bp.get("/api/v1/supervision/alerts")
def alerts() -> ResponseReturnValue:
    """Alerts, newest first; filters ``month``, ``department``, ``kind``, ``status``."""
    filters = {name: request.args.get(name, "") for name in ALERT_FILTERS}
    if filters["month"]:
        period_arg("month", ("month",))
    for name, allowed in (("kind", KINDS), ("status", STATUSES)):
        if filters[name] and filters[name] not in allowed:
            abort(400, description=f"{name}: must be one of {', '.join(allowed)}")
    limit = int_arg("limit", 200, 1, MAX_PAGE)
    conn = get_db().conn
    ids = alert_ids(conn, filters, limit=limit)
    return jsonify({"alerts": [alert_document(conn, ident) for ident in ids]})


@bp.get("/api/v1/supervision/alerts/<ident>")
def alert(ident: str) -> ResponseReturnValue:
    """One alert."""
    try:
        return jsonify(alert_document(get_db().conn, ident))
    except UnknownRecord as exc:
        abort(404, description=str(exc))


def _note(*, required: bool) -> str | None:
    why = "why the alert is dismissed"
    return body_text("note", required=required, limit=MAX_NOTE_CHARS, what=why)


@bp.post("/api/v1/supervision/alerts/<ident>/confirm")
@require("supervise")
def confirm(ident: str) -> ResponseReturnValue:
    """Confirm a yellow alert: it turns red. Body ``{"note": ...}`` optional."""
    note = _note(required=False)
    with write() as conn:
        document = confirm_alert(conn, ident, by=g.actor, note=note)
    return jsonify(document)


@bp.post("/api/v1/supervision/alerts/<ident>/dismiss")
@require("supervise")
def dismiss(ident: str) -> ResponseReturnValue:
    """Dismiss a yellow alert; body ``{"note": "the queue system was down, back-filled"}``."""
    note = _note(required=True)
    assert note is not None
    with write() as conn:
        document = dismiss_alert(conn, ident, by=g.actor, note=note)
    return jsonify(document)


@bp.get("/api/v1/supervision/counts")
def counts() -> ResponseReturnValue:
    """Per department: alerts of each kind by outcome, for services begun in ``month``."""
    month = period_arg("month", ("month",)) or _calendar().current(datetime.now(UTC), "month")
    config = hub_config()
    rows = month_counts(get_db().conn, month, config.directory)
    return jsonify({"month": month, "departments": rows})


def _presence_period() -> str:
    day = period_arg("day", ("day",))
    month = period_arg("month", ("month",))
    if day and month:
        abort(400, description="give day or month, not both")
    return day or month or _calendar().current(datetime.now(UTC), "day")


@bp.get("/api/v1/supervision/presence/staff")
def presence_staff() -> ResponseReturnValue:
    """Staff online rates for ``day`` (default today) or ``month``."""
    period = _presence_period()
    config = hub_config()
    return jsonify(
        staff_presence(
            get_db().conn,
            period,
            directory=config.directory,
            settings=config.supervision,
            calendar=_calendar(),
            now=datetime.now(UTC),
            workdays=WorkCalendar(config.cases.override),
        )
    )


@bp.get("/api/v1/supervision/presence/supervisors")
def presence_supervisors() -> ResponseReturnValue:
    """Supervisors' online rates (days acted on the console) for ``day`` or ``month``."""
    period = _presence_period()
    config = hub_config()
    return jsonify(
        supervisors_presence(
            get_db().conn,
            period,
            settings=config.supervision,
            calendar=_calendar(),
            now=datetime.now(UTC),
            workdays=WorkCalendar(config.cases.override),
        )
    )
