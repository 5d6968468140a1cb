"""Display choices and leaving: language, large text, and the reset that forgets the citizen."""

from __future__ import annotations

from flask import Blueprint, redirect, request
from flask.typing import ResponseReturnValue

from kiosk import session

bp = Blueprint("display", __name__)


def local_path(value: str | None) -> str:
    """``value`` when it is a path on this kiosk, else the home page (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    # Browsers drop tabs and newlines from a URL, so "/\t/elsewhere" would become
    # "//elsewhere"; and a newline cannot go in a Location header at all.
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return "/"
    return value


@bp.get("/display/language/<code>")
def language(code: str) -> ResponseReturnValue:
    """Switch the language, then show the same page again."""
    session.set_language(code)
    return redirect(local_path(request.args.get("next")), code=303)


@bp.get("/display/elderly/<state>")
def elderly(state: str) -> ResponseReturnValue:
    """Turn large, high-contrast text on or off, then show the same page again."""
    session.set_elderly(state == "on")
    return redirect(local_path(request.args.get("next")), code=303)


@bp.get("/reset")
def reset() -> ResponseReturnValue:
    """Forget the display choices and go home (the idle timer and the thank-you's home button).

    The citizen's session (``kiosk/citizen.py``) is not ended here, or the
    home button would give a fresh allowance: it ends when this request, like
    any, comes after the idle time without a request, as the idle timer's does.
    """
    session.forget()
    return redirect("/", code=303)
