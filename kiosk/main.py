"""``hallrate kiosk``: run one touchscreen kiosk's web app until stopped."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from device_agent.runner import Process, serve

if TYPE_CHECKING:
    from kiosk.service import KioskService

TICK_S = 2.0


@click.command("kiosk", help="Run a touchscreen kiosk's web app until SIGINT or SIGTERM.")
@click.option("--config", required=True, metavar="FILE", help="the kiosk's TOML configuration")
def command(config: str) -> int:
    """``hallrate kiosk``: 2 on a bad configuration, 1 if the sender stalls."""
    from kiosk.config import load_kiosk_config
    from kiosk.service import KioskService

    return serve(KioskProcess(KioskService(load_kiosk_config(config))), wake_s=TICK_S)


class KioskProcess(Process):
    """The kiosk as :func:`device_agent.runner.serve` runs it."""

    name = "kiosk"

    def __init__(self, kiosk: KioskService) -> None:
        self.kiosk = kiosk

    def start(self) -> None:
        """Start serving, syncing and sending, and print the kiosk's address."""
        self.kiosk.start()
        print(f"kiosk: {self.kiosk.url}", flush=True)

    def healthy(self) -> bool:
        """Whether the sender loop turns."""
        return self.kiosk.healthy()

    def status(self) -> str:
        """The kiosk's address."""
        return f"serving {self.kiosk.url}"

    def stop(self) -> None:
        """Stop; unreceipted records stay in the outbox."""
        self.kiosk.stop()
