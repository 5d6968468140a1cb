"""``hallrate hub``: run one hall's hub until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

from device_agent.errors import ConfigError
from device_agent.sdnotify import Notifier, WatchdogPinger

if TYPE_CHECKING:
    from hub.service import HubService

logger = logging.getLogger(__name__)

WAKE_S = 2.0  # how often the main thread checks the loop and pings the watchdog


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``hallrate hub``."""
    parser.add_argument("--config", required=True, help="the hub's TOML configuration")
    parser.add_argument(
        "action",
        nargs="?",
        default="run",
        choices=("run", "rebuild"),
        help="run the hub (default), or rebuild counts and warnings from the raw votes",
    )


def run(args: argparse.Namespace) -> int:
    """Run the hub until SIGINT or SIGTERM; 2 on a bad configuration, 1 if the loop dies."""
    from hub.config import load_hub_config
    from hub.service import HubService

    try:
        config = load_hub_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            logger.error("%s", problem)
        return 2
    if args.action == "rebuild":
        from hub.counting import rebuild_database

        return rebuild_database(config)
    hub = HubService(config)
    stop = wait_for_signals()
    notifier = Notifier()
    watchdog = WatchdogPinger(notifier, hub.healthy)
    hub.start()
    print(f"hub: {hub.api_url}", flush=True)
    # The API listens once start() returns: ready, whether or not the broker
    # is up yet (the hub keeps reconnecting; the status line says which).
    connected = hub.ingest.state.connected
    notifier.ready(_status(hub, connected))
    healthy = True
    while not stop.wait(WAKE_S):
        if not hub.healthy():
            logger.error("the ingest loop is not turning; exiting so the supervisor restarts us")
            healthy = False
            break
        watchdog.tick()
        if hub.ingest.state.connected != connected:
            connected = hub.ingest.state.connected
            notifier.status(_status(hub, connected))
    notifier.stopping()
    hub.stop()
    return 0 if healthy else 1


def _status(hub: HubService, connected: bool) -> str:
    broker = "connected to the broker" if connected else "waiting for the broker"
    return f"serving {hub.api_url}, {broker}"


def wait_for_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM, so the main loop can stop cleanly."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop
