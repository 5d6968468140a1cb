"""Serial evaluator keypads: one driver class per keypad protocol, one port that reopens itself.

A :class:`KeypadDriver` turns the bytes a keypad sends into events (a key
press, a service command, a heartbeat) and a light pattern into the bytes
that make the keypad show it. :class:`FramedLineDriver` speaks hallrate's own
framed line protocol (``docs/evaluator.md``); a vendor's protocol is another
subclass, registered in :data:`DRIVERS`.

:class:`SerialKeypad` owns the port, opened with ``serial.serial_for_url`` so
tests use a pty. Its thread reads, feeds the driver and puts the events on the
agent's queue; when the port fails (the keypad was unplugged) it closes it
and tries again every ``reopen_s``, and after reopening it sends the current
light pattern again, since a keypad that lost power remembers nothing.

The framed line protocol, in short::

    frame    = "$" body "*" checksum CR LF          (at most 96 bytes)
    body     = type *("," field)                    (printable ASCII, no "$", "*")
    checksum = 2 hex digits: XOR of every byte of body

    keypad -> agent   K,<key>                       a key was pressed
                      S,<event>[,<ticket>[,<staff>]]  start|end|sign_in|sign_out|pause|resume
                      H[,<counter>]                 heartbeat, every few seconds
    agent -> keypad   L,<pattern>                   off|invite|thank|alarm

A frame that breaks any rule is counted as malformed and skipped.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

import serial

from device_agent.configfile import Float, Int, Str, between, checked, matching, one_of, section
from device_agent.protocol import (
    LEVELS,
    MAX_TICKET_CHARS,
    SERVICE_EVENTS,
    ServiceCommand,
)
from device_agent.topics import ID_PATTERN

logger = logging.getLogger(__name__)

MAX_FRAME = 96
# A read returns as soon as a byte comes; the timeout only bounds how long the
# reader sleeps on a quiet line (stop() cancels a read in progress).
READ_TIMEOUT_S = 2.0
KEY = re.compile(r"[0-9A-Za-z]{1,8}")
CHECKSUM = re.compile(r"[0-9A-Fa-f]{2}")
TICKET = re.compile(rf"[\x20-\x7e]{{1,{MAX_TICKET_CHARS}}}")
LOGGED_MALFORMED = 20  # then one line per hundred, so line noise cannot fill the log
DEFAULT_KEYPAD_KEYS = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5}


@dataclass(frozen=True, slots=True)
class KeypadKey:
    """A key of the keypad was pressed; the agent maps it to a level."""

    key: str
    at: float


@dataclass(frozen=True, slots=True)
class KeypadCommand:
    """The keypad (or the queue system behind it) started or ended a service."""

    command: ServiceCommand
    at: float


@dataclass(frozen=True, slots=True)
class KeypadHeartbeat:
    """The keypad says it is alive."""

    at: float


KeypadEvent = KeypadKey | KeypadCommand | KeypadHeartbeat


@dataclass(frozen=True, slots=True)
class KeypadStateChanged:
    """The port opened or failed; the agent reports it in its telemetry."""

    state: str
    error: str | None


class KeypadDriver(abc.ABC):
    """One keypad protocol: bytes in become events, light patterns become bytes out."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self.frames = 0
        self.malformed = 0
        self.last_malformed: str | None = None

    @abc.abstractmethod
    def feed(self, data: bytes, at: float) -> list[KeypadEvent]:
        """Take bytes read from the port; returns the events of every complete frame."""

    @abc.abstractmethod
    def light_frame(self, pattern: str) -> bytes | None:
        """The bytes that make the keypad show ``pattern``, or None if it has no light."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget a partly received frame (the port was reopened)."""

    def skipped(self, reason: str, raw: bytes) -> None:
        """Count a malformed frame; log the first ones, then every hundredth."""
        self.malformed += 1
        self.last_malformed = reason
        if self.malformed <= LOGGED_MALFORMED or self.malformed % 100 == 0:
            logger.warning(
                "keypad: skipped malformed frame #%d (%s): %r", self.malformed, reason, raw[:40]
            )


def checksum(body: bytes) -> int:
    """The XOR of every byte of a frame's body."""
    value = 0
    for byte in body:
        value ^= byte
    return value


def frame(*fields: str) -> bytes:
    """One frame of the framed line protocol, with its checksum and CR LF."""
    body = ",".join(fields).encode("ascii")
    return b"$%s*%02X\r\n" % (body, checksum(body))


class FramedLineDriver(KeypadDriver):
    """hallrate's framed line protocol (see the module's docstring)."""

    name = "framed"

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()
        self._skipping = False

    def feed(self, data: bytes, at: float) -> list[KeypadEvent]:
        self._buffer += data
        events: list[KeypadEvent] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_FRAME:
                    if not self._skipping:
                        self.skipped(f"longer than {MAX_FRAME} bytes", bytes(self._buffer))
                    self._skipping = True
                    self._buffer.clear()
                return events
            line = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            if self._skipping:
                # The tail of an overlong frame, already counted.
                self._skipping = False
                continue
            if not line:
                continue  # blank lines are line noise, not frames
            if len(line) > MAX_FRAME:
                self.skipped(f"longer than {MAX_FRAME} bytes", line)
                continue
            event = self._parse(line, at)
            if event is not None:
                self.frames += 1
                events.append(event)

    def light_frame(self, pattern: str) -> bytes | None:
        return frame("L", pattern)

    def reset(self) -> None:
        self._buffer.clear()
        self._skipping = False

    def _parse(self, line: bytes, at: float) -> KeypadEvent | None:
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            self.skipped("not ASCII", line)
            return None
        if not text.startswith("$") or len(text) < 5 or text[-3] != "*":
            self.skipped("not a $...*hh frame", line)
            return None
        body, digits = text[1:-3], text[-2:]
        if not CHECKSUM.fullmatch(digits) or any(c in body for c in "$*"):
            self.skipped("not a $...*hh frame", line)
            return None
        if not body.isprintable() or checksum(body.encode()) != int(digits, 16):
            self.skipped("bad checksum", line)
            return None
        kind, *args = body.split(",")
        if kind == "L":
            return None  # our own light frame: an RS-485 line echoes what we send
        event = self._event(kind, args, at)
        if event is None:
            self.skipped(f"bad {kind!r} frame", line)
        return event

    @staticmethod
    def _event(kind: str, args: list[str], at: float) -> KeypadEvent | None:
        if kind == "K" and len(args) == 1 and KEY.fullmatch(args[0]):
            return KeypadKey(args[0], at)
        if kind == "H" and len(args) <= 1:
            return KeypadHeartbeat(at)
        if kind == "S" and 1 <= len(args) <= 3 and args[0] in SERVICE_EVENTS:
            ticket = args[1] if len(args) > 1 and args[1] else None
            staff = args[2] if len(args) > 2 and args[2] else None
            if ticket is not None and not TICKET.fullmatch(ticket):
                return None
            if staff is not None and not ID_PATTERN.fullmatch(staff):
                return None
            return KeypadCommand(ServiceCommand(args[0], ticket=ticket, staff=staff), at)
        return None


DRIVERS: dict[str, type[KeypadDriver]] = {FramedLineDriver.name: FramedLineDriver}


def _level_problem(level: object) -> str | None:
    if not isinstance(level, int) or isinstance(level, bool) or level not in LEVELS:
        return f"level must be 1 to 5, got {level!r}"
    return None


# A satisfaction level a key or pin stands for, 1 (very dissatisfied) to 5.
Level = Annotated[Any, checked(_level_problem)]
# The keys of a keypad and the level each one gives.
KeypadKeys = dict[Annotated[Str, matching(KEY, f"key must match {KEY.pattern}")], Level]


@section
class KeypadSettings:
    """Where the keypad is plugged in, how it speaks, and what its keys mean: ``[keypad]``."""

    url: Str
    driver: Annotated[Str, one_of(*DRIVERS)] = FramedLineDriver.name
    baudrate: Annotated[Int, between(300, 4_000_000)] = 9600
    reopen_s: Annotated[Float, between(0.1, 60)] = 1.0
    heartbeat_timeout_s: Annotated[Float, between(1, 3600)] = 15.0
    keys: KeypadKeys = field(default_factory=lambda: dict(DEFAULT_KEYPAD_KEYS))


class SerialKeypad:
    """A keypad on a serial port, read by a thread of its own; reopens after an unplug."""

    def __init__(
        self,
        settings: KeypadSettings,
        events: queue.SimpleQueue[object],
        *,
        clock: Callable[[], float] = time.monotonic,
        opener: Callable[..., serial.SerialBase] = serial.serial_for_url,
    ) -> None:
        self.settings = settings
        self.driver = DRIVERS[settings.driver]()
        self._events = events
        self._clock = clock
        self._opener = opener
        self._port: serial.SerialBase | None = None
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pattern: str | None = None
        self.state = "closed"
        self.error: str | None = None
        self.opened = 0
        self.opened_at: float | None = None
        self.last_heard: float | None = None

    def start(self) -> None:
        """Open the port (now or later) and read it in the background."""
        self._thread = threading.Thread(target=self._run, name="keypad", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reading and close the port."""
        self._stop.set()
        port = self._port
        cancel = getattr(port, "cancel_read", None)
        if cancel is not None:
            # The reader may sleep in a read of a quiet line: wake it now.
            with contextlib.suppress(serial.SerialException, OSError):
                cancel()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close()

    def show(self, pattern: str) -> None:
        """Tell the keypad which light pattern to show (again after every reopen)."""
        self._pattern = pattern
        data = self.driver.light_frame(pattern)
        if data is not None:
            self._write(data)

    def status(self) -> dict[str, Any]:
        """The keypad's state for telemetry: open, silent (no heartbeat) or closed."""
        now = self._clock()
        state = self.state
        heard = self.last_heard if self.last_heard is not None else self.opened_at
        if (
            state == "open"
            and heard is not None
            and now - heard > self.settings.heartbeat_timeout_s
        ):
            state = "silent"
        return {
            "state": state,
            "url": self.settings.url,
            "driver": self.driver.name,
            "opened": self.opened,
            "frames": self.driver.frames,
            "malformed": self.driver.malformed,
            "last_malformed": self.driver.last_malformed,
            "heard_s_ago": None if self.last_heard is None else round(now - self.last_heard, 1),
            "error": self.error,
        }

    # The reader thread.

    def _run(self) -> None:
        while not self._stop.is_set():
            port = self._port
            if port is None:
                if not self._open():
                    self._stop.wait(self.settings.reopen_s)
                continue
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError) as exc:
                self._lost(exc)
                continue
            if not data:
                continue  # a read timeout returns b'', not an error
            try:
                events = self.driver.feed(data, self._clock())
            except Exception:
                # A driver bug must not stop the keypad; the bytes are lost, say so.
                logger.exception("keypad driver %s failed on %r", self.driver.name, data[:40])
                self.driver.reset()
                continue
            for event in events:
                self.last_heard = event.at
                self._events.put(event)

    def _open(self) -> bool:
        try:
            port = self._opener(
                self.settings.url,
                baudrate=self.settings.baudrate,
                timeout=READ_TIMEOUT_S,
                write_timeout=1.0,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            message = str(exc)
            if message != self.error:
                logger.warning("keypad %s cannot be opened: %s", self.settings.url, message)
                self.error = message
                self._events.put(KeypadStateChanged("closed", message))
            return False
        self.driver.reset()
        with self._write_lock:
            self._port = port
        self.opened += 1
        self.opened_at = self._clock()
        self.last_heard = None
        self.state = "open"
        self.error = None
        logger.info("keypad %s open (%s protocol)", self.settings.url, self.driver.name)
        self._events.put(KeypadStateChanged("open", None))
        if self._pattern is not None:
            self.show(self._pattern)
        return True

    def _lost(self, exc: BaseException) -> None:
        logger.warning("keypad %s lost: %s", self.settings.url, exc)
        self._close()
        self.state = "closed"
        self.error = str(exc)
        self._events.put(KeypadStateChanged("closed", self.error))

    def _write(self, data: bytes) -> None:
        with self._write_lock:
            if self._port is None:
                return
            try:
                self._port.write(data)
            except (serial.SerialException, OSError) as exc:
                # The reader notices a dead port; a slow keypad only misses a light.
                logger.debug("keypad %s: write failed: %s", self.settings.url, exc)

    def _close(self) -> None:
        with self._write_lock:
            port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()
