"""The boards of one hub, running: drivers built from the layouts, and the scheduler's thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

import sqlite_utils

from device_agent.mqtt import MqttClient
from device_agent.storage import open_reader
from hub.boards.content import Snapshot, WallPresence, read_snapshot
from hub.boards.drivers.base import BoardDriver
from hub.boards.drivers.mqtt import FramePublisher, MqttDriver
from hub.boards.drivers.serial import SerialDriver
from hub.boards.drivers.web import WallFeed, WebDriver
from hub.boards.layout import BoardLayout
from hub.boards.scheduler import BoardScheduler
from hub.config import HubConfig
from hub.periods import Calendar
from hub.presence import wall_presence

logger = logging.getLogger(__name__)


def wall_streams(threads: int) -> int:
    """How many wall pages may stream at once: half the HTTP threads, the rest for the API."""
    return max(1, threads // 2)


class BoardService:
    """Builds each board's drivers and runs the scheduler in a thread of its own."""

    def __init__(
        self,
        config: HubConfig,
        *,
        changed: threading.Event | None = None,
        now: Callable[[], datetime] | None = None,
        connection: MqttClient | None = None,
    ) -> None:
        """``connection``: the hub's connection to the hall broker (boards with driver mqtt)."""
        self.config = config
        self._connection = connection
        self.feed = WallFeed(max_streams=wall_streams(config.api.threads))
        self.calendar = Calendar(config.timezone)
        self.publisher: FramePublisher | None = None
        self.drivers: dict[str, BoardDriver] = {}
        boards = []
        web = WebDriver(self.feed)
        for layout in config.boards:
            drivers: list[BoardDriver] = [web]
            own = self._driver(layout)
            if own is not None:
                self.drivers[layout.id] = own
                drivers.append(own)
            boards.append((layout, drivers))
        self.scheduler = BoardScheduler(
            boards,
            self._read,
            directory=config.directory,
            timezone=config.timezone,
            now=now,
            changed=changed,
        )
        # No board shows more warnings than this: the rest are only counted.
        self.warnings_limit = max((board.warning_rows for board in config.boards), default=0)
        # Only a board with a window shows who is on duty there.
        self.duty_windows = sorted({board.window for board in config.boards if board.window})
        self._db: sqlite_utils.Database | None = None
        self._thread: threading.Thread | None = None

    def _driver(self, layout: BoardLayout) -> BoardDriver | None:
        if layout.driver == "serial":
            assert layout.serial is not None
            return SerialDriver(layout, layout.serial)
        if layout.driver == "mqtt":
            if self._connection is None:
                raise ValueError(f"board {layout.id} needs the hub's MQTT connection")
            if self.publisher is None:
                self.publisher = FramePublisher(self.config, self._connection)
            return MqttDriver(self.publisher)
        return None  # "web": the wall feed every board has is its only output

    def _presence(self, now: datetime) -> WallPresence | None:
        """Today's staff online rate, when the hall lets the wall show it."""
        assert self._db is not None
        shown = wall_presence(
            self._db.conn,
            directory=self.config.directory,
            settings=self.config.supervision,
            calendar=self.calendar,
            now=now,
        )
        if shown is None:
            return None
        return WallPresence(shown["staff_rate"], shown["staff_signed_in"], shown["staff_listed"])

    def _read(self, now: datetime) -> Snapshot:
        if self._db is None:
            self._db = open_reader(self.config.database)
        return read_snapshot(
            self._db,
            hall=self.config.hall,
            directory=self.config.directory,
            calendar=self.calendar,
            now=now,
            warnings_limit=self.warnings_limit,
            duty_windows=self.duty_windows,
            presence=self._presence(now),
        )

    def start(self) -> None:
        """Open the outputs and start the scheduler's thread (nothing to do without boards)."""
        if not self.config.boards:
            return
        for driver in self.drivers.values():
            driver.start()
        self._thread = threading.Thread(target=self.scheduler.run, name="hub-boards", daemon=True)
        self._thread.start()
        logger.info("driving %d LED board(s)", len(self.config.boards))

    def stop(self) -> None:
        """Stop the scheduler, end the wall streams, close the outputs."""
        self.scheduler.stop()
        self.feed.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for driver in self.drivers.values():
            driver.close()
        if self._db is not None:
            self._db.close()
