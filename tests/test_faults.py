"""Faults mid-stream: hub killed, broker restarted empty or frozen. Nothing lost or doubled.

Votes take the real path: window agents (their button events, with an
injected press time so no debounce interferes) → Mosquitto → the hub.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from device_agent.evaluator import Press
from device_agent.topics import DeviceTopic, Topics
from hallrate.broker import MosquittoBroker
from hub.config import load_hub_config
from hub.service import HubService
from tests.conftest import RunningAgent
from tests.hall import Hall, query, wait_until
from tests.thirdparty import vote_payload

VOTES = 1000


class HubProcess:
    """``hallrate hub`` in a process of its own, which a test may kill."""

    def __init__(self, hall: Hall) -> None:
        self.config = hall.hub_config()
        self.log = hall.root / "hub.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "hallrate.cli", "--log-level", "WARNING"),
                    *("hub", "--config", str(self.config)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def kill(self) -> None:
        """SIGKILL: no commit, no ack, no receipt, no goodbye."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int | None:
        """SIGTERM and wait; the exit status."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


class Stream:
    """Presses fed to window agents from a thread of their own, round robin."""

    def __init__(
        self, windows: list[RunningAgent], total: int, *, pause_s: float, first: int = 0
    ) -> None:
        self.windows = windows
        self.total = total
        self.pause_s = pause_s
        self.first = first
        self.fed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name="stream", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run(self) -> None:
        """Feed every press (in the caller's thread when not started)."""
        for i in range(self.first, self.first + self.total):
            if self._stop.is_set():
                return
            window = self.windows[i % len(self.windows)]
            # A press time one second after the last: each press is a new citizen.
            window.agent.events.put(Press(level=1 + i % 5, at=float(i)))
            self.fed += 1
            if self.pause_s:
                self._stop.wait(self.pause_s)

    def join(self) -> None:
        self._thread.join(timeout=60)
        assert self.fed == self.total

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def stored_count(hall: Hall) -> int:
    rows = query(hall.database, "SELECT count(*) FROM votes")
    return rows[0][0] if rows else 0


def stream_flowing(
    hall: Hall, start_agent: Callable[..., RunningAgent]
) -> tuple[list[RunningAgent], Stream]:
    """Four window agents connected, and 1,000 presses flowing to them, some stored already."""
    windows = [start_agent(hall, n, resend_after_s=1.0) for n in range(1, 5)]
    wait_until(lambda: all(w.agent.link.connected for w in windows), message="agents up")
    stream = Stream(windows, VOTES, pause_s=0.004)
    stream.start()
    wait_until(lambda: stored_count(hall) >= 150, timeout=30, message="the stream flowing")
    return windows, stream


def assert_every_vote_stored_once(hall: Hall, windows: list[RunningAgent]) -> None:
    """Every fed vote is in the hub exactly once and every outbox is empty."""
    wait_until(
        lambda: stored_count(hall) >= VOTES and all(w.agent.outbox.depth == 0 for w in windows),
        timeout=60,
        interval=0.2,
        message=f"{VOTES} votes stored and every outbox empty",
    )
    assert query(hall.database, "SELECT count(*), count(DISTINCT id) FROM votes") == [
        (VOTES, VOTES)
    ]
    per_window = VOTES // len(windows)
    expected = {
        f"{hall.device_id(n)}-{window.agent.outbox.epoch}-{seq:012d}"
        for n, window in enumerate(windows, start=1)
        for seq in range(1, per_window + 1)
    }
    assert {row[0] for row in query(hall.database, "SELECT id FROM votes")} == expected
    # No resend differed from its first copy, nothing was refused.
    assert query(hall.database, "SELECT count(*) FROM vote_conflicts") == [(0,)]
    assert query(hall.database, "SELECT count(*) FROM quarantine") == [(0,)]
    for window in windows:
        outbox = window.agent.config.outbox.path
        assert query(outbox, "SELECT count(*) FROM outbox") == [(0,)]
        assert query(outbox, "SELECT count(*) FROM rejected") == [(0,)]
        assert window.agent.outbox.delivered == per_window


@pytest.mark.slow
def test_hub_killed_mid_stream_and_restarted_stores_every_vote_exactly_once(
    tmp_path: Path,
    own_broker: MosquittoBroker,
    start_agent: Callable[..., RunningAgent],
    third_party: Callable[..., object],
):
    hall = Hall(tmp_path / "hall", own_broker.port, windows=4)
    hub = HubProcess(hall)
    hub.start()
    try:
        watcher = third_party(own_broker.port)
        watcher.wait_for_hub(Topics.for_hall(hall.id))  # type: ignore[attr-defined]
        windows, stream = stream_flowing(hall, start_agent)
        hub.kill()
        killed_at = stored_count(hall)
        # Votes keep coming while no hub runs: the broker queues them for its session.
        wait_until(lambda: stream.fed >= 600, timeout=30, message="votes cast meanwhile")
        assert stored_count(hall) == killed_at
        hub.start()
        stream.join()

        assert_every_vote_stored_once(hall, windows)
        assert killed_at < VOTES
    finally:
        code = hub.stop()
    assert code == 0, hub.log.read_text()


@pytest.mark.slow
def test_broker_killed_and_restarted_empty_loses_and_doubles_nothing(
    tmp_path: Path,
    own_broker: MosquittoBroker,
    protocol: str,
    start_hub: Callable[..., object],
    start_agent: Callable[..., RunningAgent],
):
    assert not own_broker.persistence
    hall = Hall(tmp_path / "hall", own_broker.port, protocol=protocol, windows=4)
    start_hub(hall)
    windows, stream = stream_flowing(hall, start_agent)
    # Whatever the broker acknowledged but had not delivered dies with it.
    own_broker.kill()
    wait_until(lambda: not any(w.agent.link.connected for w in windows), message="agents offline")
    wait_until(lambda: stream.fed >= 600, timeout=30, message="votes cast meanwhile")
    own_broker.start()  # same port, no persistence: no sessions, no subscriptions, no queue
    stream.join()

    assert_every_vote_stored_once(hall, windows)


def test_hub_stops_cleanly_while_the_broker_is_down(
    tmp_path: Path, own_broker: MosquittoBroker, third_party: Callable[..., object]
):
    hall = Hall(tmp_path / "hall", own_broker.port)
    hub = HubProcess(hall)
    hub.start()
    try:
        topics = Topics.for_hall(hall.id)
        firmware = third_party(own_broker.port)
        firmware.wait_for_hub(topics)  # type: ignore[attr-defined]
        firmware.publish(  # type: ignore[attr-defined]
            topics.device("w01-eval", DeviceTopic.VOTE), vote_payload("w01-eval", 1)
        )
        wait_until(lambda: stored_count(hall) == 1, message="a vote stored")
        own_broker.kill()
        wait_until(
            lambda: "cannot reach the broker" in hub.log.read_text(),
            message="the hub retrying the broker",
        )
    finally:
        code = hub.stop()
    log = hub.log.read_text()
    assert code == 0, log
    assert "Traceback" not in log
    assert stored_count(hall) == 1


@pytest.mark.slow
def test_votes_the_broker_acknowledged_and_then_lost_are_resent_by_the_devices(
    tmp_path: Path,
    own_broker: MosquittoBroker,
    start_agent: Callable[..., RunningAgent],
    third_party: Callable[..., object],
):
    hall = Hall(tmp_path / "hall", own_broker.port)
    config = load_hub_config(hall.hub_config())
    hub: HubService | None = HubService(config)
    hub.start()
    try:
        windows = [start_agent(hall, n, resend_after_s=1.0) for n in (1, 2)]
        wait_until(lambda: all(w.agent.link.connected for w in windows), message="agents up")
        topics = Topics.for_hall(hall.id)
        watcher = third_party(own_broker.port)
        watcher.subscribe(topics.all_devices(DeviceTopic.VOTE))  # type: ignore[attr-defined]
        Stream(windows, 20, pause_s=0).run()
        wait_until(lambda: stored_count(hall) == 20, message="the first votes stored")
        hub.stop()
        hub = None

        # The hub is away: the broker takes these votes and queues them for its session.
        Stream(windows, 200, pause_s=0, first=20).run()
        wait_until(
            lambda: len(watcher.messages()) >= 220,  # type: ignore[attr-defined]
            message="the broker holding every vote",
        )
        assert all(w.agent.outbox.depth == 100 for w in windows)
        own_broker.kill()  # and the queue with it
        own_broker.start()
        hub = HubService(config)
        hub.start()

        wait_until(
            lambda: stored_count(hall) == 220 and all(w.agent.outbox.depth == 0 for w in windows),
            timeout=60,
            message="every vote stored after the devices resent them",
        )
        assert query(hall.database, "SELECT count(DISTINCT id) FROM votes") == [(220,)]
    finally:
        if hub is not None:
            hub.stop()


@pytest.mark.slow
def test_broker_frozen_mid_stream_then_resumed_loses_and_doubles_nothing(
    tmp_path: Path,
    own_broker: MosquittoBroker,
    start_hub: Callable[..., object],
    start_agent: Callable[..., RunningAgent],
):
    # A hung broker (SIGSTOP) keeps its sockets open and answers nothing: only
    # keepalive tells the clients. Short keepalives so the test is quick.
    hall = Hall(tmp_path / "hall", own_broker.port, windows=4, keepalive_s=5)
    start_hub(hall)
    windows, stream = stream_flowing(hall, start_agent)
    assert own_broker.process is not None
    own_broker.process.send_signal(signal.SIGSTOP)
    try:
        wait_until(
            lambda: not any(w.agent.link.connected for w in windows),
            timeout=20,
            message="agents noticing the silent broker",
        )
        frozen_at = stored_count(hall)  # the hub has committed what it had read
        wait_until(lambda: stream.fed >= 600, timeout=30, message="votes cast meanwhile")
        assert stored_count(hall) == frozen_at
        assert all(w.agent.outbox.depth > 0 for w in windows)
    finally:
        own_broker.process.send_signal(signal.SIGCONT)
    stream.join()

    assert_every_vote_stored_once(hall, windows)
