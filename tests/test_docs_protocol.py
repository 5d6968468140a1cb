"""docs/protocol.md is true: its example runs as written, and it covers the whole protocol.

The worked example's files, commands and expected receipts are read out of
the page itself and run with Mosquitto's own clients against a real hub of
the sample hall, so the page cannot drift from what the hub does.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from device_agent import protocol, session
from device_agent.topics import ID_PATTERN, BoardTopic, DeviceTopic, HubTopic
from hub.config import load_hub_config
from hub.service import HubService
from kiosk import citizen
from tests.hall import get_json, read_token, wait_until

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "protocol.md"
SAMPLE = ROOT / "firmware_config" / "sample-hall"
DOC_PORT = "1883"


def example(name: str) -> str:
    """The fenced block right after ``<!-- example: name -->`` in the page."""
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(rf"<!-- example: {re.escape(name)} -->\n```\w*\n(.*?)\n```", text, re.S)
    assert match, f"docs/protocol.md has no example {name!r}"
    return match[1]


def command(line: str, port: int) -> list[str]:
    """A command of the page, pointed at the test broker instead of port 1883."""
    argv = shlex.split(line)
    assert argv[argv.index("-p") + 1] == DOC_PORT
    argv[argv.index("-p") + 1] = str(port)
    return argv


@pytest.fixture
def sample_hub(tmp_path: Path, own_broker) -> Iterator[HubService]:
    """A hub of the sample hall on a broker of this test's own."""
    root = tmp_path / "hub"
    root.mkdir()
    shutil.copy(SAMPLE / "directory.toml", root / "directory.toml")
    (root / "hub.toml").write_text(
        '[hub]\nhall = "qinghe"\ndatabase = "hub.sqlite"\ndirectory = "directory.toml"\n\n'
        f"[broker]\nport = {own_broker.port}\n\n[api]\nport = 0\n"
    )
    hub = HubService(load_hub_config(root / "hub.toml"))
    hub.start()
    wait_until(lambda: hub.ingest.state.connected, message="the hub connected")
    yield hub
    hub.stop()


class Subscriber:
    """The page's mosquitto_sub, run in debug mode so we know when it has subscribed."""

    def __init__(self, argv: list[str], *, count: int) -> None:
        # Line-buffered: mosquitto_sub would hold its lines in a pipe's block buffer.
        self.process = subprocess.Popen(
            ["stdbuf", "-oL", *argv, "-d", "-C", str(count), "-W", "60"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.subscribed = threading.Event()
        self.messages: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "SUBACK" in line:
                self.subscribed.set()
            elif line.startswith("hallrate/"):
                self.messages.append(line.rstrip("\n"))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def test_the_worked_example_is_stored_and_receipted(tmp_path, own_broker, sample_hub):
    work = tmp_path / "work"
    work.mkdir()
    (work / "vote.json").write_text(example("vote"), encoding="utf-8")
    (work / "bad-vote.json").write_text(example("bad vote"), encoding="utf-8")
    sub_line, pub_line = example("commands").splitlines()

    subscriber = Subscriber(command(sub_line, own_broker.port), count=3)
    try:
        assert subscriber.subscribed.wait(30), "mosquitto_sub did not subscribe"
        publish = command(pub_line, own_broker.port)
        bad = [*publish[: publish.index("-f")], "-f", "bad-vote.json"]
        bad[bad.index("-t") + 1] = publish[publish.index("-t") + 1]
        # The vote, the same vote again, then the bad one: one receipt each, in order.
        for n, argv in enumerate((publish, publish, bad), start=1):
            subprocess.run(argv, cwd=work, check=True, timeout=30)
            wait_until(lambda n=n: len(subscriber.messages) == n, message=f"receipt {n}")
    finally:
        subscriber.close()

    stored, rejected = example("receipt"), example("rejected receipt")
    assert subscriber.messages == [stored, stored, rejected]

    api = sample_hub.api_url
    token = read_token(sample_hub.config.database)
    votes = get_json(f"{api}/api/v1/votes?device=w08-eval", token=token)["votes"]
    assert [(v["id"], v["level"], v["staff"], v["ticket"]) for v in votes] == [
        ("w08-eval-000000001042", 4, "s008", "D017")
    ]
    assert votes[0]["flags"] == []  # no `sent`, no clock-skew correction
    quarantined = get_json(f"{api}/api/v1/quarantine", token=token)["quarantine"]
    assert [(q["record_id"], q["reason"]) for q in quarantined] == [
        ("w08-eval-000000001043", "level: must be an integer from 1 to 5, got 7")
    ]
    assert json.loads(quarantined[0]["payload"]) == json.loads(example("bad vote"))


def test_every_topic_field_and_limit_is_documented():
    text = PAGE.read_text(encoding="utf-8")
    for kind in DeviceTopic:
        assert f"`{{base}}/device/{{id}}/{kind.value}`" in text, kind
    for kind in BoardTopic:
        assert f"`{{base}}/board/{{board}}/{kind.value}`" in text, kind
    for kind in HubTopic:
        assert f"`{{base}}/hub/{kind.value}`" in text, kind
    envelopes = (
        protocol.Vote,
        protocol.VoteFilter,
        protocol.ServiceEvent,
        protocol.ServiceCommand,
        protocol.Complaint,
        protocol.Receipt,
    )
    for envelope in envelopes:
        for field in dataclasses.fields(envelope):
            assert f"`{field.name}`" in text, f"{envelope.__name__}.{field.name}"
    rules = (session.RULES, citizen.RULES)
    for values in (protocol.CHANNELS, protocol.DIMENSIONS, protocol.SERVICE_EVENTS, *rules):
        for value in values:
            assert f"`{value}`" in text, value
    for pattern in (ID_PATTERN, protocol.ENVELOPE_ID, protocol.CODE, protocol.CLAIM_CODE):
        assert f"`{pattern.pattern}`" in text, pattern.pattern
    limits = (
        protocol.MAX_PAYLOAD_BYTES,
        protocol.MAX_COMMENT_CHARS,
        protocol.MAX_TICKET_CHARS,
        protocol.MAX_COMPLAINT_CHARS,
        protocol.MAX_CONTACT_CHARS,
        protocol.MAX_LIST_ITEMS,
    )
    for limit in limits:
        assert f"{limit:,}" in text, limit
