"""``GET /api/v1/filters``: presses each anti-manipulation rule filtered, per window per day.

Query: ``day`` (``2026-11-22``; today in the hall's time zone by default),
or ``from`` and ``to`` (inclusive, at most :data:`MAX_DAYS` days), and
optionally ``window``. Each row is one window on one day with a press::

    {"window": "w01", "day": "2026-11-22", "presses": 20, "counted": 1,
     "unsolicited": 0, "filtered": {"one_per_service": 19},
     "rule_versions": {"one_per_service": [1]}}
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, abort, jsonify, request
from flask.typing import ResponseReturnValue

from hub.db import get_db, hub_config
from hub.filters import presses_by_day

bp = Blueprint("filters", __name__)

MAX_DAYS = 92


def init_app(app: Flask) -> None:
    """Register the filters API."""
    app.register_blueprint(bp)


@bp.get("/api/v1/filters")
def filters() -> ResponseReturnValue:
    """Presses, counted votes and filtered presses by rule, per window per day."""
    config = hub_config()
    zone = ZoneInfo(config.timezone)
    today = datetime.now(UTC).astimezone(zone).date()
    day = _date_arg("day")
    first = _date_arg("from") or day or today
    last = _date_arg("to") or day or first
    if last < first:
        abort(400, description="to: must not be before from")
    if (last - first).days >= MAX_DAYS:
        abort(400, description=f"at most {MAX_DAYS} days at a time")
    windows = sorted(config.directory.windows)
    # Kiosk votes by the device that sent them (an evaluator sending one shows too).
    kiosks = sorted(config.directory.devices)
    window = request.args.get("window")
    if window:
        if window not in config.directory.windows:
            abort(404, description=f"window: {window!r} is not in the hall's directory")
        windows, kiosks = [window], []
    rows = presses_by_day(
        get_db(), windows=windows, first=first, last=last, zone=zone, kiosks=kiosks
    )
    return jsonify(
        {
            "timezone": config.timezone,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "days": [row.as_json() for row in rows],
        }
    )


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        abort(400, description=f"{name}: must be a date like 2026-11-22")
    # The first and last dates Python has: their day's bounds in the hall's
    # zone, or the day after, fall out of range.
    if not date.min < value < date.max:
        abort(400, description=f"{name}: must be after {date.min} and before {date.max}")
    return value
