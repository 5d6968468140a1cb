"""Who is on duty at each window now, from the windows' sign-in and sign-out events."""

from __future__ import annotations

from collections.abc import Mapping

import sqlite_utils

from hub.directory import Staff

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
