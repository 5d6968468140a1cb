"""The hub as a running service: the ingest thread and the HTTP server, together."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from waitress.server import create_server
from waitress.wasyncore import close_all

from hub.app import create_app
from hub.boards.service import BoardService
from hub.cases.chain import Cases
from hub.cases.reminders import ReminderWatch
from hub.central import CentralConsumer
from hub.config import HubConfig
from hub.console.feed import console_feed
from hub.counting import Counting
from hub.forwarding import Forwarder
from hub.ingest import Ingest
from hub.notify.sender import NotifySender
from hub.store import Store
from hub.supervision import SupervisionWatch

logger = logging.getLogger(__name__)

# How long waitress's loop sleeps when nothing happens. Everything that needs the
# loop wakes it (a connection, a response, the stop's trigger): the timeout only
# ends idle wake-ups, and waitress's housekeeping runs every 30 s anyway.
LOOP_TIMEOUT_S = 5

HEALTHY_LOOP_S = 10.0


class HubService:
    """Starts and stops one hall hub; used by ``hallrate hub``, the demo and the tests."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.counting = Counting(config)
        self.store = Store(
            config.database,
            counting=self.counting if config.warnings.enabled else None,
            rules=self.counting.rules,
            quarantine=config.quarantine,
            cases=Cases(
                config.cases,
                config.timezone,
                staff={
                    s.id: (s.name or s.id, s.department) for s in config.directory.staff.values()
                },
            ),
        )
        self.ingest = Ingest(config, self.store)
        # One connection to the hall broker: ingest runs it; the boards and forwarding share it.
        connection = self.ingest.connection
        forwarding = config.forwarding.channels
        self.forwarder = (
            Forwarder(config, summary=self.counting.summary, connection=connection)
            if forwarding
            else None
        )
        self.central = CentralConsumer(config) if config.central.enabled else None
        self.notifier = NotifySender(config) if config.notify.enabled else None
        self.supervision = SupervisionWatch(config) if config.supervision.enabled else None
        # Case reminders and escalation need somebody to tell: they run with [notify].
        self.reminders = ReminderWatch(config) if config.notify.enabled else None
        self.boards = BoardService(config, changed=self.ingest.committed, connection=connection)
        self.app = create_app(config, state=self.ingest.state)
        self.app.config["HALLRATE_BOARD_FEED"] = self.boards.feed
        self.console_feed = console_feed(self.app)
        # The server's socket map is ours (create_server's ``map``), so stopping
        # can close every socket it opened, open connections included.
        self._sockets: dict[int, Any] = {}
        self._server = create_server(
            self.app,
            map=self._sockets,
            host=config.api.host,
            port=config.api.port,
            threads=config.api.threads,
            ident="hallrate-hub",
            asyncore_loop_timeout=LOOP_TIMEOUT_S,
        )
        self._threads: list[threading.Thread] = []

    @property
    def api_url(self) -> str:
        """The base URL of the HTTP API (the real port when the config said 0)."""
        return f"http://{self.config.api.host}:{self._server.effective_port}"

    def start(self) -> None:
        """Start ingesting and serving in background threads."""
        self._threads = [
            threading.Thread(target=self._run_ingest, name="hub-ingest", daemon=True),
            threading.Thread(target=self._server.run, name="hub-http", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        for part in (
            self.forwarder,
            self.central,
            self.boards,
            self.notifier,
            self.supervision,
            self.reminders,
        ):
            if part is not None:
                part.start()
        logger.info("hub %s serving %s", self.config.hall, self.api_url)

    def healthy(self) -> bool:
        """Whether the ingest loop is alive and turning (the watchdog's question)."""
        alive = bool(self._threads) and self._threads[0].is_alive()
        return alive and time.monotonic() - self.ingest.state.last_loop < HEALTHY_LOOP_S

    def stop(self) -> None:
        """Commit what is held, mark the hub offline, stop serving, close the database."""
        self.ingest.stop()
        if self._threads:
            self._threads[0].join(timeout=10)
        # Before the HTTP server: ending the wall's event streams frees its threads.
        self.boards.stop()
        self.console_feed.close()
        self._stop_http()
        for part in (self.forwarder, self.central, self.reminders, self.notifier, self.supervision):
            if part is not None:
                part.stop()
        self.store.close()

    def _stop_http(self) -> None:
        """Let the requests finish, then close every socket of the HTTP server."""
        self._server.task_dispatcher.shutdown(timeout=5)
        http = self._threads[1] if len(self._threads) > 1 else None
        if http is None or not http.is_alive():
            # Never started, or stopped already: no loop to ask, and its trigger
            # may be closed (close_all of an emptied map does nothing).
            close_all(self._sockets)
            return
        # Closed inside the server's loop, which then has nothing to watch and
        # returns: closed from here, a socket it waits on would make it fail.
        try:
            self._server.trigger.pull_trigger(lambda: close_all(self._sockets))
        except OSError:
            # The trigger's pipe is closed already (seen once in hundreds of stops under
            # load, cause unknown): the loop has nothing left to wake, so close from here.
            logger.warning("HTTP wake-up pipe closed already; closing its sockets here")
            close_all(self._sockets)
        http.join(timeout=5)

    def _run_ingest(self) -> None:
        try:
            self.ingest.run()
        except Exception:
            logger.exception("the ingest loop died")
