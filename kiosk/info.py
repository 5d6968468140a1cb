"""Public information (政务公开): departments, windows on duty, staff profiles, services, notices.

Everything shown comes from the kiosk's local copy of the hall directory,
so these pages work the same when the hub is out of reach.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, render_template, send_file
from flask.typing import ResponseReturnValue

from kiosk.resources import kiosk

bp = Blueprint("info", __name__)


@bp.get("/")
def home() -> ResponseReturnValue:
    """The home page: a few large tiles, one per thing a citizen may want."""
    return render_template("home.html")


@bp.get("/departments")
def departments() -> ResponseReturnValue:
    """Every department of the hall."""
    return render_template("departments.html", back="/")


@bp.get("/departments/<department_id>")
def department(department_id: str) -> ResponseReturnValue:
    """A department: its windows, staff and services."""
    hall = kiosk().hall
    found = hall.departments.get(department_id) or abort(404)
    return render_template(
        "department.html",
        department=found,
        windows=hall.windows_of(found.id),
        staff=hall.staff_of(found.id),
        items=hall.items_of(found.id),
        back="/departments",
    )


@bp.get("/windows")
def windows() -> ResponseReturnValue:
    """Every window with who is on duty there now."""
    return render_template("windows.html", back="/")


@bp.get("/windows/<window_id>")
def window(window_id: str) -> ResponseReturnValue:
    """One window: its department and the staff on duty."""
    hall = kiosk().hall
    found = hall.windows.get(window_id) or abort(404)
    return render_template(
        "window.html",
        window=found,
        department=hall.departments.get(found.department),
        on_duty=hall.on_duty(found.id),
        back="/windows",
    )


@bp.get("/staff/<staff_id>")
def staff(staff_id: str) -> ResponseReturnValue:
    """A staff member's public profile, with the way to rate them."""
    hall = kiosk().hall
    person = hall.staff.get(staff_id) or abort(404)
    return render_template(
        "staff.html",
        person=person,
        department=hall.departments.get(person.department),
        window=hall.windows.get(person.window) if person.window else None,
        back=f"/departments/{person.department}",
    )


@bp.get("/staff/<staff_id>/photo")
def staff_photo(staff_id: str) -> ResponseReturnValue:
    """The staff member's photo as synced from the hub, else a drawn initial."""
    resources = kiosk()
    person = resources.hall.staff.get(staff_id) or abort(404)
    path = resources.sync.photo_path(person.photo) if person.photo else None
    if path is not None:
        return send_file(path, max_age=0)
    svg = render_template("avatar.svg", initial=person.name[:1] or "?")
    return Response(svg, mimetype="image/svg+xml")


@bp.get("/services")
def services() -> ResponseReturnValue:
    """Every service item, grouped by department."""
    return render_template("services.html", back="/")


@bp.get("/services/<item_id>")
def service(item_id: str) -> ResponseReturnValue:
    """One service: what to bring, how long, what it costs, where to go."""
    hall = kiosk().hall
    item = hall.service_items.get(item_id) or abort(404)
    return render_template(
        "service.html",
        item=item,
        department=hall.departments.get(item.department),
        windows=[hall.windows[w] for w in item.windows if w in hall.windows],
        back="/services",
    )


@bp.get("/announcements")
def announcements() -> ResponseReturnValue:
    """The announcements in force today, newest first."""
    today = datetime.now(ZoneInfo(kiosk().config.timezone)).date()
    return render_template(
        "announcements.html", items=kiosk().hall.current_announcements(today), back="/"
    )


@bp.get("/announcements/<announcement_id>")
def announcement(announcement_id: str) -> ResponseReturnValue:
    """One announcement in full."""
    today = datetime.now(ZoneInfo(kiosk().config.timezone)).date()
    shown = {a.id: a for a in kiosk().hall.current_announcements(today)}
    item = shown.get(announcement_id) or abort(404)
    return render_template("announcement.html", item=item, back="/announcements")
