"""The appeals API: void a vote (a manager's decision on an appeal), list the voids."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, g, jsonify, request
from flask.typing import ResponseReturnValue

from hub.appeals import MAX_NOTE_CHARS, VOID_REASONS, accept_vote, recent_voids, void_vote
from hub.db import counting, get_db, write
from hub.tokens import require

bp = Blueprint("appeals", __name__)


def init_app(app: Flask) -> None:
    """Register the appeals API."""
    app.register_blueprint(bp)


@bp.post("/api/v1/votes/<ident>/void")
@require("void")
def void(ident: str) -> ResponseReturnValue:
    """Void a vote; body ``{"reason": "malicious"|"not_about_staff"|"duplicate", "note": ...}``.

    The counts drop at once and every warning the vote was behind is
    withdrawn (if it no longer holds) or has its evidence updated.
    """
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="send a JSON object with a reason")
    reason = body.get("reason")
    if reason not in VOID_REASONS:
        abort(400, description=f"reason: must be one of {', '.join(VOID_REASONS)}")
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE_CHARS):
        abort(400, description=f"note: text of at most {MAX_NOTE_CHARS} characters")
    with write() as conn:
        voided = void_vote(conn, counting(), ident, reason=reason, by=g.actor, note=note)
    return jsonify(voided.as_dict())


@bp.get("/api/v1/voids")
def voids() -> ResponseReturnValue:
    """Every voided vote with who voided it, when and why, newest first."""
    items = recent_voids(get_db().conn)
    return jsonify({"voids": items})


@bp.post("/api/v1/votes/<ident>/accept")
@require("accept")
def accept(ident: str) -> ResponseReturnValue:
    """Accept a held vote (cast in a month already closed) into the counts; body ``{"note"}``.

    Only a vote the hub held can be accepted; the answer says whether it now
    counts and which warnings it raised or changed.
    """
    body = request.get_json(silent=True)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        abort(400, description="send a JSON object, optionally with a note")
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE_CHARS):
        abort(400, description=f"note: text of at most {MAX_NOTE_CHARS} characters")
    with write() as conn:
        accepted = accept_vote(conn, counting(), ident, by=g.actor, note=note)
    return jsonify(accepted.as_dict())
