"""How much one kiosk accepts per minute, whatever its sessions say.

Per-citizen limits live in the citizen's session (``kiosk/citizen.py``); a
session ends at every idle reset, and repeat ratings are kept (filtered), so
this kiosk-wide sliding window is what stops a script or a stuck finger from
filling the outbox.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class KioskRate:
    """A sliding window of the submissions this kiosk accepted in the last minute."""

    def __init__(
        self, per_minute: int = 20, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> bool:
        """Count one submission; False (and not counted) when the minute is full."""
        now = self._clock()
        with self._lock:
            while self._times and self._times[0] <= now - 60:
                self._times.popleft()
            if len(self._times) >= self.per_minute:
                return False
            self._times.append(now)
            return True
