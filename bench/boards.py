"""Vote → frame on the serial line of an LED board, p50/p99, and a burst's frame count.

``hallrate hub`` runs in its own process with one serial board: the strip
above window 1 (16×2, page ``window_today``), whose controller is the fake of
``tests/ledcontroller.py`` on a pty. A publisher casts votes at window 1 and
notes when; the controller notes when the page counting each vote has arrived
whole on the line. Publish → frame includes the hub's ingest (the broker hop
and a commit batch of up to ``batch_ms`` = 20 ms), so it bounds vote stored →
frame from above. A listener also notes each vote's receipt, which the hub
sends right after its commit, for comparison. Two runs:

* **single votes**, slower than the coalescing interval: the latency a
  citizen watching the strip sees;
* **a burst** of votes as fast as the broker takes them: how many frames it
  makes (coalescing: at most one per interval) and how late the last one is.

A pty has no baud rate: on a real 9600-baud line add the frame's own
transmission time (this page is about 60 bytes, ~60 ms). The last line is
``key=value`` pairs. Run: ``.venv/bin/python bench/boards.py [--interval 0.25]``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import EPOCH, vote_payload, write_hall
from device_agent.protocol import envelope_id
from hallrate.broker import MosquittoBroker, wait_for_port
from tests.ledcontroller import FakeController

HALL = "benchboards"
DEVICE = "w01-eval"
COUNT = re.compile(r"(\d+)人次")


def board_toml(link: Path, interval_s: float) -> str:
    return f"""
[[boards]]
id = "strip-w01"
kind = "window"
window = "w01"
columns = 16
lines = 2
driver = "serial"
interval_s = {interval_s}
pages = [{{ page = "window_today", hold_s = 3600 }}]

[boards.serial]
url = "{link}"
baudrate = 9600
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Watch:
    """When each vote was receipted, and when the strip first counted it."""

    def __init__(self, controller: FakeController) -> None:
        self.controller = controller
        self.receipted: dict[int, float] = {}
        self.lock = threading.Lock()

    def on_receipt(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        now = time.monotonic()  # the controller's clock too
        with self.lock:
            for ident in orjson.loads(msg.payload)["ids"]:
                self.receipted.setdefault(int(ident.rsplit("-", 1)[1]), now)

    def counted(self) -> list[tuple[int, float]]:
        """(votes counted on the page, arrival time) for every page on the line."""
        found = []
        for page in self.controller.shown():
            match = COUNT.search(page.text[0])
            if match:
                found.append((int(match[1]), page.at))
        return found

    def frame_time(self, n: int) -> float | None:
        """When the first page counting at least ``n`` votes arrived."""
        return next((at for count, at in self.counted() if count >= n), None)


def wait(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=0.25, help="coalescing interval, s")
    parser.add_argument("--votes", type=int, default=60, help="single votes to time")
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between single votes")
    parser.add_argument("--burst", type=int, default=1000, help="votes in the burst")
    args = parser.parse_args(argv)
    if args.gap <= args.interval:
        parser.error("--gap must exceed --interval for single votes to stay single")

    with tempfile.TemporaryDirectory(prefix="hallrate-bench-") as tmp:
        work = Path(tmp)
        controller = FakeController(work / "ttyLED")
        watch = Watch(controller)
        with MosquittoBroker(work / "broker") as broker:
            config = write_hall(
                work / "hub", HALL, broker.port, extra=board_toml(controller.path, args.interval)
            )
            command = [sys.executable, "-m", "hallrate.cli", "--log-level", "WARNING", "hub"]
            hub = subprocess.Popen(
                [*command, "--config", str(config)],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert hub.stdout is not None
                api_port = int(hub.stdout.readline().split()[-1].rsplit(":", 1)[1])
                wait_for_port("127.0.0.1", api_port)
                listener = paho.Client(
                    CallbackAPIVersion.VERSION2, client_id="bench-boards-receipts"
                )
                listener.on_message = watch.on_receipt
                listener.connect("127.0.0.1", broker.port)
                listener.subscribe(f"hallrate/{HALL}/device/{DEVICE}/receipt", qos=1)
                listener.loop_start()
                publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-boards-pub")
                publisher.max_inflight_messages_set(1000)
                publisher.connect("127.0.0.1", broker.port)
                publisher.loop_start()
                topic = f"hallrate/{HALL}/device/{DEVICE}/vote"
                assert wait(watch.counted, 30), "the strip never showed its first page"

                # Single votes: each is shown on its own.
                time.sleep(args.gap)  # the first page is an update too
                published_at: dict[int, float] = {}
                for seq in range(1, args.votes + 1):
                    published_at[seq] = time.monotonic()
                    publisher.publish(topic, vote_payload(DEVICE, seq, 5), qos=1)
                    wait(lambda n=seq: watch.frame_time(n) is not None, 10)
                    time.sleep(args.gap)
                shown = {n: watch.frame_time(n) for n in published_at}
                single = [
                    (at - published_at[n]) * 1000 for n, at in shown.items() if at is not None
                ]
                receipts = [
                    (watch.receipted[n] - published_at[n]) * 1000
                    for n in published_at
                    if n in watch.receipted
                ]

                # A burst: as fast as the broker acknowledges.
                before = len(controller.shown())
                first = args.votes + 1
                last = args.votes + args.burst
                started = time.monotonic()
                infos = [
                    publisher.publish(topic, vote_payload(DEVICE, seq, 5), qos=1)
                    for seq in range(first, last + 1)
                ]
                for info in infos:
                    info.wait_for_publish(timeout=60)
                published = time.monotonic() - started
                wait(lambda: watch.frame_time(last) is not None and last in watch.receipted, 60)
                burst_frames = len(controller.shown()) - before
                stored_s = watch.receipted[last] - started
                shown_s = watch.frame_time(last) - started  # type: ignore[operator]

                publisher.loop_stop()
                listener.loop_stop()
            finally:
                hub.terminate()
                hub.wait(timeout=20)
        controller.close()
    ids = {envelope_id(DEVICE, n, epoch=EPOCH) for n in range(1, last + 1)}
    p50, p99 = statistics.median(single), percentile(single, 0.99)
    print(f"coalescing interval {args.interval * 1000:.0f} ms; serial link on a pty, acked")
    print(
        f"{len(single)} single votes, {args.gap} s apart: published -> frame on the line:"
        f" p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(single):.1f} ms"
        f" (published -> receipt: p50 {statistics.median(receipts):.1f} ms)"
    )
    print(
        f"burst of {args.burst} votes published in {published:.2f} s, the last receipted at"
        f" {stored_s:.2f} s and shown at {shown_s:.2f} s: {burst_frames} frames on the line"
    )
    print(
        f"interval_ms={args.interval * 1000:.0f} vote_to_frame_p50_ms={p50:.1f}"
        f" vote_to_frame_p99_ms={p99:.1f} burst_votes={args.burst} burst_frames={burst_frames}"
        f" burst_receipted_s={stored_s:.2f} burst_shown_s={shown_s:.2f} votes={len(ids)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
