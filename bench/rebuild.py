"""Publish → receipt latency at 100 votes/s while ``hallrate hub rebuild`` runs.

1. Builds a hub database of N votes (default 300,000; a hall of 50 windows,
   150 staff, 12 months) through the hub's own store and counting code, or
   reuses the one ``--work`` kept from an earlier run.
2. Starts Mosquitto and ``hallrate hub`` on it, and publishes votes at a
   steady rate (default 100/s) from the hall's 50 evaluators; a listener on
   the receipt topics notes when each id is receipted (the hub receipts only
   after the commit that stored the vote).
3. Measures publish → receipt for ``--baseline`` seconds, then runs
   ``hallrate hub rebuild`` in its own process and measures the votes
   published while it runs.

The machine is shared: read the figures as rough. The last line is
``key=value`` pairs. Run: ``.venv/bin/python bench/rebuild.py [--votes N]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.latency import percentile
from bench.load import query
from device_agent.protocol import Vote, encode, envelope_id, format_time
from hallrate.broker import MosquittoBroker, wait_for_port
from hub.config import load_hub_config
from hub.counting import Counting
from hub.instants import ms_of
from hub.store import Batch, Store, StoredVote

HALL = "benchrebuild"
WINDOWS = 50
STAFF = 150
DEPARTMENTS = 5
BATCH = 1000
EPOCH = "bench001"
HUB = [sys.executable, "-m", "hallrate.cli"]


def write_hall(workdir: Path, port: int) -> Path:
    """A hall of 50 windows and 150 staff in 5 departments; returns the hub config path."""
    workdir.mkdir(parents=True, exist_ok=True)
    lines = [f'[hall]\nid = "{HALL}"\n']
    for d in range(1, DEPARTMENTS + 1):
        lines.append(f'[[departments]]\nid = "d{d}"\nname = "dept {d}"\n')
    for n in range(1, WINDOWS + 1):
        department = 1 + (n - 1) % DEPARTMENTS
        lines.append(f'[[windows]]\nid = "w{n:02d}"\nname = "{n}"\ndepartment = "d{department}"\n')
        lines.append(
            f'[[devices]]\nid = "w{n:02d}-eval"\nkind = "evaluator"\nwindow = "w{n:02d}"\n'
        )
    for n in range(1, STAFF + 1):
        department = 1 + (n - 1) % DEPARTMENTS
        lines.append(
            f'[[staff]]\nid = "s{n:03d}"\nname = "staff {n}"\ndepartment = "d{department}"\n'
        )
    (workdir / "directory.toml").write_text("\n".join(lines))
    config = workdir / "hub.toml"
    config.write_text(
        f'[hub]\nhall = "{HALL}"\ndatabase = "hub.sqlite"\ndirectory = "directory.toml"\n'
        f"[broker]\nport = {port}\n[api]\nport = 0\n"
    )
    return config


def vote(n: int, cast: datetime) -> Vote:
    """Vote number ``n`` of the hall: window, staff and level follow from ``n``."""
    window = 1 + n % WINDOWS
    device = f"w{window:02d}-eval"
    seq = 1 + n // WINDOWS
    level = (5, 5, 4, 4, 4, 3, 3, 2, 1, 5)[n % 10]
    return Vote(
        id=envelope_id(device, seq, epoch=EPOCH),
        seq=seq,
        ts=format_time(cast),
        device=device,
        channel="window",
        window=f"w{window:02d}",
        staff=f"s{1 + (n * 7) % STAFF:03d}",
        ticket=f"T{n}",
        level=level,
    )


def fill(config_path: Path, votes: int) -> float:
    """Store ``votes`` votes over the last 12 months through the hub's store; votes/s."""
    config = load_hub_config(config_path)
    counting = Counting(config)
    store = Store(config.database, counting=counting, rules=counting.rules)
    start = time.perf_counter()
    first = datetime.now(UTC) - timedelta(days=365)
    step = timedelta(days=360) / votes
    try:
        for offset in range(0, votes, BATCH):
            batch = []
            for n in range(offset, min(votes, offset + BATCH)):
                cast = ms_of(first + n * step)
                batch.append(StoredVote(vote(n, first + n * step), cast, cast, []))
            store.commit(Batch(votes=batch))
            if offset and offset % 100_000 == 0:
                print(f"  stored {offset:,} votes", file=sys.stderr, flush=True)
    finally:
        store.close()
    return votes / (time.perf_counter() - start)


def misjudge(database: Path, every: int) -> None:
    """Flip the verdict of every ``every``-th vote, leaving the counts as they were."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute(
            "UPDATE votes SET counted = 1 - counted,"
            " hub_rule = CASE WHEN counted = 1 THEN 'ticket_repeat' END"
            " WHERE rowid % ? = 0 AND filter_rule IS NULL",
            (every,),
        )
    finally:
        conn.close()


class Receipts:
    """Notes when each vote id is receipted by the hub."""

    def __init__(self, port: int) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-rebuild-receipts", protocol=paho.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"hallrate/{HALL}/device/+/receipt", qos=1)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        now = time.perf_counter()
        with self.lock:
            for ident in orjson.loads(msg.payload)["ids"]:
                self.at.setdefault(ident, now)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Publisher:
    """Publishes the hall's votes at a steady rate from a thread, noting when each went out."""

    def __init__(self, port: int, rate: float, first: int) -> None:
        self.sent: dict[str, float] = {}
        self.rate = rate
        self.next = first
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-rebuild-pub", protocol=paho.MQTTv5
        )
        self.client.max_inflight_messages_set(1000)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.perf_counter()
        i = 0
        while not self._stop.is_set():
            delay = start + i / self.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            item = vote(self.next, datetime.now(UTC))
            self.next += 1
            i += 1
            self.sent[item.id] = time.perf_counter()
            topic = f"hallrate/{HALL}/device/{item.device}/vote"
            self.client.publish(topic, encode(item, sent=item.ts), qos=1)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=10)
        self.client.loop_stop()
        self.client.disconnect()


def latencies(
    sent: dict[str, float], receipts: Receipts, since: float, until: float
) -> list[float]:
    """Publish → receipt in ms of the votes published between ``since`` and ``until``."""
    with receipts.lock:
        return [
            (receipts.at[i] - t) * 1000
            for i, t in sent.items()
            if since <= t < until and i in receipts.at
        ]


def summary(values: list[float]) -> str:
    if not values:
        return "no votes"
    return (
        f"p50 {statistics.median(values):.1f} ms, p99 {percentile(values, 0.99):.1f} ms,"
        f" max {max(values):.1f} ms ({len(values)} votes)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=300_000, help="votes in the database")
    parser.add_argument("--rate", type=float, default=100.0, help="votes per second published")
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds before the rebuild")
    parser.add_argument("--work", type=Path, help="keep (or reuse) the hall and database here")
    parser.add_argument(
        "--misjudge",
        type=int,
        default=0,
        metavar="EVERY",
        help="first mark every EVERY-th vote as judged wrongly (as a change of rules would"
        " leave it), so the rebuild moves verdicts and writes",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hallrate-bench-") as tmp:
        work = args.work or Path(tmp)
        with MosquittoBroker(Path(tmp) / "broker") as broker:
            config = write_hall(work / "hub", broker.port)
            database = work / "hub" / "hub.sqlite"
            stored = query(database, "SELECT count(*) FROM votes")[0][0] if database.exists() else 0
            if stored < args.votes:
                if stored:
                    raise SystemExit(f"{database} holds {stored} votes; use another --work")
                print(f"filling {args.votes:,} votes...", file=sys.stderr, flush=True)
                rate = fill(config, args.votes)
                print(f"filled at {rate:,.0f} votes/s", file=sys.stderr)
            stored = query(database, "SELECT count(*) FROM votes")[0][0]
            if args.misjudge:
                misjudge(database, args.misjudge)
            hub = subprocess.Popen(
                [*HUB, "--log-level", "WARNING", "hub", "--config", str(config)],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert hub.stdout is not None
            wait_for_port("127.0.0.1", int(hub.stdout.readline().split()[-1].rsplit(":", 1)[1]))
            receipts = Receipts(broker.port)
            publisher = Publisher(broker.port, args.rate, first=stored + 10_000_000)
            time.sleep(1.0)  # let the hub subscribe
            publisher.start()
            try:
                baseline_start = time.perf_counter()
                time.sleep(args.baseline)
                rebuild_start = time.perf_counter()
                rebuild = subprocess.run(
                    [*HUB, "hub", "rebuild", "--config", str(config)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                rebuild_end = time.perf_counter()
                time.sleep(2.0)  # the receipts of the last votes sent during the rebuild
            finally:
                publisher.stop()
                time.sleep(1.0)
                receipts.close()
                hub.terminate()
                hub.wait(timeout=30)
    before = latencies(publisher.sent, receipts, baseline_start, rebuild_start)
    during = latencies(publisher.sent, receipts, rebuild_start, rebuild_end)
    sent_during = sum(1 for t in publisher.sent.values() if rebuild_start <= t < rebuild_end)
    seconds = rebuild_end - rebuild_start
    print(f"database: {stored:,} votes; publishing {args.rate:.0f} votes/s")
    print(rebuild.stdout.rstrip())
    if rebuild.returncode != 0:
        print(rebuild.stderr.rstrip())
    print(f"publish -> receipt before the rebuild: {summary(before)}")
    print(f"publish -> receipt during the rebuild ({seconds:.1f} s): {summary(during)}")
    lost = sent_during - len(during)
    print(f"votes published during the rebuild and not receipted: {lost}")
    p99 = percentile(during, 0.99) if during else float("nan")
    print(
        f"votes={stored} rate={args.rate:.0f} rebuild_s={seconds:.1f}"
        f" before_p50_ms={statistics.median(before):.1f}"
        f" before_p99_ms={percentile(before, 0.99):.1f}"
        f" during_p50_ms={statistics.median(during):.1f} during_p99_ms={p99:.1f}"
        f" during_max_ms={max(during):.1f} unreceipted={lost}"
    )
    return 0 if rebuild.returncode == 0 and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
