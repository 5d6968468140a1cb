"""``GET /api/v1/stats``: vote counts by hall, department, window or staff, per period."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, abort, jsonify, request
from flask.typing import ResponseReturnValue

from hub import aggregates
from hub.config import HubConfig
from hub.db import get_db, hub_config
from hub.periods import GRAINS, Calendar, grain_of
from hub.query_args import period_arg
from hub.stats import count_rows

bp = Blueprint("stats", __name__)


def init_app(app: Flask) -> None:
    """Register the stats API."""
    app.register_blueprint(bp)


@bp.get("/api/v1/stats")
def stats() -> ResponseReturnValue:
    """Counts per subject of one group (``hall``, ``department``, ``window``, ``staff``).

    ``period`` is a grain (``day``, ``month``, ``year``; the current one) or
    ``at`` a period key (``2026-11-22``, ``2026-11``, ``2026``) in the hall's
    time zone; ``subject`` narrows to one id.
    """
    config = hub_config()
    group = request.args.get("group", "hall")
    if group not in aggregates.SCOPES:
        abort(400, description=f"group: must be one of {', '.join(aggregates.SCOPES)}")
    at = period_arg("at") if request.args.get("at") else None
    grain = request.args.get("period", "month")
    if at:
        grain = grain_of(at)
    elif grain not in GRAINS:
        abort(400, description=f"period: must be one of {', '.join(GRAINS)}")
    else:
        at = Calendar(config.timezone).current(datetime.now(UTC), grain)  # type: ignore[arg-type]
    rows = count_rows(get_db().conn, group, at, request.args.get("subject") or None)
    for row in rows:
        row["name"] = _name(config, group, row["subject"])
    return jsonify(
        {"group": group, "grain": grain, "period": at, "timezone": config.timezone, "rows": rows}
    )


def _name(config: HubConfig, group: str, subject: str) -> str | None:
    directory = config.directory
    if group == "hall":
        return directory.name
    table: dict[str, Any] = {
        "department": directory.departments,
        "window": directory.windows,
        "staff": directory.staff,
    }[group]
    entry = table.get(subject)
    return entry.name if entry is not None else None
