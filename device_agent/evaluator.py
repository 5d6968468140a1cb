"""The window evaluator's rating buttons: one button per rating level.

Pins are injected through gpiozero's ``pin_factory`` (``MockFactory`` in
tests and in the demo's simulated windows). Button callbacks only put a
:class:`Press` on the agent's queue: they run in gpiozero's thread on a real
board and in the caller's thread with mock pins, so they must not block.

Each key is a plain ``DigitalInputDevice``, not a gpiozero ``Button``: a
Button starts a thread per key that wakes ten times a second to watch for a
held key, which an evaluator never asks about (an idle agent would wake 60
times a second for nothing).
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gpiozero import DigitalInputDevice
from gpiozero.pins import Factory

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Press:
    """A key went down: which rating level, and when (monotonic clock)."""

    level: int
    at: float


class ButtonEvaluator:
    """GPIO buttons mapped to rating levels (the status light is :mod:`device_agent.lights`)."""

    def __init__(
        self,
        keys: Mapping[str | int, int],
        events: queue.SimpleQueue[object],
        *,
        pin_factory: Factory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._events = events
        self._clock = clock
        self.buttons: list[DigitalInputDevice] = []
        try:
            for pin, level in keys.items():
                # Buttons short the pin to ground: pull-up on, pressed = low.
                button = DigitalInputDevice(pin, pull_up=True, pin_factory=pin_factory)
                button.when_activated = self._on_press(level)
                self.buttons.append(button)
        except Exception:
            self.close()
            raise

    def _on_press(self, level: int) -> Callable[[], None]:
        def pressed() -> None:
            self._events.put(Press(level, self._clock()))

        return pressed

    def close(self) -> None:
        """Release every pin."""
        for button in self.buttons:
            button.close()
        self.buttons.clear()
