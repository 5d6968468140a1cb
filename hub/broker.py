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
    ) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.persistence = persistence
        self.binary = binary or find_mosquitto()
        if self.binary is None:
            raise FileNotFoundError("mosquitto is not installed")
        self.max_queued_messages = max_queued_messages
        self.max_inflight_messages = max_inflight_messages
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
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config_text())
        assert self.binary is not None
        self.process = subprocess.Popen(
            [self.binary, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
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


class EmbeddedBroker:
    """An in-process pure-Python broker (amqtt, MQTT 3.1.1) for machines without mosquitto."""

    def __init__(self, *, port: int = 0) -> None:
        self.port = port or free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._ready = threading.Event()
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
        wait_for_port(LOOPBACK, self.port)

    def _run(self) -> None:
        from amqtt.broker import Broker

        loop = asyncio.new_event_loop()
        self._loop = loop
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{LOOPBACK}:{self.port}"}},
            "auth": {"allow-anonymous": True},
            "topic-check": {"enabled": False},
        }
        try:
            self._broker = Broker(config, loop=loop)
            loop.run_until_complete(self._broker.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._broker.shutdown())
        loop.close()

    def stop(self) -> None:
        """Stop the broker and its thread."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
