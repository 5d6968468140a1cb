"""The hall broker configuration in firmware_config/mosquitto, run by the real Mosquitto.

Only the paths, ports and certificates are changed for the test (both
listeners on loopback, a throwaway hall CA made by the shipped
hall-certs.sh); the authentication, client ids bound to user names, the %u
ACL, the TLS listener and the queue settings are the shipped ones.
"""

from __future__ import annotations

import getpass
import logging
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from device_agent.configfile import Secret
from device_agent.mqtt import BrokerSettings, MqttClient
from hallrate.broker import find_mosquitto, free_port, wait_for_port
from hub.config import load_hub_config
from hub.device_config import set_device_config
from hub.service import HubService
from tests.certs import HallCA, make_hall_ca
from tests.hall import Hall, query, wait_until

ROOT = Path(__file__).resolve().parent.parent
MOSQUITTO = ROOT / "firmware_config" / "mosquitto"
SAMPLE = ROOT / "firmware_config" / "sample-hall"
PASSWORDS = {
    "hub-qinghe": "hub-secret",
    # hallrate device-config, beside the hub: an account of its own, the hub's password.
    "hub-qinghe-device-config": "hub-secret",
    "w01-eval": "w01-secret",
    "w02-eval": "w02-secret",
    "monitor": "monitor-secret",
}
VOTE = "hallrate/qinghe/device/{}/vote"
RECEIPT = "hallrate/qinghe/device/w01-eval/receipt"
REQUIRE_CERTIFICATE = "#require_certificate true"


@dataclass(frozen=True)
class HallBroker:
    """A running test broker: its loopback plain port, its TLS port, its CA and its log."""

    port: int
    tls_port: int
    ca: HallCA
    log: Path


def hall_broker_config(
    text: str,
    *,
    port: int,
    tls_port: int,
    workdir: Path,
    ca: HallCA,
    require_certificate: bool = False,
) -> str:
    """The shipped configuration with this test's ports, paths and certificates."""
    whole_lines = {
        "listener 1883 127.0.0.1": f"listener {port} 127.0.0.1",
        # The hall LAN's listener, on loopback for the test.
        "listener 8883": f"listener {tls_port} 127.0.0.1",
    }
    if require_certificate:
        whole_lines[REQUIRE_CERTIFICATE] = REQUIRE_CERTIFICATE.lstrip("#")
    first_words = {
        "password_file": f"password_file {workdir / 'passwd'}",
        "acl_file": f"acl_file {workdir / 'acl'}",
        "cafile": f"cafile {ca.ca}",
        "certfile": f"certfile {ca.broker_cert}",
        "keyfile": f"keyfile {ca.broker_key}",
    }
    lines = []
    for line in text.splitlines():
        if line in whole_lines:
            lines.append(whole_lines.pop(line))
        elif not line.startswith("#") and line.split(" ", 1)[0] in first_words:
            lines.append(first_words.pop(line.split(" ", 1)[0]))
        else:
            lines.append(line)
    missing = sorted(whole_lines) + sorted(first_words)
    assert not missing, f"the shipped config lacks {missing}"
    # What Debian's main mosquitto.conf sets around the included file.
    lines += [
        f"persistence_location {workdir}/",
        f"user {getpass.getuser()}",
        f"log_dest file {workdir / 'mosquitto.log'}",
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def start_hall_broker(tmp_path: Path) -> Iterator[Callable[..., HallBroker]]:
    """Start Mosquitto on the shipped hall configuration; stopped at the end of the test."""
    processes: list[subprocess.Popen] = []

    def start(*, require_certificate: bool = False) -> HallBroker:
        binary = find_mosquitto()
        assert binary is not None, "mosquitto is not installed: run the tests with `make test`"
        workdir = tmp_path / f"broker{len(processes)}"
        workdir.mkdir()
        ca = make_hall_ca(workdir / "certs", names=("127.0.0.1", "localhost", "hub.qinghe.test"))
        shutil.copy(MOSQUITTO / "acl", workdir / "acl")
        (workdir / "passwd").touch()
        for user, password in PASSWORDS.items():
            subprocess.run(
                ["mosquitto_passwd", "-b", str(workdir / "passwd"), user, password],
                check=True,
                capture_output=True,
            )
        port, tls_port = free_port(), free_port()
        conf = workdir / "hallrate.conf"
        conf.write_text(
            hall_broker_config(
                (MOSQUITTO / "hallrate.conf").read_text(),
                port=port,
                tls_port=tls_port,
                workdir=workdir,
                ca=ca,
                require_certificate=require_certificate,
            )
        )
        process = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.PIPE)
        processes.append(process)
        wait_for_port("127.0.0.1", port)
        wait_for_port("127.0.0.1", tls_port)
        return HallBroker(port, tls_port, ca, workdir / "mosquitto.log")

    yield start
    for process in processes:
        process.terminate()
        _, err = process.communicate(timeout=10)
        assert b"Error" not in err, err.decode()


@pytest.fixture
def hall_broker(start_hall_broker) -> HallBroker:
    """Mosquitto running the shipped hall configuration."""
    return start_hall_broker()


def connect(
    port: int, user: str | None, *, client_id: str, ca: Path | None = None
) -> tuple[paho.Client, list, list]:
    """A raw MQTT 5 client, with the lists its PUBACK reason codes and messages go to.

    ``ca``: connect with TLS, trusting that CA.
    """
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    acks: list = []
    messages: list = []
    client.on_publish = lambda c, u, mid, reason, props: acks.append((mid, reason))
    client.on_message = lambda c, u, message: messages.append((message.topic, message.payload))
    if user is not None:
        client.username_pw_set(user, PASSWORDS[user])
    if ca is not None:
        client.tls_set_context(ssl.create_default_context(cafile=ca))
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


@dataclass(frozen=True)
class RunningHub:
    """The sample hall's hub on the test broker, and its database."""

    service: HubService
    database: Path


@pytest.fixture
def hub_on_hall_broker(tmp_path: Path, hall_broker: HallBroker) -> Iterator[RunningHub]:
    """The hub of the sample hall, logged in as hub-qinghe on the loopback listener."""
    root = tmp_path / "hub"
    root.mkdir()
    shutil.copy(SAMPLE / "directory.toml", root / "directory.toml")
    (root / "hub-broker.password").write_text(PASSWORDS["hub-qinghe"] + "\n")
    (root / "hub.toml").write_text(
        '[hub]\nhall = "qinghe"\ndatabase = "hub.sqlite"\ndirectory = "directory.toml"\n\n'
        f'[broker]\nport = {hall_broker.port}\nusername = "hub-qinghe"\n'
        'password_file = "hub-broker.password"\nreconnect_max_s = 2\n\n[api]\nport = 0\n'
        # Two more connections: the LED board publisher and forwarding to central.
        "\n[forwarding]\nmqtt = true\nsummary_interval_s = 1\n"
        '\n[[boards]]\nid = "hall-main"\nkind = "wall"\ncolumns = 24\nlines = 4\n'
        'driver = "mqtt"\npages = [{ page = "hall", hold_s = 5 }]\n'
    )
    hub = HubService(load_hub_config(root / "hub.toml"))
    hub.start()
    wait_until(lambda: hub.ingest.state.connected, message="the hub logged in")
    yield RunningHub(hub, root / "hub.sqlite")
    hub.stop()


def vote(device: str, seq: int) -> str:
    return (
        f'{{"v":1,"id":"{device}-{seq:012d}","seq":{seq},'
        f'"ts":"2026-11-22T09:00:00.000+08:00","device":"{device}",'
        f'"channel":"window","window":"{device[:3]}","level":5}}'
    )


def test_the_hub_speaks_for_ingest_boards_and_forwarding_over_one_connection(
    hub_on_hall_broker, hall_broker, clients
):
    monitor, _, seen = connect(hall_broker.port, "monitor", client_id="monitor")
    clients.append(monitor)
    monitor.subscribe("hallrate/qinghe/#", qos=1)
    topics = {
        "hallrate/qinghe/hub/status",
        "hallrate/qinghe/board/hall-main/frame",
        "hallrate/qinghe/hub/summary",
    }
    wait_until(
        lambda: topics <= {topic for topic, _ in seen},
        message="the hub's status, a board frame and the hall summary",
    )
    log = hall_broker.log.read_text()
    # The hub's own account carries its status, the boards' frames and forwarding.
    assert log.count("as hub-qinghe ") == 1
    assert "hub-qinghe-boards" not in log and "hub-qinghe-forward" not in log
    assert "already connected" not in log
    assert hub_on_hall_broker.service.ingest.state.connected


def test_a_device_votes_as_itself_and_not_as_another(hub_on_hall_broker, hall_broker, clients):
    # w01-eval's credentials, and the client id of w02-eval: %c would let it through.
    client, acks, messages = connect(hall_broker.port, "w01-eval", client_id="w02-eval")
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
        lambda: query(hub_on_hall_broker.database, "SELECT id FROM votes"),
        message="the own vote stored",
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
        client.connect("127.0.0.1", hall_broker.port)
        client.loop_start()
        try:
            wait_until(lambda codes=codes: codes, message="the CONNACK")
        finally:
            client.disconnect()
            client.loop_stop()
        assert codes[0].is_failure, (user, codes[0])


# TLS: the hall LAN's listener


def tls_lines(ca: Path, cert: tuple[Path, Path] | None = None, *, server_name: str = "") -> str:
    """The [broker] lines that turn TLS on, trusting ``ca``, presenting ``cert``."""
    lines = ["tls = true", f'ca_file = "{ca}"']
    if cert is not None:
        lines += [f'cert_file = "{cert[0]}"', f'key_file = "{cert[1]}"']
    if server_name:
        lines.append(f'server_name = "{server_name}"')
    return "\n".join(lines) + "\n"


def test_a_vote_its_receipt_and_a_device_config_cross_the_tls_listener(
    start_hall_broker, tmp_path, start_hub, start_agent
):
    # The strictest setting: TLS, and a client certificate from the hall CA on top
    # of each account's password.
    broker = start_hall_broker(require_certificate=True)
    hall = Hall(tmp_path / "hall", broker.tls_port, id="qinghe")
    (hall.root / "hub.password").write_text(PASSWORDS["hub-qinghe"])
    (hall.root / "broker.password").write_text(PASSWORDS["w01-eval"])
    hub = start_hub(
        hall,
        broker='username = "hub-qinghe"\npassword_file = "hub.password"\n'
        + tls_lines(broker.ca.ca, broker.ca.client("hub-qinghe")),
    )
    window = start_agent(
        hall,
        1,
        broker='username = "w01-eval"\npassword_file = "broker.password"\n'
        + tls_lines(broker.ca.ca, broker.ca.client("w01-eval")),
    )
    wait_until(lambda: hub.ingest.state.connected, message="the hub connected over TLS")
    wait_until(lambda: window.agent.link.connected, message="the window connected over TLS")

    window.press(27)  # level 4

    votes = wait_until(hall.stored_votes, message="the vote in the hub's database")
    assert [v[1:] for v in votes] == [("w01-eval", 4, "w01", "s01")]
    wait_until(lambda: window.agent.outbox.depth == 0, message="the receipt clearing the outbox")
    # hallrate device-config, over TLS with its own account, reaches the device too.
    report = set_device_config(hub.config, "w01-eval", {"v": 1, "config_version": 4}, timeout=20)
    assert report["applied"]
    log = broker.log.read_text()
    for account in ("hub-qinghe", "w01-eval", "hub-qinghe-device-config"):
        assert f"as {account} " in log


def tls_settings(broker: HallBroker, user: str, **tls: object) -> BrokerSettings:
    return BrokerSettings(
        port=broker.tls_port,
        username=user,
        password=Secret(PASSWORDS[user]),
        tls=True,
        **tls,  # type: ignore[arg-type]
    )


def connacks(settings: BrokerSettings, *, within: float) -> list:
    """The CONNACK reason codes a client of ``settings`` gets within ``within`` seconds."""
    connection = MqttClient(settings, client_id=settings.username or "x")
    codes: list = []
    on_connect = connection.client.on_connect

    def record(client: paho.Client, userdata: object, flags, reason, properties) -> None:
        codes.append(reason)
        on_connect(client, userdata, flags, reason, properties)

    connection.client.on_connect = record
    connection.start()
    try:
        deadline = time.monotonic() + within
        while not codes and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        connection.stop()
    return codes


def handshake_error(settings: BrokerSettings, port: int) -> pytest.ExceptionInfo:
    """The TLS error a synchronous connection with ``settings`` ends with."""
    connection = MqttClient(settings, client_id=settings.username or "x")
    try:
        with pytest.raises(ssl.SSLCertVerificationError) as raised:
            connection.client.connect("127.0.0.1", port)
    finally:
        connection.stop()
    return raised


def test_a_client_that_does_not_trust_the_hall_ca_is_refused(hall_broker, tmp_path, caplog):
    stranger = make_hall_ca(tmp_path / "stranger", hall="elsewhere")
    stranger_settings = tls_settings(hall_broker, "w01-eval", ca_file=stranger.ca)
    raised = handshake_error(stranger_settings, hall_broker.tls_port)
    assert raised.match("certificate verify failed")
    # A device retrying in the background says why in its log.
    with caplog.at_level(logging.WARNING, logger="device_agent.mqtt"):
        assert connacks(tls_settings(hall_broker, "w01-eval", ca_file=stranger.ca), within=2) == []
    assert "w01-eval cannot reach the broker" in caplog.text
    assert "certificate verify failed" in caplog.text
    # Trusting the hall's CA, the same account gets in.
    codes = connacks(tls_settings(hall_broker, "w01-eval", ca_file=hall_broker.ca.ca), within=10)
    assert codes and not codes[0].is_failure


def test_the_broker_name_is_checked_against_the_server_name(hall_broker):
    # Dialled by address, checked against the name the operator expects.
    wrong = tls_settings(
        hall_broker, "w01-eval", ca_file=hall_broker.ca.ca, server_name="other.qinghe.test"
    )
    assert handshake_error(wrong, hall_broker.tls_port).match("Hostname mismatch")
    right = tls_settings(
        hall_broker, "w01-eval", ca_file=hall_broker.ca.ca, server_name="hub.qinghe.test"
    )
    codes = connacks(right, within=10)
    assert codes and not codes[0].is_failure


def test_without_a_client_certificate_a_broker_that_requires_one_refuses(start_hall_broker):
    broker = start_hall_broker(require_certificate=True)
    # Right password, trusted broker, no certificate: never gets a CONNACK.
    assert connacks(tls_settings(broker, "w01-eval", ca_file=broker.ca.ca), within=3) == []
    assert "peer did not return a certificate" in broker.log.read_text()
    cert, key = broker.ca.client("w01-eval")
    codes = connacks(
        tls_settings(broker, "w01-eval", ca_file=broker.ca.ca, cert_file=cert, key_file=key),
        within=10,
    )
    assert codes and not codes[0].is_failure


# Client ids are bound to user names: a device's password cannot become the hub.

HUB_TOPICS = (
    "hallrate/qinghe/hub/status",
    "hallrate/qinghe/hub/warning",
    "hallrate/qinghe/hub/summary",
    "hallrate/qinghe/hub/receipt",
    "hallrate/qinghe/device/w02-eval/receipt",
    "hallrate/qinghe/device/w01-eval/receipt",
    "hallrate/qinghe/device/w02-eval/config/set",
    "hallrate/qinghe/device/w01-eval/config/set",
    "hallrate/qinghe/device/w02-eval/service/command",
    "hallrate/qinghe/board/hall-main/frame",
)


@pytest.mark.parametrize("listener", ["tls", "loopback"])
def test_a_device_password_cannot_take_the_hubs_client_id(
    hub_on_hall_broker, hall_broker, clients, listener
):
    hub = hub_on_hall_broker.service
    monitor, _, seen = connect(hall_broker.port, "monitor", client_id="monitor")
    clients.append(monitor)
    monitor.subscribe("hallrate/qinghe/#", qos=1)
    wait_until(lambda: ("hallrate/qinghe/hub/status", b"online") in seen, message="hub online")

    port, ca = (
        (hall_broker.tls_port, hall_broker.ca.ca) if listener == "tls" else (hall_broker.port, None)
    )
    attacker, acks, _ = connect(port, "w01-eval", client_id="hub-qinghe", ca=ca)
    clients.append(attacker)
    wait_until(attacker.is_connected, message="the device logged in")
    # Had the broker taken the client id, the hub would be thrown off now and
    # come back after its reconnect delay (1 s), throwing the device off in turn.
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert hub.ingest.state.connected, "the hub was thrown off"
        time.sleep(0.02)
    assert attacker.is_connected()
    log = hall_broker.log.read_text()
    assert "already connected" not in log
    assert "as w01-eval" in log  # the broker gave the device its own name as client id

    # Nothing of the hub's is the device's to say.
    forged = [attacker.publish(topic, b"offline", qos=1) for topic in HUB_TOPICS]
    own = attacker.publish(VOTE.format("w01-eval"), vote("w01-eval", 7), qos=1)
    wait_until(lambda: len(acks) == len(HUB_TOPICS) + 1, message="every PUBACK")
    reasons = dict(acks)
    assert [reasons[info.mid].getName() for info in forged] == ["Not authorized"] * len(forged)
    assert not reasons[own.mid].is_failure
    # The hub kept its connection and goes on storing votes.
    wait_until(
        lambda: query(hub_on_hall_broker.database, "SELECT device FROM votes"),
        message="the device's own vote stored",
    )
    assert hub.ingest.state.connected
    assert not any(topic in HUB_TOPICS and body == b"offline" for topic, body in seen)
