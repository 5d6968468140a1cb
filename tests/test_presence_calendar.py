"""Presence on the official working-day calendar (issue 14): holidays closed, 调休 days open.

A real hub on the session's Mosquitto stores the sign-ins a vendor's
firmware publishes; the presence API counts them against the opening hours
of the days the cases' calendar says the hall works.
"""

from __future__ import annotations

from device_agent.topics import DeviceTopic, Topics
from tests.hall import get_json, query, wait_until
from tests.test_supervision import event

# October 2025: 23 weekdays, of which 1-3 and 6-8 are the National Day holiday,
# and Saturday the 11th a working day (调休): 18 working days.
OCTOBER_2025_DAYS = 18


def test_presence_skips_the_national_day_holiday_and_counts_the_adjusted_saturday(
    hall, start_hub, third_party
):
    hub = start_hub(hall)
    firmware = third_party(hall.port)
    topics = Topics.for_hall(hall.id)
    firmware.wait_for_hub(topics)
    script = [
        ("2025-10-01", "09:00", "sign_in"),  # Wednesday, National Day: closed
        ("2025-10-01", "11:00", "sign_out"),
        ("2025-10-11", "09:00", "sign_in"),  # Saturday, worked: a weekday's hours
        ("2025-10-11", "11:00", "sign_out"),
    ]
    for seq, (day, time, kind) in enumerate(script, start=1):
        payload = event("w01-eval", seq, kind, f"{day}T{time}:00.000+08:00", staff="s01")
        firmware.publish(topics.device("w01-eval", DeviceTopic.SERVICE), payload)
    wait_until(
        lambda: query(hall.database, "SELECT count(*) FROM service_events") == [(4,)],
        message="the sign events stored",
    )
    url = f"{hub.api_url}/api/v1/supervision/presence/staff"

    holiday = get_json(f"{url}?day=2025-10-01", token=hall.token)
    assert holiday["open_minutes"] == 0 and holiday["open_days"] == []
    saturday = get_json(f"{url}?day=2025-10-11", token=hall.token)
    assert saturday["open_minutes"] == 420
    s01 = next(r for r in saturday["staff"] if r["staff"] == "s01")
    assert s01["signed_in_minutes"] == 120

    month = get_json(f"{url}?month=2025-10", token=hall.token)
    assert len(month["open_days"]) == OCTOBER_2025_DAYS
    assert month["open_minutes"] == OCTOBER_2025_DAYS * 420
    assert "2025-10-11" in month["open_days"]
    assert not any(d in month["open_days"] for d in ("2025-10-01", "2025-10-06", "2025-10-08"))
    supervisors = get_json(
        f"{hub.api_url}/api/v1/supervision/presence/supervisors?month=2025-10", token=hall.token
    )
    assert len(supervisors["working_days"]) == OCTOBER_2025_DAYS
    assert "2025-10-11" in supervisors["working_days"]
