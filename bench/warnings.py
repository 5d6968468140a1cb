"""What counts and warnings cost the hub, and how soon a warning is raised and forwarded.

1. Ingest rate with counting on and off. As in ``bench/ingest.py``, N votes
   are queued in Mosquitto for the hub's offline persistent session, then
   ``hallrate hub`` starts and drains them: validate, commit (WAL,
   synchronous=FULL), acknowledge, receipt. "on" also updates the counts
   and reviews the warnings in each commit (the default); "off" is the same
   hub with ``[warnings] enabled = false``. The votes name 200 staff members,
   40 % dissatisfied, so every staff member crosses every monthly and some
   yearly thresholds during the run: the warning engine really works.
2. Warning latency. A running hub (counting on, forwarding over MQTT) gets
   votes at a steady rate until each of 200 staff members reaches level III.
   For each warning: from the hub's receipt of the vote that reached the
   threshold to the warning row (``raised_at``: same transaction, so this is
   the batching delay), and from that vote's publication by the device to
   the warning event arriving on ``{base}/hub/warning`` (what central sees,
   through the forwarding outbox).

The last line is ``key=value`` pairs. Run: ``.venv/bin/python bench/warnings.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import ReceiptCounter
from bench.load import query
from device_agent.protocol import Vote, encode, envelope_id, format_time
from hallrate.broker import MosquittoBroker, wait_for_port

WINDOWS = 20
STAFF = 200


def write_hall(workdir: Path, hall: str, port: int, *, extra: str = "") -> Path:
    """A hall of 20 windows and 200 staff members; returns the hub config path."""
    workdir.mkdir(parents=True, exist_ok=True)
    lines = [f'[hall]\nid = "{hall}"\n', '[[departments]]\nid = "d1"\nname = "dept"\n']
    for n in range(1, WINDOWS + 1):
        lines.append(f'[[windows]]\nid = "w{n:02d}"\nname = "{n}"\ndepartment = "d1"\n')
        lines.append(
            f'[[devices]]\nid = "w{n:02d}-eval"\nkind = "evaluator"\nwindow = "w{n:02d}"\n'
        )
    for n in range(1, STAFF + 1):
        lines.append(f'[[staff]]\nid = "s{n:03d}"\nname = "staff {n}"\ndepartment = "d1"\n')
    (workdir / "directory.toml").write_text("\n".join(lines))
    config = workdir / "hub.toml"
    config.write_text(
        f'[hub]\nhall = "{hall}"\ndatabase = "hub.sqlite"\ndirectory = "directory.toml"\n'
        f"[broker]\nport = {port}\n[api]\nport = 0\n" + extra
    )
    return config


def vote_payload(i: int, level: int, staff: int) -> tuple[str, str, bytes]:
    """Vote number ``i`` (level, staff member) as (topic device, id, payload)."""
    window = 1 + staff % WINDOWS
    device = f"w{window:02d}-eval"
    seq = 1 + i
    now = format_time(datetime.now(UTC).astimezone())
    vote = Vote(
        id=envelope_id(device, seq, epoch="bench001"),
        seq=seq,
        ts=now,
        device=device,
        channel="window",
        window=f"w{window:02d}",
        staff=f"s{1 + staff:03d}",
        level=level,
    )
    return device, vote.id, encode(vote, sent=now)


def publisher(port: int, client_id: str) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def hub_command(config: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hallrate.cli",
        "--log-level",
        "WARNING",
        "hub",
        "--config",
        str(config),
    ]


def start_hub(config: Path) -> subprocess.Popen[str]:
    hub = subprocess.Popen(hub_command(config), stdout=subprocess.PIPE, text=True)
    assert hub.stdout is not None
    api = hub.stdout.readline().split()[-1]
    wait_for_port("127.0.0.1", int(api.rsplit(":", 1)[1]))
    return hub


def stop(hub: subprocess.Popen[str]) -> None:
    hub.terminate()
    hub.wait(timeout=30)


def ingest_rate(broker: MosquittoBroker, workdir: Path, hall: str, count: int, extra: str) -> float:
    """Votes per second drained from a backlog of ``count`` by ``hallrate hub``."""
    config = write_hall(workdir, hall, broker.port, extra=extra)
    hub = start_hub(config)  # creates the persistent session and its subscriptions
    time.sleep(1.0)
    stop(hub)
    client = publisher(broker.port, f"{hall}-pub")
    infos = []
    for i in range(count):
        device, _, payload = vote_payload(i // WINDOWS, 1 + i % 5, i % STAFF)
        infos.append(client.publish(f"hallrate/{hall}/device/{device}/vote", payload, qos=1))
    for info in infos:
        info.wait_for_publish(timeout=60)
    client.disconnect()
    client.loop_stop()
    receipts = ReceiptCounter(broker.port, hall)
    hub = subprocess.Popen(hub_command(config), stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while len(receipts.ids) < count and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        hub.terminate()
        hub.wait(timeout=30)
        receipts.close()
    database = workdir / "hub.sqlite"
    stored = query(database, "SELECT count(*) FROM votes")[0][0]
    if stored != count:
        raise RuntimeError(f"hub stored {stored} of {count}")
    first = datetime.fromisoformat(
        query(database, "SELECT min(received_at) FROM votes_readable")[0][0]
    )
    return count / (receipts.last - first.timestamp())


class WarningWatcher:
    """Records when each warning event arrives on the hall's ``hub/warning`` topic."""

    def __init__(self, port: int, hall: str) -> None:
        self.arrived: dict[str, float] = {}
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{hall}-watch", protocol=paho.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"hallrate/{hall}/hub/warning", qos=1)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        if body["event"]["name"] == "raised":
            self.arrived.setdefault(body["id"], time.time())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def warning_latency(broker: MosquittoBroker, workdir: Path, hall: str, rate: float) -> dict:
    """Per warning: receipt of the threshold vote -> raised, publication -> forwarded."""
    extra = "[forwarding]\nmqtt = true\nretry_min_s = 30\npoll_s = 0.05\n"
    config = write_hall(workdir, hall, broker.port, extra=extra)
    watcher = WarningWatcher(broker.port, hall)
    hub = start_hub(config)
    time.sleep(1.0)
    client = publisher(broker.port, f"{hall}-pub")
    published: dict[str, float] = {}
    lock = threading.Lock()
    interval = 1 / rate
    start = time.monotonic()
    try:
        for i in range(10 * STAFF):  # each staff member's 10th vote reaches level III
            device, ident, payload = vote_payload(i, 1 + i % 2, i % STAFF)
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with lock:
                published[ident] = time.time()
            client.publish(f"hallrate/{hall}/device/{device}/vote", payload, qos=1)
        deadline = time.monotonic() + 60
        while len(watcher.arrived) < STAFF and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
        stop(hub)
        watcher.close()
    rows = query(
        workdir / "hub.sqlite",
        "SELECT w.id, w.raised_at, v.received_at, w.trigger_vote FROM warnings w"
        " JOIN votes_readable v ON v.id = w.trigger_vote"
        " WHERE w.level = 'III' AND w.grain = 'month'",
    )
    raised = [
        (datetime.fromisoformat(r[1]) - datetime.fromisoformat(r[2])).total_seconds() * 1000
        for r in rows
    ]
    forwarded = [
        (watcher.arrived[r[0]] - published[r[3]]) * 1000 for r in rows if r[0] in watcher.arrived
    ]
    return {"warnings": len(rows), "raised_ms": raised, "forwarded_ms": forwarded}


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=30_000)
    parser.add_argument("--rate", type=float, default=500.0, help="votes/s in the latency run")
    parser.add_argument("--rounds", type=int, default=3, help="off/on runs (medians reported)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hallrate-bench-") as tmp:
        work = Path(tmp)
        with MosquittoBroker(work / "broker", max_queued_messages=args.votes * 2) as broker:
            # Alternate the two, so a machine busy with something else hurts both alike.
            rates: dict[str, list[float]] = {"off": [], "on": []}
            for n in range(args.rounds):
                for mode, extra in (("off", "[warnings]\nenabled = false\n"), ("on", "")):
                    rate = ingest_rate(
                        broker, work / f"{mode}{n}", f"b{mode}{n}", args.votes, extra
                    )
                    rates[mode].append(rate)
                    print(f"ingest, counting {mode}: {rate:,.0f} votes/s ({args.votes} queued)")
            warnings = query(work / "on0" / "hub.sqlite", "SELECT count(*) FROM warnings")[0][0]
            print(f"(counting on raised {warnings} warnings in each run)")
            off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
            latency = warning_latency(broker, work / "latency", "benchlat", args.rate)
    raised, forwarded = latency["raised_ms"], latency["forwarded_ms"]
    print(
        f"warning raised after its threshold vote reached the hub: p50 {p(raised, 50):.1f} ms,"
        f" p99 {p(raised, 99):.1f} ms, max {max(raised):.1f} ms ({len(raised)} warnings)"
    )
    print(
        f"warning event on hub/warning after the device published the vote: p50"
        f" {p(forwarded, 50):.1f} ms, p99 {p(forwarded, 99):.1f} ms, max {max(forwarded):.1f} ms"
    )
    print(
        f"on_votes_per_s={on:.0f} off_votes_per_s={off:.0f} ratio={on / off:.2f}"
        f" raised_p99_ms={p(raised, 99):.1f} forwarded_p99_ms={p(forwarded, 99):.1f}"
        f" warnings={len(raised)} votes={args.votes}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
