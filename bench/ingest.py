"""Hub ingest throughput against a bare paho subscriber, on the same broker and machine.

Method: for each consumer, N QoS 1 votes are queued in Mosquitto for the
consumer's offline persistent session; the consumer then connects and the
bench measures how fast it drains the backlog. That measures the consumer
alone, whatever the publisher's speed.

- bare: a paho subscriber (MQTT 5, automatic acks) that only counts messages.
- hub: ``hallrate hub`` in its own process, with full durability: every vote
  validated, committed (WAL, synchronous=FULL), then acknowledged, then
  receipted. Its rate is measured to the last receipt, seen by a listener.

The last line is ``key=value`` pairs. Run: ``.venv/bin/python bench/ingest.py``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import DEVICES, publish_votes, query, write_hall
from hallrate.broker import MosquittoBroker, wait_for_port


def _session(client_id: str, port: int) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    return client


def bare_subscriber(port: int, topic: str, count: int, ready: object, result: object) -> None:
    """Child process: drain ``count`` queued messages, put the rate on ``result``."""
    received = 0
    first = last = 0.0
    done = threading.Event()

    def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        nonlocal received, first, last
        received += 1
        now = time.perf_counter()
        if received == 1:
            first = now
        last = now
        if received >= count:
            done.set()

    client = _session("bench-bare", port)
    client.on_message = on_message
    client.subscribe(topic, qos=1)
    client.loop_start()
    time.sleep(0.5)
    client.loop_stop()
    client.disconnect()
    ready.put("subscribed")  # type: ignore[attr-defined]
    ready.get()  # type: ignore[attr-defined]  # wait: the backlog is queued
    client = _session("bench-bare", port)
    client.on_message = on_message
    client.loop_start()
    done.wait(timeout=120)
    client.loop_stop()
    client.disconnect()
    result.put((received, count / (last - first) if last > first else 0.0))  # type: ignore[attr-defined]


def run_bare(broker: MosquittoBroker, hall: str, count: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    ready, back, result = ctx.Queue(), ctx.Queue(), ctx.Queue()
    topic = f"hallrate/{hall}/device/+/vote"
    proc = ctx.Process(target=bare_subscriber, args=(broker.port, topic, count, back, result))
    proc.start()
    back_msg = back.get(timeout=30)
    assert back_msg == "subscribed"
    publish_votes(broker.port, hall, count)
    back.put("go")
    received, rate = result.get(timeout=180)
    proc.join(timeout=10)
    if received != count:
        raise RuntimeError(f"bare subscriber got {received} of {count}")
    del ready
    return rate


class ReceiptCounter:
    """Counts receipted ids on every device's receipt topic, and when the last came."""

    def __init__(self, port: int, hall: str) -> None:
        self.ids: set[str] = set()
        self.last = 0.0
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-receipts", protocol=paho.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"hallrate/{hall}/device/+/receipt", qos=1)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        import json

        body = json.loads(msg.payload)
        if body["status"] == "stored":
            self.ids.update(body["ids"])
            self.last = time.time()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def run_hub(
    broker: MosquittoBroker, workdir: Path, hall: str, count: int, *, ingest: str = ""
) -> tuple[float, int, float]:
    config = write_hall(workdir, hall, broker.port, extra=ingest)
    database = workdir / "hub.sqlite"
    cmd = [
        sys.executable,
        "-m",
        "hallrate.cli",
        "--log-level",
        "WARNING",
        "hub",
        "--config",
        str(config),
    ]
    # First run: create the hub's persistent session and subscriptions, then stop.
    hub = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert hub.stdout is not None
    api = hub.stdout.readline().split()[-1]
    wait_for_port("127.0.0.1", int(api.rsplit(":", 1)[1]))
    time.sleep(1.0)
    hub.terminate()
    hub.wait(timeout=20)
    publish_votes(broker.port, hall, count)
    receipts = ReceiptCounter(broker.port, hall)
    hub = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    # The hub's CPU from its first receipt to its last: what ingest costs, whatever
    # else the machine runs meanwhile (start-up and the first receipt's votes left out).
    first_cpu, first_ids = None, 0
    try:
        deadline = time.monotonic() + 180
        while len(receipts.ids) < count and time.monotonic() < deadline:
            if first_cpu is None and receipts.ids:
                first_cpu, first_ids = cpu_s(hub.pid), len(receipts.ids)
            time.sleep(0.05)
        last_cpu = cpu_s(hub.pid)
    finally:
        hub.terminate()
        hub.wait(timeout=20)
        receipts.close()
    stored = query(database, "SELECT count(*) FROM votes")[0][0]
    if stored != count or len(receipts.ids) != count:
        raise RuntimeError(f"hub stored {stored}, receipted {len(receipts.ids)} of {count}")
    # From the first vote's arrival at the hub to the last receipt: process start-up
    # is left out, as it is for the bare subscriber.
    first = datetime.fromisoformat(
        query(database, "SELECT min(received_at) FROM votes_readable")[0][0]
    )
    cpu_us = (last_cpu - (first_cpu or 0.0)) / max(1, count - first_ids) * 1e6
    return count / (receipts.last - first.timestamp()), stored, cpu_us


def cpu_s(pid: int) -> float:
    """CPU seconds (user and system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=30_000)
    parser.add_argument("--batch-max", type=int, default=None, help="the hub's ingest.batch_max")
    parser.add_argument("--batch-ms", type=int, default=None, help="the hub's ingest.batch_ms")
    parser.add_argument(
        "--receive-maximum", type=int, default=None, help="the hub's ingest.receive_maximum"
    )
    args = parser.parse_args(argv)
    ingest = "[ingest]\n" + "".join(
        f"{key} = {value}\n"
        for key, value in (
            ("batch_max", args.batch_max),
            ("batch_ms", args.batch_ms),
            ("receive_maximum", args.receive_maximum),
        )
        if value is not None
    )
    with tempfile.TemporaryDirectory(prefix="hallrate-bench-") as tmp:
        work = Path(tmp)
        with MosquittoBroker(work / "broker", max_queued_messages=args.votes * 2) as broker:
            bare = run_bare(broker, "benchbare", args.votes)
            print(f"bare paho subscriber: {bare:,.0f} msgs/s ({args.votes} queued QoS 1)")
            hub, stored, cpu_us = run_hub(
                broker, work / "hub", "benchhub", args.votes, ingest=ingest
            )
            print(
                f"hub (validate, commit FULL, ack, receipt): {hub:,.0f} votes/s, "
                f"{stored} stored once each, {len(DEVICES)} devices, "
                f"{cpu_us:.0f} µs of the hub's CPU per vote"
            )
    print(
        f"hub_votes_per_s={hub:.0f} bare_msgs_per_s={bare:.0f} ratio={hub / bare:.2f} "
        f"votes={args.votes} hub_cpu_us_per_vote={cpu_us:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
