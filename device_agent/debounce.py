"""Debouncing button edges in our own code, with the caller's clock.

gpiozero's ``bounce_time`` is ignored by its mock pins and depends on the
pin library on real ones, so the agent debounces every key itself, from the
time each edge was seen.
"""

from __future__ import annotations


class Debouncer:
    """Accepts a key's edge only when ``window_s`` has passed since its previous edge."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._last_edge: dict[object, float] = {}
        self.bounces = 0

    def accept(self, key: object, at: float) -> bool:
        """Whether the edge of ``key`` at time ``at`` is a new press (not a bounce)."""
        last = self._last_edge.get(key)
        # Every edge restarts the window, so a train of bounces is one press.
        self._last_edge[key] = at
        if last is not None and at - last < self.window_s:
            self.bounces += 1
            return False
        return True
