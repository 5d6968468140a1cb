"""A fake character LED controller on a pty, written from docs/led-boards.md alone.

It sits on the master side of a pseudo-terminal; the hub's serial driver
opens the slave side through a symlink (``path``), as it would open
``/dev/ttyUSB0``. It decodes each frame, checks its checksum, records the
page, and answers as told: ACK (the default), NAK, silence, or a garbled
answer. It can also put noise on the line, and be unplugged and plugged
back, under the same path, like a USB adapter.

None of hallrate's own code is used here, so a mistake in the driver's
framing cannot hide behind the same mistake in the fake.
"""

from __future__ import annotations

import binascii
import contextlib
import os
import select
import threading
import time
import tty
from collections import deque
from dataclasses import dataclass
from pathlib import Path

STX, ETX, DLE, ACK, NAK = 0x02, 0x03, 0x10, 0x06, 0x15
PAGE = 0x50


@dataclass(frozen=True)
class ShownPage:
    """A page frame the controller accepted."""

    seq: int
    style: int
    columns: int
    lines: int
    page: int
    pages: int
    text: tuple[str, ...]
    at: float  # time.monotonic() when the whole frame had arrived


def _frame(address: int, seq: int, command: int, payload: bytes = b"") -> bytes:
    body = bytes([address, seq, command]) + len(payload).to_bytes(2, "big") + payload
    body += binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big")
    out = bytearray([STX])
    for b in body:
        out += bytes([DLE, b ^ 0x20]) if b in (STX, ETX, DLE) else bytes([b])
    out.append(ETX)
    return bytes(out)


class FakeController:
    """A controller answering on a pty whose slave is reachable at ``path``."""

    def __init__(self, path: Path, *, address: int = 1, encoding: str = "gb18030") -> None:
        self.path = path
        self.address = address
        self.encoding = encoding
        self.pages: list[ShownPage] = []
        self.frames_seen = 0  # every well-formed frame, answered or not
        self._answers: deque[str] = deque()  # "ack", "nak", "silence", "garble"
        self._lock = threading.Lock()
        self._master = -1
        self._slave = -1
        self._thread: threading.Thread | None = None
        self._running = False
        self.plug()

    # Test controls.

    def answer_next(self, *answers: str) -> None:
        """How to answer the next frames, in order; afterwards ACK again."""
        with self._lock:
            self._answers.extend(answers)

    def noise(self, data: bytes) -> None:
        """Put bytes on the line, as a bad cable or a chatty controller would."""
        os.write(self._master, data)

    def unplug(self) -> None:
        """The adapter is pulled out: the pty and its path disappear."""
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def plug(self) -> None:
        """The adapter is (back) in: a new pty under the same path."""
        self._master, self._slave = os.openpty()
        # Raw from the start: no echo of our answers back to us, no line editing.
        tty.setraw(self._slave)
        tmp = self.path.with_suffix(".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(self._slave))
        tmp.replace(self.path)
        self._running = True
        self._thread = threading.Thread(target=self._run, name="fake-led", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.unplug()

    def texts(self) -> list[tuple[str, ...]]:
        """The text of every page shown so far, trailing spaces removed."""
        with self._lock:
            return [tuple(line.rstrip() for line in p.text) for p in self.pages]

    def shown(self) -> list[ShownPage]:
        with self._lock:
            return list(self.pages)

    # The controller.

    def _run(self) -> None:
        body: bytearray | None = None
        escaped = False
        while self._running:
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                continue  # no one has the slave open just now
            for byte in data:
                if byte == STX:
                    body, escaped = bytearray(), False
                elif body is None:
                    continue
                elif byte == ETX:
                    self._received(bytes(body))
                    body = None
                elif escaped:
                    body.append(byte ^ 0x20)
                    escaped = False
                elif byte == DLE:
                    escaped = True
                else:
                    body.append(byte)

    def _received(self, body: bytes) -> None:
        ok = (
            len(body) >= 7
            and len(body) == 7 + int.from_bytes(body[3:5], "big")
            and binascii.crc_hqx(body[:-2], 0xFFFF) == int.from_bytes(body[-2:], "big")
        )
        if not ok:
            return
        address, seq, command = body[0], body[1], body[2]
        if address != self.address:
            return
        with self._lock:
            self.frames_seen += 1
            answer = self._answers.popleft() if self._answers else "ack"
        if answer == "silence":
            return
        if answer == "nak":
            os.write(self._master, _frame(self.address, seq, NAK))
            return
        if answer == "garble":
            # A mangled answer: the right shape, a wrong checksum, then line noise.
            bad = bytearray(_frame(self.address, seq, ACK))
            bad[-2] ^= 0xFF
            os.write(self._master, bytes(bad) + b"\x03\x10\xff\x02\x99")
            return
        if command == PAGE:
            payload = body[5:-2]
            page = ShownPage(
                seq=seq,
                style=payload[0],
                columns=payload[1],
                lines=payload[2],
                page=payload[3],
                pages=payload[4],
                text=tuple(payload[5:].decode(self.encoding).split("\n")),
                at=time.monotonic(),
            )
            with self._lock:
                self.pages.append(page)
        os.write(self._master, _frame(self.address, seq, ACK))
