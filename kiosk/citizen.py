"""The citizen in front of the kiosk: what they did since they came, kept in the kiosk process.

A kiosk is one screen, so there is one citizen at a time, and their session
lives here, on the kiosk's side, not in the browser's cookie: the home
button, a cleared cookie or a reload cannot end it. It ends only

* at the idle reset: a page request after ``idle_reset_s`` without any
  (the page's own idle timer makes exactly that request), or
* when the kiosk itself says so (:meth:`CitizenSession.end`, "next citizen").

Within a session the per-citizen limits hold (ratings, complaints,
lookups), and each staff member is rated once: a repeat rating of the same
person is still kept and sent, marked with the filter rule
``kiosk_repeat``, so the hub stores it and never counts it.
"""

from __future__ import annotations

import threading
from collections import Counter

from device_agent.protocol import VoteFilter

# A rule's version goes up whenever what it catches changes (as the window's rules).
KIOSK_REPEAT = VoteFilter("kiosk_repeat", 1)
RULES: dict[str, int] = {KIOSK_REPEAT.rule: KIOSK_REPEAT.version}


class CitizenSession:
    """One citizen's session at this kiosk, shared by the web server's threads.

    Times are passed in by the caller (the app's injectable wall clock), so
    tests move time forward without waiting.
    """

    def __init__(self, idle_reset_s: float) -> None:
        self.idle_reset_s = idle_reset_s
        # Held by a view across "may this be stored?" and "it was stored".
        self.lock = threading.RLock()
        self._seen: float | None = None
        self._submitted: Counter[str] = Counter()
        self._rated: set[str] = set()

    def touch(self, now: float, *, may_end: bool = True) -> None:
        """Note a request at ``now``.

        A request after ``idle_reset_s`` without any ends the last citizen's
        session first, unless ``may_end`` is False: a form posted after a long
        pause comes from the citizen who opened it, not from the next one.
        """
        with self.lock:
            if may_end and self._seen is not None and now - self._seen >= self.idle_reset_s:
                self.end()
            self._seen = now

    def end(self) -> None:
        """End the session: the next request is a new citizen ("next citizen")."""
        with self.lock:
            self._submitted.clear()
            self._rated.clear()

    @property
    def active(self) -> bool:
        """Whether this citizen submitted anything yet (so there is something to end)."""
        with self.lock:
            return bool(self._submitted or self._rated)

    def submitted(self, kind: str) -> int:
        """How many records of ``kind`` (vote, complaint, lookup) this citizen submitted."""
        with self.lock:
            return self._submitted[kind]

    def count(self, kind: str) -> None:
        """Count one more record of ``kind``."""
        with self.lock:
            self._submitted[kind] += 1

    def has_rated(self, staff: str) -> bool:
        """Whether this citizen already rated ``staff`` (a rating that counts)."""
        with self.lock:
            return staff in self._rated

    def rated(self, staff: str) -> None:
        """Note a rating of ``staff`` that counts."""
        with self.lock:
            self._rated.add(staff)
