"""The staff console button: one press starts a service, the next one ends it.

Like the rating buttons, its callback only puts a :class:`ConsolePressed` on
the agent's queue; the agent debounces it and asks the session what the press
means (start or end), so the button itself knows nothing of services.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass

from gpiozero import DigitalInputDevice
from gpiozero.pins import Factory


@dataclass(frozen=True, slots=True)
class ConsolePressed:
    """The staff pressed the console button, at ``at`` (monotonic clock)."""

    at: float


class ConsoleButton:
    """A button wired like the rating keys (to ground, pull-up on), read like them.

    A ``DigitalInputDevice`` rather than gpiozero's ``Button``, for the same
    reason as the rating keys: no hold-watching thread waking for nothing.
    """

    def __init__(
        self,
        pin: str | int,
        events: queue.SimpleQueue[object],
        *,
        pin_factory: Factory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._events = events
        self._clock = clock
        self.button = DigitalInputDevice(pin, pull_up=True, pin_factory=pin_factory)
        self.button.when_activated = self._pressed

    def _pressed(self) -> None:
        self._events.put(ConsolePressed(self._clock()))

    def close(self) -> None:
        """Release the pin."""
        self.button.close()
