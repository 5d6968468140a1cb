"""The kiosk's Flask application factory: one blueprint per feature, safe defaults everywhere.

Pages are ``.html`` templates, so Jinja escapes every value (a staff name
like ``<script>`` is text). Every response forbids framing, outside
resources and caching; the session cookie is HttpOnly and SameSite=Strict
and lives no longer than the idle reset. Each response says in its
``Server-Timing`` header how long the server took to make it.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, g, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from device_agent.sender import SenderThread
from kiosk import session
from kiosk.citizen import CitizenSession
from kiosk.config import KioskConfig
from kiosk.directory import LocalDirectory
from kiosk.hub_client import HubClient
from kiosk.limits import KioskRate
from kiosk.messages import translate
from kiosk.resources import Resources, kiosk
from kiosk.submissions import Submissions
from kiosk.sync import DirectorySync

logger = logging.getLogger(__name__)

# Nothing on a kiosk page may come from, or lead to, anywhere but the kiosk itself.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
)


def create_app(
    config: KioskConfig,
    *,
    sender: SenderThread,
    directory: LocalDirectory,
    submissions: Submissions,
    hub: HubClient,
    sync: DirectorySync,
) -> Flask:
    """The kiosk's web app, showing ``directory`` and handing records to ``sender``."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(config),
        SESSION_COOKIE_NAME="kiosk_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=config.http.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=config.idle_reset_s),
        MAX_CONTENT_LENGTH=64 * 1024,
        MAX_FORM_MEMORY_SIZE=64 * 1024,
    )
    app.extensions["hallrate_kiosk"] = Resources(
        config=config,
        sender=sender,
        directory=directory,
        submissions=submissions,
        hub=hub,
        sync=sync,
        citizen=CitizenSession(config.idle_reset_s),
        rate=KioskRate(config.limits.submissions_per_minute),
    )

    from kiosk import complaints, display, info, rating

    for blueprint in (display.bp, info.bp, rating.bp, complaints.bp):
        app.register_blueprint(blueprint)

    app.before_request(_begin)
    app.after_request(_finish)
    app.context_processor(_page_globals)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _secret_key(config: KioskConfig) -> str:
    """The key that signs sessions: from the configuration, else one kept in the data folder."""
    if config.secret_key is not None:
        return config.secret_key.reveal()
    path = Path(config.data_dir) / "session.key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key)
    return key


# What a page loads by itself (its style, script and photos): no sign of a citizen.
# The idle timer starts once the page is there, so only the page's own request
# may mark activity, or the timer's reset could arrive a moment "too early".
SUBRESOURCES = frozenset({"static", "info.staff_photo", None})


def _begin() -> None:
    g.started = time.perf_counter()
    resources = kiosk()
    now = resources.clock()
    session.begin_request(resources.config.idle_reset_s, clock=lambda: now)
    if request.endpoint not in SUBRESOURCES:
        resources.citizen.touch(now, may_end=request.method == "GET")


def _finish(response: Any) -> Any:
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "static":
        # No page may come back from a cache (or the back-forward cache) after a reset.
        headers["Cache-Control"] = "no-store"
    started = g.get("started")
    if started is not None:
        headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
    return response


def _page_globals() -> dict[str, Any]:
    resources = kiosk()
    config = resources.config
    language = session.language(config.language)
    hall = resources.hall

    def t(key: str, **params: object) -> str:
        return translate(key, language, **params)

    synced = resources.sync.last_success
    zone = ZoneInfo(config.timezone)
    return {
        "t": t,
        "lang": language,
        "elderly": session.elderly(config.elderly),
        "hall": hall,
        "hall_name": hall.name or t("hall.fallback"),
        "csrf_token": session.csrf_token,
        "idle_s": _idle_seconds(config),
        "synced_at": (
            datetime.fromtimestamp(synced, zone).strftime("%m-%d %H:%M") if synced else None
        ),
        "hub_unreachable": resources.sync.last_error is not None,
        "keyboard": config.keyboard,
        "here": request.full_path.rstrip("?"),
    }


def _idle_seconds(config: KioskConfig) -> float:
    """How long the page waits before it returns home; 0 on a home page with nothing to forget."""
    if request.path == "/" and not session.has_state() and not kiosk().citizen.active:
        return 0
    return config.idle_reset_s


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    key = {404: "error.not_found", 400: "error.bad_request"}.get(exc.code or 500, "error.generic")
    return render_template("error.html", message_key=key, back="/"), exc.code or 500
