"""``hallrate kiosk``: run one touchscreen kiosk's web app until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from device_agent.errors import ConfigError
from device_agent.sdnotify import Notifier, WatchdogPinger

logger = logging.getLogger(__name__)

TICK_S = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``hallrate kiosk``."""
    parser.add_argument("--config", required=True, help="the kiosk's TOML configuration")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; 2 on a bad configuration, 1 if the sender stalls."""
    from kiosk.config import load_kiosk_config
    from kiosk.service import KioskService

    try:
        config = load_kiosk_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            logger.error("%s", problem)
        return 2
    kiosk = KioskService(config)
    notifier = Notifier()
    stop = wait_for_signals(notifier)
    kiosk.start()
    print(f"kiosk: {kiosk.url}", flush=True)
    notifier.ready(f"serving {kiosk.url}")
    watchdog = WatchdogPinger(notifier, kiosk.healthy)
    healthy = True
    while not stop.wait(TICK_S):
        if not kiosk.healthy():
            logger.error("the kiosk's sender is not turning; exiting so the supervisor restarts us")
            healthy = False
            break
        watchdog.tick()
    kiosk.stop()
    return 0 if healthy else 1


def wait_for_signals(notifier: Notifier) -> threading.Event:
    """An event set by SIGINT or SIGTERM, so the main loop can stop cleanly."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        notifier.stopping()
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop
