"""A press at a window reaches the hub's database exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hall import Hall, wait_until


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
