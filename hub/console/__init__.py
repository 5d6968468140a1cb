"""The console: server-rendered pages for hall managers, the efficiency office and staff.

:func:`init_app` registers every console page module named in :data:`PAGES`
(each has a ``bp`` made with :func:`hub.console.web.console_blueprint`), sends
the hub's ``/`` to the console, and returns the console's endpoints: they
check a login session of their own instead of the API's bearer token.
"""

from __future__ import annotations

import importlib

from flask import Flask, redirect, url_for
from flask.typing import ResponseReturnValue

# The modules whose ``bp`` is a blueprint of console pages; a new page module adds itself.
PAGES = (
    "hub.console.views",
    "hub.console.warnings_pages",
    "hub.console.cases_pages",
    "hub.console.supervision_pages",
    "hub.console.central_pages",
    "hub.console.votes_pages",
    "hub.console.devices_pages",
    "hub.console.charts_pages",
    "hub.console.reports_pages",
    "hub.console.staff_pages",
    "hub.console.bulletins_pages",
    "hub.console.notices_pages",
)


def init_app(app: Flask) -> frozenset[str]:
    """Register the console's pages; returns their endpoints (and the ``/`` redirect's)."""
    from hub.console import feed, web

    names = []
    for module in PAGES:
        bp = importlib.import_module(module).bp
        app.register_blueprint(bp)
        names.append(bp.name)
    app.context_processor(_context)
    feed.init_app(app)

    @app.get("/")
    def index() -> ResponseReturnValue:
        return redirect(url_for("console.live"))

    prefixes = tuple(f"{name}." for name in names)
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    app.extensions[web.BLUEPRINTS_KEY] = tuple(names)
    return frozenset({"index"} | {e for e in endpoints if e.startswith(prefixes)})


def _context() -> dict[str, object]:
    from flask import request

    from hub.console import web

    if request.blueprint is None or not request.path.startswith(web.PREFIX):
        return {}
    return web.context()
