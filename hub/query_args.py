"""Reading a request's arguments (query and JSON body), with a 400 that names the argument
when one is bad."""

from __future__ import annotations

from flask import abort, request

from hub.periods import GRAINS, checked_period


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """The integer argument ``name`` (``default`` when absent), between ``low`` and ``high``."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, description=f"{name}: must be an integer")
    if not low <= value <= high:
        abort(400, description=f"{name}: must be between {low} and {high}")
    return value


def period_arg(name: str, grains: tuple[str, ...] = GRAINS) -> str | None:
    """The period key argument ``name`` (None when absent): a real date of one of ``grains``."""
    value = request.args.get(name)
    if value is None:
        return None
    try:
        grain = checked_period(value)
    except ValueError as exc:
        abort(400, description=f"{name}: {exc}")
    if grain not in grains:
        abort(400, description=f"{name}: must be a {' or '.join(grains)}")
    return value


def body_text(name: str, *, required: bool, limit: int, what: str = "") -> str | None:
    """The text field ``name`` of the JSON body (None when absent and not ``required``),
    at most ``limit`` characters; ``what`` says in the 400 what the text is for."""
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        abort(400, description="send a JSON object")
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        abort(400, description=f"{name}: required text{f' ({what})' if what else ''}")
    if len(value) > limit:
        abort(400, description=f"{name}: at most {limit} characters")
    return value
