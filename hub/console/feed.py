"""The console's live feed: a change of the hub's database, and each warning as it is raised.

Built on the web wall's feed (:class:`hub.boards.drivers.web.WallFeed`): the
same condition and version counter wake the open event streams, and the same
stream slots cap how many HTTP threads they hold; a page that finds every
slot taken polls instead, as a wall page does. One watcher thread asks
SQLite whether the file changed (``PRAGMA data_version``, nothing read when
nothing changed) a few times a second, whoever wrote it: the ingest loop, a
console action, ``hallrate hub rebuild``. On a change it bumps the version
(the live hall then fetches its numbers again) and reads the warnings raised
since, which every open console page shows as a notice.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from device_agent.storage import open_reader
from hub.boards.drivers.web import WallFeed
from hub.boards.service import wall_streams

logger = logging.getLogger(__name__)

FEED_KEY = "hallrate.console.feed"
POLL_S = 0.25  # how often the watcher asks whether the database changed
KEPT = 100  # notices kept for streams that fall behind
NEW_WARNINGS_SQL = (
    "SELECT rowid, id, staff, department, level, count, period, raised_at FROM warnings"
    " WHERE rowid > ? ORDER BY rowid LIMIT 100"
)
LAST_WARNING_SQL = "SELECT max(rowid) FROM warnings"


@dataclass(frozen=True, slots=True)
class Notice:
    """A warning just raised, as the console's notice shows it."""

    version: int
    id: str
    staff: str
    department: str | None
    level: str
    count: int
    period: str
    raised_at: str

    def as_json(self) -> dict[str, Any]:
        """The notice's fields for the page (names added by the stream)."""
        return {
            "id": self.id,
            "staff": self.staff,
            "department": self.department,
            "level": self.level,
            "count": self.count,
            "period": self.period,
            "raised_at": self.raised_at,
        }


class ConsoleFeed(WallFeed):
    """The wall's feed with one view of its own: the database's version and new warnings."""

    def __init__(self, database: Path, *, max_streams: int, poll_s: float = POLL_S) -> None:
        super().__init__(max_streams=max_streams)
        self.database = database
        self.poll_s = poll_s
        self.notices: deque[Notice] = deque(maxlen=KEPT)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def version(self) -> int:
        """Bumped at every change of the database the watcher saw."""
        with self._changed:
            return self._version

    def changed(self, raised: list[tuple[Any, ...]] | None = None) -> int:
        """Record a change, with the rows of the warnings it raised, and wake every stream."""
        with self._changed:
            self._version += 1
            for row in raised or []:
                self.notices.append(Notice(self._version, *row))
            self._changed.notify_all()
            return self._version

    def next_change(self, after: int, timeout: float) -> tuple[int, list[Notice]] | None:
        """The version once newer than ``after``, with the notices since; None on timeout."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._version > after, timeout=timeout)
            if self._closed or self._version <= after:
                return None
            return self._version, [n for n in self.notices if n.version > after]

    def start(self) -> None:
        """Start the watcher thread (once, whichever request asks first)."""
        with self._changed:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._watch, name="console-feed", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the watcher and end every stream."""
        self._stop.set()
        super().close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        db = None
        try:
            while not self._stop.is_set():
                try:
                    if db is None:
                        db = open_reader(self.database)
                        last = db.execute(LAST_WARNING_SQL).fetchone()[0] or 0
                        seen = db.execute("PRAGMA data_version").fetchone()[0]
                    now = db.execute("PRAGMA data_version").fetchone()[0]
                    if now != seen:
                        seen = now
                        last = self._read_changes(db, last)
                except Exception:
                    # A database not yet created or briefly locked: try again shortly.
                    logger.debug("console feed: cannot read the database", exc_info=True)
                    if db is not None:
                        db.close()
                        db = None
                self._stop.wait(self.poll_s)
        finally:
            if db is not None:
                db.close()

    def _read_changes(self, db: Any, last: int) -> int:
        rows = db.execute(NEW_WARNINGS_SQL, (last,)).fetchall()
        self.changed([row[1:] for row in rows])
        return rows[-1][0] if rows else last


def init_app(app: Flask) -> None:
    """Give the app a console feed (the hub service starts it; see :func:`feed`)."""
    config = app.config["HALLRATE_CONFIG"]
    streams = config.console.streams or max(1, wall_streams(config.api.threads) // 2)
    app.extensions[FEED_KEY] = ConsoleFeed(config.database, max_streams=streams)


def feed() -> ConsoleFeed:
    """The running app's console feed, its watcher started on first use."""
    found: ConsoleFeed = current_app.extensions[FEED_KEY]
    found.start()
    return found


def console_feed(app: Flask) -> ConsoleFeed:
    """The console feed of ``app`` (for the hub service, which stops it)."""
    found: ConsoleFeed = app.extensions[FEED_KEY]
    return found
