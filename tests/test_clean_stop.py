"""A stopped component leaves no socket and no thread behind.

paho keeps a socket pair to wake its loop and frees it only in the client's
``__del__``. A client held in a reference cycle (its callbacks are its
owner's bound methods) leaves that pair to the garbage collector, which
reports an unclosed socket at whatever moment it runs; with warnings as
errors that fails whichever test happens to be running. These tests keep the
collector off, so what is still open after ``stop()`` is what ``stop()``
itself forgot, every time, whatever the order of the suite.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Iterator
from urllib.request import urlopen

import pytest
from gpiozero.pins.mock import MockFactory

from device_agent.agent import Agent
from device_agent.config import load_agent_config
from hub.config import load_hub_config
from hub.service import HubService
from tests.hall import Hall, wait_until
from tests.kiosk_hall import KioskHall, start_hub, start_kiosk
from tests.test_board_mqtt import BOARDS
from tests.thirdparty import ThirdParty

FORWARD = "[forwarding]\nmqtt = true\nretry_min_s = 0.5\nretry_max_s = 2\n"


def open_sockets() -> set[str]:
    """The sockets and pipes this process holds open, by kernel inode."""
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the descriptor listdir itself used
        if target.startswith(("socket:", "pipe:")):
            held.add(target)
    return held


def threads() -> set[threading.Thread]:
    return set(threading.enumerate())


@pytest.fixture
def no_collector() -> Iterator[None]:
    """The garbage collector off: an unclosed socket stays open where the test sees it."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def assert_left_nothing(run: Callable[[], Callable[[], None]]) -> None:
    """Start something with ``run`` (which returns its stop), stop it, compare before and after."""
    sockets, running = open_sockets(), threads()
    stop = run()
    stop()
    # A stopped thread may take a moment to leave threading.enumerate().
    wait_until(lambda: threads() <= running, timeout=10, message="the threads to end")
    leaked = open_sockets() - sockets
    assert not leaked, f"still open after stop: {sorted(leaked)}"


def test_a_stopped_hub_leaves_no_socket_or_thread(hall, no_collector):
    def run() -> Callable[[], None]:
        hub = HubService(load_hub_config(hall.hub_config(extra=FORWARD + BOARDS)))
        hub.start()
        wait_until(lambda: hub.ingest.state.connected, message="the hub connected")
        forwarder = hub.forwarder
        assert forwarder is not None
        wait_until(lambda: forwarder.state.connected, message="the forwarder connected")
        return hub.stop

    assert_left_nothing(run)


def test_a_hub_stopped_before_its_broker_answers_leaves_nothing(tmp_path, no_collector):
    # A port nobody listens on: ingest keeps retrying until it is stopped.
    hall = Hall(tmp_path / "hall", port=1)

    def run() -> Callable[[], None]:
        hub = HubService(load_hub_config(hall.hub_config(extra=FORWARD)))
        hub.start()
        time.sleep(0.5)
        return hub.stop

    assert_left_nothing(run)


def test_a_stopped_central_leaves_no_socket_or_thread(tmp_path, mosquitto, no_collector):
    county = Hall(tmp_path / "county", mosquitto.port)
    extra = "[central]\nenabled = true\n[central.halls.somewhere]\n"

    def run() -> Callable[[], None]:
        hub = HubService(load_hub_config(county.hub_config(extra=extra)))
        hub.start()
        assert hub.central is not None
        central = hub.central
        wait_until(lambda: central.connection.subscribed, message="central subscribed")
        return hub.stop

    assert_left_nothing(run)


def test_a_stopped_agent_leaves_no_socket_or_thread(hall, no_collector):
    def run() -> Callable[[], None]:
        agent = Agent(load_agent_config(hall.agent_config(1)), pin_factory=MockFactory())
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        wait_until(lambda: agent.link.connected, message="the agent connected")

        def stop() -> None:
            agent.stop()
            thread.join(timeout=10)

        return stop

    assert_left_nothing(run)


def test_a_stopped_kiosk_and_its_hub_leave_no_socket_or_thread(tmp_path, mosquitto, no_collector):
    hall = KioskHall(tmp_path / "hall", mosquitto.port)

    def run() -> Callable[[], None]:
        hub = start_hub(hall)
        kiosk = start_kiosk(hall, hub_url=hub.api_url)
        with urlopen(kiosk.url + "/", timeout=5) as page:
            assert "<html" in page.read().decode()

        def stop() -> None:
            kiosk.stop()
            hub.stop()

        return stop

    assert_left_nothing(run)


def test_a_closed_test_client_leaves_no_socket_or_thread(mosquitto, no_collector):
    def run() -> Callable[[], None]:
        return ThirdParty(mosquitto.port).close

    assert_left_nothing(run)


def test_a_stopped_hub_that_sent_notices_leaves_no_socket_or_thread(hall, mosquitto, no_collector):
    from tests.test_notify import Firmware, Receiver, free_port, notify_config

    receiver = Receiver(free_port())
    receiver.start()
    firmware = ThirdParty(mosquitto.port)
    try:

        def run() -> Callable[[], None]:
            config = load_hub_config(hall.hub_config(extra=notify_config(hall, receiver.port)))
            hub = HubService(config)
            hub.start()
            Firmware(firmware, hall).vote_dissatisfied(2)
            wait_until(lambda: len(receiver.notices) == 2, message="two notices delivered")
            return hub.stop

        assert_left_nothing(run)
    finally:
        firmware.close()
        receiver.stop()
