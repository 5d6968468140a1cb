"""What the browser remembers for the citizen in front of it, and forgets when they leave.

Flask's signed cookie session holds only the display choices (language,
large text) and the anti-forgery token; the home button after a thank-you
and the idle reset wipe it. After ``idle_reset_s`` without a request it is
wiped on the server's side too, so a citizen who walks away leaves nothing
behind even if the page's own idle timer never fired. What the citizen
submitted, and so the per-citizen limits, is not here but in the kiosk's own
process (``kiosk/citizen.py``), where the home button cannot reset it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from flask import session

from kiosk.config import LANGUAGES

KINDS = ("vote", "complaint", "lookup")


def begin_request(idle_reset_s: float, *, clock: Callable[[], float] = time.time) -> None:
    """Forget an idle session, then mark this moment as the citizen's latest activity."""
    now = clock()
    seen = session.get("seen")
    if not isinstance(seen, int | float) or now - seen > idle_reset_s:
        session.clear()
    session["seen"] = round(now, 1)


def forget() -> None:
    """Forget the display choices and the token (the idle reset and the home button)."""
    session.clear()


def language(default: str) -> str:
    """The language chosen in this session, else the kiosk's default."""
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else default


def set_language(value: str) -> None:
    """Switch this session's language."""
    if value in LANGUAGES:
        session["lang"] = value


def elderly(default: bool) -> bool:
    """Whether large, high-contrast text is on for this session."""
    chosen = session.get("elderly")
    return chosen if isinstance(chosen, bool) else default


def set_elderly(on: bool) -> None:
    """Turn large, high-contrast text on or off for this session."""
    session["elderly"] = on


def has_state() -> bool:
    """Whether the browser holds display choices to forget."""
    return any(key in session for key in ("lang", "elderly"))


def csrf_token() -> str:
    """This session's anti-forgery token, made on first use; it never expires on its own."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return token


def csrf_matches(submitted: str | None) -> bool:
    """Whether a form's token is this session's (compared in constant time)."""
    expected = session.get("csrf")
    if not isinstance(expected, str) or not submitted:
        return False
    return secrets.compare_digest(expected.encode(), submitted.encode())
