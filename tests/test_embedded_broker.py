"""The demo's fallback broker (amqtt, MQTT 3.1.1 only) carries the vote path unchanged.

amqtt keeps no queue for an absent anonymous subscriber: votes cast while
the hub is away are not held by the broker. The outbox's resends must still
bring every one of them to the hub.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from device_agent.topics import DeviceTopic, Topics
from hallrate.broker import EmbeddedBroker
from hub.config import load_hub_config
from hub.service import HubService
from tests.hall import Hall, wait_until


@pytest.fixture
def embedded() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def hall(tmp_path: Path, embedded: EmbeddedBroker) -> Hall:
    return Hall(tmp_path / "hall", embedded.port, protocol="3.1.1", windows=2)


def test_votes_cast_while_the_hub_is_away_arrive_by_resend(hall, start_agent):
    hub = HubService(load_hub_config(hall.hub_config()))
    hub.start()
    try:
        window = start_agent(hall, 1, resend_after_s=1.0)
        wait_until(lambda: window.agent.link.connected, message="agent connected")
        window.press(17)
        wait_until(lambda: len(hall.stored_votes()) == 1, message="the first vote stored")
        wait_until(lambda: window.agent.outbox.depth == 0, message="its receipt")
    finally:
        hub.stop()

    # Nobody subscribes now, and amqtt keeps nothing for the hub: these only
    # live in the window's outbox.
    for pin in (27, 22, 23, 24):
        window.press(pin)
    wait_until(lambda: window.agent.outbox.depth == 4, message="four votes waiting")

    hub = HubService(load_hub_config(hall.hub_config()))
    hub.start()
    try:
        wait_until(lambda: len(hall.stored_votes()) == 5, message="every vote stored")
        wait_until(lambda: window.agent.outbox.depth == 0, message="every receipt")
    finally:
        hub.stop()
    levels = [row[2] for row in hall.stored_votes()]
    assert sorted(levels) == [1, 2, 3, 4, 5]


def test_a_client_gets_only_the_retained_messages_it_subscribed_to(
    hall, start_hub, start_agent, third_party
):
    start_hub(hall)
    window = start_agent(hall, 1)
    topics = Topics.for_hall(hall.id)
    status = topics.device("w01-eval", DeviceTopic.STATUS)
    observer = third_party(hall.port, protocol="3.1.1")
    observer.subscribe(status)
    wait_until(
        lambda: any(m.payload == b"online" for m in observer.messages(status)),
        message="the window's retained status",
    )

    # amqtt 0.12.1 alone would hand a newcomer every retained message matching
    # anyone's subscription (the hub's device/+/status among them).
    newcomer = third_party(hall.port, protocol="3.1.1")
    own = f"{topics.base}/newcomer"
    newcomer.subscribe(own)
    newcomer.publish(own, b"hello")
    wait_until(lambda: newcomer.messages(own), message="the newcomer's own message")
    assert [m.topic for m in newcomer.messages()] == [own]

    window.press(23)
    wait_until(lambda: window.agent.outbox.delivered == 1, message="the receipt")
    epoch = window.agent.outbox.epoch
    assert hall.stored_votes() == [(f"w01-eval-{epoch}-000000000001", "w01-eval", 2, "w01", "s01")]
