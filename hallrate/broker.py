"""Running a hall broker on this machine: Mosquitto, or an embedded one as a fallback.

The demo, the benchmarks and the test suite start their brokers here, on a
free loopback port with a generated configuration, so none of them touches
a broker that happens to run on the machine already.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def find_mosquitto() -> str | None:
    """The path of the mosquitto binary, or None when it is not installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in MOSQUITTO_PATHS if Path(p).exists()), None)


def wait_for_port(host: str, port: int, *, timeout: float = 10.0) -> None:
    """Block until something accepts connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s") from None
            time.sleep(0.05)


class MosquittoBroker:
    """A mosquitto process on a loopback port, with its config and log in ``workdir``."""

    def __init__(
        self,
        workdir: str | Path,
        *,
        port: int = 0,
        persistence: bool = False,
        binary: str | None = None,
        max_queued_messages: int = 100_000,
        max_inflight_messages: int = 1000,
        extra_config: str = "",
        die_with_parent: bool = False,
    ) -> None:
        """``die_with_parent``: the kernel stops the broker (SIGTERM) when the
        thread that started it dies, even by SIGKILL, so a killed demo leaves no
        broker behind (Linux, through util-linux's ``setpriv --pdeathsig``; where
        setpriv is missing the broker simply outlives a killed parent). Start
        such a broker from the main thread."""
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.persistence = persistence
        self.binary = binary or find_mosquitto()
        if self.binary is None:
            raise FileNotFoundError("mosquitto is not installed")
        self.max_queued_messages = max_queued_messages
        self.max_inflight_messages = max_inflight_messages
        # Appended as is: e.g. a bridge section (``connection ...``), which must come last.
        self.extra_config = extra_config
        self.die_with_parent = die_with_parent
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``mqtt://host:port``."""
        return f"mqtt://{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        """The broker's log file."""
        return self.workdir / "mosquitto.log"

    def config_text(self) -> str:
        """The generated mosquitto.conf."""
        data = self.workdir / "data"
        lines = [
            f"listener {self.port} {LOOPBACK}",
            "allow_anonymous true",
            # Mosquitto drops root to this user, which must own the data folder.
            f"user {getpass.getuser()}",
            f"max_queued_messages {self.max_queued_messages}",
            # For MQTT 3.1.1 clients; MQTT 5 clients say their own receive maximum.
            f"max_inflight_messages {self.max_inflight_messages}",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {data}/",
        ]
        return "\n".join(lines) + "\n" + self.extra_config

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config_text())
        assert self.binary is not None
        command = [self.binary, "-c", str(conf)]
        setpriv = shutil.which("setpriv") if self.die_with_parent else None
        if setpriv is not None:
            command = [setpriv, "--pdeathsig", "TERM", "--", *command]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Out of the terminal's process group: Ctrl-C goes to the demo, which
            # stops its agents and hub while the broker is still there, then stops it.
            start_new_session=True,
        )
        try:
            wait_for_port(LOOPBACK, self.port)
        except TimeoutError:
            self.stop()
            log = self.log_path.read_text() if self.log_path.exists() else ""
            raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{log}") from None

    def stop(self) -> None:
        """Stop the broker cleanly (SIGTERM); it saves its state when persistent."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL): whatever it held in memory is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _SnapshotDict(dict[str, Any]):
    """A dict whose loops run over a copy, for amqtt's table of subscriptions.

    amqtt 0.12.1 awaits inside its loops over that table (on every connect and
    every broadcast), so a client subscribing meanwhile ends the loop with
    "dictionary changed size during iteration" and drops a client: with many
    windows connecting at once, some were dropped and reconnected.
    """

    def __iter__(self) -> Iterator[str]:
        return iter(list(dict.keys(self)))

    def items(self) -> Any:
        return list(dict.items(self))


def _amqtt_broker(config: dict[str, Any]) -> Any:
    """An amqtt broker with two bugs of amqtt 0.12.1 worked around (see below)."""
    from amqtt.broker import Broker

    class HallBroker(Broker):
        async def _publish_retained_messages_for_subscription(
            self, subscription: tuple[str, int], session: Any
        ) -> None:
            # On every connect amqtt walks *all* clients' subscriptions and sends
            # the connecting client the retained messages matching any of them
            # (a window got every other device's status). Only its own count.
            subscribers = self._subscriptions.get(subscription[0], [])
            if any(s.client_id == session.client_id for s, _ in subscribers):
                await super()._publish_retained_messages_for_subscription(subscription, session)

    broker = HallBroker(config)
    broker._subscriptions = _SnapshotDict()
    return broker


class EmbeddedBroker:
    """An in-process pure-Python broker (amqtt, MQTT 3.1.1) for machines without mosquitto."""

    def __init__(self, *, port: int = 0) -> None:
        self.port = port or free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """``mqtt://host:port``."""
        return f"mqtt://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        """Start the broker in a thread of its own and wait until it accepts connections."""
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=15) or self._error is not None:
            raise RuntimeError(f"the embedded broker did not start: {self._error}")
        # Ready means listening (amqtt's start() opened the socket); no probe
        # connection, which amqtt would log as an error.

    def _run(self) -> None:
        # amqtt builds futures in Broker.__init__, which need a running loop in
        # this thread: construct, serve and shut down inside one coroutine.
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        stopping = self._stopping = asyncio.Event()
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{LOOPBACK}:{self.port}"}},
            # amqtt 0.12 deprecates the "auth"/"topic-check" keys (a DeprecationWarning,
            # an error under our tests) in favour of "plugins". Listing only the
            # anonymous-auth plugin also leaves out its default $SYS and packet loggers.
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        self._broker = _amqtt_broker(config)
        await self._broker.start()
        self._ready.set()
        await stopping.wait()
        await self._broker.shutdown()

    def stop(self) -> None:
        """Stop the broker and its thread."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is not None and loop is not None and stopping is not None and thread.is_alive():
            loop.call_soon_threadsafe(stopping.set)
            thread.join(timeout=10)
