"""``hallrate agent``: run one window device's agent until stopped."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import click

from device_agent.runner import serve

if TYPE_CHECKING:
    from device_agent.agent import Agent

logger = logging.getLogger(__name__)

WAKE_S = 2.0  # how often the main thread checks the agent and pings the watchdog


@click.command("agent", help="Run a window device's agent until SIGINT or SIGTERM.")
@click.option("--config", required=True, metavar="FILE", help="the agent's TOML configuration")
@click.option(
    "--mock-pins",
    is_flag=True,
    help="use gpiozero's mock pins instead of real GPIO (for trying out)",
)
def command(config: str, mock_pins: bool) -> int:
    """``hallrate agent``: 2 on a bad configuration, 1 if the agent's loop dies."""
    from device_agent.agent import Agent
    from device_agent.config import load_agent_config

    agent_config = load_agent_config(config)
    pin_factory = None
    if mock_pins:
        from gpiozero.pins.mock import MockFactory

        pin_factory = MockFactory()
    return serve(AgentProcess(Agent(agent_config, pin_factory=pin_factory)), wake_s=WAKE_S)


class AgentProcess:
    """The agent's loop in a thread, as :func:`device_agent.runner.serve` runs it.

    The loop runs in its own thread because signals reach only the main thread,
    which must stay free to wait for them and to talk to systemd.
    """

    name = "agent"

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._thread = threading.Thread(target=self._loop, name="agent")

    def _loop(self) -> None:
        try:
            self.agent.run()
        except Exception:
            logger.exception("the agent's loop died")

    def start(self) -> None:
        """Start the agent's loop."""
        self._thread.start()

    def ready(self) -> bool:
        """Ready once the agent serves its window."""
        return self.agent.serving.is_set()

    def alive(self) -> bool:
        """Whether the loop's thread still runs."""
        return self._thread.is_alive()

    def healthy(self) -> bool:
        """Whether the loop runs and turned lately."""
        return self._thread.is_alive() and self.agent.healthy()

    def status(self) -> str:
        """Which window the agent serves."""
        return f"serving window {self.agent.config.window}"

    def stop(self) -> None:
        """Stop the agent and wait for its loop to end."""
        self.agent.stop()
        self._thread.join()
