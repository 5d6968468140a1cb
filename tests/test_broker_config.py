"""The hall broker configuration in firmware_config/mosquitto, run by the real Mosquitto.

Only the paths and the port are changed for the test; the authentication,
the %u ACL and the queue settings are the shipped ones.
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.broker import find_mosquitto, free_port, wait_for_port
from hub.config import load_hub_config
from hub.service import HubService
from tests.hall import query, wait_until

ROOT = Path(__file__).resolve().parent.parent
MOSQUITTO = ROOT / "firmware_config" / "mosquitto"
SAMPLE = ROOT / "firmware_config" / "sample-hall"
PASSWORDS = {"hub-qinghe": "hub-secret", "w01-eval": "w01-secret", "w02-eval": "w02-secret"}
VOTE = "hallrate/qinghe/device/{}/vote"
RECEIPT = "hallrate/qinghe/device/w01-eval/receipt"


def hall_broker_config(text: str, *, port: int, workdir: Path) -> str:
    """The shipped configuration with this test's port and paths."""
    replaced = {
        "listener": f"listener {port} 127.0.0.1",
        "password_file": f"password_file {workdir / 'passwd'}",
        "acl_file": f"acl_file {workdir / 'acl'}",
    }
    lines = []
    for line in text.splitlines():
        key = line.split(" ", 1)[0]
        lines.append(replaced.pop(key, line) if not line.startswith("#") else line)
    assert not replaced, f"the shipped config lacks {sorted(replaced)}"
    # What Debian's main mosquitto.conf sets around the included file.
    lines += [
        f"persistence_location {workdir}/",
        f"user {getpass.getuser()}",
        f"log_dest file {workdir / 'mosquitto.log'}",
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def hall_broker(tmp_path: Path) -> Iterator[int]:
    """Mosquitto running the shipped hall configuration; yields its port."""
    binary = find_mosquitto()
    assert binary is not None, "mosquitto is not installed: run the tests with `make test`"
    workdir = tmp_path / "broker"
    workdir.mkdir()
    shutil.copy(MOSQUITTO / "acl", workdir / "acl")
    (workdir / "passwd").touch()
    for user, password in PASSWORDS.items():
        subprocess.run(
            ["mosquitto_passwd", "-b", str(workdir / "passwd"), user, password],
            check=True,
            capture_output=True,
        )
    port = free_port()
    conf = workdir / "hallrate.conf"
    conf.write_text(
        hall_broker_config((MOSQUITTO / "hallrate.conf").read_text(), port=port, workdir=workdir)
    )
    process = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        wait_for_port("127.0.0.1", port)
        yield port
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
        assert b"Error" not in err, err.decode()


def connect(port: int, user: str | None, *, client_id: str) -> tuple[paho.Client, list, list]:
    """A raw MQTT 5 client, with the lists its PUBACK reason codes and messages go to."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    acks: list = []
    messages: list = []
    client.on_publish = lambda c, u, mid, reason, props: acks.append((mid, reason))
    client.on_message = lambda c, u, message: messages.append((message.topic, message.payload))
    if user is not None:
        client.username_pw_set(user, PASSWORDS[user])
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client, acks, messages


@pytest.fixture
def clients() -> Iterator[list[paho.Client]]:
    made: list[paho.Client] = []
    yield made
    for client in made:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def hub_on_hall_broker(tmp_path: Path, hall_broker: int) -> Iterator[Path]:
    """The hub of the sample hall, logged in as hub-qinghe; yields its database path."""
    root = tmp_path / "hub"
    root.mkdir()
    shutil.copy(SAMPLE / "directory.toml", root / "directory.toml")
    (root / "hub-broker.password").write_text(PASSWORDS["hub-qinghe"] + "\n")
    (root / "hub.toml").write_text(
        '[hub]\nhall = "qinghe"\ndatabase = "hub.sqlite"\ndirectory = "directory.toml"\n\n'
        f'[broker]\nport = {hall_broker}\nusername = "hub-qinghe"\n'
        'password_file = "hub-broker.password"\n\n[api]\nport = 0\n'
    )
    hub = HubService(load_hub_config(root / "hub.toml"))
    hub.start()
    wait_until(lambda: hub.ingest.state.connected, message="the hub logged in")
    yield root / "hub.sqlite"
    hub.stop()


def vote(device: str, seq: int) -> str:
    return (
        f'{{"v":1,"id":"{device}-{seq:012d}","seq":{seq},'
        f'"ts":"2026-11-22T09:00:00.000+08:00","device":"{device}",'
        f'"channel":"window","window":"{device[:3]}","level":5}}'
    )


def test_a_device_votes_as_itself_and_not_as_another(hub_on_hall_broker, hall_broker, clients):
    # w01-eval's credentials, and the client id of w02-eval: %c would let it through.
    client, acks, messages = connect(hall_broker, "w01-eval", client_id="w02-eval")
    clients.append(client)
    wait_until(client.is_connected, message="w01-eval logged in")
    client.subscribe(RECEIPT, qos=1)

    forged = client.publish(VOTE.format("w02-eval"), vote("w02-eval", 1), qos=1)
    own = client.publish(VOTE.format("w01-eval"), vote("w01-eval", 1), qos=1)
    wait_until(lambda: len(acks) == 2, message="both PUBACKs")

    reasons = dict(acks)
    assert reasons[forged.mid].getName() == "Not authorized"
    assert not reasons[own.mid].is_failure
    stored = wait_until(
        lambda: query(hub_on_hall_broker, "SELECT id FROM votes"), message="the own vote stored"
    )
    # Published before the own vote on the same connection: it would be here by now.
    assert stored == [("w01-eval-000000000001",)]
    # The hub may answer on the device's receipt topic, and only the device reads it.
    wait_until(lambda: messages, message="the receipt")
    assert messages[0][0] == RECEIPT
    assert b'"ids":["w01-eval-000000000001"]' in messages[0][1]


def test_anonymous_and_wrong_passwords_are_refused(hall_broker):
    for user, password in ((None, None), ("w01-eval", "wrong")):
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="x", protocol=paho.MQTTv5)
        codes: list = []
        client.on_connect = lambda c, u, flags, reason, props, codes=codes: codes.append(reason)
        if user is not None:
            client.username_pw_set(user, password)
        client.connect("127.0.0.1", hall_broker)
        client.loop_start()
        try:
            wait_until(lambda codes=codes: codes, message="the CONNACK")
        finally:
            client.disconnect()
            client.loop_stop()
        assert codes[0].is_failure, (user, codes[0])
