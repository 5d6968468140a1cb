"""Reading a request's query arguments, with a 400 that names the argument when one is bad."""

from __future__ import annotations

from flask import abort, request


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
