"""What the charts, reports and staff pages share: the period a form picked, the viewer's scope.

A page's period pickers are plain GET forms (``<input type="month">``,
``type="week"``, a year number): the chosen period is a query argument, checked
here; a missing one is the current period in the hall's time zone, a malformed
one answers 400.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import abort, request

from hub.console.web import user
from hub.db import hub_config
from hub.periods import Calendar, Grain, checked_period


def calendar() -> Calendar:
    """The hall's calendar."""
    return Calendar(hub_config().timezone)


def current(grain: Grain) -> str:
    """The period of ``grain`` that contains now, in the hall's time zone."""
    return calendar().current(datetime.now(UTC), grain)


def current_week() -> str:
    """The ISO week (``2026-W48``) that contains today in the hall."""
    year, week, _ = datetime.fromisoformat(current("day")).isocalendar()
    return f"{year}-W{week:02d}"


def previous_week() -> str:
    """The ISO week before this one: the weekly ranking's default (a whole week)."""
    monday = datetime.fromisoformat(calendar().week_days(current_week())[0])
    year, week, _ = (monday - timedelta(days=7)).isocalendar()
    return f"{year}-W{week:02d}"


def picked(name: str, grain: Grain, default: str | None = None) -> str:
    """The query argument ``name`` as a period of ``grain``; 400 when it is not one."""
    value = request.args.get(name, "").strip() or default or current(grain)
    try:
        ok = checked_period(value) == grain
    except ValueError:
        ok = False
    if not ok:
        abort(400, description=f"{name}: not a {grain} ({value!r})")
    return value


def picked_week(name: str = "week", default: str | None = None) -> str:
    """The query argument ``name`` as an ISO week (``2026-W47``); 400 when it is not one."""
    value = request.args.get(name, "").strip() or default or current_week()
    try:
        calendar().week_days(value)
    except ValueError:
        abort(400, description=f"{name}: not an ISO week ({value!r})")
    return value


def picked_choice(name: str, choices: tuple[str, ...]) -> str:
    """The query argument ``name`` as one of ``choices`` (the first when absent); else 400."""
    value = request.args.get(name, "").strip() or choices[0]
    if value not in choices:
        abort(400, description=f"{name}: one of {', '.join(choices)}")
    return value


def department_scope() -> str | None:
    """The department a department head is limited to; None for the whole hall."""
    who = user()
    return who.department if who.role == "dept_head" else None
