"""Long outages: the outbox fills, the alarm goes up, nothing accepted is lost; then it drains."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from device_agent.agent import Agent
from device_agent.config import load_agent_config
from device_agent.evaluator import Press
from device_agent.topics import DeviceTopic, Topics
from tests.clock import SteppedClock
from tests.hall import Hall, query, wait_until

LED = 25
HUB = [sys.executable, "-m", "hallrate.cli", "--log-level", "WARNING", "hub"]

logger = logging.getLogger(__name__)


def led_blinking_fast(factory: MockFactory) -> bool:
    """The alarm pattern: the status light toggling every 0.1 s."""
    states = factory.pin(LED).states[-6:]
    if len(states) < 6:
        return False
    gaps = [b.timestamp for b in states[1:]]
    return all(gap < 0.3 for gap in gaps)


def test_a_full_outbox_raises_the_alarm_keeps_what_it_accepted_and_recovers(
    hall, start_hub, start_agent, third_party
):
    clock = SteppedClock()
    window = start_agent(
        hall, 1, clock=clock, outbox="limit = 3\n", extra="\n[telemetry]\ninterval_s = 0.3\n"
    )
    manager = third_party(hall.port)
    telemetry_topic = Topics.for_hall(hall.id).device(hall.device_id(1), DeviceTopic.TELEMETRY)
    manager.subscribe(telemetry_topic)
    wait_until(lambda: window.agent.link.connected, message="agent connected")

    for level in (17, 27, 22, 23):  # no hub yet: nothing is receipted, the fourth does not fit
        clock.advance(10)
        window.press(level)

    def last_telemetry() -> dict:
        messages = manager.messages(telemetry_topic)
        return messages[-1].json() if messages else {}

    wait_until(lambda: last_telemetry().get("outbox", {}).get("refused") == 1, message="refused")
    report = last_telemetry()
    assert report["alarm"] == "outbox full: 3 records wait for the hub (limit 3)"
    assert report["outbox"]["depth"] == 3
    wait_until(lambda: led_blinking_fast(window.factory), message="the alarm light")

    start_hub(hall)  # the hub comes back: the backlog drains and the alarm clears
    wait_until(lambda: len(hall.stored_votes()) == 3, message="the three accepted votes")
    assert [v[2] for v in hall.stored_votes()] == [5, 4, 3]
    wait_until(lambda: last_telemetry().get("alarm", "?") is None, message="the alarm cleared")
    clock.advance(10)
    window.press(24)
    wait_until(lambda: len(hall.stored_votes()) == 4, message="a new vote once there is room")


def test_a_full_disk_raises_the_alarm_and_the_next_write_clears_it(tmp_path):
    hall = Hall(tmp_path / "hall", port=1)  # no broker needed: this is about the device's disk
    clock = SteppedClock()
    factory = MockFactory()
    agent = Agent(load_agent_config(hall.agent_config(1)), pin_factory=factory, clock=clock)
    db = agent.outbox.db
    try:
        # SQLite's own cap on the file: the same SQLITE_FULL a full disk gives.
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        db.execute(f"PRAGMA max_page_count = {pages}")
        for _ in range(200):
            clock.advance(10)
            agent.handle(Press(5, clock()))
            if agent.alarm:
                break
        accepted = agent.outbox.depth
        assert agent.alarm is not None and agent.alarm.startswith("disk full")
        assert agent.storage_alarm.refused == 1
        assert agent.light.pattern == "alarm"
        assert accepted > 0  # what fitted is kept

        db.execute("PRAGMA max_page_count = 1073741823")  # space again
        clock.advance(10)
        agent.handle(Press(4, clock()))
        assert agent.alarm is None
        assert agent.outbox.depth == accepted + 1
    finally:
        agent.outbox.close()
        agent._close_hardware()


def test_a_link_that_drops_as_it_stops_still_stops(tmp_path):
    hall = Hall(tmp_path / "hall", port=1)  # no broker: the connection is already gone
    agent = Agent(load_agent_config(hall.agent_config(1)), pin_factory=MockFactory())
    try:
        # The moment between paho closing the socket and on_disconnect clearing the flag:
        # the offline status cannot be published, and stopping must go on regardless.
        agent.link.connection._connected.set()
        agent.link.connection._subscribed.set()
        agent.link.stop()
        assert not agent.link.connected
    finally:
        agent.outbox.close()
        agent._close_hardware()


@pytest.fixture
def fast_dir(tmp_path):
    """A folder in RAM when there is one: the outbox's fsync per vote is not what is tested."""
    if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
        with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="hallrate-") as folder:
            yield Path(folder)
    else:
        yield tmp_path


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_100k_votes_queued_while_the_broker_is_down_drain_once(
    tmp_path, own_broker, third_party, fast_dir
):
    count = 100_000
    hall = Hall(tmp_path / "hall", own_broker.port)
    topics = Topics.for_hall(hall.id)
    # The hub in a process of its own, as in a hall: it does not share the agent's GIL.
    with (hall.root / "hub.log").open("w") as log:
        hub = subprocess.Popen(
            [*HUB, "--config", str(hall.hub_config())], stdout=subprocess.DEVNULL, stderr=log
        )
    try:
        third_party(own_broker.port).wait_for_hub(topics)
        own_broker.kill()

        config = load_agent_config(
            hall.agent_config(1, outbox="limit = 200000\nin_flight = 1000\n")
        )
        config = replace(config, outbox=replace(config.outbox, path=fast_dir / "outbox.sqlite"))
        clock = SteppedClock()
        factory = MockFactory()
        agent = Agent(config, pin_factory=factory, clock=clock)
        started = time.perf_counter()
        # Days offline: every press goes the agent's own way (debounce, session, outbox), fast.
        for i in range(count):
            clock.advance(5)
            agent.handle(Press(i % 5 + 1, clock()))
        filled = time.perf_counter() - started
        assert agent.outbox.depth == count

        own_broker.start()
        third_party(own_broker.port).wait_for_hub(topics)
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        try:
            wait_until(lambda: agent.link.connected, timeout=30, message="agent reconnected")
            clock.advance(5)
            factory.pin(17).drive_low()  # a citizen votes while the backlog drains
            factory.pin(17).drive_high()
            wait_until(
                lambda: query(hall.database, "SELECT count(*) FROM votes")[0][0] == count + 1,
                timeout=240,
                interval=0.5,
                message="every vote at the hub",
            )
            wait_until(lambda: agent.outbox.depth == 0, timeout=30, message="every receipt")
        finally:
            agent.stop()
            thread.join(timeout=20)
        drained = time.perf_counter() - started - filled
    finally:
        hub.terminate()
        hub.wait(timeout=30)

    (stored, distinct, low, high) = query(
        hall.database, "SELECT count(*), count(DISTINCT id), min(seq), max(seq) FROM votes"
    )[0]
    assert (stored, distinct, low, high) == (count + 1, count + 1, 1, count + 1)
    assert query(hall.database, "SELECT count(*) FROM vote_conflicts") == [(0,)]
    # The new vote did not wait for the 100,000 before it.
    ((position,),) = query(hall.database, "SELECT rowid FROM votes WHERE seq = ?", (count + 1,))
    assert position < count // 2
    summary = {"filled_s": round(filled, 1), "drained_s": round(drained, 1), "new_vote": position}
    logger.warning("100k outage: %s", json.dumps(summary))
