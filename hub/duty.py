"""Who is on duty at each window now, from the windows' sign-in and sign-out events."""

from __future__ import annotations

from collections.abc import Mapping

import sqlite_utils

from hub.directory import Staff


def create_duty_index(db: sqlite_utils.Database) -> None:
    """The schema step that lets the on-duty question read a few rows, not the whole table."""
    db.execute("CREATE INDEX service_events_window ON service_events (window, event, rowid)")


def index_duty_by_cast_time(db: sqlite_utils.Database) -> None:
    """Migration: the latest sign-in or sign-out by when it happened, not when it arrived."""
    db.execute("CREATE INDEX service_events_window_cast ON service_events (window, event, cast_at)")


def index_sign_events(db: sqlite_utils.Database) -> None:
    """Migration: a window's sign-ins and sign-outs in time order, the rows duty reads.

    Both the on-duty question and the hub's duty rule ask for the latest of
    either kind; over this index that is the last entry, with no sort.
    """
    db.execute(
        "CREATE INDEX service_events_sign ON service_events (window, cast_at)"
        " WHERE event IN ('sign_in', 'sign_out')"
    )


# A window's latest sign-in or sign-out: the last entry of service_events_sign.
# Only events since ``since``: older ones do not count, and reading them would
# cost more every day the hall is open.
LATEST_SIGN_SQL = (
    "SELECT staff, event, cast_at FROM service_events"
    " WHERE window = ? AND event IN ('sign_in', 'sign_out') AND cast_at >= ?"
    " ORDER BY cast_at DESC, rowid DESC LIMIT 1"
)


def on_duty(
    db: sqlite_utils.Database, staff: Mapping[str, Staff], windows: list[str], *, since: str
) -> dict[str, list[str]]:
    """The staff ids on duty at each of ``windows``.

    A window whose latest sign-in or sign-out since ``since`` (a UTC time,
    usually the start of today) is a sign-in has that person on duty; one
    with no such event today falls back to the staff the directory seats
    there, so a hall whose windows never sign in still shows its people.
    "Latest" is by the time the event happened: a sign-in the device had to
    resend arrives after the sign-out that followed it, and must not win.
    """
    result: dict[str, list[str]] = {}
    seated: dict[str | None, list[str]] = {}
    for person in staff.values():
        seated.setdefault(person.window, []).append(person.id)
    for window in windows:
        latest = db.execute(LATEST_SIGN_SQL, (window, since)).fetchone()
        if latest is not None:
            person, event, _ = latest
            result[window] = [person] if event == "sign_in" and person in staff else []
        else:
            result[window] = list(seated.get(window, []))
    return result
