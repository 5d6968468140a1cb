"""What every console page shares: its blueprint, the login check, roles, CSRF, language.

A console page module makes its blueprint with :func:`console_blueprint` and
guards each view with :func:`requires`::

    bp = console_blueprint("console_votes", __name__, "/votes")

    @bp.get("/")
    @requires("manager", "office", "admin")
    def index() -> ResponseReturnValue: ...

Closed by default: every request to a console blueprint needs a live session
(else a redirect to the login page), and a view that names no roles answers
403 to everyone, so a page added later is shut until it says who may open
it. A POST needs the session's CSRF token in its form (else 400). The
signed-in user is ``g.console_user``; :func:`audit` records what they did.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from hub.console import accounts
from hub.console.messages import LANGUAGES, translate
from hub.db import get_db, write

F = TypeVar("F", bound=Callable[..., Any])

SESSION_COOKIE = "hallrate_console"
LANGUAGE_COOKIE = "hallrate_lang"
# The login form has no session yet: its token is a cookie of its own, which
# the form must repeat (a page of another site can neither read nor set it).
LOGIN_CSRF_COOKIE = "hallrate_login_csrf"
CSRF_FIELD = "csrf_token"
ROLES_ATTR = "console_roles"
PUBLIC_ATTR = "console_public"
# Every console blueprint is registered under this prefix, its own path after it.
PREFIX = "/console"
BLUEPRINTS_KEY = "hallrate.console.blueprints"


def console_blueprint(name: str, import_name: str, path: str = "", **options: Any) -> Blueprint:
    """A blueprint of console pages under ``/console<path>``, closed as this module says.

    ``options`` go to :class:`flask.Blueprint` (a folder of templates or static files).
    """
    bp = Blueprint(name, import_name, url_prefix=PREFIX + path, **options)
    bp.before_request(_guard)
    bp.after_request(_keep_login_token)
    bp.register_error_handler(HTTPException, _error_page)
    return bp


def requires(*roles: str) -> Callable[[F], F]:
    """Let only users of ``roles`` open the view; others get 403 (the guard checks it)."""
    unknown = set(roles) - set(accounts.ROLES)
    if not roles or unknown:
        raise ValueError(f"requires(): roles must be some of {accounts.ROLES}, got {roles}")

    def decorate(view: F) -> F:
        setattr(view, ROLES_ATTR, frozenset(roles))
        return view

    return decorate


def public(view: F) -> F:
    """Open the view without a session (the login page, the language switch)."""
    setattr(view, PUBLIC_ATTR, True)
    return view


def user() -> accounts.User:
    """The signed-in user of this request."""
    found: accounts.User = g.console_user
    return found


def address() -> str:
    """The client's address, as the login limit and the audit log keep it."""
    return request.remote_addr or "-"


def language() -> str:
    """The page's language: the switch's cookie, else Chinese."""
    chosen = request.cookies.get(LANGUAGE_COOKIE, "zh")
    return chosen if chosen in LANGUAGES else "zh"


def t(key: str, **values: object) -> str:
    """A sentence of the catalogue in the page's language."""
    return translate(key, language(), **values)


def audit(action: str, *, target: str | None = None, note: str | None = None) -> None:
    """Record an action of the signed-in user in the audit log, in a transaction of its own.

    A page that writes should rather call :func:`hub.console.accounts.audit`
    inside its own transaction, so the action and its record commit together.
    """
    who = g.get("console_user")
    with write() as conn:
        accounts.audit(
            conn, who.name if who else None, action, target=target, note=note, address=address()
        )


def csrf_token() -> str:
    """The token a form of this page must carry (the session's; the login form's own)."""
    session = g.get("console_session")
    if session is not None:
        return str(session.csrf)
    token: str = g.get("login_csrf") or request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not token:
        import secrets

        token = secrets.token_urlsafe(32)
        g.login_csrf = token
    return token


def safe_next(target: str | None, who: accounts.User | None = None) -> str:
    """Where to go after login: a console path of this site, never another site.

    Without one, ``who``'s home: the first menu entry their role sees.
    """
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return home(who)


def home(who: accounts.User | None) -> str:
    """The first page of the menu ``who`` sees (the live hall for a stranger)."""
    from hub.console.nav import entries_for

    entries = entries_for(who) if who is not None else []
    return url_for(entries[0].endpoint if entries else "console.live")


def _session() -> accounts.Session | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return accounts.find_session(get_db().conn, token)


def _guard() -> ResponseReturnValue | None:
    """Before every console request: the session, the view's roles, the form's token."""
    view = current_app.view_functions.get(request.endpoint or "")
    session = _session()
    if session is not None:
        g.console_session = session
        g.console_user = session.user
    if view is None or getattr(view, PUBLIC_ATTR, False) or request.endpoint.endswith(".static"):
        _check_form_token()
        return None
    if session is None:
        # A cookie whose session ended (expired, logged out elsewhere, password changed).
        why = "expired" if request.cookies.get(SESSION_COOKIE) else None
        if request.method == "GET":
            target = request.full_path.rstrip("?")
            return redirect(url_for("console.login", next=target, why=why))
        return redirect(url_for("console.login", why=why))
    roles = getattr(view, ROLES_ATTR, frozenset())
    if session.user.role not in roles:
        return _error_page(_Forbidden())
    _check_form_token()
    return None


class _Forbidden(HTTPException):
    code = 403
    description = "your role may not open this page"


class _BadToken(HTTPException):
    code = 400
    description = "missing or stale form token"


def _check_form_token() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.form.get(CSRF_FIELD, "")
    session = g.get("console_session")
    expected = session.csrf if session is not None else request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise _BadToken()


def _keep_login_token(response: Response) -> Response:
    """Send the login form's token as its cookie when this request made one."""
    token = g.get("login_csrf")
    if token:
        response.set_cookie(
            LOGIN_CSRF_COOKIE, token, secure=True, httponly=True, samesite="Strict", path=PREFIX
        )
    return response


def _error_page(exc: HTTPException) -> ResponseReturnValue:
    """A console error as a page of the console, in the page's language."""
    code = exc.code or 500
    key = f"error.{code}" if code in (400, 403, 404) else "error.other"
    body = render_template(
        "console/error.html", code=code, message=t(key, detail=exc.description or exc.name)
    )
    return body, code


def context() -> dict[str, Any]:
    """What every console template may use: ``t``, the user, the nav, the form token."""
    from hub.console.nav import entries_for

    who = g.get("console_user")
    return {
        "t": t,
        "lang": language(),
        "console_user": who,
        "nav_entries": entries_for(who) if who is not None else [],
        "csrf_token": csrf_token,
        "csrf_field": CSRF_FIELD,
        "home_url": home(who),
    }
