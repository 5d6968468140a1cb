"""A press at a window reaches the hub's database exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device_agent.protocol import format_time, parse_time
from device_agent.topics import DeviceTopic, Topics
from tests.hall import Hall, get_json, query, wait_until
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
    epoch = window.agent.outbox.epoch
    assert votes == [(f"w01-eval-{epoch}-000000000001", "w01-eval", 4, "w01", "s01")]
    wait_until(lambda: window.agent.outbox.depth == 0, message="the receipt clearing the outbox")
    assert window.agent.outbox.delivered == 1


def test_a_replaced_sd_card_numbers_from_1_again_and_repeats_no_id(
    tmp_path, mosquitto, start_hub, start_agent
):
    hall = Hall(tmp_path / "hall", mosquitto.port)
    start_hub(hall)
    old_card = start_agent(hall, 1)
    wait_until(lambda: old_card.agent.link.connected, message="agent connected")
    for n in range(1, 4):
        old_card.press(17)  # level 5
        # One at a time: presses closer than the debounce time would be one press.
        wait_until(lambda n=n: len(hall.stored_votes()) == n, message=f"vote {n} stored")
    wait_until(lambda: old_card.agent.outbox.delivered == 3, message="the old card's receipts")
    old_epoch = old_card.agent.outbox.epoch
    old_card.stop()

    # The card is swapped: the outbox file is gone, the configuration is the same.
    outbox = hall.root / "outbox-1.sqlite"
    assert outbox.exists()
    for name in (
        outbox,
        outbox.with_name("outbox-1.sqlite-wal"),
        outbox.with_name("outbox-1.sqlite-shm"),
    ):
        name.unlink(missing_ok=True)
    new_card = start_agent(hall, 1)
    wait_until(lambda: new_card.agent.link.connected, message="the new card connected")
    for n in range(4, 7):
        new_card.press(23)  # level 2: other content under the same record numbers
        wait_until(lambda n=n: len(hall.stored_votes()) == n, message=f"vote {n} stored")
    wait_until(lambda: new_card.agent.outbox.delivered == 3, message="the new card's receipts")
    new_epoch = new_card.agent.outbox.epoch
    assert new_epoch != old_epoch

    # Every vote of both cards is stored once, as its own record, and none conflicts.
    stored = query(hall.database, "SELECT id, seq, level FROM votes ORDER BY rowid")
    assert stored == [
        *[(f"w01-eval-{old_epoch}-{seq:012d}", seq, 5) for seq in (1, 2, 3)],
        *[(f"w01-eval-{new_epoch}-{seq:012d}", seq, 2) for seq in (1, 2, 3)],
    ]
    assert query(hall.database, "SELECT id FROM vote_conflicts") == []
    assert hall.quarantined() == []


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
