"""The console's own pages: login, logout, the language switch, the live hall, the events.

Every other console page module builds on :mod:`hub.console.web` the same
way; the queries live in :mod:`hub.console.accounts` and
:mod:`hub.console.live`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from flask import (
    Response,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from hub.boards.web import HEARTBEAT_S, RETRY_MS, STREAM_S
from hub.console import accounts
from hub.console.feed import ConsoleFeed, Notice, feed
from hub.console.live import read_live_hall
from hub.console.messages import translate
from hub.console.web import (
    LANGUAGE_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    address,
    console_blueprint,
    language,
    public,
    requires,
    safe_next,
    t,
    user,
)
from hub.db import get_db, hub_config, write

bp = console_blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

LIVE_ROLES = ("manager", "dept_head", "office", "admin")
EVERY_ROLE = accounts.ROLES


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    """The login form; a right password opens a session and goes where the user was headed."""
    target = request.values.get("next") or ""
    if request.method == "GET":
        notice = {"expired": "login.expired", "out": "login.logged_out"}.get(
            request.args.get("why", "")
        )
        return render_template("console/login.html", next=target, error=None, notice=notice)
    name = request.form.get("user", "").strip()
    password = request.form.get("password", "")
    where = address()
    with write() as conn:
        until = accounts.refused_until(conn, name, where)
        if until is not None:
            accounts.audit(conn, name, "login_refused", note="rate limited", address=where)
    if until is not None:
        minutes = max(1, math.ceil((until - datetime.now(UTC)).total_seconds() / 60))
        page = render_template(
            "console/login.html",
            next=target,
            error=t("login.limited", minutes=minutes),
            notice=None,
        )
        response = make_response(page, 429)
        response.headers["Retry-After"] = str(minutes * 60)
        return response
    with write() as conn:
        found = accounts.check_login(conn, name, password)
        accounts.record_attempt(conn, name, where, ok=found is not None)
        if found is None:
            accounts.audit(conn, name or None, "login_failed", address=where)
            token = None
        else:
            lifetime = timedelta(hours=hub_config().console.session_hours)
            token = accounts.open_session(conn, found, lifetime=lifetime, address=where)
            accounts.audit(conn, found.name, "login", address=where)
    if token is None or found is None:
        page = render_template(
            "console/login.html", next=target, error=t("login.failed"), notice=None, user=name
        )
        return page, 401
    response = redirect(safe_next(target, found))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(hub_config().console.session_hours * 3600),
        secure=True,
        httponly=True,
        samesite="Strict",
        path=PREFIX,
    )
    return response


@bp.post("/logout")
@requires(*EVERY_ROLE)
def logout() -> ResponseReturnValue:
    """End this session (its token stops working at once) and go back to the login page."""
    token = request.cookies.get(SESSION_COOKIE, "")
    with write() as conn:
        accounts.close_session(conn, token)
        accounts.audit(conn, user().name, "logout", address=address())
    response = redirect(url_for("console.login", why="out"))
    response.delete_cookie(SESSION_COOKIE, path=PREFIX, secure=True, samesite="Strict")
    return response


@bp.get("/lang/<code>")
@public
def switch_language(code: str) -> ResponseReturnValue:
    """Show the console in ``code`` (``zh`` or ``en``) from now on, back on the same page."""
    response = redirect(safe_next(request.args.get("next")))
    if code in ("zh", "en"):
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=365 * 24 * 3600,
            secure=True,
            httponly=True,
            samesite="Strict",
            path=PREFIX,
        )
    return response


def _scope() -> str | None:
    """The department a department head is limited to; None for the whole hall."""
    who = user()
    return who.department if who.role == "dept_head" else None


@bp.get("/")
@requires(*LIVE_ROLES)
def live() -> ResponseReturnValue:
    """The live hall: every window today, updated as votes and events arrive."""
    now = datetime.now(UTC)
    hall = read_live_hall(get_db(), hub_config(), now=now, department=_scope())
    return render_template(
        "console/live.html", hall=hall, updated=_clock(), presence=_presence_rate(now)
    )


def _presence_rate(now: datetime) -> float | None:
    """The hall's staff online rate today (hub.presence), for the hall-wide live page only."""
    if _scope() is not None:
        return None
    from hub.periods import Calendar
    from hub.presence import staff_presence

    config = hub_config()
    calendar = Calendar(config.timezone)
    rate: float | None = staff_presence(
        get_db().conn,
        calendar.current(now, "day"),
        directory=config.directory,
        settings=config.supervision,
        calendar=calendar,
        now=now,
    )["rate"]
    return rate


@bp.get("/live.json")
@requires(*LIVE_ROLES)
def live_json() -> ResponseReturnValue:
    """The live hall's numbers, fetched by the page whenever the feed says something changed."""
    now = datetime.now(UTC)
    hall = read_live_hall(get_db(), hub_config(), now=now, department=_scope())
    body = hall.as_json()
    body["updated"] = _clock()
    body["presence"] = _presence_rate(now)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/notices.json")
@requires(*EVERY_ROLE)
def notices_json() -> ResponseReturnValue:
    """The feed's version and notices after ``after``: the poll when no stream is free."""
    stream = feed()
    after = request.args.get("after", type=int)
    version = stream.version
    if after is None:
        shown: list[Notice] = []
    else:
        shown = [n for n in list(stream.notices) if n.version > after]
    response = jsonify({"version": version, "notices": [_notice(n) for n in shown if _sees(n)]})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/events")
@requires(*EVERY_ROLE)
def events() -> ResponseReturnValue:
    """Server-sent events: ``change`` when the hub's data changed, ``notice`` per new warning."""
    stream = feed()
    if not stream.open_stream():
        response = jsonify(
            {"error": "Service Unavailable", "detail": "all console streams are in use; poll"}
        )
        response.status_code = 503
        response.headers["Retry-After"] = "60"
        return response
    heartbeat_s = current_app.config.get("HALLRATE_WALL_HEARTBEAT_S", HEARTBEAT_S)
    stream_s = current_app.config.get("HALLRATE_WALL_STREAM_S", STREAM_S)
    # What the stream needs of this request, taken now: it runs after the request ends.
    who = user()
    lang = language()
    names = _names()
    response = Response(
        _stream(stream, who, lang, names, heartbeat_s=heartbeat_s, stream_s=stream_s),
        mimetype="text/event-stream",
    )
    response.call_on_close(stream.close_stream)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _names() -> dict[str, dict[str, str]]:
    directory = hub_config().directory
    return {
        "staff": {s.id: s.name for s in directory.staff.values()},
        "department": {d.id: d.name for d in directory.departments.values()},
    }


def _visible(notice: Notice, who: accounts.User) -> bool:
    if who.role == "dept_head":
        return notice.department == who.department
    if who.role == "staff":
        return notice.staff == who.staff
    return True


def _sees(notice: Notice) -> bool:
    return _visible(notice, user())


def _notice(
    notice: Notice, names: dict[str, dict[str, str]] | None = None, lang: str | None = None
) -> dict[str, object]:
    """A notice for the page: its fields, the names, and its sentence in the page's language."""
    names = names or _names()
    body = notice.as_json()
    body["staff_name"] = names["staff"].get(notice.staff, notice.staff)
    body["department_name"] = names["department"].get(
        notice.department or "", notice.department or "-"
    )
    body["text"] = translate(
        "notice.warning",
        lang or language(),
        staff=body["staff_name"],
        department=body["department_name"],
        level=notice.level,
        count=notice.count,
    )
    return body


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _stream(
    stream: ConsoleFeed,
    who: accounts.User,
    lang: str,
    names: dict[str, dict[str, str]],
    *,
    heartbeat_s: float,
    stream_s: float,
) -> Iterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    version = stream.version
    yield _sse("hello", {"version": version})
    ends = time.monotonic() + stream_s
    while not stream.closed and time.monotonic() < ends:
        change = stream.next_change(version, timeout=heartbeat_s)
        if change is None:
            yield ": still here\n\n"
            continue
        version, notices = change
        for notice in notices:
            if _visible(notice, who):
                yield _sse("notice", _notice(notice, names, lang))
        yield _sse("change", {"version": version})


def _clock() -> str:
    """Now, in the hall's time zone, as the page shows it."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(hub_config().timezone)).strftime("%H:%M:%S")
