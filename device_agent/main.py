"""``hallrate agent``: run one window device's agent until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from device_agent.errors import ConfigError
from device_agent.sdnotify import Notifier, WatchdogPinger

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``hallrate agent``."""
    parser.add_argument("--config", required=True, help="the agent's TOML configuration")
    parser.add_argument(
        "--mock-pins",
        action="store_true",
        help="use gpiozero's mock pins instead of real GPIO (for trying out)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the agent until SIGINT or SIGTERM; 2 on a bad configuration."""
    from device_agent.agent import Agent
    from device_agent.config import load_agent_config

    try:
        config = load_agent_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            logger.error("%s", problem)
        return 2
    pin_factory = None
    if args.mock_pins:
        from gpiozero.pins.mock import MockFactory

        pin_factory = MockFactory()
    agent = Agent(config, pin_factory=pin_factory)
    notifier = Notifier()

    def handler(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        notifier.stopping()
        agent.stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    crashed = threading.Event()

    def serve() -> None:
        try:
            agent.run()
        except Exception:
            logger.exception("the agent's loop died")
            crashed.set()

    thread = threading.Thread(target=serve, name="agent")
    watchdog = WatchdogPinger(notifier, lambda: thread.is_alive() and agent.healthy())
    thread.start()
    # Signals are delivered to the main thread, which only waits and tells systemd.
    ready = False
    while thread.is_alive():
        thread.join(timeout=2.0)
        if not ready and agent.serving.is_set():
            notifier.ready(f"serving window {config.window}")
            ready = True
        if ready:
            watchdog.tick()
    # Non-zero when the loop died, so that Restart=on-failure brings the agent back.
    return 1 if crashed.is_set() else 0
