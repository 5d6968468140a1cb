"""One process runner for agent, hub and kiosk: what systemd hears, how it ends, bad configs."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from device_agent.runner import EXIT_CONFIG, EXIT_DIED, EXIT_OK, serve
from device_agent.sdnotify import Notifier
from tests.hall import wait_until
from tests.kiosk_hall import KioskHall
from tests.test_sdnotify import SystemdSocket, run_under_systemd

ROOT = Path(__file__).resolve().parent.parent


class Loop:
    """A role's service in miniature: a loop in a thread that the test can stall or kill."""

    name = "loop"

    def __init__(self) -> None:
        self.turning = threading.Event()
        self.turning.set()
        self.dead = threading.Event()
        self.connected = False
        self.serving = threading.Event()
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def ready(self) -> bool:
        return self.serving.is_set()

    def alive(self) -> bool:
        return not self.dead.is_set()

    def healthy(self) -> bool:
        return self.turning.is_set()

    def status(self) -> str:
        return "connected" if self.connected else "waiting"

    def stop(self) -> None:
        self.calls.append("stop")


@pytest.fixture
def systemd(tmp_path):
    listener = SystemdSocket(tmp_path / "notify.sock")
    yield listener
    listener.sock.close()


def serve_in_thread(loop: Loop, notifier: Notifier, stop: threading.Event) -> list[int]:
    code: list[int] = []
    thread = threading.Thread(
        target=lambda: code.append(serve(loop, wake_s=0.01, notifier=notifier, stop=stop))
    )
    thread.start()
    return code


def test_ready_once_serving_status_on_change_pings_only_while_healthy_then_stopping(systemd):
    notifier = Notifier({"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "20000"})
    loop, stop = Loop(), threading.Event()
    code = serve_in_thread(loop, notifier, stop)
    wait_until(lambda: loop.calls == ["start"])
    time.sleep(0.1)
    assert systemd.messages() == [], "nothing before the service serves, not even a ping"

    loop.serving.set()
    wait_until(lambda: systemd.messages().count("WATCHDOG=1") >= 2)
    assert systemd.messages()[0] == "READY=1\nSTATUS=waiting"

    loop.turning.clear()  # stalled: the watchdog hears nothing more
    time.sleep(0.05)
    pings = systemd.messages().count("WATCHDOG=1")
    time.sleep(0.1)
    assert systemd.messages().count("WATCHDOG=1") == pings

    loop.connected = True
    wait_until(lambda: "STATUS=connected" in systemd.messages())
    stop.set()
    wait_until(lambda: code == [EXIT_OK])
    assert systemd.messages()[-1] == "STOPPING=1"
    assert loop.calls == ["start", "stop"]


def test_a_dead_loop_ends_the_process_with_1_after_stopping_it(systemd):
    notifier = Notifier({"NOTIFY_SOCKET": str(systemd.path)})
    loop, stop = Loop(), threading.Event()
    loop.serving.set()
    code = serve_in_thread(loop, notifier, stop)
    wait_until(lambda: systemd.messages() == ["READY=1\nSTATUS=waiting"])
    loop.dead.set()
    wait_until(lambda: code == [EXIT_DIED])
    assert systemd.messages()[-1] == "STOPPING=1"
    assert loop.calls == ["start", "stop"]


@pytest.mark.parametrize("role", ["agent", "hub", "kiosk"])
def test_every_role_reports_a_misspelt_key_with_file_and_key_and_exits_2(tmp_path, role):
    hall = KioskHall(tmp_path, 1883)
    path = {
        "agent": lambda: hall.agent_config(1, broker="colour = 1\n"),
        "hub": lambda: hall.hub_config(broker="colour = 1\n"),
        "kiosk": lambda: hall.kiosk_config(1, hub_url="http://127.0.0.1:9"),
    }[role]()
    if role == "kiosk":
        path.write_text(path.read_text().replace("[broker]\n", "[broker]\ncolour = 1\n"))
    result = subprocess.run(
        [sys.executable, "-m", "hallrate.cli", role, "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == EXIT_CONFIG
    # The problem alone on its line, the same for every role: file, key, reason.
    assert f"{path}: broker.colour: unknown key" in result.stderr.splitlines()


def test_the_kiosk_process_says_ready_pings_and_says_stopping(systemd, tmp_path, mosquitto):
    hall = KioskHall(tmp_path / "hall", mosquitto.port)
    config = hall.kiosk_config(1, hub_url="http://127.0.0.1:9")
    with run_under_systemd(systemd, ["kiosk", "--config", str(config)], "serving http://"):
        pass
