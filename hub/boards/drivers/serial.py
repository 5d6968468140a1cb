"""A character LED controller on a serial line, driven with hallrate's framed protocol.

Each page goes out whole, as one frame::

    STX | address | seq | command | length (2 bytes, big-endian) | payload | CRC-16 (2) | ETX

between ``STX`` (0x02) and ``ETX`` (0x03) every 0x02, 0x03 or ``DLE`` (0x10)
byte is sent as ``DLE`` followed by the byte XOR 0x20, and the CRC is
CRC-16/CCITT-FALSE over address..payload before escaping. The controller
answers each good frame with an ``ACK`` (0x06) frame of the same ``seq``, or
a ``NAK`` (0x15) frame when it could not use it; without an answer within
``ack_timeout_s`` the driver sends the frame again, ``retries`` times. Bytes
outside a frame and frames with a bad checksum are ignored. When the port
disappears (a USB adapter unplugged) the driver closes it and reopens it
every ``reopen_s`` until it is back, then sends the newest page, which heals
whatever the board missed. A page the controller has acknowledged is not
sent again while it stays the board's page, except once every
:attr:`redeliver_s` (:data:`RESEND_S`), so a controller that lost power on
its own shows it again.
``docs/led-boards.md`` is the full description.
"""

from __future__ import annotations

import binascii
import contextlib
import logging
import math
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial

from hub.boards.drivers.base import MailboxDriver
from hub.boards.frames import Frame
from hub.boards.layout import BoardLayout, SerialSettings
from hub.boards.width import char_width

logger = logging.getLogger(__name__)

STX = 0x02
ETX = 0x03
DLE = 0x10
ACK = 0x06
NAK = 0x15
CMD_PAGE = 0x50  # "P": show this page
STYLES = {"normal": 0, "alert": 1}
MAX_BODY = 3 + 2 + 65535 + 2
READ_SLICE_S = 0.05
WRITE_TIMEOUT_S = 2.0
# An unchanged page is sent again this often, for a controller that lost power.
RESEND_S = 60.0
# What a port whose device went away raises: pyserial's own error, or the
# OS's and termios' (flushing an unplugged tty) unwrapped.
PORT_GONE = (serial.SerialException, OSError, termios.error)

OpenPort = Callable[..., Any]


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF)."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True, slots=True)
class LinkFrame:
    """One frame of the serial protocol, unescaped."""

    address: int
    seq: int
    command: int
    payload: bytes = b""


def encode_frame(frame: LinkFrame) -> bytes:
    """The bytes on the line for ``frame``: framed, checksummed and escaped."""
    body = bytes((frame.address, frame.seq, frame.command))
    body += len(frame.payload).to_bytes(2, "big") + frame.payload
    body += crc16(body).to_bytes(2, "big")
    escaped = bytearray((STX,))
    for byte in body:
        if byte in (STX, ETX, DLE):
            escaped += bytes((DLE, byte ^ 0x20))
        else:
            escaped.append(byte)
    escaped.append(ETX)
    return bytes(escaped)


class FrameDecoder:
    """Finds frames in a byte stream; garbage between frames and bad checksums are skipped."""

    def __init__(self) -> None:
        self._body: bytearray | None = None  # None: between frames
        self._escaped = False
        self.rejected = 0  # frames dropped for a bad length or checksum

    def feed(self, data: bytes) -> list[LinkFrame]:
        """The complete, valid frames ``data`` finishes."""
        found = []
        for byte in data:
            if byte == STX:
                # A new frame starts, even inside a broken one: resynchronise here.
                self._body = bytearray()
                self._escaped = False
            elif self._body is None:
                continue
            elif byte == ETX:
                frame = _parse(bytes(self._body))
                self._body = None
                if frame is None:
                    self.rejected += 1
                else:
                    found.append(frame)
            elif self._escaped:
                self._body.append(byte ^ 0x20)
                self._escaped = False
            elif byte == DLE:
                self._escaped = True
            else:
                self._body.append(byte)
                if len(self._body) > MAX_BODY:
                    self._body = None
                    self.rejected += 1
        return found


def _parse(body: bytes) -> LinkFrame | None:
    if len(body) < 7:
        return None
    length = int.from_bytes(body[3:5], "big")
    if len(body) != 7 + length or crc16(body[:-2]) != int.from_bytes(body[-2:], "big"):
        return None
    return LinkFrame(body[0], body[1], body[2], body[5:-2])


def page_payload(frame: Frame, page: int, encoding: str) -> bytes:
    """The payload of a page frame: style, size, page number and count, then the lines.

    Lines are already fitted to the board's width and are separated by LF;
    a character the controller's encoding lacks is sent as one ``?`` per
    column it takes, so the line keeps the board's width.
    """
    shown = frame.pages[page]
    header = bytes(
        (
            STYLES[shown.style],
            frame.columns,
            frame.lines,
            min(page + 1, 255),
            min(len(frame.pages), 255),
        )
    )
    return header + b"\n".join(_encode_line(line, encoding) for line in shown.lines)


def _encode_line(line: str, encoding: str) -> bytes:
    try:
        return line.encode(encoding)
    except UnicodeEncodeError:
        # errors="replace" would give a wide character one "?" and a zero-width
        # one a whole column: the line would end short of, or past, the board's edge.
        return b"".join(_encode_char(char, encoding) for char in line)


def _encode_char(char: str, encoding: str) -> bytes:
    try:
        return char.encode(encoding)
    except UnicodeEncodeError:
        return b"?" * char_width(char)


@dataclass
class LinkStats:
    """What the link did, for tests, benchmarks and the logs."""

    opened: int = 0
    lost: int = 0
    sent: int = 0
    acked: int = 0
    retries: int = 0
    unanswered: int = 0


class SerialDriver(MailboxDriver):
    """Drives one board's controller on a serial port (any ``serial_for_url`` URL)."""

    redeliver_s = RESEND_S

    def __init__(
        self,
        board: BoardLayout,
        settings: SerialSettings,
        *,
        open_port: OpenPort = serial.serial_for_url,
    ) -> None:
        super().__init__(f"board-{board.id}-serial")
        self.board = board
        self.settings = settings
        self.stats = LinkStats()
        self._open_port = open_port
        self._port: Any = None
        self._seq = 0
        self._decoder = FrameDecoder()
        self._trouble: str | None = None
        # The payload the controller last acknowledged on the open port, and when.
        self._acked: bytes | None = None
        self._acked_at = -math.inf

    def deliver(self, frame: Frame, page: int) -> None:
        payload = page_payload(frame, page, self.settings.encoding)
        resend_s = math.inf if self.redeliver_s is None else self.redeliver_s
        if payload == self._acked and time.monotonic() - self._acked_at < resend_s:
            return  # the controller shows this very page already
        while not self.closed:
            if self._port is not None or self._open():
                try:
                    if self._send(payload):
                        return
                except PORT_GONE as exc:
                    self._lose(exc)
            # Unplugged or silent: offer the page again later, or the newer one if any.
            if self.superseded():
                return
            self.pause(self.settings.reopen_s)
            if self.superseded():
                return

    def release(self) -> None:
        self._close_port()

    def _open(self) -> bool:
        try:
            self._port = self._open_port(
                self.settings.url,
                baudrate=self.settings.baudrate,
                timeout=READ_SLICE_S,
                write_timeout=WRITE_TIMEOUT_S,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            self._report(f"cannot open {self.settings.url}: {exc}")
            return False
        self.stats.opened += 1
        self._decoder = FrameDecoder()
        return True

    def _send(self, payload: bytes) -> bool:
        self._seq = (self._seq + 1) % 256
        data = encode_frame(LinkFrame(self.settings.address, self._seq, CMD_PAGE, payload))
        self._port.reset_input_buffer()
        for attempt in range(1 + self.settings.retries):
            if attempt:
                if self.superseded():
                    return False
                self.stats.retries += 1
            self._port.write(data)
            self._port.flush()
            self.stats.sent += 1
            if self._await_ack(self._seq):
                self.stats.acked += 1
                self._acked, self._acked_at = payload, time.monotonic()
                self._recovered()
                return True
        self.stats.unanswered += 1
        self._report(f"no acknowledgement after {1 + self.settings.retries} tries")
        return False

    def _await_ack(self, seq: int) -> bool:
        """True on an ACK of ``seq``; False on a NAK or when the time is up."""
        deadline = time.monotonic() + self.settings.ack_timeout_s
        while time.monotonic() < deadline and not self.closed:
            chunk = self._port.read(max(1, self._port.in_waiting))
            for reply in self._decoder.feed(chunk):
                if reply.seq != seq:
                    continue  # a late answer to an earlier frame
                if reply.command == ACK:
                    return True
                if reply.command == NAK:
                    return False
        return False

    def _lose(self, exc: BaseException) -> None:
        self.stats.lost += 1
        self._report(f"lost {self.settings.url}: {exc}")
        self._close_port()

    def _close_port(self) -> None:
        self._acked = None  # a controller found again gets its page whatever it had
        port, self._port = self._port, None
        if port is not None:
            # Closing a port whose device is gone may fail too; it is closed either way.
            with contextlib.suppress(*PORT_GONE):
                port.close()

    def _report(self, trouble: str) -> None:
        # Log a fault once when it starts, not at every retry.
        if self._trouble is None:
            logger.warning("board %s: %s; retrying", self.board.id, trouble)
        self._trouble = trouble

    def _recovered(self) -> None:
        if self._trouble is not None:
            logger.info("board %s: controller answering again", self.board.id)
            self._trouble = None
