"""The web wall's side of the boards: each board's current page, for the pages to stream.

The scheduler shows every board here as well as on its own driver, so any
board can be watched in a browser; a board whose driver is ``web`` has no
other output (an HDMI screen showing ``/boards/<id>``). The HTTP side is
:mod:`hub.boards.web`: each open wall page holds one of the HTTP server's
threads for its event stream, so :class:`WallFeed` caps how many streams
may be open at once, leaving the other threads to the API.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from hub.boards.drivers.base import BoardDriver
from hub.boards.frames import Frame
from hub.boards.width import char_width


@dataclass(frozen=True, slots=True)
class WallView:
    """What one board shows now: a page of its current frame."""

    frame: Frame
    page: int
    version: int

    def as_json(self) -> dict[str, Any]:
        """The event the wall page receives."""
        shown = self.frame.pages[self.page]
        return {
            "board": self.frame.board,
            "seq": self.frame.seq,
            "page": self.page,
            "pages": len(self.frame.pages),
            "columns": self.frame.columns,
            "lines": list(shown.lines),
            # Each character with its columns, so the page lays out the board's grid
            # exactly as the hub measured it.
            "cells": [[[c, char_width(c)] for c in line] for line in shown.lines],
            "style": shown.style,
            "hold_s": shown.hold_s,
            "updated": self.frame.updated,
        }


class WallFeed:
    """Every board's current page, and the open event streams waiting for the next one."""

    def __init__(self, *, max_streams: int) -> None:
        self.max_streams = max_streams
        self._changed = threading.Condition()
        self._views: dict[str, WallView] = {}
        self._version = 0
        self._streams = 0
        self._closed = False

    def show(self, frame: Frame, page: int) -> None:
        """Make page ``page`` of ``frame`` its board's current view and wake the streams.

        The page the screens already show (a frame whose other pages changed)
        wakes nobody: it is kept, for ``frame.json``, under the same version.
        """
        with self._changed:
            current = self._views.get(frame.board)
            if current is not None and _same_page(current, frame, page):
                self._views[frame.board] = WallView(frame, page, current.version)
                return
            self._version += 1
            self._views[frame.board] = WallView(frame, page, self._version)
            self._changed.notify_all()

    def view(self, board: str) -> WallView | None:
        """The board's current view, or None before its first frame."""
        with self._changed:
            return self._views.get(board)

    def next_view(self, board: str, after: int, timeout: float) -> WallView | None:
        """The board's view once it is newer than version ``after``; None on timeout or close."""
        with self._changed:
            self._changed.wait_for(
                lambda: (
                    self._closed or (board in self._views and self._views[board].version > after)
                ),
                timeout=timeout,
            )
            if self._closed:
                return None
            view = self._views.get(board)
            return view if view is not None and view.version > after else None

    @property
    def closed(self) -> bool:
        """True once the hub is stopping: streams end."""
        return self._closed

    @property
    def streams(self) -> int:
        """Event streams open now."""
        with self._changed:
            return self._streams

    def open_stream(self) -> bool:
        """Take a stream slot; False when all are taken (the page falls back to polling)."""
        with self._changed:
            if self._closed or self._streams >= self.max_streams:
                return False
            self._streams += 1
            return True

    def close_stream(self) -> None:
        """Give a stream slot back."""
        with self._changed:
            self._streams -= 1

    def close(self) -> None:
        """End every stream (the hub is stopping)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()


def _same_page(view: WallView, frame: Frame, page: int) -> bool:
    """True when ``view`` already draws page ``page`` of ``frame`` exactly."""
    return (
        view.page == page
        and len(view.frame.pages) == len(frame.pages)
        and view.frame.columns == frame.columns
        and view.frame.pages[page] == frame.pages[page]
    )


class WebDriver(BoardDriver):
    """Shows a board on the web wall's feed."""

    def __init__(self, feed: WallFeed) -> None:
        self.feed = feed

    def show(self, frame: Frame, page: int) -> None:
        self.feed.show(frame, page)
