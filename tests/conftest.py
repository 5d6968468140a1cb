"""Fixtures: a real Mosquitto, a test hall, a running hub, agents on mock pins."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory
from playwright.sync_api import Browser, Page

from device_agent.agent import Agent
from device_agent.config import load_agent_config
from hallrate.broker import MosquittoBroker, find_mosquitto
from hub.config import load_hub_config
from hub.service import HubService
from tests.browser import chromium, new_page
from tests.hall import Hall
from tests.thirdparty import ThirdParty

# --file-order: make test runs the files shuffled (tests/file_order.py).
pytest_plugins = ["tests.file_order"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for a test module (tests/browser.py)."""
    with chromium() as found:
        yield found


# Ask for ``hub`` before ``page``: the page (and its event stream) closes before the hub
# stops, so teardown does not race the browser's reconnects.
@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A console-sized page (1366x768, zh-CN) in a context of its own."""
    with new_page(browser) as opened:
        yield opened


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """One real Mosquitto for the session, on a free loopback port."""
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: run the tests with `make test`")
    broker = MosquittoBroker(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A Mosquitto of this test's own, which the test may kill and restart."""
    broker = MosquittoBroker(tmp_path / "broker")
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture(params=["5", "3.1.1"])
def protocol(request: pytest.FixtureRequest) -> str:
    """Both MQTT versions the agent and hub speak."""
    return request.param


@pytest.fixture
def hall(tmp_path: Path, mosquitto: MosquittoBroker) -> Hall:
    """A test hall with three windows on the session broker, over MQTT 5."""
    return Hall(tmp_path / "hall", mosquitto.port)


@pytest.fixture
def start_hub() -> Iterator[Callable[[Hall], HubService]]:
    """Start an in-process hub for a hall; stopped at the end of the test."""
    hubs: list[HubService] = []

    def start(hall: Hall, **config: object) -> HubService:
        hub = HubService(load_hub_config(hall.hub_config(**config)))  # type: ignore[arg-type]
        hub.start()
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        hub.stop()


class RunningAgent:
    """An agent running in a thread, with the mock pins of its buttons."""

    def __init__(self, agent: Agent, factory: MockFactory) -> None:
        self.agent = agent
        self.factory = factory
        self.thread = threading.Thread(target=agent.run, name=agent.config.device, daemon=True)

    def press(self, pin: int = 17) -> None:
        """A citizen presses and releases the key on ``pin`` (GPIO17 is level 5)."""
        self.factory.pin(pin).drive_low()
        self.factory.pin(pin).drive_high()

    def stop(self) -> None:
        self.agent.stop()
        self.thread.join(timeout=10)


@pytest.fixture
def start_agent() -> Iterator[Callable[..., RunningAgent]]:
    """Start an agent of a hall on its own MockFactory; stopped at the end of the test."""
    agents: list[RunningAgent] = []

    def start(
        hall: Hall, n: int = 1, *, clock: Callable[[], float] | None = None, **config: object
    ) -> RunningAgent:
        factory = MockFactory()
        agent = Agent(
            load_agent_config(hall.agent_config(n, **config)),  # type: ignore[arg-type]
            pin_factory=factory,
            **({"clock": clock} if clock is not None else {}),
        )
        running = RunningAgent(agent, factory)
        running.thread.start()
        agents.append(running)
        return running

    yield start
    for running in agents:
        running.stop()


@pytest.fixture
def third_party() -> Iterator[Callable[..., ThirdParty]]:
    """Connect raw paho clients (vendor firmware, an operator's tool); closed at the end."""
    clients: list[ThirdParty] = []

    def connect(port: int, **options: object) -> ThirdParty:
        client = ThirdParty(port, **options)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()
