"""Simulated windows for the demo: real device agents on mock pins, and citizens pressing them.

Each window runs the real :class:`~device_agent.agent.Agent` with a
gpiozero ``MockFactory`` of its own, so every simulated vote takes the same
path as one from a real evaluator: debounce, outbox, MQTT, hub receipt.
Simulated citizens arrive at random, human-like intervals. The staff member
presses the console button to start serving each one and again to end the
service; the evaluator then invites a rating, and the citizen presses one
key, mostly a satisfied one. With a seed, each window's stream of citizens
(when they arrive, how long they are served, which key, how long they hold
it) is the same at every run.

One window's staff member has a bad day (:attr:`DemoWindow.bad_day`): most of
its citizens press dissatisfied, the first few all do, and they come at least
:data:`BAD_DAY_MIN_RATE` a minute, so the demo's level-III threshold is
reached within two minutes. Its services are called by the queue system
(service commands with a ticket each, distinct from every other run's that
day), so every dissatisfied vote is a real service with its own ticket that
passes every rule of the evaluator and the hub; nothing is forged. Each
ticket names its service item too, one of the window's department's
(:attr:`DemoWindow.items`), so the hub's service-time supervision times it.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime

from gpiozero.pins.mock import MockFactory

from device_agent.agent import Agent
from device_agent.link import ServiceCommandArrived
from hallrate.demo_hall import DEMO_LEVEL_III, DemoWindow

logger = logging.getLogger(__name__)

# How citizens rate, in percent: mostly satisfied, some not (domain.md levels).
LEVEL_WEIGHTS = {5: 55, 4: 25, 3: 10, 2: 6, 1: 4}
# A bad day: two citizens in three are dissatisfied, and the first few all are.
BAD_DAY_WEIGHTS = {5: 10, 4: 12, 3: 11, 2: 37, 1: 30}
BAD_DAY_FIRST = DEMO_LEVEL_III
BAD_DAY_MIN_RATE = 6.0
# Nobody is served in no time: a citizen never follows the previous one
# sooner than this share of the mean interval.
MIN_GAP_SHARE = 0.3
HOLD_S = (0.08, 0.35)
# A service lasts this share of the mean interval, and the citizen takes this
# share to find the key after it ends; both fit in the shortest gap
# (MIN_GAP_SHARE), so the rate of citizens stays what was asked.
SERVICE_SHARE = (0.1, 0.2)
THINK_SHARE = (0.02, 0.08)
MIN_SERVICE_S = 0.3
MIN_THINK_S = 0.1
# Some citizens press again, as real ones do (to be sure, or a child at the
# keypad): the evaluator keeps those presses as filtered votes, never counted,
# and GET /api/v1/filters shows the rule that caught them (docs/evaluator.md).
REPEAT_SHARE = 0.15
REPEATS = (2, 5)
REPEAT_GAP_S = (0.25, 0.9)
STOP_JOIN_S = 10.0


@dataclass(frozen=True, slots=True)
class Visit:
    """One citizen at a window: how long after the previous one, which level, how long held."""

    after_s: float
    level: int
    hold_s: float
    presses: int = 1
    gap_s: float = 0.5
    service_s: float = 1.0  # from the console's start press to its end press
    think_s: float = 0.5  # from the end of the service to the first key press


class Citizens:
    """The stream of citizens rating at one window, ``rate`` presses per minute on average."""

    def __init__(self, rng: random.Random, *, rate: float, bad_day: bool = False) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self._rng = rng
        self.bad_day = bad_day
        self.mean_s = 60.0 / (max(rate, BAD_DAY_MIN_RATE) if bad_day else rate)
        self._visits = 0

    def next_visit(self) -> Visit:
        """The next citizen: a fixed minimum service time plus an exponential wait."""
        rng = self._rng
        wait = self.mean_s * (MIN_GAP_SHARE + (1 - MIN_GAP_SHARE) * rng.expovariate(1.0))
        weights = BAD_DAY_WEIGHTS if self.bad_day else LEVEL_WEIGHTS
        level = rng.choices(list(weights), weights=list(weights.values()))[0]
        self._visits += 1
        if self.bad_day and self._visits <= BAD_DAY_FIRST and level > 2:
            level = rng.choice((1, 2))
        presses = rng.randint(*REPEATS) if rng.random() < REPEAT_SHARE else 1
        return Visit(
            after_s=wait,
            level=level,
            hold_s=rng.uniform(*HOLD_S),
            presses=presses,
            gap_s=rng.uniform(*REPEAT_GAP_S),
            # Not shorter than a person can press a button twice, at any rate.
            service_s=max(MIN_SERVICE_S, self.mean_s * rng.uniform(*SERVICE_SHARE)),
            think_s=max(MIN_THINK_S, self.mean_s * rng.uniform(*THINK_SHARE)),
        )


class SimulatedWindow:
    """One window: an agent on its own mock pins, and the citizens who press its keys."""

    def __init__(
        self, window: DemoWindow, *, citizens: Citizens, rng: random.Random | None = None
    ) -> None:
        self.window = window
        # Which service item each ticket is for (its own stream: the citizens' stays as it was).
        self._items = rng or random.Random()
        self.factory = MockFactory()
        self.agent = Agent(window.config, pin_factory=self.factory)
        self.citizens = citizens
        self.pins = {level: pin for pin, level in window.config.evaluator.keys.items()}
        self.console = window.config.evaluator.console_pin
        self.presses = 0
        # The bad-day window's services are called by the queue system, one ticket each:
        # the run's start time of day makes them distinct from earlier runs' that day.
        self.queue_system = window.bad_day
        self._tickets = 0
        self._ticket_prefix = f"{window.window.upper()}-{datetime.now():%H%M%S}"
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self.agent.run, name=f"agent-{window.device}", daemon=True),
            threading.Thread(target=self._serve, name=f"citizens-{window.device}", daemon=True),
        ]

    def start(self) -> None:
        """Run the agent and let citizens in."""
        for thread in self._threads:
            thread.start()

    def close_doors(self) -> None:
        """Let no more citizens in (the first half of stopping, done for all windows at once)."""
        self._stop.set()

    def stop(self) -> None:
        """Stop the citizens, then the agent: it marks itself offline and disconnects."""
        self._stop.set()
        self._threads[1].join(timeout=STOP_JOIN_S)
        self.agent.stop()
        self._threads[0].join(timeout=STOP_JOIN_S)

    def _serve(self) -> None:
        while True:
            visit = self.citizens.next_visit()
            if self.queue_system:
                if self._stop.wait(max(0.0, visit.after_s - visit.service_s - visit.think_s)):
                    return
                self._tickets += 1
                item = self._items.choice(self.window.items) if self.window.items else None
                ticket = f"{self._ticket_prefix}-{self._tickets:04d}"
                self._command("start", ticket=ticket, item=item)
                if self._stop.wait(visit.service_s):
                    return
                self._command("end")
                if self._stop.wait(visit.think_s):
                    return
            elif self.console is None:
                if self._stop.wait(visit.after_s):
                    return
            else:
                # The citizen arrives; the staff serves them, between two console presses.
                if self._stop.wait(max(0.0, visit.after_s - visit.service_s - visit.think_s)):
                    return
                self._press(self.console, visit.hold_s)
                if self._stop.wait(visit.service_s):
                    return
                self._press(self.console, visit.hold_s)
                if self._stop.wait(visit.think_s):
                    return
            for again in range(visit.presses):
                if again and self._stop.wait(visit.gap_s):
                    return
                self._press(self.pins[visit.level], visit.hold_s)
                self.presses += 1

    def _command(self, event: str, *, ticket: str | None = None, item: str | None = None) -> None:
        # What the agent's link hands it when the queue system publishes on service/command.
        body: dict[str, object] = {"v": 1, "event": event}
        if ticket:
            body["ticket"] = ticket
        if item:
            body["item"] = item
        self.agent.events.put(ServiceCommandArrived(json.dumps(body).encode()))

    def _press(self, pin_name: str, hold_s: float) -> None:
        pin = self.factory.pin(pin_name)
        pin.drive_low()
        self._stop.wait(hold_s)
        pin.drive_high()


class SimulatedWindows:
    """The demo service of every simulated window."""

    name = "windows"

    def __init__(self, windows: list[DemoWindow], *, rate: float, seed: int | None) -> None:
        self.rate = rate
        self.windows = [
            SimulatedWindow(
                w,
                citizens=Citizens(_rng(seed, w.device), rate=rate, bad_day=w.bad_day),
                rng=_rng(seed, f"{w.device}:items"),
            )
            for w in windows
        ]

    def start(self) -> None:
        """Start every window's agent and citizens."""
        for window in self.windows:
            window.start()

    def stop(self) -> None:
        """Stop every window; the citizens first, everywhere, so no press is half-made."""
        for window in self.windows:
            window.close_doors()
        for window in self.windows:
            window.stop()

    def progress(self) -> str:
        """How many windows' agents are connected to the broker."""
        connected = sum(w.agent.link.connected for w in self.windows)
        return f"{connected} of {len(self.windows)} windows connected"

    def lines(self) -> list[str]:
        """What to print about the windows when the demo starts."""
        devices = ", ".join(w.window.device for w in self.windows)
        return [
            f"windows: {len(self.windows)} simulated ({devices}), ~{self.rate:g} presses/min each"
        ]


def _rng(seed: int | None, device: str) -> random.Random:
    # A string seed is hashed with SHA-512, so it gives the same stream on every run.
    return random.Random(f"{seed}:{device}") if seed is not None else random.Random()
