"""``hallrate hub``: run one hall's hub until stopped, or rebuild its counts."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from device_agent.errors import ConfigError
from device_agent.runner import report_config_error, serve

if TYPE_CHECKING:
    from hub.service import HubService

WAKE_S = 0.5  # how often the main thread checks the loop and pings the watchdog


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
        return report_config_error(exc)
    if args.action == "rebuild":
        from hub.counting import rebuild_database

        return rebuild_database(config)
    return serve(HubProcess(HubService(config)), wake_s=WAKE_S)


class HubProcess:
    """The hub as :func:`device_agent.runner.serve` runs it."""

    name = "hub"

    def __init__(self, hub: HubService) -> None:
        self.hub = hub

    def start(self) -> None:
        """Start ingest and the API, and print the API's address."""
        self.hub.start()
        print(f"hub: {self.hub.api_url}", flush=True)

    def ready(self) -> bool:
        """Ready once the API listens, whether or not the broker is up yet.

        The hub keeps reconnecting; the status line says which.
        """
        return True

    def alive(self) -> bool:
        """Whether the ingest loop turns."""
        return self.hub.healthy()

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
