"""A hall hub forwards its warnings to a central hub: over a real bridge, and by webhook."""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from device_agent.errors import ProtocolError
from device_agent.protocol import Vote, encode, envelope_id, format_time
from device_agent.storage import open_database, write_transaction
from hallrate.broker import MosquittoBroker, free_port
from hallrate.cli import main
from hub import central
from hub.app import create_app
from hub.config import load_hub_config
from hub.forwarding import (
    HALL_HEADER,
    KIND_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Forwarder,
    ForwardingQueue,
    sign,
)
from hub.store import Store
from tests.hall import Hall, get_json, query, wait_until
from tests.thirdparty import start_loop, stop_loop

BRIDGE_EXAMPLE = Path(__file__).parent.parent / "firmware_config/mosquitto/bridge-to-central.conf"
FORWARD = "[forwarding]\nmqtt = true\nretry_min_s = 0.5\nretry_max_s = 2\nsummary_interval_s = 1\n"


def bridge_config(hall_id: str, central_port: int) -> str:
    """The shipped bridge example for this hall, pointed at a loopback test broker."""
    lines = []
    swapped = {
        "address": f"address 127.0.0.1:{central_port}",
        "restart_timeout": "restart_timeout 1 2",
    }
    for line in BRIDGE_EXAMPLE.read_text().splitlines():
        if line.startswith(("remote_username", "remote_password", "bridge_cafile", "bridge_tls")):
            continue  # the test broker is anonymous, without TLS
        lines.append(swapped.get(line.split(" ", 1)[0], line).replace("qinghe", hall_id))
    return "\n".join(lines) + "\n"


class Devices:
    """Publishes votes to a hall broker as the hall's evaluators would."""

    def __init__(self, hall: Hall, port: int) -> None:
        self.hall = hall
        self.seq = 0
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{hall.id}-devices", protocol=paho.MQTTv5
        )
        self.online = threading.Event()
        self.client.on_message = lambda client, userdata, message: (
            self.online.set() if message.payload == b"online" else None
        )
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"hallrate/{hall.id}/hub/status", qos=1)
        self._loop = start_loop(self.client)
        # The hub announces itself after subscribing: from then on no vote goes unheard.
        assert self.online.wait(20), "the hall hub never came online"

    def vote(self, count: int, *, level: int = 1, staff: str = "s01") -> None:
        for _ in range(count):
            self.seq += 1
            now = format_time(datetime.now(UTC).astimezone())
            vote = Vote(
                id=envelope_id("w01-eval", self.seq, epoch="test0001"),
                seq=self.seq,
                ts=now,
                device="w01-eval",
                channel="window",
                window="w01",
                staff=staff,
                ticket=f"A{self.seq:03d}",
                level=level,
            )
            topic = f"hallrate/{self.hall.id}/device/w01-eval/vote"
            self.client.publish(topic, encode(vote, sent=now), qos=1).wait_for_publish(10)

    def close(self) -> None:
        stop_loop(self.client, self._loop)


def central_config(hall_id: str, secret_file: str | None = None) -> str:
    table = f"[central]\nenabled = true\n[central.halls.{hall_id}]\n"
    return table + (f'webhook_secret_file = "{secret_file}"\n' if secret_file else "")


def this_month(level: str) -> str:
    """The id of s01's warning at ``level`` for the current month in the hall's time zone."""
    return f"s01-{level}-{datetime.now(ZoneInfo('Asia/Shanghai')).strftime('%Y-%m')}"


def outbox(hall: Hall, kind: str = "warning") -> list[tuple]:
    return query(
        hall.database, "SELECT message_id, attempts FROM forward_outbox WHERE kind = ?", (kind,)
    )


@pytest.mark.slow
def test_warnings_reach_central_once_across_a_bridge_that_goes_down(tmp_path, start_hub, capsys):
    central_broker = MosquittoBroker(tmp_path / "central-broker")
    central_broker.start()
    hall = Hall(tmp_path / "hall", port=0)
    hall_broker = MosquittoBroker(
        tmp_path / "hall-broker", extra_config=bridge_config(hall.id, central_broker.port)
    )
    hall_broker.start()
    hall.port = hall_broker.port
    county = Hall(tmp_path / "county", central_broker.port)
    devices = None
    try:
        central = start_hub(county, extra=central_config(hall.id))
        hub = start_hub(hall, extra=FORWARD)
        devices = Devices(hall, hall_broker.port)
        central_warnings = f"{central.api_url}/api/v1/central/warnings"
        token = county.token

        devices.vote(10)
        third = this_month("III")
        wait_until(
            lambda: (
                [w["id"] for w in get_json(central_warnings, token=token)["warnings"]] == [third]
            ),
            message="the level III warning at central",
        )
        wait_until(lambda: not outbox(hall), message="central's receipt clearing the outbox")
        wait_until(
            lambda: get_json(f"{central.api_url}/api/v1/central/summaries", token=token)[
                "summaries"
            ],
            message="the hall summary at central",
        )

        # The county link goes down; the hall goes on counting and raising.
        central_broker.kill()
        config = str(hall.root / "hub.toml")
        assert main(["token", "create", "wang", "--role", "manager", "--config", config]) == 0
        manager = capsys.readouterr().out.strip()
        devices.vote(10)
        second = this_month("II")
        wait_until(lambda: query(hall.database, "SELECT 1 FROM warnings WHERE id = ?", (second,)))
        acknowledge = urllib.request.Request(
            f"{hub.api_url}/api/v1/warnings/{third}/acknowledge",
            method="POST",
            headers={"Authorization": f"Bearer {manager}"},
        )
        with urllib.request.urlopen(acknowledge, timeout=10) as answer:
            assert json.loads(answer.read())["status"] == "acknowledged"
        # Unconfirmed, so sent again and again while central is away.
        wait_until(
            lambda: outbox(hall) and all(attempts >= 2 for _, attempts in outbox(hall)),
            message="resends while the bridge is down",
        )
        assert [w["id"] for w in get_json(central_warnings, token=county.token)["warnings"]] == [
            third
        ]

        central_broker.start()  # same port: the bridge and central's hub reconnect

        wait_until(lambda: not outbox(hall), timeout=40, message="the backlog receipted")
        found = {w["id"]: w for w in get_json(central_warnings, token=county.token)["warnings"]}
        assert set(found) == {third, second}
        assert found[third]["superseded_by"] == second
        assert found[third]["status"] == "acknowledged"
        assert found[second]["superseded_by"] is None
        hall_log = query(
            hall.database, "SELECT warning_id, seq, event FROM warning_events ORDER BY 1, 2"
        )
        central_log = query(
            county.database,
            "SELECT warning_id, seq, event FROM central_warning_events ORDER BY 1, 2",
        )
        assert central_log == hall_log
        assert [e for w, _, e in hall_log if w == third] == ["raised", "superseded", "acknowledged"]

        # A copy forwarded once more (a lost receipt, a replayed queue) changes nothing.
        accepted = central.central.accepted
        payload = query(
            county.database, "SELECT document FROM central_warnings WHERE id = ?", (third,)
        )
        devices.client.publish(
            f"hallrate/{hall.id}/hub/warning", payload[0][0].encode(), qos=1
        ).wait_for_publish(10)
        wait_until(lambda: central.central.accepted > accepted, message="the copy at central")
        assert query(county.database, "SELECT count(*) FROM central_warnings") == [(2,)]
        assert query(county.database, "SELECT count(*) FROM central_warning_events") == [
            (len(hall_log),)
        ]
        detail = get_json(
            f"{central.api_url}/api/v1/central/warnings/{hall.id}/{third}", token=county.token
        )
        assert [e["event"] for e in detail["events"]] == ["raised", "superseded", "acknowledged"]
    finally:
        if devices is not None:
            devices.close()
        hall_broker.kill()
        central_broker.kill()


def test_webhook_forwarding_retries_until_central_is_up(tmp_path, mosquitto, start_hub):
    secret = tmp_path / "webhook.secret"
    secret.write_text("s3cret-shared-with-central\n")
    county = Hall(tmp_path / "county", mosquitto.port)
    central_port = free_port()
    hall = Hall(tmp_path / "hall", mosquitto.port)
    url = f"http://127.0.0.1:{central_port}/api/v1/central/inbox"
    hub = start_hub(
        hall,
        extra=f'[forwarding]\nwebhook_url = "{url}"\nwebhook_secret_file = "{secret}"\n'
        "retry_min_s = 0.3\nretry_max_s = 1\nsummary_interval_s = 1\n",
    )
    devices = Devices(hall, mosquitto.port)
    try:
        devices.vote(10)
        third = this_month("III")
        wait_until(
            lambda: any(attempts >= 2 for _, attempts in outbox(hall)),
            message="failed posts retried while central is down",
        )
        error = query(hall.database, "SELECT last_error FROM forward_outbox WHERE kind = 'warning'")
        assert "cannot reach central" in error[0][0]

        central = start_hub(
            county, api_port=central_port, extra=central_config(hall.id, str(secret))
        )
        wait_until(lambda: not outbox(hall), message="the warning delivered")
        warnings = get_json(f"{central.api_url}/api/v1/central/warnings", token=county.token)[
            "warnings"
        ]
        assert [(w["id"], w["hall"], w["level"]) for w in warnings] == [(third, hall.id, "III")]

        def staff_in_summary() -> list:
            summaries = get_json(f"{central.api_url}/api/v1/central/summaries", token=county.token)[
                "summaries"
            ]
            return summaries and summaries[0]["staff_dissatisfied"]["month"]

        staff = wait_until(staff_in_summary, message="a summary with the month's votes")
        assert staff == [{"staff": "s01", "dissatisfied": 10, "total": 10}]
        assert hub.forwarder is not None and hub.forwarder.state.delivered >= 2

        # Central refuses a post not signed with the hall's secret.
        body = json.dumps({"v": 1}).encode()
        stamp = str(int(time.time()))
        forged = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                HALL_HEADER: hall.id,
                KIND_HEADER: "warning",
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: sign(b"guessed", stamp, body),
            },
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=10)
        refused.value.close()
        assert refused.value.code == 401
    finally:
        devices.close()


def queue_warning(hall: Hall, channel: str, message_id: str) -> None:
    """Put one warning message in the hall's outbox for ``channel``, as counting does."""
    Store(hall.database).close()  # the tables
    db = open_database(hall.database)
    try:
        with write_transaction(db) as conn:
            ForwardingQueue((channel,), now=lambda: datetime.now(UTC)).enqueue(
                conn, "warning", message_id, {"v": 1, "hall": hall.id, "message_id": message_id}
            )
    finally:
        db.close()


class RedirectingCentral(http.server.BaseHTTPRequestHandler):
    """A web server that redirects every post to a page that answers 200 to anything."""

    def do_POST(self) -> None:
        self.send_response(302)
        self.send_header("Location", "/moved")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_redirected_webhook_post_is_not_taken_for_delivery(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RedirectingCentral)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    secret = tmp_path / "webhook.secret"
    secret.write_text("s3cret\n")
    hall = Hall(tmp_path / "hall", free_port())
    url = f"http://127.0.0.1:{server.server_port}/inbox"
    config = load_hub_config(
        hall.hub_config(
            extra=f'[forwarding]\nwebhook_url = "{url}"\nwebhook_secret_file = "{secret}"\n'
        )
    )
    queue_warning(hall, "webhook", "t-warning-000000000001")
    forwarder = Forwarder(config)
    db = open_database(hall.database)
    try:
        # urllib would follow the 302 with a bodiless GET, whose 200 is no receipt.
        assert forwarder.send_due(db) == 0
    finally:
        db.close()
        server.shutdown()
        server.server_close()
    [(attempts, error)] = query(hall.database, "SELECT attempts, last_error FROM forward_outbox")
    assert attempts == 1 and error.startswith("central answered 302")


def test_rows_left_for_a_channel_no_longer_configured_do_not_block_the_others(tmp_path, mosquitto):
    hall = Hall(tmp_path / "hall", mosquitto.port)
    # Queued while the hall forwarded by webhook; the configuration now says MQTT only.
    queue_warning(hall, "webhook", "t-warning-000000000001")
    queue_warning(hall, "mqtt", "t-warning-000000000002")
    config = load_hub_config(hall.hub_config(extra="[forwarding]\nmqtt = true\n"))
    received: list[bytes] = []
    watcher = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    watcher.on_message = lambda client, userdata, message: received.append(message.payload)
    subscribed = threading.Event()
    watcher.on_subscribe = lambda *args: subscribed.set()
    watcher.connect("127.0.0.1", mosquitto.port)
    watcher.subscribe(f"hallrate/{hall.id}/hub/warning", qos=1)
    loop = start_loop(watcher)
    forwarder = Forwarder(config)
    try:
        assert subscribed.wait(10), "the watcher never subscribed"
        forwarder.start()
        wait_until(lambda: received, message="the MQTT row published")
        assert json.loads(received[0])["message_id"] == "t-warning-000000000002"
        assert forwarder.state.last_error is None
    finally:
        forwarder.stop()
        stop_loop(watcher, loop)
    assert [r[0] for r in outbox(hall)] == [
        "t-warning-000000000001",
        "t-warning-000000000002",
    ]


@pytest.mark.parametrize(
    ("stamp", "status"),
    [
        (None, 200),
        (str(int(time.time()) - 3600), 401),  # an old post, replayed
        ("\u00b2", 401),  # a digit to str.isdigit(), not to int()
        ("", 401),
    ],
)
def test_the_inbox_takes_a_signed_post_only_with_a_current_timestamp(tmp_path, stamp, status):
    secret = tmp_path / "webhook.secret"
    secret.write_text("s3cret\n")
    county = Hall(tmp_path / "county", free_port())
    config = load_hub_config(county.hub_config(extra=central_config("qinghe", str(secret))))
    Store(config.database).close()
    client = create_app(config).test_client()
    stamp = str(int(time.time())) if stamp is None else stamp
    body = json.dumps(
        {
            "v": 1,
            "hall": "qinghe",
            "message_id": "summary-000000000001",
            "generated_at": format_time(datetime.now(UTC)),
        }
    ).encode()
    headers = {
        HALL_HEADER: "qinghe",
        KIND_HEADER: "summary",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(b"s3cret", stamp, body),
    }
    response = client.post("/api/v1/central/inbox", data=body, headers=headers)
    assert response.status_code == status, response.get_json()


def test_central_keeps_the_newest_summary_whatever_offset_each_hub_wrote(tmp_path):
    path = tmp_path / "central.sqlite"
    Store(path).close()  # the tables
    db = open_database(path)

    def summary(generated_at: str, n: int) -> dict:
        return {"v": 1, "hall": "h1", "message_id": f"h1-summary-{n}", "generated_at": generated_at}

    def kept() -> list[tuple]:
        return query(path, "SELECT generated_at FROM central_summaries")

    with write_transaction(db) as conn:
        central.accept(
            conn, "h1", "summary", summary("2026-11-22T10:00:00.000+08:00", 1), received_at="x"
        )
    # 03:00 UTC is later than 10:00 in Beijing (02:00 UTC), though "03" < "10" as text.
    with write_transaction(db) as conn:
        central.accept(
            conn, "h1", "summary", summary("2026-11-22T03:00:00.000+00:00", 2), received_at="x"
        )
    assert kept() == [("2026-11-22T03:00:00.000+00:00",)]
    # An older one arriving late does not replace it.
    with write_transaction(db) as conn:
        central.accept(
            conn, "h1", "summary", summary("2026-11-22T10:30:00.000+08:00", 3), received_at="x"
        )
    assert kept() == [("2026-11-22T03:00:00.000+00:00",)]
    with pytest.raises(ProtocolError, match="generated_at"), write_transaction(db) as conn:
        central.accept(conn, "h1", "summary", summary("yesterday", 4), received_at="x")
    db.close()
