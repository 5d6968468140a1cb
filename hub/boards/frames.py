"""What a board shows: pages of fitted text lines, and the frame that carries them.

A :class:`Frame` is one board's whole rotation at one moment; its JSON is
the retained ``{base}/board/{id}/frame`` message of ``docs/protocol.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from device_agent.protocol import VERSION

Style = Literal["normal", "alert"]


@dataclass(frozen=True, slots=True)
class Page:
    """One screenful: exactly as many lines as the board has, each fitted to its width."""

    lines: tuple[str, ...]
    hold_s: float
    style: Style = "normal"
    # What the page is about ("hall", "warnings", ...): notices go first.
    kind: str = ""
    # Ids of the warnings or offline devices on a notice page, to tell a new notice.
    keys: frozenset[str] = frozenset()

    def as_json(self) -> dict[str, Any]:
        """The page as the frame message carries it."""
        return {"lines": list(self.lines), "hold_s": self.hold_s, "style": self.style}


@dataclass(frozen=True, slots=True)
class Frame:
    """A board's pages at one moment, numbered by ``seq`` (from 1 at each hub start)."""

    board: str
    seq: int
    pages: tuple[Page, ...]
    updated: str
    columns: int
    lines: int

    def as_json(self) -> dict[str, Any]:
        """The frame message of ``docs/protocol.md``."""
        return {
            "v": VERSION,
            "board": self.board,
            "seq": self.seq,
            "columns": self.columns,
            "lines": self.lines,
            "pages": [page.as_json() for page in self.pages],
            "updated": self.updated,
        }

    def encode(self) -> bytes:
        """The frame message as UTF-8 JSON."""
        return orjson.dumps(self.as_json())
