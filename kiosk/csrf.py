"""Refusing forged form posts, without ever losing a citizen's choices to a stale token.

Two checks: the browser's own word on where a request comes from
(``Sec-Fetch-Site``, else ``Origin``), which refuses a post from any other
site outright; and the session's token in every form. A token that no
longer matches is almost always honest (the kiosk restarted, the session
was reset): the views then show the same form again with the citizen's
choices kept and a fresh token, and ask for one more tap. Tokens never
expire on a timer (pitfall 16); the session ends at the idle reset.
"""

from __future__ import annotations

from flask import abort, request

from kiosk import session

FIELD = "csrf_token"


def refuse_cross_site() -> None:
    """Answer 403 to a post that the browser says comes from another site."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        if site not in ("same-origin", "none"):
            abort(403, description="cross-site post")
        return
    origin = request.headers.get("Origin")
    if origin is not None and origin != request.host_url.rstrip("/"):
        abort(403, description="cross-site post")


def token_is_fresh() -> bool:
    """Whether the posted form carries this session's token."""
    return session.csrf_matches(request.form.get(FIELD))
