"""Publish → stored-at-hub latency at a steady rate (default 1,000 votes/s).

A publisher sends votes from 20 devices at a steady rate to ``hallrate hub``
running in its own process; a listener on the devices' receipt topics notes
when each id is receipted. The hub publishes a receipt only after the commit
that stored the vote, so "publish → receipt" is an upper bound of "publish →
stored", including the receipt's own trip back.

The last line is ``key=value`` pairs. Run: ``.venv/bin/python bench/latency.py``.
"""

from __future__ import annotations

import argparse
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

from bench.load import DEVICES, EPOCH, query, vote_payload, write_hall
from device_agent.protocol import envelope_id
from hallrate.broker import MosquittoBroker, wait_for_port


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000, help="votes per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    total = int(args.rate * args.seconds)
    hall = "benchlat"
    published: dict[str, float] = {}
    receipted: dict[str, float] = {}
    lock = threading.Lock()

    def on_receipt(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        now = time.perf_counter()
        body = orjson.loads(msg.payload)
        with lock:
            for ident in body["ids"]:
                receipted.setdefault(ident, now)

    with tempfile.TemporaryDirectory(prefix="hallrate-bench-") as tmp:
        work = Path(tmp)
        with MosquittoBroker(work / "broker") as broker:
            config = write_hall(work / "hub", hall, broker.port)
            hub = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hallrate.cli",
                    "--log-level",
                    "WARNING",
                    "hub",
                    "--config",
                    str(config),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert hub.stdout is not None
            api_port = int(hub.stdout.readline().split()[-1].rsplit(":", 1)[1])
            wait_for_port("127.0.0.1", api_port)
            listener = paho.Client(
                CallbackAPIVersion.VERSION2, client_id="bench-lat-receipts", protocol=paho.MQTTv5
            )
            listener.on_message = on_receipt
            listener.connect("127.0.0.1", broker.port)
            listener.subscribe(f"hallrate/{hall}/device/+/receipt", qos=1)
            listener.loop_start()
            publisher = paho.Client(
                CallbackAPIVersion.VERSION2, client_id="bench-lat-pub", protocol=paho.MQTTv5
            )
            publisher.max_inflight_messages_set(1000)
            publisher.connect("127.0.0.1", broker.port)
            publisher.loop_start()
            time.sleep(1.0)  # let the hub subscribe
            start = time.perf_counter()
            for i in range(total):
                due = start + i / args.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                device = DEVICES[i % len(DEVICES)]
                seq = i // len(DEVICES) + 1
                ident = envelope_id(device, seq, epoch=EPOCH)
                payload = vote_payload(device, seq, 1 + i % 5)
                published[ident] = time.perf_counter()
                publisher.publish(f"hallrate/{hall}/device/{device}/vote", payload, qos=1)
            achieved = total / (time.perf_counter() - start)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with lock:
                    if len(receipted) >= total:
                        break
                time.sleep(0.05)
            publisher.loop_stop()
            listener.loop_stop()
            hub.terminate()
            hub.wait(timeout=20)
            stored = query(work / "hub" / "hub.sqlite", "SELECT count(*) FROM votes")[0][0]
    latencies = [(receipted[i] - published[i]) * 1000 for i in published if i in receipted]
    p50 = statistics.median(latencies)
    p99 = percentile(latencies, 0.99)
    worst = max(latencies)
    print(f"{total} votes at {achieved:,.0f}/s: {stored} stored, {len(latencies)} receipted")
    print(
        f"publish -> receipt (stored, committed FULL): p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"max {worst:.1f} ms"
    )
    print(
        f"latency_p50_ms={p50:.1f} latency_p99_ms={p99:.1f} latency_max_ms={worst:.1f} "
        f"rate={achieved:.0f} votes={total} stored={stored}"
    )
    return 0 if stored == total == len(latencies) else 1


if __name__ == "__main__":
    sys.exit(main())
