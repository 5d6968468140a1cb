"""``hallrate kiosk``: run one touchscreen kiosk's web app until stopped."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from device_agent.errors import ConfigError
from device_agent.runner import report_config_error, serve

if TYPE_CHECKING:
    from kiosk.service import KioskService

TICK_S = 1.0


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
        return report_config_error(exc)
    return serve(KioskProcess(KioskService(config)), wake_s=TICK_S)


class KioskProcess:
    """The kiosk as :func:`device_agent.runner.serve` runs it."""

    name = "kiosk"

    def __init__(self, kiosk: KioskService) -> None:
        self.kiosk = kiosk

    def start(self) -> None:
        """Start serving, syncing and sending, and print the kiosk's address."""
        self.kiosk.start()
        print(f"kiosk: {self.kiosk.url}", flush=True)

    def ready(self) -> bool:
        """Ready once the web app listens."""
        return True

    def alive(self) -> bool:
        """Whether the sender loop turns."""
        return self.kiosk.healthy()

    def healthy(self) -> bool:
        """Whether the sender loop turns."""
        return self.kiosk.healthy()

    def status(self) -> str:
        """The kiosk's address."""
        return f"serving {self.kiosk.url}"

    def stop(self) -> None:
        """Stop; unreceipted records stay in the outbox."""
        self.kiosk.stop()
