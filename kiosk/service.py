"""The kiosk as a running service: sender thread, directory sync and web server together."""

from __future__ import annotations

import logging
import threading
from typing import Any

from waitress.server import create_server
from waitress.wasyncore import close_all

from device_agent.sender import SenderThread
from device_agent.topics import Topics
from kiosk.app import create_app
from kiosk.config import KioskConfig
from kiosk.directory import LocalDirectory
from kiosk.hub_client import HubClient
from kiosk.submissions import Submissions
from kiosk.sync import DirectorySync

logger = logging.getLogger(__name__)

# How long waitress's loop sleeps when nothing happens. Everything that needs the
# loop wakes it (a connection, a response, the stop's trigger): the timeout only
# ends idle wake-ups, and waitress's housekeeping runs every 30 s anyway.
LOOP_TIMEOUT_S = 5


class KioskService:
    """Starts and stops one kiosk; used by ``hallrate kiosk``, the demo and the tests."""

    def __init__(self, config: KioskConfig) -> None:
        self.config = config
        data = config.data_dir
        data.mkdir(parents=True, exist_ok=True)
        self.sender = SenderThread(
            device=config.device,
            topics=Topics.for_hall(config.hall, template=config.base_topic),
            broker=config.broker,
            outbox=config.outbox,
        )
        self.hub = HubClient(config.hub_url)
        self.directory = LocalDirectory(data / "directory.json")
        self.sync = DirectorySync(
            self.directory, self.hub, photos=data / "photos", interval_s=config.sync_interval_s
        )
        self.submissions = Submissions(data / "kiosk.sqlite")
        self.app = create_app(
            config,
            sender=self.sender,
            directory=self.directory,
            submissions=self.submissions,
            hub=self.hub,
            sync=self.sync,
        )
        # The server's socket map is ours (create_server's ``map``), so stopping
        # can close every socket it opened, open connections included.
        self._sockets: dict[int, Any] = {}
        self._server = create_server(
            self.app,
            map=self._sockets,
            host=config.http.host,
            port=config.http.port,
            threads=config.http.threads,
            ident="hallrate-kiosk",
            asyncore_loop_timeout=LOOP_TIMEOUT_S,
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The address the kiosk browser opens (the real port when the config said 0)."""
        return f"http://{self.config.http.host}:{self._server.effective_port}"

    def start(self) -> None:
        """Start sending, syncing and serving in background threads."""
        self.sender.start()
        self.sync.start()
        self._thread = threading.Thread(target=self._server.run, name="kiosk-http", daemon=True)
        self._thread.start()
        logger.info("kiosk %s serving %s", self.config.device, self.url)

    def next_citizen(self) -> None:
        """End the citizen's session now, as the idle reset would: the next touch is a new one.

        Not a button on the screen, where the same citizen could tap it.
        """
        self.app.extensions["hallrate_kiosk"].citizen.end()

    def healthy(self) -> bool:
        """Whether the sender loop is turning (the watchdog's question)."""
        return self.sender.alive()

    def stop(self) -> None:
        """Stop serving, syncing and sending; unreceipted records stay in the outbox."""
        self._server.task_dispatcher.shutdown(timeout=5)
        if self._thread is None or not self._thread.is_alive():
            # Never started, or stopped already: no loop to ask, and its trigger
            # may be closed (close_all of an emptied map does nothing).
            close_all(self._sockets)
        else:
            # Closed inside the server's loop, which then has nothing to watch and
            # returns: closed from here, a socket it waits on would make it fail.
            try:
                self._server.trigger.pull_trigger(lambda: close_all(self._sockets))
            except OSError:
                # The trigger's pipe is closed already (seen once in hundreds of stops under
                # load, cause unknown): the loop has nothing left to wake, so close from here.
                logger.warning("HTTP wake-up pipe closed already; closing its sockets here")
                close_all(self._sockets)
            self._thread.join(timeout=5)
        self.sync.stop()
        self.sender.stop()
        self.submissions.close()
