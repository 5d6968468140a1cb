"""Notifications: a real hub on a real broker tells each role through apprise.

The target is apprise's ``json://`` webhook pointed at a small HTTP receiver
on a loopback port, standing in for WeCom, DingTalk or an SMS gateway.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from device_agent.errors import ConfigError
from device_agent.storage import open_database
from device_agent.topics import DeviceTopic, Topics
from hub.config import load_hub_config
from hub.notify.notices import notice_log
from tests.hall import Hall, query, wait_until
from tests.thirdparty import vote_payload


class Receiver:
    """An HTTP endpoint that keeps every JSON notice posted to it, by path."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.notices: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with received._lock:
                    received.notices.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = None

    def at(self, path: str) -> list[dict]:
        with self._lock:
            return [notice for where, notice in self.notices if where == path]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on a free loopback port, not yet listening."""
    receiver = Receiver(free_port())
    yield receiver
    receiver.stop()


def notify_config(hall: Hall, port: int, **settings: object) -> str:
    """Warnings at 2 dissatisfied votes a month; the manager and civil's head each have a URL."""
    (hall.root / "notify-urls.toml").write_text(
        f'manager = ["json://127.0.0.1:{port}/manager"]\n'
        f'[dept_head]\ncivil = ["json://127.0.0.1:{port}/civil"]\n'
    )
    options = {
        "retry_min_s": 0.2,
        "retry_max_s": 0.5,
        "poll_s": 0.05,
        "check_s": 0.1,
        "offline_after_s": 1,
        "timeout_s": 2,
        **settings,
    }
    return (
        '[warnings]\n[[warnings.rules]]\nlevel = "III"\naction = "效能告诫"\nmonthly = 2\n'
        "yearly = 40\n\n"
        '[notify]\nurls_file = "notify-urls.toml"\n'
        + "".join(f"{key} = {value}\n" for key, value in options.items())
    )


def notices(hall: Hall) -> list[tuple]:
    return query(
        hall.database, "SELECT event, subject, role, status, attempts FROM notices ORDER BY id"
    )


class Firmware:
    """Window w01's evaluator as a vendor's firmware, publishing votes as protocol.md says."""

    def __init__(self, client, hall: Hall) -> None:
        self.client = client
        self.hall = hall
        self.topics = Topics.for_hall(hall.id)
        self.seq = 0
        client.wait_for_hub(self.topics)

    def vote_dissatisfied(self, n: int) -> None:
        """``n`` very dissatisfied votes for s01, each stored before the next."""
        for _ in range(n):
            self.seq += 1
            before = len(self.hall.stored_votes())
            payload = vote_payload("w01-eval", self.seq, level=1, staff="s01")
            self.client.publish(self.topics.device("w01-eval", DeviceTopic.VOTE), payload)
            wait_until(
                lambda b=before: len(self.hall.stored_votes()) == b + 1, message="the vote stored"
            )


def test_votes_that_raise_a_warning_send_one_notice_per_role(
    hall, mosquitto, receiver, start_hub, third_party
):
    receiver.start()
    hub = start_hub(hall, extra=notify_config(hall, receiver.port))
    firmware = Firmware(third_party(mosquitto.port), hall)

    firmware.vote_dissatisfied(2)

    wait_until(lambda: receiver.at("/manager") and receiver.at("/civil"), message="two notices")
    wait_until(lambda: all(n[3] == "sent" for n in notices(hall)), message="both marked sent")
    firmware.vote_dissatisfied(1)  # a third vote raises nothing new
    [manager] = receiver.at("/manager")
    assert manager["title"] == "效能预警III级：职员1 | Warning III: 职员1"
    first, second = manager["message"].split("\n")
    assert (
        first.startswith("测试大厅 民政 职员1：") and "不满意 2 次，III级预警（效能告诫）" in first
    )
    assert second.endswith(
        "职员1, 2 dissatisfied votes in " + first.split("：")[1][:7] + ", level III warning."
    )
    assert receiver.at("/civil") == [manager]
    assert len(receiver.notices) == 2
    with_log = open_database(hall.database)
    try:
        log = notice_log(with_log.conn)
        older = notice_log(with_log.conn, before=log[0]["id"], limit=1)
    finally:
        with_log.close()
    assert older == log[1:]
    assert [(n["event"], n["role"], n["department"], n["channel"], n["status"]) for n in log] == [
        ("warning", "dept_head", "civil", "json", "sent"),
        ("warning", "manager", None, "json", "sent"),
    ]
    assert all(n["done_at"] and n["attempts"] == 1 for n in log)
    assert hub.ingest.state.stored == 3


def test_a_target_that_hangs_at_first_gets_the_notice_once_it_answers(
    hall, mosquitto, receiver, start_hub, third_party
):
    # Something listens on the target's port and never answers: each try ends at its timeout.
    hanging = socket.socket()
    hanging.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hanging.bind(("127.0.0.1", receiver.port))
    hanging.listen(8)
    try:
        start_hub(hall, extra=notify_config(hall, receiver.port, timeout_s=1))
        firmware = Firmware(third_party(mosquitto.port), hall)

        firmware.vote_dissatisfied(2)
        wait_until(
            lambda: len(notices(hall)) == 2 and all(n[4] >= 2 for n in notices(hall)),
            message="two failed attempts each",
        )
        # The hub kept ingesting while its target hung.
        firmware.vote_dissatisfied(1)
        assert {n[3] for n in notices(hall)} == {"pending"}
        errors = query(hall.database, "SELECT last_error FROM notices")
        assert all("127.0.0.1" in error for (error,) in errors)
    finally:
        hanging.close()

    receiver.start()
    wait_until(lambda: {n[3] for n in notices(hall)} == {"sent"}, message="both delivered")
    assert len(receiver.at("/manager")) == 1 and len(receiver.at("/civil")) == 1
    assert len(receiver.notices) == 2


def test_past_max_pending_a_notice_is_logged_as_failed_not_queued(
    hall, mosquitto, receiver, start_hub, third_party
):
    start_hub(hall, extra=notify_config(hall, receiver.port, max_pending=1))
    Firmware(third_party(mosquitto.port), hall).vote_dissatisfied(2)

    rows = query(hall.database, "SELECT role, status, last_error FROM notices ORDER BY id")
    assert [r[1] for r in rows] == ["pending", "failed"]
    assert rows[1][2] == "queue full: 1 notices pending"
    receiver.start()
    wait_until(lambda: notices(hall)[0][3] == "sent", message="the queued one delivered")
    assert len(receiver.notices) == 1


def test_a_notice_pending_when_the_hub_stops_is_sent_once_after_its_restart(
    hall, mosquitto, receiver, third_party
):
    from hub.service import HubService

    config = load_hub_config(hall.hub_config(extra=notify_config(hall, receiver.port)))
    hub = HubService(config)
    hub.start()
    try:
        Firmware(third_party(mosquitto.port), hall).vote_dissatisfied(2)
        wait_until(lambda: notices(hall) and all(n[4] >= 1 for n in notices(hall)), message="tried")
    finally:
        hub.stop()
    assert {n[3] for n in notices(hall)} == {"pending"}

    receiver.start()
    hub = HubService(config)
    hub.start()
    try:
        wait_until(lambda: {n[3] for n in notices(hall)} == {"sent"}, message="delivered")
    finally:
        hub.stop()
    assert len(receiver.at("/manager")) == 1 and len(receiver.at("/civil")) == 1
    assert len(receiver.notices) == 2


def test_a_device_offline_past_the_limit_is_noticed_once_and_back_online_once(
    hall, receiver, start_hub, start_agent
):
    receiver.start()
    start_hub(hall, extra=notify_config(hall, receiver.port))
    window = start_agent(hall, 1)
    wait_until(lambda: window.agent.link.connected, message="agent connected")
    wait_until(
        lambda: query(hall.database, "SELECT status FROM devices") == [("online",)],
        message="the device online at the hub",
    )

    window.stop()  # it says offline as it leaves
    wait_until(lambda: receiver.at("/manager"), message="the offline notice")
    [offline] = receiver.at("/manager")
    assert offline["title"] == "设备离线：w01-eval | Device offline: w01-eval"
    zh, en = offline["message"].split("\n")
    assert zh.startswith("测试大厅 1号窗口 设备 w01-eval 自 ") and zh.endswith("离线 1 分钟。")
    assert en.startswith("测试大厅 1号窗口: device w01-eval offline since ")
    assert receiver.at("/civil") == []  # department heads hear of warnings only

    back = start_agent(hall, 1)
    wait_until(lambda: back.agent.link.connected, message="agent connected again")
    wait_until(lambda: len(receiver.at("/manager")) == 2, message="the back-online notice")
    online = receiver.at("/manager")[1]
    assert online["title"] == "设备恢复在线：w01-eval | Device back online: w01-eval"
    assert "已恢复在线" in online["message"] and "back online after" in online["message"]
    wait_until(lambda: {n[3] for n in notices(hall)} == {"sent"}, message="both marked sent")
    assert [n[:3] for n in notices(hall)] == [
        ("offline", "w01-eval", "manager"),
        ("online", "w01-eval", "manager"),
    ]
    assert len(receiver.notices) == 2


def test_notify_config_problems_name_the_role_never_the_url(tmp_path: Path, mosquitto, caplog):
    hall = Hall(tmp_path / "hall", mosquitto.port)
    (hall.root / "urls.toml").write_text(
        'manager = ["nosuchscheme://SECRET-TOKEN"]\nclerk = ["json://127.0.0.1/"]\n'
        'office = ["dingtalk://SECRET-TOKEN/"]\n'
        '[dept_head]\nnowhere = ["json://127.0.0.1/"]\n'
    )
    path = hall.hub_config(
        extra='[notify]\nurls_file = "urls.toml"\nwarning_roles = ["manager", "boss"]\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_hub_config(path)
    text = str(caught.value)
    assert "notify.urls: manager[0]: not a URL apprise can send to (scheme nosuchscheme)" in text
    assert "unknown role 'clerk'" in text
    assert "dept_head: unknown department 'nowhere'" in text
    assert "notify.warning_roles: unknown roles ['boss']" in text
    assert "notify.urls: office[0]: not a URL apprise can send to (scheme dingtalk)" in text
    assert "SECRET-TOKEN" not in text
    assert "SECRET-TOKEN" not in caplog.text  # apprise's own complaint names the token


def test_urls_written_into_the_hub_file_are_refused(tmp_path: Path, mosquitto):
    hall = Hall(tmp_path / "hall", mosquitto.port)
    path = hall.hub_config(extra='[notify]\nurls = "json://127.0.0.1/"\n')
    with pytest.raises(ConfigError, match=r"notify\.urls: put the secret in a file"):
        load_hub_config(path)


def test_the_configuration_in_operations_md_loads_as_documented(tmp_path: Path, mosquitto):
    text = (Path(__file__).parent.parent / "docs" / "operations.md").read_text()
    section = text.split("\n## Notifications\n", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```toml\n")[1:]]
    hub_part, urls = blocks
    hall = Hall(tmp_path / "hall", mosquitto.port)
    (hall.root / "notify-urls.toml").write_text(urls)

    settings = load_hub_config(hall.hub_config(extra=hub_part)).notify

    assert [(t.role, t.department, t.channel) for t in settings.targets] == [
        ("manager", None, "wecombot"),
        ("office", None, "mailtos"),
        ("admin", None, "json"),
        ("dept_head", "civil", "dingtalk"),
        ("person", None, "json"),
    ]
    assert [t.person for t in settings.targets_of_person("zhang")] == ["zhang"]
    assert "PASSWORD" not in repr(settings) and "BOTKEY" not in repr(settings)
    assert all("PASSWORD" not in t.label for t in settings.targets)
    assert (settings.offline_after_s, settings.max_pending) == (600, 10000)
