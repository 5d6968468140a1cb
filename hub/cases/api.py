"""The cases' JSON API: register, list, read, and one POST per step of the chain.

Reads use the request's read-only connection; each action is one write
transaction (:func:`hub.db.write`) calling the same function the console
will call (:mod:`hub.cases.chain`), with the token's name and role as the
actor. Answers: 400 for a wrong value, 403 for a role or person that may not
act, 404 for an unknown case, 409 for a step the case's state does not allow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from hub import exports
from hub.cases import bulletins as bulletins_module
from hub.cases import chain, store
from hub.cases.chain import Actor, CaseInputError, Cases, NotAllowed
from hub.db import get_db, hub_config, write
from hub.query_args import int_arg
from hub.tokens import require

bp = Blueprint("cases", __name__)

CASES_KEY = "hallrate.cases"
MAX_PAGE = 1000


def book() -> Cases:
    """The app's case book."""
    cases: Cases = current_app.extensions[CASES_KEY]
    return cases


def actor() -> Actor:
    """The request's actor: the token's name and role."""
    return Actor(g.actor, g.actor_role)


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except CaseInputError as exc:
        abort(400, description=str(exc))
    except NotAllowed as exc:
        abort(403, description=str(exc))


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        return {}
    if not isinstance(body, dict):
        abort(400, description="send a JSON object")
    return body


def _string(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        abort(400, description=f"{name}: required text")
    return value


@bp.post("/api/v1/cases")
@require("case_register")
def register() -> ResponseReturnValue:
    """Register a complaint from another channel.

    Body: ``channel`` (phone, letter, hotline, website, visit), ``received_on``
    (YYYY-MM-DD, the day it reached the hall), ``text``; optional ``title``,
    ``class``, ``department``, ``contact``, ``ref`` (the channel's own number,
    e.g. the 12345 ticket: registering it twice is refused).
    """
    body = _body()
    received = _string(body, "received_on", required=True) or ""
    try:
        received_on = date.fromisoformat(received)
    except ValueError:
        abort(400, description="received_on: must be a date YYYY-MM-DD")
    with _refusals(), write() as conn:
        case_id = chain.register(
            book(),
            conn,
            actor(),
            channel=_string(body, "channel", required=True) or "",
            received_on=received_on,
            text=_string(body, "text", required=True) or "",
            title=_string(body, "title"),
            case_class=_string(body, "class"),
            department=_string(body, "department"),
            contact=_string(body, "contact"),
            ref=_string(body, "ref"),
        )
        document = chain.case_document(book(), conn, case_id)
    return jsonify(document), 201


@bp.get("/api/v1/cases")
def cases() -> ResponseReturnValue:
    """Cases, newest first; filters ``status``, ``department``, ``class``, ``overdue=1``."""
    filters = {name: request.args.get(name, "") for name in store.LIST_FILTERS}
    overdue = request.args.get("overdue") in ("1", "true")
    limit = int_arg("limit", 200, 1, MAX_PAGE)
    today = book().today().isoformat()
    rows = store.list_cases(
        get_db().conn, filters, overdue_before=today if overdue else None, limit=limit
    )
    for row in rows:
        row["overdue"] = row["stage_due_on"] is not None and row["stage_due_on"] < today
    return jsonify({"cases": rows, "calendar_warnings": book().calendar_warnings()})


@bp.get("/api/v1/cases/<ident>")
def case(ident: str) -> ResponseReturnValue:
    """One case with its sources and every step (who, when, note)."""
    case_id = _case_id(ident)
    conn = get_db().conn
    if store.get_case(conn, case_id) is None:
        abort(404, description=f"no case {case_id}")
    return jsonify(chain.case_document(book(), conn, case_id))


def _case_id(ident: str) -> int:
    # Not a route converter: a path that is no number still needs a token first.
    if not ident.isdigit() or len(ident) > 18:
        abort(404, description=f"no case {ident!r}")
    return int(ident)


def _act(case_id: int, action: str, **kwargs: Any) -> ResponseReturnValue:
    with _refusals(), write() as conn:
        chain.ACTIONS[action](book(), conn, case_id, actor(), **kwargs)
        document = chain.case_document(book(), conn, kwargs.get("into", case_id))
    return jsonify(document)


def _note(body: dict[str, Any]) -> str | None:
    return _string(body, "note")


@bp.post("/api/v1/cases/<ident>/assign")
@require("case_assign")
def assign(ident: str) -> ResponseReturnValue:
    """交办: body ``{"department": ..., "assignee": ..., "note": ...}``."""
    case_id = _case_id(ident)
    body = _body()
    return _act(
        case_id,
        "assign",
        department=_string(body, "department", required=True),
        assignee=_string(body, "assignee", required=True),
        note=_note(body),
    )


@bp.post("/api/v1/cases/<ident>/draft")
@require("case_handle")
def draft(ident: str) -> ResponseReturnValue:
    """Body ``{"answer": ..., "note": ...}``: the drafted answer."""
    case_id = _case_id(ident)
    body = _body()
    return _act(case_id, "draft", answer=_string(body, "answer", required=True), note=_note(body))


@bp.post("/api/v1/cases/<ident>/send_back")
@require("case_approve")
def send_back(ident: str) -> ResponseReturnValue:
    """A leader sends the draft back; body ``{"note": "why"}`` required."""
    case_id = _case_id(ident)
    return _act(case_id, "send_back", note=_string(_body(), "note", required=True))


@bp.post("/api/v1/cases/<ident>/check")
@require("case_check")
def check(ident: str) -> ResponseReturnValue:
    """回访: body ``{"rating": ..., "by_citizen": true, "note": ...}``.

    ``rating`` is satisfied, basically_satisfied or dissatisfied (which sends it back).
    """
    case_id = _case_id(ident)
    body = _body()
    by_citizen = body.get("by_citizen", True)
    if not isinstance(by_citizen, bool):
        abort(400, description="by_citizen: must be true or false")
    return _act(
        case_id,
        "check",
        rating=_string(body, "rating", required=True),
        by_citizen=by_citizen,
        note=_note(body),
    )


@bp.post("/api/v1/cases/<ident>/merge")
@require("case_assign")
def merge(ident: str) -> ResponseReturnValue:
    """Merge this duplicate into ``{"into": <case id>}``; answers the surviving case."""
    case_id = _case_id(ident)
    body = _body()
    into = body.get("into")
    if not isinstance(into, int) or isinstance(into, bool):
        abort(400, description="into: the surviving case's id")
    return _act(case_id, "merge", into=into, note=_note(body))


def _note_only(action: str, doc: str) -> Callable[[str], ResponseReturnValue]:
    def view(ident: str) -> ResponseReturnValue:
        return _act(_case_id(ident), action, note=_note(_body()))

    view.__name__ = action
    view.__doc__ = doc
    return view


# The steps that take only a note: POST /api/v1/cases/<id>/<step>, body {"note": ...}.
for _action, _doc in (
    ("start", "The responsible person takes the case on (签收)."),
    ("approve", "A leader approves the draft."),
    ("answer", "The answer goes out: the citizen sees it in the lookup."),
    ("archive", "归档 (销号): close a checked case."),
):
    bp.add_url_rule(
        f"/api/v1/cases/<ident>/{_action}",
        endpoint=_action,
        view_func=require(chain.PERMISSIONS[_action])(_note_only(_action, _doc)),
        methods=["POST"],
    )


@bp.get("/api/v1/bulletins")
def bulletins() -> ResponseReturnValue:
    """The monthly bulletin per department: ``month`` (YYYY-MM, default this month),
    ``format`` json (default), csv or xlsx."""
    month = request.args.get("month") or book().today().isoformat()[:7]
    try:
        bulletins_module.month_bounds(month)
    except ValueError:
        abort(400, description=f"month: must be YYYY-MM, got {month!r}")
    kind = request.args.get("format", "json")
    if kind not in ("json", "csv", "xlsx"):
        abort(400, description="format: must be json, csv or xlsx")
    bulletin = bulletins_module.monthly_bulletin(
        book(),
        get_db().conn,
        month,
        directory=hub_config().directory,
        now=book().now(),
    )
    if kind == "json":
        return jsonify(bulletin)
    body, media = (
        (exports.bulletin_csv(bulletin), exports.CSV_TYPE)
        if kind == "csv"
        else (exports.bulletin_xlsx(bulletin), exports.XLSX_TYPE)
    )
    name = exports.filename("bulletin", month, kind)
    return Response(
        body, mimetype=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@bp.get("/api/v1/public/results")
def public_results() -> ResponseReturnValue:
    """网上公布: the latest answered cases, anonymised, for the kiosk (no token).

    404 when the hall does not publish (``[cases] publish_results``).
    """
    if not book().settings.publish_results:
        abort(404, description="this hall does not publish its results")
    names = {d.id: d.name for d in hub_config().directory.departments.values()}
    return jsonify({"results": chain.public_results(book(), get_db().conn, names)})


def init_app(app: Flask, cases: Cases) -> None:
    """Register the cases API with the hall's case book."""
    app.extensions[CASES_KEY] = cases
    app.register_blueprint(bp)
