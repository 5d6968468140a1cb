"""How the hub's cost grows with years of history: N votes against 100k, side by side.

A busy hall stores about 700,000 votes a year. This bench builds a hub
database of N votes (default 1M; ``--big``: 5M) through the hub's own code —
:class:`hub.store.Store` with :class:`hub.counting.Counting` and the hub's
rules, wired as ``hub/service.py`` wires them, committed in batches of 500 as
ingest commits them: 12 months of working days, 50 windows, 150 staff members
who sign in at their window each morning, a few % kiosk votes, some presses
the evaluators filtered, and enough dissatisfied votes that warnings stand.
It builds the same hall with 100k votes, then measures both:

- the hub's CPU idle, and at 1 vote/s with the sample hall's LED boards
  (a real ``hallrate hub`` on a copy of the database, votes through a real
  Mosquitto; CPU from ``/proc/<pid>/stat``);
- ``GET /api/v1/votes?since=`` (the last day) and filtered pages deep in the
  history (``window=``, ``staff=`` with ``after=``): p50/p95 over many requests;
- publish → receipt p50/p99 at 100 votes/s while ``hallrate hub rebuild``
  recounts the database in another process;
- bytes per vote: the file after a checkpoint, and each index of the votes
  table from SQLite's ``dbstat`` table.

Built databases are cached in ``--cache`` (default ``data/bench-years``), keyed
by the number of votes, this bench's format and the hub's schema version, so a
rerun measures at once. Progress goes to stderr; the figures to stdout, in a
table with the ratio N / 100k, and a last line of ``key=value`` pairs.

Run: ``.venv/bin/python bench/years.py [--votes N | --big] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.idle import usage  # noqa: E402
from device_agent.protocol import (  # noqa: E402
    ServiceEvent,
    Vote,
    VoteFilter,
    encode,
    envelope_id,
    format_time,
)
from device_agent.session import ONE_PER_SERVICE, RULES  # noqa: E402
from hallrate.broker import MosquittoBroker, wait_for_port  # noqa: E402
from hub.config import load_hub_config  # noqa: E402
from hub.counting import Counting  # noqa: E402
from hub.instants import ms_of  # noqa: E402
from hub.store import Batch, Store, StoredEvent, StoredVote  # noqa: E402

# What the generated history looks like; bump FORMAT whenever it changes, so
# cached databases of the old shape are not reused.
FORMAT = 2
HALL = "years"
ZONE = ZoneInfo("Asia/Shanghai")
WINDOWS = 50
STAFF = 150  # three per window, one of them on duty each day
KIOSKS = 2
DEPARTMENTS = ("civil", "hrss", "market", "estate", "police", "tax")
MONTHS = 12
BATCH = 500  # votes per commit: the hub's default batch_max
KIOSK_SHARE = 0.03
FILTERED_SHARE = 0.01  # presses the evaluator itself filtered (one rating per service)
BASE_VOTES = 100_000
EPOCH = "hist0001"
SAMPLE_HUB = ROOT / "firmware_config" / "sample-hall" / "hub.toml"
SAMPLE_AGENT = SAMPLE_HUB.with_name("agent-w01.toml")


def log(message: str) -> None:
    print(f"[years {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# The hall: 50 windows in six departments, 150 staff, an evaluator per window, 2 kiosks.


def window_id(n: int) -> str:
    return f"w{n:02d}"


def staff_id(n: int) -> str:
    return f"s{n:03d}"


def department_of(window: int) -> str:
    return DEPARTMENTS[(window - 1) * len(DEPARTMENTS) // WINDOWS]


def on_duty(window: int, day: int) -> str:
    """Who signs in at ``window`` on day number ``day``: its three staff take turns."""
    return staff_id(3 * (window - 1) + day % 3 + 1)


def directory_text() -> str:
    """The hall's directory (TOML)."""
    lines = [f'[hall]\nid = "{HALL}"\nname = "多年大厅"\n']
    lines += [f'[[departments]]\nid = "{d}"\nname = "{d}"\n' for d in DEPARTMENTS]
    for w in range(1, WINDOWS + 1):
        lines.append(
            f'[[windows]]\nid = "{window_id(w)}"\nname = "{w}号窗口"\n'
            f'department = "{department_of(w)}"\n'
        )
        lines.append(
            f'[[devices]]\nid = "{window_id(w)}-eval"\nkind = "evaluator"\n'
            f'window = "{window_id(w)}"\n'
        )
        for k in range(3):
            n = 3 * (w - 1) + k + 1
            lines.append(
                f'[[staff]]\nid = "{staff_id(n)}"\nname = "职员{n}"\n'
                f'department = "{department_of(w)}"\nwindow = "{window_id(w)}"\n'
            )
    lines += [f'[[devices]]\nid = "kiosk-{k:02d}"\nkind = "kiosk"\n' for k in range(1, KIOSKS + 1)]
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_table(header: str, table: dict[str, Any]) -> str:
    """One table (``[x]`` or ``[[x]]``) with its sub-tables after it."""
    lines = [header]
    subtables = []
    for key, value in table.items():
        if isinstance(value, dict):
            name = header.strip("[]")
            subtables.append(_toml_table(f"[{name}.{key}]", value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join([*lines, *subtables]) + "\n"


def sample_boards() -> str:
    """The sample hall's ``[[boards]]`` tables, written again as TOML."""
    boards = tomllib.loads(SAMPLE_HUB.read_text(encoding="utf-8")).get("boards", [])
    return "\n".join(_toml_table("[[boards]]", board) for board in boards)


def write_agent(folder: Path, *, port: int) -> Path:
    """The sample hall's window-1 agent, for this hall and a plain loopback broker."""
    agent = tomllib.loads(SAMPLE_AGENT.read_text(encoding="utf-8"))
    agent["device"].update(hall=HALL, staff=on_duty(1, 0))
    for secret in ("username", "password_file", "tls", "ca_file", "tls_version"):
        agent["broker"].pop(secret, None)
    agent["broker"].update(host="127.0.0.1", port=port)
    agent["outbox"]["path"] = str(folder / "outbox.sqlite")
    config = folder / "agent-w01.toml"
    config.write_text("\n".join(_toml_table(f"[{k}]", v) for k, v in agent.items()))
    return config


def write_hall(
    folder: Path, *, port: int = 1883, database: str = "hub.sqlite", client_id: str = "hub-years"
) -> Path:
    """The hall's directory and hub config (with the sample hall's boards); returns the config.

    Each database measured gets a hub ``client_id`` of its own: the hub's persistent
    session on the broker must not carry messages from one measurement to the next.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "directory.toml").write_text(directory_text(), encoding="utf-8")
    config = folder / "hub.toml"
    config.write_text(
        f'[hub]\nhall = "{HALL}"\ndatabase = "{database}"\ndirectory = "directory.toml"\n'
        f'client_id = "{client_id}"\n\n'
        f'[broker]\nhost = "127.0.0.1"\nport = {port}\nreconnect_max_s = 2\n\n'
        "[api]\nport = 0\n\n" + sample_boards() + "\n",
        encoding="utf-8",
    )
    return config


# The history: N votes over 12 months of working days, as ingest would hand them over.


@dataclass
class History:
    """Generates a hall's votes and sign-ins in arrival order, in ingest-sized batches."""

    votes: int
    end: date  # the history ends the day before
    seed: int = 12
    seqs: dict[str, int] = field(default_factory=dict)

    def working_days(self) -> list[date]:
        first = self.end - timedelta(days=round(MONTHS * 365 / 12))
        days = (first + timedelta(days=i) for i in range((self.end - first).days))
        return [d for d in days if d.weekday() < 5]

    def _seq(self, device: str) -> int:
        self.seqs[device] = self.seqs.get(device, 0) + 1
        return self.seqs[device]

    def batches(self) -> Iterator[Batch]:
        rng = random.Random(self.seed)
        days = self.working_days()
        # Some staff are much less liked than others: 1 % to 7 % dissatisfied (4 % overall).
        unhappy = {staff_id(n): 0.01 + 0.06 * ((n * 37) % 11) / 10 for n in range(1, STAFF + 1)}
        batch = Batch()
        made = 0
        for number, day in enumerate(days):
            today = round(self.votes * (number + 1) / len(days)) - made
            made += today
            opens = datetime(day.year, day.month, day.day, 8, 30, tzinfo=ZONE)
            for w in range(1, WINDOWS + 1):
                batch.events.append(self._event(w, number, "sign_in", opens - timedelta(minutes=5)))
            last_ticket: dict[int, str] = {}
            offsets = sorted(rng.random() * 9 * 3600 for _ in range(today))
            for k, offset in enumerate(offsets):
                cast = opens + timedelta(seconds=offset)
                w = rng.randint(1, WINDOWS)
                staff = on_duty(w, number)
                level = _level(rng, unhappy[staff])
                if rng.random() < KIOSK_SHARE:
                    vote = self._kiosk_vote(rng, cast, staff, level)
                elif w in last_ticket and rng.random() < FILTERED_SHARE:
                    vote = self._window_vote(w, cast, staff, level, last_ticket[w], filtered=True)
                else:
                    last_ticket[w] = f"A{k:05d}"
                    vote = self._window_vote(w, cast, staff, level, last_ticket[w])
                received = cast.astimezone(UTC) + timedelta(milliseconds=250)
                batch.votes.append(StoredVote(vote, ms_of(cast), ms_of(received), []))
                if len(batch.votes) >= BATCH:
                    yield batch
                    batch = Batch()
            closes = opens + timedelta(hours=9, minutes=10)
            for w in range(1, WINDOWS + 1):
                batch.events.append(self._event(w, number, "sign_out", closes))
        if batch.votes or batch.events:
            yield batch

    def _event(self, window: int, day: int, kind: str, at: datetime) -> StoredEvent:
        device = f"{window_id(window)}-eval"
        seq = self._seq(device)
        event = ServiceEvent(
            id=envelope_id(device, seq, epoch=EPOCH),
            seq=seq,
            ts=format_time(at),
            device=device,
            event=kind,  # type: ignore[arg-type]
            window=window_id(window),
            staff=on_duty(window, day),
            sent=format_time(at),
        )
        cast = format_time(at.astimezone(UTC))
        return StoredEvent(event, cast, cast)

    def _window_vote(
        self,
        window: int,
        cast: datetime,
        staff: str,
        level: int,
        ticket: str,
        *,
        filtered: bool = False,
    ) -> Vote:
        device = f"{window_id(window)}-eval"
        seq = self._seq(device)
        return Vote(
            id=envelope_id(device, seq, epoch=EPOCH),
            seq=seq,
            ts=format_time(cast),
            sent=format_time(cast),
            device=device,
            channel="window",
            window=window_id(window),
            staff=staff,
            ticket=ticket,
            level=level,
            filter=VoteFilter(ONE_PER_SERVICE, RULES[ONE_PER_SERVICE]) if filtered else None,
        )

    def _kiosk_vote(self, rng: random.Random, cast: datetime, staff: str, level: int) -> Vote:
        device = f"kiosk-{rng.randint(1, KIOSKS):02d}"
        seq = self._seq(device)
        dims = {name: max(level, rng.choice((level, 5))) for name in ("attitude", "efficiency")}
        dims["style"] = level
        return Vote(
            id=envelope_id(device, seq, epoch=EPOCH),
            seq=seq,
            ts=format_time(cast),
            sent=format_time(cast),
            device=device,
            channel="kiosk",
            staff=staff,
            level=level,
            dims=dims,
            anonymous=rng.random() < 0.5,
        )


def _level(rng: random.Random, unhappy: float) -> int:
    """A level: dissatisfied (2 or 1) with probability ``unhappy``, else mostly 5 and 4."""
    if rng.random() < unhappy:
        return 2 if rng.random() < 0.65 else 1
    draw = rng.random()
    return 5 if draw < 0.62 else 4 if draw < 0.9 else 3


@dataclass
class Built:
    """A database of the hall with ``votes`` votes, and what building it cost."""

    path: Path
    votes: int
    seconds: float
    cached: bool
    end: date  # the history's votes were cast before this day

    @property
    def rate(self) -> float:
        return self.votes / self.seconds if self.seconds else 0.0


def schema_version() -> int:
    """The schema version the hub gives a new database (SQLite's ``user_version``)."""
    with tempfile.TemporaryDirectory(prefix="hallrate-years-") as tmp:
        store = Store(Path(tmp) / "empty.sqlite")
        try:
            return int(store.db.execute("PRAGMA user_version").fetchone()[0])
        finally:
            store.close()


def cache_key(votes: int) -> str:
    """The cache's name for a database: votes, this bench's format, the hub's schema version."""
    return f"hall-{votes}-f{FORMAT}-m{schema_version()}"


def build_database(path: Path, votes: int, *, end: date) -> float:
    """Fill a new hub database at ``path`` with ``votes`` votes; returns the seconds it took."""
    folder = path.parent / f"{path.stem}-hall"
    config = load_hub_config(write_hall(folder, database=str(path.resolve())))
    counting = Counting(config)
    # As hub/service.py wires them: the rules and the counting inside every commit.
    store = Store(
        config.database,
        counting=counting,
        rules=counting.rules,
        quarantine=config.quarantine,
    )
    history = History(votes, end)
    started = time.monotonic()
    done = 0
    last_report = started
    try:
        for batch in history.batches():
            store.commit(batch)
            done += len(batch.votes)
            if time.monotonic() - last_report > 10:
                last_report = time.monotonic()
                rate = done / (last_report - started)
                log(f"  built {done:,}/{votes:,} votes ({rate:,.0f}/s)")
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.close()
    shutil.rmtree(folder, ignore_errors=True)
    return time.monotonic() - started


def cached_database(cache: Path, votes: int) -> Built:
    """The database of ``votes`` votes from ``cache``, built there first if missing."""
    cache.mkdir(parents=True, exist_ok=True)
    key = cache_key(votes)
    path = cache / f"{key}.sqlite"
    meta = cache / f"{key}.json"
    if path.exists() and meta.exists():
        known = json.loads(meta.read_text())
        log(f"{votes:,} votes: cached in {path}")
        return Built(path, votes, known["seconds"], True, date.fromisoformat(known["end"]))
    partial = cache / f"{key}.partial.sqlite"
    for leftover in cache.glob(f"{key}.partial.sqlite*"):
        leftover.unlink()
    log(f"{votes:,} votes: building {path} through Store + Counting")
    end = datetime.now(ZONE).date()
    seconds = build_database(partial, votes, end=end)
    os.replace(partial, path)
    meta.write_text(json.dumps({"votes": votes, "seconds": seconds, "end": end.isoformat()}))
    log(f"{votes:,} votes: built in {seconds:,.0f} s ({votes / seconds:,.0f} votes/s)")
    return Built(path, votes, seconds, False, end)


# Sizes.


def sizes(path: Path, votes: int) -> dict[str, float]:
    """Bytes per vote: the whole file, the votes table's rows, and each of its indexes."""
    result = {"file": path.stat().st_size / votes}
    # Immutable: a cached database is never written again, and reading leaves no -wal beside it.
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE tbl_name = 'votes' AND type IN"
                " ('table', 'index') ORDER BY type DESC, name"
            )
        ]
        try:
            pages = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
        except sqlite3.OperationalError:  # SQLite built without the dbstat table
            return result
    finally:
        conn.close()
    for name in names:
        result[name] = pages.get(name, 0) / votes
    return result


# A running hub, its CPU, and the votes a live hall sends it.


def hallrate_command() -> list[str]:
    """The ``hallrate`` command of this environment."""
    script = Path(sys.executable).with_name("hallrate")
    if script.exists():
        return [str(script)]
    found = shutil.which("hallrate")
    if found is None:
        raise FileNotFoundError("no hallrate command: pip install -e . first")
    return [found]


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process's live threads so far, to the nanosecond (bench/idle.py).

    /proc/<pid>/stat counts in clock ticks (10 ms): an idle hub spends less
    than a tick in a short sample, and a CPU figure would read 0.
    """
    return sum(usage(pid).run_s.values())


class Hub:
    """``hallrate hub`` in its own process on one config."""

    def __init__(self, config: Path) -> None:
        # Its log beside its config: a measurement counts the errors it logged.
        self.log = config.with_name("hub.log")
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [*hallrate_command(), "--log-level", "WARNING", "hub", "--config", str(config)],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("hub:"):
            self.stop()
            raise RuntimeError(f"hallrate hub did not start: {line!r}")
        self.url = line.split()[-1]
        wait_for_port("127.0.0.1", int(self.url.rsplit(":", 1)[1]))

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def exited(self) -> int | None:
        """The hub's exit status if it stopped by itself (its watchdog, a crash), else None."""
        return self.process.poll()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        finally:
            assert self.process.stdout is not None
            self.process.stdout.close()


def client(port: int, client_id: str) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def close(c: paho.Client) -> None:
    c.disconnect()
    c.loop_stop()


class LiveHall:
    """Votes cast now at the hall's windows, published as their evaluators would."""

    def __init__(self, port: int, *, epoch: str) -> None:
        self.publisher = client(port, f"years-pub-{epoch}")
        self.epoch = epoch
        self.count = 0
        self.rng = random.Random(epoch)

    def publish(self) -> tuple[str, float]:
        """Publish one vote; returns its id and when it was published (perf_counter)."""
        self.count += 1
        w = 1 + self.count % WINDOWS
        device = f"{window_id(w)}-eval"
        now = format_time(datetime.now(ZONE))
        vote = Vote(
            id=envelope_id(device, self.count, epoch=self.epoch),
            seq=self.count,
            ts=now,
            device=device,
            channel="window",
            window=window_id(w),
            staff=on_duty(w, 0),
            ticket=f"{self.epoch}-{self.count}",
            level=_level(self.rng, 0.2),
        )
        at = time.perf_counter()
        self.publisher.publish(
            f"hallrate/{HALL}/device/{device}/vote", encode(vote, sent=now), qos=1
        )
        return vote.id, at

    def close(self) -> None:
        close(self.publisher)


class Receipts:
    """When each vote id was receipted by the hub (perf_counter)."""

    def __init__(self, port: int, name: str) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"years-rcpt-{name}", protocol=paho.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"hallrate/{HALL}/device/+/receipt", qos=1)
        self.client.loop_start()

    def _on_message(self, c: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        now = time.perf_counter()
        try:
            ids = orjson.loads(msg.payload)["ids"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        with self.lock:
            for ident in ids:
                self.at.setdefault(ident, now)

    def close(self) -> None:
        close(self.client)


def paced(seconds: float, rate: float, tick: Any) -> None:
    """Call ``tick()`` ``rate`` times a second for ``seconds``."""
    start = time.perf_counter()
    for i in range(int(seconds * rate)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        tick()


def hub_cpu(hub: Hub, port: int, *, seconds: float, epoch: str) -> dict[str, float]:
    """The hub's CPU idle (CPU-s per minute) and at 1 vote/s (% of one core)."""
    time.sleep(min(5.0, seconds / 4))  # the boards' first frames, the first summary
    before, start = hub.cpu(), time.monotonic()
    time.sleep(seconds)
    idle = (hub.cpu() - before) / (time.monotonic() - start) * 60
    live = LiveHall(port, epoch=epoch)
    try:
        before, start = hub.cpu(), time.monotonic()
        paced(seconds, 1.0, live.publish)
        time.sleep(1.0 - (time.monotonic() - start) % 1.0)
        busy = (hub.cpu() - before) / (time.monotonic() - start) * 100
    finally:
        live.close()
    return {"idle_cpu_s_per_min": idle, "cpu_pct_1_vote_s": busy}


def agent_idle(port: int, work: Path, *, seconds: float) -> float:
    """CPU-s per minute of the sample hall's window agent (mock pins) with nothing to do."""
    folder = work / "agent"
    folder.mkdir(parents=True, exist_ok=True)
    config = write_agent(folder, port=port)
    command = [*hallrate_command(), "--log-level", "WARNING", "agent", "--config", str(config)]
    with (folder / "agent.log").open("wb") as out:
        agent = subprocess.Popen([*command, "--mock-pins"], stdout=out, stderr=out)
    try:
        time.sleep(min(10.0, seconds / 4))  # connected, its outbox opened, first telemetry sent
        if agent.poll() is not None:
            raise RuntimeError(f"hallrate agent stopped: {(folder / 'agent.log').read_text()}")
        before, start = cpu_seconds(agent.pid), time.monotonic()
        time.sleep(seconds)
        return (cpu_seconds(agent.pid) - before) / (time.monotonic() - start) * 60
    finally:
        agent.terminate()
        agent.wait(timeout=30)


# The votes API.


def read_token(config: Path) -> str:
    """A reader token, made with ``hallrate token create``."""
    name = f"years-{os.getpid()}-{time.monotonic_ns() % 100000}"
    out = subprocess.run(
        [*hallrate_command(), "token", "create", name, "--role", "reader", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()[-1]


def get(url: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return orjson.loads(response.read())


def timed(url: str, token: str) -> float:
    start = time.perf_counter()
    get(url, token)
    return (time.perf_counter() - start) * 1000


def api_latency(
    base: str, token: str, *, end: date, requests: int
) -> dict[str, tuple[float, float]]:
    """p50 and p95 (ms) of the votes API's recent and deep-history queries."""
    day = History(0, end).working_days()[-1]
    last_day = datetime(day.year, day.month, day.day, tzinfo=ZONE)
    api = f"{base}/api/v1/votes?"
    # A cursor deep in the history (many pages in): the first vote of six months ago.
    middle = last_day - timedelta(days=182)
    deep = get(api + urlencode({"since": middle.isoformat(), "limit": 1}), token)["next_after"]
    urls = {
        "since": lambda i: api + urlencode({"since": last_day.isoformat()}),
        "window_deep": lambda i: (
            api + urlencode({"window": window_id(1 + i % WINDOWS), "after": deep})
        ),
        "staff_deep": lambda i: api + urlencode({"staff": staff_id(1 + i % STAFF), "after": deep}),
    }
    result = {}
    for name, url in urls.items():
        timed(url(0), token)  # the first request warms the page cache
        samples = [timed(url(i), token) for i in range(requests)]
        result[name] = (percentile(samples, 50), percentile(samples, 95))
    return result


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# Publish -> receipt while the database is rebuilt.


def rebuild_latency(
    config: Path, port: int, *, rate: float, baseline_s: float, epoch: str
) -> dict[str, Any]:
    """Publish → receipt at ``rate`` votes/s before and during ``hallrate hub rebuild``."""
    receipts = Receipts(port, epoch)
    hub_log = config.with_name("hub.log")
    skip = hub_log.stat().st_size if hub_log.exists() else 0
    rebuild_log = config.with_name("rebuild.log")
    hub = Hub(config)
    live = LiveHall(port, epoch=epoch)
    published: dict[str, float] = {}
    window: list[float] = []
    rebuild: subprocess.Popen[bytes] | None = None
    try:
        time.sleep(2.0)  # the hub subscribes

        def tick() -> None:
            ident, at = live.publish()
            published[ident] = at

        paced(baseline_s, rate, tick)
        window.append(time.perf_counter())
        command = [*hallrate_command(), "--log-level", "WARNING", "hub", "rebuild"]
        with rebuild_log.open("wb") as out:  # a file: a pipe could fill and stall it
            rebuild = subprocess.Popen([*command, "--config", str(config)], stdout=out, stderr=out)
        start = time.perf_counter()
        i = 0
        while rebuild.poll() is None and time.perf_counter() - start < 1800:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(min(delay, 0.05))
                continue
            tick()
            i += 1
        window.append(time.perf_counter())
        paced(1.0, rate, tick)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with receipts.lock:
                if all(ident in receipts.at for ident in published):
                    break
            time.sleep(0.1)
        rebuild.wait(timeout=60)
        exited = hub.exited()
    finally:
        live.close()
        hub.stop()
        receipts.close()
        if rebuild is not None and rebuild.poll() is None:
            rebuild.kill()
            rebuild.wait()
    said = rebuild_log.read_text()
    if rebuild.returncode != 0:
        raise RuntimeError(f"hallrate hub rebuild failed ({rebuild.returncode}): {said[-2000:]}")
    logged = hub_log.read_bytes()[skip:].decode(errors="replace")
    for line in logged.splitlines():
        if " ERROR " in line:
            log(f"  the hub logged: {line[:300]}")
    during, before = [], []
    missing = 0
    for ident, at in published.items():
        got = receipts.at.get(ident)
        if got is None:
            missing += 1
            continue
        (during if window[0] <= at <= window[1] else before).append((got - at) * 1000)
    if not during:
        during = [float("nan")]
    return {
        "rebuild_s": window[1] - window[0],
        "baseline_p50_ms": percentile(before, 50),
        "p50_ms": percentile(during, 50),
        "p99_ms": percentile(during, 99),
        "max_ms": max(during),
        "published": len(published),
        "during": len(during),
        "missing": missing,
        # Commits the hub had to retry, and what the rebuild itself met.
        "locked": (logged + said).count("database is locked"),
        "errors": logged.count(" ERROR "),
        # A hub that stopped itself (e.g. its ingest loop blocked past the watchdog's limit).
        "hub_exited": exited,
    }


# One size, measured.


@dataclass
class Settings:
    seconds: float  # each CPU sample (idle, 1 vote/s)
    requests: int  # per API query
    baseline_s: float  # publishing before the rebuild starts
    rate: float = 100.0  # votes/s during the rebuild


def measure(built: Built, broker: MosquittoBroker, work: Path, settings: Settings) -> dict:
    """Every figure for one database, on a copy of it."""
    folder = work / f"n{built.votes}"
    config = write_hall(folder, port=broker.port, client_id=f"hub-{HALL}-{built.votes}")
    log(f"{built.votes:,} votes: sizes (dbstat)")
    figures: dict[str, Any] = {"size": sizes(built.path, built.votes)}
    log(f"{built.votes:,} votes: copying the database")
    shutil.copyfile(built.path, folder / "hub.sqlite")
    token = read_token(config)
    log(f"{built.votes:,} votes: hub CPU, idle then 1 vote/s ({settings.seconds:.0f} s each)")
    hub = Hub(config)
    try:
        figures["cpu"] = hub_cpu(
            hub, broker.port, seconds=settings.seconds, epoch=f"cpu{built.votes}"
        )
        log(f"{built.votes:,} votes: votes API, {settings.requests} requests per query")
        figures["api"] = api_latency(hub.url, token, end=built.end, requests=settings.requests)
        if hub.exited() is not None:
            raise RuntimeError(f"the hub stopped during the measurement; see {hub.log}")
    finally:
        hub.stop()
    log(f"{built.votes:,} votes: publish -> receipt at {settings.rate:.0f}/s during a rebuild")
    figures["rebuild"] = rebuild_latency(
        config,
        broker.port,
        rate=settings.rate,
        baseline_s=settings.baseline_s,
        epoch=f"reb{built.votes}",
    )
    shutil.rmtree(folder, ignore_errors=True)
    return figures


# The table.


# (figure, unit, where in a size's figures) for the figures measured at both sizes.
FIGURES: list[tuple[str, str, tuple[str | int, ...]]] = [
    ("hub CPU at 1 vote/s, sample boards", "% core", ("cpu", "cpu_pct_1_vote_s")),
    ("hub CPU idle, sample boards", "CPU-s/min", ("cpu", "idle_cpu_s_per_min")),
    ("votes?since=<last day> p50", "ms", ("api", "since", 0)),
    ("votes?since=<last day> p95", "ms", ("api", "since", 1)),
    ("votes?window=&after=<deep> p50", "ms", ("api", "window_deep", 0)),
    ("votes?window=&after=<deep> p95", "ms", ("api", "window_deep", 1)),
    ("votes?staff=&after=<deep> p50", "ms", ("api", "staff_deep", 0)),
    ("votes?staff=&after=<deep> p95", "ms", ("api", "staff_deep", 1)),
    ("hub rebuild, while taking 100 votes/s", "s", ("rebuild", "rebuild_s")),
    ("publish -> receipt before the rebuild p50", "ms", ("rebuild", "baseline_p50_ms")),
    ("publish -> receipt during the rebuild p50", "ms", ("rebuild", "p50_ms")),
    ("publish -> receipt during the rebuild p99", "ms", ("rebuild", "p99_ms")),
    ("publish -> receipt during the rebuild max", "ms", ("rebuild", "max_ms")),
    ("bytes per vote, whole file", "B", ("size", "file")),
]


def rows(base: dict, big: dict) -> list[tuple[str, str, float, float]]:
    """(figure, unit, at 100k, at N) for every figure measured at both sizes."""

    def at(figures: dict, path: tuple[str | int, ...]) -> float:
        for key in path:
            figures = figures[key]
        return float(figures)  # type: ignore[arg-type]

    out = [(name, unit, at(base, path), at(big, path)) for name, unit, path in FIGURES]
    for name in big["size"]:
        if name != "file":
            index = (f"bytes per vote in {name}", "B")
            out.append((*index, base["size"].get(name, 0.0), big["size"][name]))
    return out


def report(base: Built, big: Built, figures: dict[int, dict], *, agent: float) -> list[str]:
    """The table, ready to print, and the final ``key=value`` line."""
    b, n = figures[base.votes], figures[big.votes]
    head = (
        f"{'figure':<46} {'unit':<9} {_short(base.votes):>10} {_short(big.votes):>10} {'ratio':>7}"
    )
    lines = [head, "-" * len(head)]
    for name, unit, at_base, at_big in rows(b, n):
        ratio = at_big / at_base if at_base else float("nan")
        lines.append(f"{name:<46} {unit:<9} {at_base:>10.2f} {at_big:>10.2f} {ratio:>6.2f}x")
    lines.append(
        f"{'build rate (Store + Counting, batches of 500)':<46} {'votes/s':<9}"
        f" {base.rate:>10,.0f} {big.rate:>10,.0f}"
    )
    label = "idle agent (sample window agent, mock pins)"
    lines.append(f"{label:<46} {'CPU-s/min':<9} {'':>10} {agent:>10.3f}")
    for built, f in ((base, b), (big, n)):
        r = f["rebuild"]
        lines.append(
            f"({_short(built.votes)}: {r['during']} votes during the rebuild, {r['missing']} never"
            f" receipted; 'database is locked' logged {r['locked']} times, hub errors logged"
            f" {r['errors']}"
            + ("" if r["hub_exited"] is None else f"; THE HUB EXITED ({r['hub_exited']})")
            + ")"
        )
    pairs = {
        "votes": big.votes,
        "base_votes": base.votes,
        "cpu_pct_1vps": n["cpu"]["cpu_pct_1_vote_s"],
        "cpu_pct_1vps_base": b["cpu"]["cpu_pct_1_vote_s"],
        "hub_idle_cpu_s_min": n["cpu"]["idle_cpu_s_per_min"],
        "hub_idle_cpu_s_min_base": b["cpu"]["idle_cpu_s_per_min"],
        "since_p95_ms": n["api"]["since"][1],
        "since_p95_ms_base": b["api"]["since"][1],
        "window_deep_p95_ms": n["api"]["window_deep"][1],
        "window_deep_p95_ms_base": b["api"]["window_deep"][1],
        "staff_deep_p95_ms": n["api"]["staff_deep"][1],
        "staff_deep_p95_ms_base": b["api"]["staff_deep"][1],
        "rebuild_s": n["rebuild"]["rebuild_s"],
        "rebuild_receipt_p99_ms": n["rebuild"]["p99_ms"],
        "rebuild_receipt_p99_ms_base": b["rebuild"]["p99_ms"],
        "bytes_per_vote": n["size"]["file"],
        "bytes_per_vote_base": b["size"]["file"],
        "build_votes_per_s": big.rate,
        "agent_idle_cpu_s_min": agent,
    }
    lines.append(
        " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in pairs.items())
    )
    return lines


def _short(votes: int) -> str:
    if votes >= 1_000_000 and votes % 100_000 == 0:
        return f"{votes / 1_000_000:g}M"
    if votes >= 1000 and votes % 1000 == 0:
        return f"{votes // 1000}k"
    return str(votes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, help="votes in the big database (default 1,000,000)")
    parser.add_argument("--big", action="store_true", help="5,000,000 votes (seven busy years)")
    parser.add_argument("--base", type=int, default=BASE_VOTES, help="votes in the small database")
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "bench-years")
    parser.add_argument(
        "--quick", action="store_true", help="short samples (and 300k votes unless --votes)"
    )
    parser.add_argument("--seconds", type=float, help="each CPU sample (60; --quick: 10)")
    parser.add_argument("--requests", type=int, help="requests per API query (200; --quick: 30)")
    args = parser.parse_args(argv)
    votes = args.votes or (5_000_000 if args.big else 300_000 if args.quick else 1_000_000)
    if votes <= args.base:
        parser.error(f"--votes must be more than --base ({args.base:,})")
    settings = (
        Settings(seconds=10, requests=30, baseline_s=2)
        if args.quick
        else Settings(seconds=60, requests=200, baseline_s=5)
    )
    settings.seconds = args.seconds or settings.seconds
    settings.requests = args.requests or settings.requests
    # The small one first: a developer sees the bench work before the long build.
    base = cached_database(args.cache, args.base)
    big = cached_database(args.cache, votes)
    figures: dict[int, dict] = {}
    with tempfile.TemporaryDirectory(prefix="hallrate-years-") as tmp:
        work = Path(tmp)
        with MosquittoBroker(work / "broker") as broker:
            log(f"idle agent of window 1 ({settings.seconds:.0f} s)")
            agent = agent_idle(broker.port, work, seconds=settings.seconds)
            for built in (base, big):
                figures[built.votes] = measure(built, broker, work, settings)
    print(
        f"hub databases of {_short(base.votes)} and {_short(big.votes)} votes"
        f" (12 months, {WINDOWS} windows, {STAFF} staff), measured on copies"
    )
    for line in report(base, big, figures, agent=agent):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
