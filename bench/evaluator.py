"""A window evaluator's local feedback: press → durable in the outbox, press → "thank you" light.

One real device agent runs on gpiozero mock pins, connected to a Mosquitto
and a ``hallrate hub`` in its own process, so every press is also sent the
moment it is stored, as in a hall. For each press the bench notes:

* **press → durable**: when the outbox's ``add`` returned, i.e. the vote is
  committed with ``synchronous=FULL`` in WAL mode (the agent's own method,
  timed by wrapping it on this one instance);
* **press → thank you**: when the status light's mock pin went high (a pin
  class that stamps each change with ``time.perf_counter``).

The press is the mock button pin driven low. The agent's clock is moved
forward between presses, so each press opens a fresh moment (past the
cooldown, the thank-you light already off) without waiting in real time.

The outbox lives in the system's temporary folder; put ``TMPDIR`` on the
device's real storage to measure that. The last line is ``key=value`` pairs.
Run: ``.venv/bin/python bench/evaluator.py [--presses 500]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import write_hall
from device_agent.agent import Agent
from device_agent.config import load_agent_config
from hallrate.broker import MosquittoBroker, wait_for_port

HUB = [sys.executable, "-m", "hallrate.cli", "--log-level", "WARNING", "hub"]
BUTTON = 17
LED = 25


class TimedMockPin(MockPin):
    """A mock pin that notes when it went high, on the benchmark's clock."""

    def __init__(self, factory: Any, info: Any) -> None:
        super().__init__(factory, info)
        self.went_high: list[float] = []
        self.high = threading.Event()

    def _change_state(self, value: bool) -> bool:
        changed = super()._change_state(value)
        if changed and value:
            self.went_high.append(time.perf_counter())
            self.high.set()
        elif changed:
            self.high.clear()
        return changed


class SteppedClock:
    """The agent's monotonic clock, which the bench moves past timeouts."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def agent_config(path: Path, hall: str, port: int) -> Path:
    path.write_text(
        f'[device]\nid = "w01-eval"\nhall = "{hall}"\nwindow = "w01"\n\n'
        f"[broker]\nport = {port}\n\n"
        '[outbox]\npath = "outbox.sqlite"\n\n'
        f'[evaluator]\ndebounce_ms = 50\nthank_you_pin = "GPIO{LED}"\n\n'
        f"[evaluator.keys]\nGPIO{BUTTON} = 5\n\n"
        '[session]\ncooldown_s = 3\nout_of_service = "unsolicited"\n'
    )
    return path


def measure(agent: Agent, factory: MockFactory, clock: SteppedClock, presses: int) -> dict:
    durable: list[float] = []
    add = agent.outbox.add

    def timed_add(*args: Any, **kwargs: Any) -> Any:
        envelope = add(*args, **kwargs)
        durable.append(time.perf_counter())
        return envelope

    agent.outbox.add = timed_add  # type: ignore[method-assign]
    button = factory.pin(BUTTON)
    light: TimedMockPin = factory.pin(LED)  # type: ignore[assignment]
    to_durable: list[float] = []
    to_thanks: list[float] = []
    for _ in range(presses):
        clock.offset += 10  # past the cooldown and the last thank-you
        agent.events.put(None)  # a turn of the loop puts the light out
        wait(lambda: not light.high.is_set(), "the light to go out")
        before = len(durable)
        pressed = time.perf_counter()
        button.drive_low()
        if not light.high.wait(5):
            raise RuntimeError("no thank-you light within 5 s")
        thanked = light.went_high[-1]
        button.drive_high()
        wait(lambda n=before: len(durable) > n, "the outbox write")
        to_durable.append(durable[before] - pressed)
        to_thanks.append(thanked - pressed)
    return {"durable": to_durable, "thanks": to_thanks}


def wait(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.0005)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=500)
    args = parser.parse_args(argv)
    hall = "benchevl"
    with tempfile.TemporaryDirectory(prefix="hallrate-bench-") as tmp:
        work = Path(tmp)
        with MosquittoBroker(work / "broker") as broker:
            hub_config = write_hall(work / "hub", hall, broker.port)
            hub = subprocess.Popen(
                [*HUB, "--config", str(hub_config)],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert hub.stdout is not None
                api_port = int(hub.stdout.readline().split()[-1].rsplit(":", 1)[1])
                wait_for_port("127.0.0.1", api_port)
                clock = SteppedClock()
                factory = MockFactory(pin_class=TimedMockPin)
                config = load_agent_config(agent_config(work / "agent.toml", hall, broker.port))
                agent = Agent(config, pin_factory=factory, clock=clock)
                thread = threading.Thread(target=agent.run, daemon=True)
                thread.start()
                wait(lambda: agent.link.connected, "the agent to connect", timeout=15)
                figures = measure(agent, factory, clock, args.presses)
                wait(lambda: agent.outbox.depth == 0, "the hub's receipts", timeout=30)
                agent.stop()
                thread.join(timeout=10)
            finally:
                hub.terminate()
                hub.wait(timeout=20)
    durable = [1000 * s for s in figures["durable"]]
    thanks = [1000 * s for s in figures["thanks"]]
    print(
        f"presses={args.presses} "
        f"durable_p50_ms={percentile(durable, 0.5):.2f} "
        f"durable_p99_ms={percentile(durable, 0.99):.2f} "
        f"thanks_p50_ms={percentile(thanks, 0.5):.2f} "
        f"thanks_p99_ms={percentile(thanks, 0.99):.2f} "
        f"outbox={tempfile.gettempdir()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
