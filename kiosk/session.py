"""What the kiosk remembers about the citizen in front of it, and forgets when they leave.

Flask's signed cookie session holds the display choices (language, large
text), the anti-forgery token, and how much this citizen has submitted.
After ``idle_reset_s`` without a request it is wiped on the server's side
too, so a citizen who walks away leaves nothing behind even if the page's
own idle timer never fired.
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
    """Forget everything about the last citizen (the idle reset and the home button)."""
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
    """Whether there is anything of the citizen's to forget."""
    return any(key in session for key in ("lang", "elderly", "sent", "rated"))


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


def submitted(kind: str) -> int:
    """How many records of ``kind`` this session has submitted."""
    counts = session.get("sent")
    return int(counts.get(kind, 0)) if isinstance(counts, dict) else 0


def count_submission(kind: str) -> None:
    """Count one more submission of ``kind`` in this session."""
    counts = session.get("sent")
    counts = dict(counts) if isinstance(counts, dict) else {}
    counts[kind] = int(counts.get(kind, 0)) + 1
    session["sent"] = counts


def has_rated(staff: str) -> bool:
    """Whether this session already rated ``staff``."""
    rated = session.get("rated")
    return isinstance(rated, list) and staff in rated


def remember_rated(staff: str) -> None:
    """Note that this session rated ``staff``."""
    rated = session.get("rated")
    session["rated"] = [*(rated if isinstance(rated, list) else []), staff]
