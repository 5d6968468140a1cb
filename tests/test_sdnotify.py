"""systemd notifications over a real unix datagram socket, and the agent's process telling them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from device_agent.agent import Agent
from device_agent.config import load_agent_config
from device_agent.sdnotify import Notifier, WatchdogPinger
from tests.clock import SteppedClock
from tests.hall import Hall, wait_until


class SystemdSocket:
    """What systemd listens on: a bound unix datagram socket, and the messages it got."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.received: list[str] = []

    def messages(self) -> list[str]:
        while True:
            try:
                self.received.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.received


@pytest.fixture
def systemd(tmp_path):
    listener = SystemdSocket(tmp_path / "notify.sock")
    yield listener
    listener.sock.close()


def test_notifier_sends_ready_watchdog_status_and_stopping(systemd):
    notifier = Notifier({"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "4000000"})
    assert notifier.enabled
    assert notifier.watchdog_s == 4.0
    assert notifier.ready("serving window w01")
    assert notifier.watchdog()
    assert notifier.status("outbox 3")
    assert notifier.stopping()
    assert systemd.messages() == [
        "READY=1\nSTATUS=serving window w01",
        "WATCHDOG=1",
        "STATUS=outbox 3",
        "STOPPING=1",
    ]


def test_notifier_reaches_an_abstract_socket():
    name = f"hallrate-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(100) == b"READY=1"


def test_outside_systemd_every_call_does_nothing():
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.watchdog_s is None
    assert notifier.ready() is False
    assert WatchdogPinger(notifier, lambda: True).interval_s is None


def test_watchdog_for_another_process_is_not_ours(systemd):
    env = {"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    assert Notifier(env).watchdog_s is None


def test_watchdog_is_pinged_only_while_the_agent_loop_turns(systemd, tmp_path):
    hall = Hall(tmp_path / "hall", port=1)  # no broker: health is the loop, not the link
    clock = SteppedClock()
    agent = Agent(load_agent_config(hall.agent_config(1)), pin_factory=MockFactory(), clock=clock)
    try:
        notifier = Notifier({"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "2000000"})
        pinger = WatchdogPinger(notifier, agent.healthy, clock=clock)

        pinger.tick()  # the loop turned just now (the agent was built)
        clock.advance(1.0)
        pinger.tick()
        clock.advance(30)  # the loop has not turned for 30 s: hung
        pinger.tick()
        clock.advance(1.0)
        pinger.tick()
        agent.last_loop = clock()  # it turns again
        clock.advance(1.0)
        pinger.tick()
    finally:
        agent.outbox.close()
        agent.light.close()
        if agent.evaluator is not None:
            agent.evaluator.close()

    assert systemd.messages() == ["WATCHDOG=1"] * 3
    assert (pinger.pings, pinger.withheld) == (3, 2)


@contextmanager
def run_under_systemd(systemd: SystemdSocket, args: list[str], ready: str) -> Iterator[None]:
    """Run ``hallrate ARGS`` as systemd would; on return it has been stopped with SIGTERM.

    The caller's body runs while the process serves, after READY=1 (with the
    status starting with ``ready``) and two watchdog pings.
    """
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(systemd.path),
        "WATCHDOG_USEC": "400000",  # a ping every 0.2 s
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hallrate.cli", *args],
        env=env,
        cwd=Path(__file__).parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: systemd.messages().count("WATCHDOG=1") >= 2, message="pings")
        assert systemd.messages()[0].startswith(f"READY=1\nSTATUS={ready}")
        yield
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert systemd.messages()[-1] == "STOPPING=1"


def test_the_agent_process_says_ready_pings_and_says_stopping(systemd, tmp_path, mosquitto):
    hall = Hall(tmp_path / "hall", mosquitto.port)
    args = ["agent", "--config", str(hall.agent_config(1)), "--mock-pins"]
    with run_under_systemd(systemd, args, "serving window w01"):
        pass


def test_the_hub_process_says_ready_pings_reports_the_broker_and_says_stopping(
    systemd, tmp_path, mosquitto
):
    hall = Hall(tmp_path / "hall", mosquitto.port)
    args = ["hub", "--config", str(hall.hub_config())]
    with run_under_systemd(systemd, args, "serving http://127.0.0.1:"):
        wait_until(
            lambda: any("connected to the broker" in m for m in systemd.messages()),
            message="the status naming the broker connected",
        )
