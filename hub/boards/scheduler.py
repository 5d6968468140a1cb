"""The boards' scheduler: coalesces changes, rotates pages, puts new notices first.

It runs in a thread of its own and never in ingest's way: ingest only sets
an event after each commit (:attr:`BoardScheduler.changed`), and the
scheduler reads the database through its own read-only connection. A burst
of votes makes at most one update per board per ``interval_s``: the first
change after a quiet spell is shown at once, later ones wait for the
interval to pass and are shown together. A board is laid out again only
when what it would show may have changed (a snapshot of the hall that differs
from the one it was laid out from, or a new minute for the clock), and sent
something only when its pages differ from what it has, and at each turn of
a rotation of more than one page. A warning or device-offline notice that
was not on the board before jumps the rotation: the board shows it at once.
Between commits the thread sleeps until the next turn of a page or the next
minute, whichever comes first.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from device_agent.protocol import format_time
from hub.boards.content import Snapshot
from hub.boards.drivers.base import BoardDriver
from hub.boards.frames import Frame, Page
from hub.boards.layout import NOTICE_PAGES, BoardLayout
from hub.boards.pages import board_pages
from hub.directory import Directory

logger = logging.getLogger(__name__)

# Boards are read again at the start of every minute without any change, for
# the clock, the day's rollover and the week's ranking; at most this long
# after the last read in case the wall clock jumps.
REFRESH_S = 60.0
# Just past the minute's start, so the clock page shows the new minute.
MINUTE_SLACK_S = 0.05
# After a failed read of the database, try again this soon.
RETRY_READ_S = 1.0


@dataclass
class BoardState:
    """One board: its layout, drivers, current frame and place in the rotation."""

    layout: BoardLayout
    drivers: Sequence[BoardDriver]
    frame: Frame | None = None
    page: int = 0
    next_turn: float = math.inf
    last_update: float = -math.inf
    dirty: bool = True
    seq: int = 0
    updates: int = 0  # frames made (new content), for tests and benchmarks
    layouts: int = 0  # times laid out, for tests and benchmarks
    notices: frozenset[str] = field(default_factory=frozenset)
    snapshot: Snapshot | None = None  # what the current frame was laid out from


class BoardScheduler:
    """Keeps every board's frame current and turns their pages."""

    def __init__(
        self,
        boards: Sequence[tuple[BoardLayout, Sequence[BoardDriver]]],
        read: Callable[[datetime], Snapshot],
        *,
        directory: Directory,
        timezone: str,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
        refresh_s: float = REFRESH_S,
        changed: threading.Event | None = None,
    ) -> None:
        self.boards = [BoardState(layout, list(drivers)) for layout, drivers in boards]
        # Set by whoever changes the data (ingest, after each commit).
        self.changed = changed or threading.Event()
        self._read = read
        self._directory = directory
        self._timezone = timezone
        self._clock = clock
        self._now = now or (lambda: datetime.now(UTC))
        self._refresh_s = refresh_s
        self._next_refresh = -math.inf
        self._read_failing = False
        self._read_after = -math.inf
        self._stop = threading.Event()

    def board(self, ident: str) -> BoardState:
        """The state of board ``ident``."""
        return next(b for b in self.boards if b.layout.id == ident)

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stop.set()
        self.changed.set()

    def run(self) -> None:
        """Update and rotate the boards until :meth:`stop`."""
        while not self._stop.is_set():
            try:
                wait = self.step(self._clock())
            except Exception:
                # The boards are not worth the hub: log and carry on.
                logger.exception("board scheduler step failed")
                wait = RETRY_READ_S
            self.changed.wait(max(0.0, wait))

    def step(self, now: float) -> float:
        """Do what is due at monotonic time ``now``; returns the seconds until the next thing."""
        if self.changed.is_set():
            # Cleared before reading: a commit after this point sets it again.
            self.changed.clear()
            for board in self.boards:
                board.dirty = True
        if now >= self._next_refresh:
            self._next_refresh = now + self._until_next_minute()
            for board in self.boards:
                board.dirty = True
        due = [b for b in self.boards if b.dirty and now >= self._due(b)]
        if due:
            snapshot = self._snapshot()
            if snapshot is None:
                self._read_after = now + RETRY_READ_S
            else:
                for board in due:
                    self._update(board, snapshot, now)
        for board in self.boards:
            if board.frame is not None and now >= board.next_turn:
                self._turn(board, now)
        wake = [self._next_refresh]
        for board in self.boards:
            wake.append(board.next_turn)
            if board.dirty:
                wake.append(self._due(board))
        return max(0.0, min(wake) - now)

    def _until_next_minute(self) -> float:
        """Seconds from now to just past the start of the next minute (at most ``refresh_s``)."""
        wall = self._now()
        into = wall.second + wall.microsecond / 1e6
        return min(self._refresh_s, 60.0 - into + MINUTE_SLACK_S)

    def _due(self, board: BoardState) -> float:
        """When a changed board may be updated: an interval after its last update."""
        return max(board.last_update + board.layout.interval_s, self._read_after)

    def _snapshot(self) -> Snapshot | None:
        try:
            snapshot = self._read(self._now())
        except sqlite3.Error as exc:
            if not self._read_failing:
                logger.warning("boards cannot read the hub's database: %s", exc)
            self._read_failing = True
            return None
        if self._read_failing:
            logger.info("boards read the hub's database again")
        self._read_failing = False
        return snapshot

    def _update(self, board: BoardState, snapshot: Snapshot, now: float) -> None:
        board.dirty = False
        if board.snapshot is not None and snapshot.shows_same(board.snapshot):
            return  # the same numbers in the same minute: the same pages
        board.snapshot = snapshot
        board.layouts += 1
        pages = board_pages(board.layout, snapshot, self._directory, timezone=self._timezone)
        if board.frame is not None and pages == board.frame.pages:
            return
        # Only a frame sent counts for coalescing: a refresh that changed
        # nothing must not delay the next vote's frame.
        board.last_update = now
        notices = frozenset().union(*(p.keys for p in pages if p.kind in NOTICE_PAGES))
        fresh = notices - board.notices
        board.notices = notices
        board.seq += 1
        board.updates += 1
        first = board.frame is None
        board.frame = Frame(
            board=board.layout.id,
            seq=board.seq,
            pages=pages,
            updated=format_time(snapshot.now),
            columns=board.layout.columns,
            lines=board.layout.lines,
        )
        if first or fresh:
            # A new notice is shown at once: notices are the first pages.
            board.page = 0
            board.next_turn = now + pages[0].hold_s
        else:
            board.page = _same_place(board.page, pages)
            if board.next_turn == math.inf:
                board.next_turn = now + pages[board.page].hold_s
        if len(pages) == 1:
            board.next_turn = math.inf  # a lone page has nothing to turn to
        self._show(board)

    def _turn(self, board: BoardState, now: float) -> None:
        assert board.frame is not None
        board.page = (board.page + 1) % len(board.frame.pages)
        board.next_turn = now + board.frame.pages[board.page].hold_s
        self._show(board)

    def _show(self, board: BoardState) -> None:
        assert board.frame is not None
        for driver in board.drivers:
            try:
                driver.show(board.frame, board.page)
            except Exception:
                logger.exception("board %s: a driver failed to take a page", board.layout.id)


def _same_place(page: int, pages: tuple[Page, ...]) -> int:
    # The rotation carries on where it was; a shorter rotation wraps.
    return page % len(pages)
