"""A press at a window reaches the hub's database exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device_agent.protocol import format_time, parse_time
from device_agent.topics import DeviceTopic, Topics
from tests.hall import Hall, get_json, wait_until
from tests.thirdparty import vote_payload


@pytest.fixture
def hall(tmp_path: Path, mosquitto, protocol: str) -> Hall:
    return Hall(tmp_path / "hall", mosquitto.port, protocol=protocol)


def test_press_is_stored_and_receipt_clears_outbox(hall, start_hub, start_agent):
    start_hub(hall)
    window = start_agent(hall, 1)
    wait_until(lambda: window.agent.link.connected, message="agent connected")

    window.press(27)  # level 4

    votes = wait_until(hall.stored_votes, message="the vote in the hub's database")
    assert votes == [("w01-eval-000000000001", "w01-eval", 4, "w01", "s01")]
    wait_until(lambda: window.agent.outbox.depth == 0, message="the receipt clearing the outbox")
    assert window.agent.outbox.delivered == 1


def test_a_device_clock_days_behind_is_corrected_by_its_sent_time_and_flagged(
    hall, start_hub, third_party
):
    hub = start_hub(hall)
    topics = Topics.for_hall(hall.id)
    device = third_party(hall.port)
    device.wait_for_hub(topics)
    now = datetime.now(UTC)
    # No real-time clock: the device believes it is three days earlier. Its vote
    # was cast a minute before it sent it; the hub measures the offset from `sent`.
    behind = now - timedelta(days=3)
    skewed = vote_payload(
        "w01-eval", 1, ts=format_time(behind - timedelta(minutes=1)), sent=format_time(behind)
    )
    # A clock only seconds off (within ingest.clock_skew_s) is left alone.
    close = vote_payload(
        "w02-eval", 1, ts=format_time(now - timedelta(seconds=30)), sent=format_time(now)
    )
    for name, payload in (("w01-eval", skewed), ("w02-eval", close)):
        device.publish(topics.device(name, DeviceTopic.VOTE), payload)
    wait_until(lambda: len(hall.stored_votes()) == 2, message="both votes stored")

    votes = {
        v["device"]: v for v in get_json(f"{hub.api_url}/api/v1/votes", token=hall.token)["votes"]
    }
    corrected = parse_time(votes["w01-eval"]["cast_at"])
    assert abs(corrected - (now - timedelta(minutes=1))) < timedelta(seconds=30)
    assert votes["w01-eval"]["flags"] == ["clock_skew"]
    assert votes["w01-eval"]["ts"] == format_time(behind - timedelta(minutes=1))  # kept as sent
    assert votes["w02-eval"]["cast_at"] == format_time(now - timedelta(seconds=30))
    assert votes["w02-eval"]["flags"] == []
