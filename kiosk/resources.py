"""The kiosk's long-lived resources, as the views reach them through the app."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app

from device_agent.directory import Directory
from device_agent.sender import SenderThread
from kiosk.citizen import CitizenSession
from kiosk.config import KioskConfig
from kiosk.directory import LocalDirectory
from kiosk.hub_client import HubClient
from kiosk.limits import KioskRate
from kiosk.submissions import Submissions
from kiosk.sync import DirectorySync


@dataclass
class Resources:
    """What the views use: configuration, outbox sender, directory copy, hub client."""

    config: KioskConfig
    sender: SenderThread
    directory: LocalDirectory
    submissions: Submissions
    hub: HubClient
    sync: DirectorySync
    # The citizen in front of the screen: the per-citizen limits live here.
    citizen: CitizenSession
    rate: KioskRate = field(default_factory=KioskRate)
    # The wall clock the idle reset goes by (injectable, so tests need not wait).
    clock: Callable[[], float] = time.time

    @property
    def hall(self) -> Directory:
        """The directory to show now."""
        return self.directory.current


def kiosk() -> Resources:
    """The resources of the app handling the current request."""
    return current_app.extensions["hallrate_kiosk"]
