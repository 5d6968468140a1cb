"""``hallrate hub``: run one hall's hub until stopped, or rebuild its counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from device_agent.runner import Process, serve

if TYPE_CHECKING:
    from hub.service import HubService

WAKE_S = 2.0  # how often the main thread checks the loop and pings the watchdog


@click.command("hub", help="Run a hall's hub until SIGINT or SIGTERM, or rebuild its counts.")
@click.option("--config", required=True, metavar="FILE", help="the hub's TOML configuration")
@click.argument("action", required=False, default="run", type=click.Choice(["run", "rebuild"]))
def command(config: str, action: str) -> int:
    """``hallrate hub [run|rebuild]``: run the hub (default), or rebuild counts and warnings
    from the raw votes; 2 on a bad configuration, 1 if the ingest loop dies.
    """
    from hub.config import load_hub_config
    from hub.service import HubService

    hub_config = load_hub_config(config)
    if action == "rebuild":
        from hub.counting import rebuild_database

        return rebuild_database(hub_config)
    return serve(HubProcess(HubService(hub_config)), wake_s=WAKE_S)


class HubProcess(Process):
    """The hub as :func:`device_agent.runner.serve` runs it.

    Ready once the API listens, whether or not the broker is up yet: the hub
    keeps reconnecting, and the status line says which.
    """

    name = "hub"

    def __init__(self, hub: HubService) -> None:
        self.hub = hub

    def start(self) -> None:
        """Start ingest and the API, and print the API's address."""
        self.hub.start()
        print(f"hub: {self.hub.api_url}", flush=True)

    def healthy(self) -> bool:
        """Whether the ingest loop turns."""
        return self.hub.healthy()

    def status(self) -> str:
        """The API's address and whether the broker is connected."""
        connected = self.hub.ingest.state.connected
        broker = "connected to the broker" if connected else "waiting for the broker"
        return f"serving {self.hub.api_url}, {broker}"

    def stop(self) -> None:
        """Commit what is held and stop."""
        self.hub.stop()
