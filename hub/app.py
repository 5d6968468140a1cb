"""The hub's Flask application factory."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from hub.config import HubConfig
from hub.ingest import IngestState

# What answers without a token: the health check, what a kiosk fetches for the
# lobby (the public directory, staff photos, a complaint looked up by its code and
# password, the public results of answered cases), the LED wall pages, and central's
# inbox, which checks each post's signature instead. Everything else needs a token that may read.
PUBLIC_ENDPOINTS = frozenset(
    {
        "api.healthz",
        "kiosk_api.directory",
        "kiosk_api.staff_photo",
        "kiosk_api.complaint_lookup",
        "cases.public_results",
        "boards.index",
        "boards.wall",
        "boards.frame",
        "boards.events",
        "boards.static",
        "central.inbox",
    }
)


def create_app(config: HubConfig, *, state: IngestState | None = None) -> Flask:
    """The hub's web app: the JSON API (and, later, the dashboard and LED wall pages)."""
    app = Flask(__name__)
    app.config.update(
        HALLRATE_STATE=state or IngestState(),
        MAX_CONTENT_LENGTH=64 * 1024,
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    from hub import (
        api,
        appeals_api,
        central_api,
        console,
        db,
        filters_api,
        kiosk_api,
        stats_api,
        supervision_api,
        tokens,
        warnings_api,
    )
    from hub.boards import web as boards_web

    # The config, the counting and the request's connection, set once: every
    # blueprint reads them through hub.db, so their order below does not matter.
    db.init_app(app, config)
    app.register_blueprint(api.bp)
    kiosk_api.init_app(app)
    stats_api.init_app(app)
    filters_api.init_app(app)
    warnings_api.init_app(app)
    appeals_api.init_app(app)
    central_api.init_app(app)
    supervision_api.init_app(app)
    boards_web.init_app(app, config)
    _init_cases(app, config)
    # The console's pages check a login session of their own (hub.console.web).
    console_endpoints = console.init_app(app)
    tokens.init_app(app, public=PUBLIC_ENDPOINTS | console_endpoints)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        # Keep the error's own headers (a 401's WWW-Authenticate), not its HTML type.
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return jsonify({"error": exc.name, "detail": exc.description}), exc.code, headers

    return app


def _init_cases(app: Flask, config: HubConfig) -> None:
    """The cases API, and a case for each warning's notice the office records."""
    from hub.cases import api as cases_api
    from hub.cases.chain import Cases, open_for_warning
    from hub.db import COUNTING_KEY
    from hub.notify.notices import NoticeQueue

    # With [notify], an answer queues an SMS to the citizen (citizen_sms in the URLs).
    notices = (
        NoticeQueue(
            config.notify, config.directory, timezone=config.timezone, now=lambda: datetime.now(UTC)
        )
        if config.notify.enabled
        else None
    )
    book = Cases(
        config.cases,
        config.timezone,
        notices=notices,
        hall_name=config.directory.name or "",
    )
    cases_api.init_app(app, book)
    app.extensions[COUNTING_KEY].engine.on_notice = lambda conn, warning, by, what: (
        open_for_warning(book, conn, warning, by=by, what=what)
    )
