"""``hallrate demo``: a whole hall on this machine, and the addresses to open.

The demo starts, in order, the services of :func:`hall_services`: a broker
(the local ``mosquitto`` when installed, otherwise the embedded pure-Python
one, which speaks MQTT 3.1.1 only), the hub with its JSON API, and simulated
windows whose citizens press mock-pin buttons. Each service prints its own
address lines once everything runs; all listen on loopback only, and the
broker takes anonymous clients so ``mosquitto_sub``/``mosquitto_pub`` work
without credentials. The hall's first kiosk runs too (``hallrate/demo_kiosk.py``).
Ctrl-C or SIGTERM stops them in reverse order. A new
service (LED wall, dashboard) is one more class with ``name``,
``start``, ``stop`` and ``lines``, appended in :func:`hall_services`.

State lives in the data folder (``--data``, default ``./data/demo``): the
generated configuration, the hub's database, each window's outbox, the
broker's persistence file and ``demo.log``, where every part of the demo logs
(``hallrate/demo_log.py``) so that the address block prints whole.
"""

from __future__ import annotations

import fcntl
import logging
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO, runtime_checkable

import click

from device_agent.errors import ConfigError
from device_agent.runner import report_config_error, stop_on_signals
from device_agent.storage import open_database, open_reader, write_transaction
from device_agent.topics import Topics
from hallrate.broker import EmbeddedBroker, MosquittoBroker, find_mosquitto
from hallrate.demo_hall import (
    DEMO_LEVEL_III,
    DEMO_MIN_S,
    SAMPLE_HALL,
    DemoHall,
    evaluators,
    write_demo_hall,
)
from hallrate.demo_kiosk import DemoKiosk
from hallrate.demo_log import LOG_NAME, logging_to_file, print_block
from hallrate.simulated_windows import SimulatedWindows
from hub.console.accounts import add_user, find_user, set_password
from hub.directory import Directory, load_directory
from hub.service import HubService
from hub.tokens import renew_token

logger = logging.getLogger(__name__)

DEFAULT_DATA = Path("data/demo")
DEFAULT_WINDOWS = 6
DEFAULT_RATE = 6.0
HUB_CONNECT_S = 15.0
PROGRESS_S = 15.0
WATCH_S = 0.5  # how often the demo looks for new warnings
WARNINGS_SINCE_SQL = (
    "SELECT rowid, id, staff, level, action, count, period FROM warnings"
    " WHERE rowid > ? ORDER BY rowid"
)


class DemoService(Protocol):
    """One part of the demo hall, started and stopped by :func:`run`."""

    name: str

    def start(self) -> None:
        """Start, returning once the service is ready for the next one."""

    def stop(self) -> None:
        """Stop and release everything; called once, in reverse start order."""

    def lines(self) -> list[str]:
        """``label: address`` lines to print once the hall runs."""


@runtime_checkable
class ReportsProgress(Protocol):
    """A demo service with something to say every few seconds while the hall runs."""

    def progress(self) -> str:
        """A short account of what happened so far."""


class DemoBroker:
    """The hall broker: Mosquitto when installed, else the embedded one."""

    name = "broker"

    def __init__(self, choice: str, *, workdir: Path, port: int) -> None:
        if choice == "auto":
            choice = "mosquitto" if find_mosquitto() else "embedded"
        self.broker: MosquittoBroker | EmbeddedBroker
        if choice == "mosquitto":
            if find_mosquitto() is None:
                raise FileNotFoundError(
                    "mosquitto is not installed (apt install mosquitto), "
                    "or run with --broker embedded"
                )
            # Persistent, so the hub's session and its queue survive between demo runs.
            # Dies with the demo, even a demo killed with SIGKILL.
            self.broker = MosquittoBroker(
                workdir, port=port, persistence=True, die_with_parent=True
            )
            self.protocol = "5"
            self.kind = "mosquitto"
        else:
            try:
                import amqtt  # noqa: F401
            except ImportError:
                raise FileNotFoundError(
                    "the embedded broker needs amqtt: pip install 'hallrate[demo]'"
                ) from None
            self.broker = EmbeddedBroker(port=port)
            self.protocol = "3.1.1"
            self.kind = "embedded amqtt"

    @property
    def port(self) -> int:
        """The broker's port on loopback."""
        return self.broker.port

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        self.broker.start()

    def stop(self) -> None:
        """Stop the broker (Mosquitto saves its state first)."""
        self.broker.stop()

    def lines(self) -> list[str]:
        """The broker's address."""
        return [
            f"broker: {self.broker.url}  ({self.kind}, MQTT {self.protocol}, anonymous, loopback)"
        ]


class DemoHub:
    """The hall hub: ingest from the broker, and the JSON API."""

    name = "hub"

    def __init__(self, hall: DemoHall, *, broker_port: int) -> None:
        self.hall = hall
        self.broker_port = broker_port
        self.service = HubService(hall.hub)
        self.token = ""
        # (user, password) of each console demo user, manager first.
        self.logins: list[tuple[str, str]] = []

    def start(self) -> None:
        """Start the hub and wait for it to subscribe, so the first votes find it."""
        # The API needs a token to read; the demo makes one so that curl can try it.
        # (The hub's database exists and is migrated: the service opened it.)
        db = open_database(self.hall.hub.database)
        try:
            with write_transaction(db) as conn:
                self.token = renew_token(conn, "demo", "reader")
                self.logins = renew_demo_users(conn, self.hall.directory)
        finally:
            db.close()
        self.service.start()
        deadline = time.monotonic() + HUB_CONNECT_S
        while not self.service.ingest.state.connected:
            if time.monotonic() > deadline:
                # Not fatal: windows keep their votes and resend them once it connects.
                logger.warning("the hub has not reached the broker after %.0f s", HUB_CONNECT_S)
                return
            time.sleep(0.05)

    def stop(self) -> None:
        """Commit what the hub holds and stop it."""
        self.service.stop()

    def progress(self) -> str:
        """How many votes the hub has stored and quarantined since it started."""
        state = self.service.ingest.state
        return f"{state.stored} votes stored, {state.quarantined} quarantined"

    def lines(self) -> list[str]:
        """The hub's API addresses and a command to watch the hall's topics."""
        url = self.service.api_url
        base = Topics.for_hall(self.hall.hub.hall, template=self.hall.hub.base_topic).base
        return [
            f"hub: {url}  (the hub's JSON API; send the token below, see the README)",
            f"token: {self.token}",
            f"votes: {url}/api/v1/votes",
            f"devices: {url}/api/v1/devices",
            f"quarantine: {url}/api/v1/quarantine",
            f"health: {url}/healthz",
            *(
                [f"wall: {url}/boards/{self.hall.hub.boards[0].id}", f"boards: {url}/boards/"]
                if self.hall.hub.boards
                else []
            ),
            f"watch: mosquitto_sub -h 127.0.0.1 -p {self.broker_port} -v -t '{base}/#'",
            f"console: {url}/console/",
            *(f"console login: {user} / {password}" for user, password in self.logins),
        ]


class DemoWarnings:
    """Says on the terminal when a warning is raised, so whoever watches opens the console.

    The demo hall's thresholds are the demo's own (``hallrate/demo_hall.py``):
    level III at a few dissatisfied votes in a month, reached by the bad-day
    window's citizens within two minutes.
    """

    name = "warnings"

    def __init__(self, hall: DemoHall) -> None:
        self.hall = hall
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="demo-warnings", daemon=True)
        self._last = 0
        self.raised = 0

    def start(self) -> None:
        """Note the warnings already on record (earlier runs), then watch for new ones."""
        db = open_reader(self.hall.hub.database)
        try:
            self._last = db.execute("SELECT coalesce(max(rowid), 0) FROM warnings").fetchone()[0]
        finally:
            db.close()
        self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        self._thread.join(timeout=5)

    def lines(self) -> list[str]:
        """The demo's thresholds, and who has a bad day."""
        bad = [w for w in self.hall.windows if w.bad_day and w.staff]
        who = "".join(
            f"; {w.window} {self._name(w.staff)} ({w.staff}) has a bad day" for w in bad if w.staff
        )
        lines = [
            f"warnings: demo thresholds (III at {DEMO_LEVEL_III} dissatisfied in a month{who})"
        ]
        item = self.hall.directory.service_items.get(self.hall.fast_item or "")
        if item is not None:
            callers = ", ".join(w.window for w in self.hall.windows if w.items)
            lines.append(
                f"supervision: demo limits ({item.name} {item.id} too fast under "
                f"{DEMO_MIN_S} s, the sample hall's {self.hall.sample_min_s} s; "
                f"{callers}'s queue system names each ticket's item)"
            )
        return lines

    def _name(self, staff: str) -> str:
        member = self.hall.directory.staff.get(staff)
        return member.name if member is not None else staff

    def _watch(self) -> None:
        db = None
        try:
            while not self._stop.wait(WATCH_S):
                try:
                    if db is None:
                        db = open_reader(self.hall.hub.database)
                    rows = db.execute(WARNINGS_SINCE_SQL, (self._last,)).fetchall()
                except sqlite3.Error as exc:
                    logger.debug("cannot read the warnings yet: %s", exc)
                    continue
                for rowid, ident, staff, level, action, count, period in rows:
                    self._last = rowid
                    self.raised += 1
                    print(
                        f"demo: warning raised: {self._name(staff)} ({staff}) level {level}"
                        f" {action}, {count} dissatisfied in {period} ({ident}); see the console",
                        flush=True,
                    )
        finally:
            if db is not None:
                db.close()


# The console's demo users, one per role, manager first: (name, role, display name).
DEMO_USERS = (
    ("manager", "manager", "大厅负责人（演示）"),
    ("depthead", "dept_head", "部门负责人（演示）"),
    ("office", "office", "效能办（演示）"),
    ("staff", "staff", None),
    ("admin", "admin", "系统管理员（演示）"),
)


def renew_demo_users(conn: sqlite3.Connection, directory: Directory) -> list[tuple[str, str]]:
    """One console user per role with a new password at each start; ``(name, password)``.

    The department head heads the directory's first department; the staff
    user is its first staff member. A new password ends the old sessions.
    """
    department = next(iter(directory.departments), None)
    staff = next(iter(directory.staff.values()), None)
    logins = []
    for name, role, display_name in DEMO_USERS:
        if (role == "dept_head" and department is None) or (role == "staff" and staff is None):
            continue
        password = secrets.token_urlsafe(9)
        if find_user(conn, name) is None:
            add_user(
                conn,
                name,
                password,
                role=role,
                department=department if role == "dept_head" else None,
                staff=staff.id if role == "staff" and staff is not None else None,
                display_name=staff.name if role == "staff" and staff is not None else display_name,
            )
        else:
            set_password(conn, name, password)
        logins.append((name, password))
    return logins


def hall_services(options: DemoOptions, data: Path) -> list[DemoService]:
    """Build the demo's services in start order (nothing runs yet)."""
    broker = DemoBroker(options.broker, workdir=data / "broker", port=options.broker_port)
    hall = write_demo_hall(
        data,
        windows=options.windows,
        broker_port=broker.port,
        protocol=broker.protocol,
        hub_port=options.hub_port,
    )
    hub = DemoHub(hall, broker_port=broker.port)
    kiosks = [d.id for d in hall.directory.devices.values() if d.kind == "kiosk"]
    lobby: list[DemoService] = [
        DemoKiosk(
            data,
            device=device,
            hall=hall.hub.hall,
            hub_url=hub.service.api_url,
            broker_port=broker.port,
            protocol=broker.protocol,
        )
        for device in kiosks[:1]
    ]
    return [
        broker,
        hub,
        *lobby,
        SimulatedWindows(hall.windows, rate=options.rate, seed=options.seed),
        DemoWarnings(hall),
    ]


@dataclass(frozen=True)
class DemoOptions:
    """What ``hallrate demo``'s command line chose."""

    data: Path = DEFAULT_DATA
    windows: int = DEFAULT_WINDOWS
    rate: float = DEFAULT_RATE
    seed: int | None = None
    broker: str = "auto"
    broker_port: int = 0
    hub_port: int = 0
    duration: float | None = None


def _most_windows() -> int:
    return len(evaluators(load_directory(SAMPLE_HALL / "directory.toml")))


@click.command("demo", help="Run a whole hall on this machine and print the addresses to open.")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=DEFAULT_DATA,
    metavar="DIR",
    help="folder for the demo's configuration, databases and outboxes",
)
@click.option(
    "--windows",
    type=int,
    default=DEFAULT_WINDOWS,
    metavar="N",
    help=f"simulated windows, 1 to {_most_windows()}",
)
@click.option(
    "--rate",
    type=float,
    default=DEFAULT_RATE,
    metavar="PER_MIN",
    help="average presses per minute at each window",
)
@click.option(
    "--seed", type=int, metavar="N", help="make the simulated citizens the same at every run"
)
@click.option(
    "--broker",
    type=click.Choice(["auto", "mosquitto", "embedded"]),
    default="auto",
    help="auto: mosquitto when installed, else the embedded amqtt broker (MQTT 3.1.1 only)",
)
@click.option(
    "--broker-port",
    type=int,
    default=0,
    metavar="PORT",
    help="broker port on 127.0.0.1 (0: a free one)",
)
@click.option(
    "--hub-port",
    type=int,
    default=0,
    metavar="PORT",
    help="hub API port on 127.0.0.1 (0: a free one)",
)
@click.option(
    "--duration",
    type=float,
    metavar="SECONDS",
    help="stop by itself after this many seconds (default: run until Ctrl-C)",
)
def command(**options: Any) -> int:
    """``hallrate demo``: run until Ctrl-C, SIGTERM or ``--duration``; 2 when it cannot start."""
    return run(DemoOptions(**options))


def run(options: DemoOptions) -> int:
    """Run the demo hall until Ctrl-C, SIGTERM or ``--duration``; 2 when it cannot start."""
    if options.rate <= 0:
        logger.error("--rate must be positive")
        return 2
    _quiet_libraries()
    data = options.data.resolve()
    stop = stop_on_signals()
    lock = _lock(data)
    if lock is None:
        logger.error("another hallrate demo is using %s; give this one --data DIR", data)
        return 2
    with lock, logging_to_file(data / LOG_NAME):
        try:
            services = hall_services(options, data)
        except ConfigError as exc:
            return report_config_error(exc)
        except (OSError, ValueError) as exc:
            logger.error("cannot set up the demo: %s", exc)
            return 2
        return _serve(services, stop, data, duration=options.duration)


def _serve(
    services: list[DemoService], stop: threading.Event, data: Path, *, duration: float | None
) -> int:
    started: list[DemoService] = []
    try:
        for service in services:
            if stop.is_set():
                return 0
            try:
                service.start()
            except Exception as exc:
                logger.error("the demo's %s did not start: %s", service.name, exc)
                return 1
            started.append(service)
        print_block(
            [
                f"hallrate demo: data in {data}",
                f"logs: {data / LOG_NAME}  (what the broker, hub, kiosk and windows log)",
                *(line for service in services for line in service.lines()),
                "Press Ctrl-C to stop.",
            ]
        )
        _wait(services, stop, duration)
        return 0
    finally:
        for service in reversed(started):
            try:
                service.stop()
            except Exception:
                logger.exception("stopping the demo's %s failed", service.name)
        print("hallrate demo: stopped", flush=True)


def _wait(services: list[DemoService], stop: threading.Event, duration: float | None) -> None:
    deadline = None if duration is None else time.monotonic() + duration
    while True:
        timeout = PROGRESS_S
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                return
        if stop.wait(timeout):
            return
        if deadline is not None and time.monotonic() >= deadline:
            return
        _print_progress(services)


def _print_progress(services: list[DemoService]) -> None:
    parts = [s.progress() for s in services if isinstance(s, ReportsProgress)]
    if parts:
        print(f"demo: {'; '.join(parts)}", flush=True)


def _lock(data: Path) -> TextIO | None:
    """A lock on ``data``, held while the file stays open; None when another demo holds it."""
    data.mkdir(parents=True, exist_ok=True)
    lock = (data / "demo.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


def _quiet_libraries() -> None:
    # amqtt reports every connection at INFO; the demo's own lines say what matters.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
