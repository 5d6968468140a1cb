"""Serial evaluator keypads: the framed line protocol, and a keypad on a pty end to end."""

from __future__ import annotations

import os
import select
from pathlib import Path

import pytest

from device_agent.keypad import (
    FramedLineDriver,
    KeypadCommand,
    KeypadHeartbeat,
    KeypadKey,
    frame,
)
from device_agent.protocol import ServiceCommand
from tests.clock import SteppedClock
from tests.hall import get_json, query, read_token, wait_until

MALFORMED = [
    b"garbage\r\n",  # not a frame at all
    b"$K,5*00\r\n",  # checksum wrong
    b"$K," + b"9" * 200 + b"*00\r\n",  # far too long
    frame("Z", "1"),  # a good checksum, an unknown type
    frame("K", "!!"),  # a key that is no key
    b"$K,\xff*00\r\n",  # not ASCII
    frame("S", "start", "A" * 40),  # a ticket over 32 characters
]


def test_driver_parses_frames_however_the_bytes_are_split():
    driver = FramedLineDriver()
    stream = frame("S", "start", "A017", "s02") + frame("H", "7") + frame("K", "3")
    events = []
    for i in range(len(stream)):  # one byte at a time, as a slow UART delivers them
        events += driver.feed(stream[i : i + 1], float(i))
    assert [type(e) for e in events] == [KeypadCommand, KeypadHeartbeat, KeypadKey]
    assert events[0].command == ServiceCommand("start", ticket="A017", staff="s02")
    assert events[2].key == "3"
    assert (driver.frames, driver.malformed) == (3, 0)


def test_driver_skips_and_counts_each_malformed_frame_and_keeps_going():
    driver = FramedLineDriver()
    data = b"".join(m + frame("K", str(i % 5 + 1)) for i, m in enumerate(MALFORMED))
    events = driver.feed(data, 1.0)
    assert [e.key for e in events] == ["1", "2", "3", "4", "5", "1", "2"]
    assert driver.malformed == len(MALFORMED)
    assert driver.frames == len(MALFORMED)


def test_driver_accepts_lf_only_lowercase_checksums_and_empty_optional_fields():
    driver = FramedLineDriver()
    lower = frame("K", "12").decode().lower().replace("$k", "$K").encode()
    events = driver.feed(lower.rstrip(b"\r\n") + b"\n" + frame("S", "end", "", "") + b"\r\n", 0)
    assert events[0] == KeypadKey("12", 0)
    assert events[1] == KeypadCommand(ServiceCommand("end"), 0)
    assert driver.malformed == 0


def test_light_frames_are_framed_too():
    assert FramedLineDriver().light_frame("thank") == frame("L", "thank")
    driver = FramedLineDriver()
    assert driver.feed(frame("L", "thank"), 0) == []  # an echo (RS-485) is no event...
    assert driver.malformed == 0  # ... and no error


class PtyKeypad:
    """The keypad's end of the serial line: a pty's master, behind a path that survives replugs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.master: int | None = None
        self.received = bytearray()
        self.plug()

    def plug(self) -> None:
        master, slave = os.openpty()
        temporary = self.path.with_name(self.path.name + ".new")
        os.symlink(os.ttyname(slave), temporary)
        os.replace(temporary, self.path)
        os.close(slave)
        self.master = master
        self.received.clear()

    def unplug(self) -> None:
        assert self.master is not None
        os.close(self.master)
        self.master = None

    def send(self, *frames: bytes) -> None:
        assert self.master is not None
        os.write(self.master, b"".join(frames))

    def lines(self) -> list[bytes]:
        """Every frame the agent wrote to the keypad so far."""
        while self.master is not None and select.select([self.master], [], [], 0)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break  # nobody has the other end open (yet)
            if not chunk:
                break
            self.received += chunk
        return bytes(self.received).splitlines()

    def close(self) -> None:
        if self.master is not None:
            self.unplug()


@pytest.fixture
def keypad(tmp_path):
    peer = PtyKeypad(tmp_path / "ttyKEYPAD")
    yield peer
    peer.close()


def keypad_config(path: Path) -> str:
    return (
        f'\n[keypad]\nurl = "{path}"\nreopen_s = 0.1\nheartbeat_timeout_s = 60\n'
        '\n[keypad.keys]\n"1" = 1\n"2" = 2\n"3" = 3\n"4" = 4\n"5" = 5\n'
        "\n[telemetry]\ninterval_s = 0.3\n"
    )


def telemetry(hub) -> dict:
    devices = get_json(f"{hub.api_url}/api/v1/devices", token=read_token(hub.config.database))[
        "devices"
    ]
    return next(d for d in devices if d["id"] == "w01-eval")["telemetry"] or {}


def votes(hall) -> list[tuple]:
    return query(
        hall.database, "SELECT level, staff, ticket, counted, flags FROM votes ORDER BY rowid"
    )


def test_keypad_runs_a_service_and_skips_malformed_frames(hall, start_hub, start_agent, keypad):
    hub = start_hub(hall)
    start_agent(hall, 1, clock=SteppedClock(), extra=keypad_config(keypad.path))
    wait_until(lambda: frame("L", "off").rstrip() in keypad.lines(), message="the keypad opened")

    keypad.send(frame("S", "start", "A017", "s02"), *MALFORMED[:3], frame("H", "1"))
    keypad.send(frame("S", "end"), *MALFORMED[3:], frame("K", "9"))  # key 9 is not in the map
    keypad.send(frame("K", "4"))

    wait_until(lambda: votes(hall), message="the vote at the hub")
    assert votes(hall) == [(4, "s02", "A017", 1, "[]")]
    assert query(hall.database, "SELECT event, staff, ticket FROM service_events") == [
        ("start", "s02", "A017"),
        ("end", "s02", "A017"),
    ]
    # The keypad was told to invite, then to thank, on the serial line.
    wait_until(lambda: frame("L", "thank").rstrip() in keypad.lines(), message="thank you")
    assert keypad.lines().index(frame("L", "invite").rstrip()) < keypad.lines().index(
        frame("L", "thank").rstrip()
    )
    wait_until(
        lambda: telemetry(hub).get("keypad", {}).get("frames") == 5,
        message="frames counted in the telemetry",
    )
    report = telemetry(hub)
    assert report["keypad"]["state"] == "open"
    assert report["keypad"]["malformed"] == len(MALFORMED)
    assert report["presses"]["unknown_keys"] == 1


def test_an_unplugged_keypad_is_reported_and_works_again_once_back(
    hall, start_hub, start_agent, keypad
):
    hub = start_hub(hall)
    clock = SteppedClock()
    start_agent(hall, 1, clock=clock, extra=keypad_config(keypad.path))
    wait_until(lambda: frame("L", "off").rstrip() in keypad.lines(), message="the keypad opened")
    keypad.send(frame("K", "5"))
    wait_until(lambda: len(votes(hall)) == 1, message="the first vote")

    keypad.unplug()
    wait_until(
        lambda: telemetry(hub).get("keypad", {}).get("state") == "closed",
        message="the keypad reported closed",
    )
    assert telemetry(hub)["keypad"]["error"]

    keypad.plug()
    # Reopened, it is sent the light pattern again: a keypad that lost power remembers nothing.
    wait_until(lambda: frame("L", "off").rstrip() in keypad.lines(), message="the light again")
    wait_until(
        lambda: telemetry(hub).get("keypad", {}).get("opened") == 2,
        message="the keypad reported open again",
    )
    assert telemetry(hub)["keypad"]["state"] == "open"
    clock.advance(10)  # past the cooldown
    keypad.send(frame("K", "2"))
    wait_until(lambda: len(votes(hall)) == 2, message="a vote after the replug")
    assert [v[0] for v in votes(hall)] == [5, 2]


def test_the_frames_in_the_docs_are_valid():
    text = (Path(__file__).parent.parent / "docs" / "evaluator.md").read_text()
    block = text.split("<!-- frames: valid -->", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    lines = block.strip().splitlines()
    driver = FramedLineDriver()
    events = driver.feed(b"".join(line.encode() + b"\r\n" for line in lines), 0)
    assert driver.malformed == 0
    assert len(events) == sum(1 for line in lines if not line.startswith("$L"))
    assert [frame(*line[1:-3].split(",")) for line in lines] == [
        line.encode() + b"\r\n" for line in lines
    ]
