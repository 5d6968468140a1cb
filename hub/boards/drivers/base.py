"""The one interface every board driver implements, and a base for slow outputs.

The scheduler calls :meth:`BoardDriver.show` with the board's current frame
and the index of the page to show, whenever either changes and at every
turn of the rotation. ``show`` must return at once: a driver whose output
can be slow or absent (a serial line, a controller that stopped answering)
derives from :class:`MailboxDriver`, whose own thread delivers only the
newest page, so a silent board holds up neither the other boards nor ingest.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod

from hub.boards.frames import Frame

logger = logging.getLogger(__name__)


class BoardDriver(ABC):
    """Shows a board's pages on one kind of output."""

    def start(self) -> None:  # noqa: B027 - most drivers need no start
        """Open what the driver needs; called once before the first :meth:`show`."""

    @abstractmethod
    def show(self, frame: Frame, page: int) -> None:
        """Show page ``page`` of ``frame``; returns at once."""

    def close(self) -> None:  # noqa: B027 - most drivers hold nothing
        """Release what the driver holds; :meth:`show` is not called again."""


class MailboxDriver(BoardDriver):
    """A driver whose own thread delivers the newest page; older undelivered pages are dropped.

    Pages are always complete, so dropping one that a newer page replaces
    loses nothing a board would show. With :attr:`redeliver_s` set, the
    newest page is offered to :meth:`deliver` again after that many seconds
    without a new one, for a driver that sends an unchanged page now and
    then (a controller that lost power shows it again).
    """

    redeliver_s: float | None = None

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._latest: tuple[Frame, int] | None = None
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def show(self, frame: Frame, page: int) -> None:
        with self._lock:
            self._latest = (frame, page)
        self._wake.set()

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.release()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called: long deliveries should give up."""
        return self._closed.is_set()

    def superseded(self) -> bool:
        """True when a newer page waits, so a retried delivery may give up for it."""
        return self._wake.is_set() or self.closed

    def pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the driver is closed meanwhile."""
        self._closed.wait(seconds)

    @abstractmethod
    def deliver(self, frame: Frame, page: int) -> None:
        """Put page ``page`` of ``frame`` on the output; may block, retry and give up."""

    def release(self) -> None:
        """Close the output after the thread has stopped."""

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self.redeliver_s)
            self._wake.clear()
            if self._closed.is_set():
                break
            with self._lock:
                latest = self._latest
            if latest is None:
                continue
            try:
                self.deliver(*latest)
            except Exception:
                # A driver bug must not stop the board for good: the next page retries.
                logger.exception("board driver %s failed to deliver a page", self.name)
