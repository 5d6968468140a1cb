"""A monotonic clock a test can move forward, so timeouts pass without sleeping."""

from __future__ import annotations

import time


class SteppedClock:
    """``time.monotonic()`` plus whatever the test has skipped with :meth:`advance`."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` into the future."""
        self.offset += seconds
