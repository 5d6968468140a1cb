"""``hallrate demo`` as a newcomer runs it: addresses printed, votes flowing, a clean stop."""

from __future__ import annotations

import json
import os
import queue
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import tomllib
from collections.abc import Sequence
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode, urlsplit
from urllib.request import HTTPCookieProcessor, build_opener

import pytest

from hallrate.broker import free_port
from hallrate.demo_hall import SAMPLE_HALL, write_demo_hall
from hallrate.simulated_windows import BAD_DAY_FIRST, Citizens
from hub.console import accounts
from hub.warnings import DEFAULT_RULES
from tests.hall import get_json, wait_until

ADDRESS = re.compile(r"^(\w+): (\S+)")
STOP_BOUND_S = 20
# The issue's promise: the demo hall raises a warning within two minutes of its start.
FIRST_WARNING_S = 120
VOTES = "hallrate/qinghe/device/+/vote"


class Demo:
    """A ``hallrate demo`` subprocess and the address lines it printed."""

    def __init__(
        self,
        data: Path,
        *args: str,
        command: Sequence[str] = (sys.executable, "-m", "hallrate.cli"),
        **popen: Any,
    ) -> None:
        """Run ``command demo --data DATA ARGS``; ``popen`` adds ``cwd``, ``env`` and the like."""
        self.data = data
        self.process = subprocess.Popen(
            [*command, "demo", "--data", str(data), *args],
            **popen,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr = ""
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        self.stderr = self.process.stderr.read()

    def addresses(self, *, timeout: float = 60) -> dict[str, str]:
        """The ``label: address`` lines, read until the demo says it is running."""
        found: dict[str, str] = {}
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                message = f"the demo printed no addresses; stderr:\n{self.stderr}"
                raise AssertionError(message) from None
            if line is None:
                self.process.wait(timeout=10)
                raise AssertionError(f"the demo exited early; stderr:\n{self.stderr}")
            self.stdout.append(line)
            if line.startswith("Press Ctrl-C"):
                return found
            match = ADDRESS.match(line)
            if match:
                found[match[1]] = match[2]

    def next_line(self, prefix: str, *, timeout: float) -> str:
        """The next line printed that starts with ``prefix``, skipping (and keeping) the others."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"the demo printed no {prefix!r} line") from None
            if line is None:
                raise AssertionError(f"the demo exited early; stderr:\n{self.stderr}")
            self.stdout.append(line)
            if line.startswith(prefix):
                return line

    def wait(self, *, timeout: float) -> int:
        """The exit status, after draining what is left of stdout."""
        code = self.process.wait(timeout=timeout)
        while (line := self.lines.get(timeout=10)) is not None:
            self.stdout.append(line)
        return code

    def close(self) -> None:
        """Stop the demo if it still runs (a failed test), and close its pipes."""
        if self.process.poll() is None:
            # SIGTERM first: a killed demo would leave its mosquitto behind.
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_BOUND_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for reader in self._readers:
            reader.join(timeout=10)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def run_demo():
    demos: list[Demo] = []

    def start(data: Path, *args: str) -> Demo:
        demo = Demo(data, *args)
        demos.append(demo)
        return demo

    yield start
    for demo in demos:
        demo.close()


def readme_labels() -> set[str]:
    """The labels of the demo output the README's quick start shows."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n(hallrate demo:.*?)```", readme, re.S)
    assert block, "the README shows the demo's output"
    return {m[1] for line in block[1].splitlines() if (m := ADDRESS.match(line))} - {"demo"}


def nothing_lost(data: Path, device: str) -> tuple[int, set[int], set[int]]:
    """Every seq the window's outbox handed out, and where each one is now."""
    outbox = sqlite3.connect(data / "outbox" / f"{device}.sqlite")
    try:
        (issued,) = outbox.execute("SELECT value FROM counter WHERE name = 'seq'").fetchone()
        waiting = {r[0] for r in outbox.execute("SELECT seq FROM outbox")}
    finally:
        outbox.close()
    hub = sqlite3.connect(data / "hub.sqlite")
    try:
        # Votes and service events (the console's start and end) share the numbering.
        stored = {
            r[0]
            for r in hub.execute(
                "SELECT seq FROM votes WHERE device = ? UNION SELECT seq FROM service_events"
                " WHERE device = ?",
                (device, device),
            )
        }
    finally:
        hub.close()
    return issued, stored, waiting


@pytest.mark.parametrize(
    ("broker", "stop_signal"),
    [
        ("mosquitto", signal.SIGINT),
        ("embedded", signal.SIGINT),
        ("mosquitto", signal.SIGTERM),
    ],
)
def test_demo_runs_a_hall_and_stops_cleanly(tmp_path, run_demo, broker, stop_signal):
    data = tmp_path / "demo"
    demo = run_demo(data, "--broker", broker, "--windows", "3", "--rate", "120", "--seed", "7")
    addresses = demo.addresses()

    # What the README shows a newcomer is what the demo prints.
    assert set(addresses) == readme_labels()
    # The block came whole: what the hall's parts log goes to a file it names.
    block = demo.stdout[demo.stdout.index(f"hallrate demo: data in {data}") :]
    logins = [line for line in block if line.startswith("console login: ")]
    assert len(block) == len(addresses) + len(logins) + 2
    assert addresses["logs"] == str(data / "demo.log")
    assert addresses["broker"].startswith("mqtt://127.0.0.1:")
    assert addresses["hub"].startswith("http://127.0.0.1:")
    assert addresses["votes"] == addresses["hub"] + "/api/v1/votes"
    # The console, and a login for each role, manager first, that the hub accepts.
    assert addresses["console"] == addresses["hub"] + "/console/"
    users = [line.removeprefix("console login: ").split(" / ") for line in logins]
    assert [name for name, _ in users] == ["manager", "depthead", "office", "staff", "admin"]
    accounts_db = sqlite3.connect(f"file:{data / 'hub.sqlite'}?mode=ro", uri=True)
    try:
        roles = [accounts.check_login(accounts_db, name, password) for name, password in users]
    finally:
        accounts_db.close()
    assert [user.role for user in roles] == ["manager", "dept_head", "office", "staff", "admin"]
    for url in addresses.values():
        if "://" in url:
            assert urlsplit(url).hostname == "127.0.0.1"

    # Every simulated window's citizens reach the hub's database through the broker.
    # The API needs the token the demo printed, and refuses a reader without one.
    token = addresses["token"]
    assert token.startswith("hrt_")
    with pytest.raises(HTTPError) as refused:
        get_json(addresses["votes"])
    refused.value.close()
    assert refused.value.code == 401
    devices = {"w01-eval", "w02-eval", "w03-eval"}
    wait_until(
        lambda: (
            {
                v["device"]
                for v in get_json(addresses["votes"] + "?limit=1000", token=token)["votes"]
            }
            == devices
        ),
        timeout=30,
        message="votes from all three simulated windows",
    )
    votes = get_json(addresses["votes"] + "?limit=1000", token=token)["votes"]
    assert all(v["channel"] == "window" and 1 <= v["level"] <= 5 for v in votes)
    # Each citizen is served between two console presses and rates that service:
    # counted votes name their service, and none is an unsolicited press.
    counted = [v for v in votes if v["counted"]]
    assert counted and all(v["service"] for v in counted)
    assert not any("unsolicited" in v["flags"] for v in votes)
    assert {v["window"] for v in votes} == {"w01", "w02", "w03"}
    assert {v["staff"] for v in votes} == {"s001", "s002", "s003"}
    online = get_json(addresses["devices"], token=token)["devices"]
    assert {d["id"] for d in online if d["status"] == "online"} >= devices
    assert get_json(addresses["health"])["status"] == "ok"

    # The demo broker takes anonymous clients: a newcomer's mosquitto_sub sees votes.
    port = str(urlsplit(addresses["broker"]).port)
    seen = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-C", "1", "-W", "30", "-t", VOTES],
        capture_output=True,
        text=True,
        timeout=40,
        check=True,
    )
    assert json.loads(seen.stdout)["device"] in devices

    demo.process.send_signal(stop_signal)
    assert demo.wait(timeout=STOP_BOUND_S) == 0, demo.stderr
    assert demo.stdout[-1] == "hallrate demo: stopped"
    assert "Traceback" not in demo.stderr
    assert " INFO " not in demo.stderr
    assert " INFO hub." in (data / "demo.log").read_text(encoding="utf-8")

    # Nothing lost: each seq an outbox handed out is in the hub or still waiting to be resent.
    for device in sorted(devices):
        issued, stored, waiting = nothing_lost(data, device)
        assert issued > 0
        assert stored | waiting == set(range(1, issued + 1)), device


def test_demo_stops_by_itself_after_duration_and_resumes_from_its_data(tmp_path, run_demo):
    data = tmp_path / "demo"
    ports = [str(free_port()), str(free_port())]
    first = run_demo(
        data, "--duration", "2", "--windows", "1", "--rate", "240", "--seed", "1",
        "--broker-port", ports[0], "--hub-port", ports[1],
    )  # fmt: skip
    addresses = first.addresses()
    assert addresses["broker"] == f"mqtt://127.0.0.1:{ports[0]}"
    assert addresses["hub"] == f"http://127.0.0.1:{ports[1]}"
    assert first.wait(timeout=30) == 0, first.stderr
    issued_before, _, _ = nothing_lost(data, "w01-eval")

    # A second run keeps the same hub database and outbox: numbering goes on.
    second = run_demo(data, "--duration", "2", "--windows", "1", "--rate", "240", "--seed", "1")
    again = second.addresses()
    votes_url, token = again["votes"] + "?limit=1000", again["token"]
    wait_until(
        lambda: any(v["seq"] > issued_before for v in get_json(votes_url, token=token)["votes"]),
        timeout=30,
        message="a vote of the second run",
    )
    # Each run prints a token of its own; the last run's no longer works.
    assert token != addresses["token"]
    with pytest.raises(HTTPError) as refused:
        get_json(votes_url, token=addresses["token"])
    refused.value.close()
    assert refused.value.code == 401
    assert second.wait(timeout=30) == 0, second.stderr
    issued, stored, waiting = nothing_lost(data, "w01-eval")
    assert issued > issued_before
    assert stored | waiting == set(range(1, issued + 1))


def test_demo_refuses_a_data_folder_in_use(tmp_path, run_demo):
    data = tmp_path / "demo"
    first = run_demo(data, "--windows", "1", "--broker", "embedded")
    first.addresses()
    second = subprocess.run(
        [sys.executable, "-m", "hallrate.cli", "demo", "--data", str(data), "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 2
    assert "another hallrate demo is using" in second.stderr
    first.process.send_signal(signal.SIGINT)
    assert first.wait(timeout=STOP_BOUND_S) == 0


def test_demo_rejects_more_windows_than_the_sample_hall_has(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "hallrate.cli", "demo", "--data", str(tmp_path), "--windows", "99"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        check=False,
    )
    assert result.returncode == 2
    assert "choose --windows from 1 to 8" in result.stderr


def test_seeded_citizens_repeat_and_are_mostly_satisfied():
    def visits(seed: str, n: int) -> list:
        citizens = Citizens(random.Random(seed), rate=6)
        return [citizens.next_visit() for _ in range(n)]

    assert visits("7:w01-eval", 50) == visits("7:w01-eval", 50)
    assert visits("7:w01-eval", 50) != visits("7:w02-eval", 50)

    sample = visits("42:w01-eval", 4000)
    satisfied = sum(v.level >= 4 for v in sample) / len(sample)
    dissatisfied = sum(v.level <= 2 for v in sample) / len(sample)
    assert satisfied > 0.7
    assert 0.04 < dissatisfied < 0.2
    # Human-like: nobody is served in no time, and the mean matches the rate (10 s).
    assert min(v.after_s for v in sample) >= 3.0
    assert 9.0 < sum(v.after_s for v in sample) / len(sample) < 11.0


def test_only_the_demo_hall_has_demo_thresholds_and_one_bad_day(tmp_path):
    hall = write_demo_hall(tmp_path, windows=4, broker_port=1883, protocol="5")
    rules = [(r.level, r.monthly, r.yearly) for r in hall.hub.warnings.rules]
    assert rules == [("III", 3, 40), ("II", 20, 80), ("I", 40, 120)]
    assert [w.window for w in hall.windows if w.bad_day] == ["w01"]
    # The sample hall a county copies keeps the county's rules.
    sample = tomllib.loads((SAMPLE_HALL / "hub.toml").read_text(encoding="utf-8"))
    assert [(r["level"], r["monthly"], r["yearly"]) for r in sample["warnings"]["rules"]] == [
        (r.level, r.monthly, r.yearly) for r in DEFAULT_RULES
    ]
    assert DEFAULT_RULES[0].monthly == 10


def test_a_bad_day_starts_badly_and_stays_mostly_dissatisfied():
    def visits(seed: str, n: int, rate: float) -> list:
        citizens = Citizens(random.Random(seed), rate=rate, bad_day=True)
        return [citizens.next_visit() for _ in range(n)]

    # Whatever the seed, the first citizens all press dissatisfied: the demo's threshold.
    for seed in range(50):
        assert all(v.level <= 2 for v in visits(f"{seed}:w01-eval", BAD_DAY_FIRST, 6))
    sample = visits("42:w01-eval", 4000, 6)
    dissatisfied = sum(v.level <= 2 for v in sample) / len(sample)
    assert 0.6 < dissatisfied < 0.75
    # A slow demo (--rate 1) still sends the bad-day window a citizen every 10 s on average.
    slow = visits("42:w01-eval", 4000, 1)
    assert 9.0 < sum(v.after_s for v in slow) / len(slow) < 11.0


def test_a_demo_killed_outright_leaves_no_broker_behind(tmp_path, run_demo):
    demo = run_demo(tmp_path / "demo", "--broker", "mosquitto", "--windows", "1")
    port = urlsplit(demo.addresses()["broker"]).port
    socket.create_connection(("127.0.0.1", port), timeout=5).close()

    demo.process.send_signal(signal.SIGKILL)  # no Ctrl-C handler, no cleanup
    demo.process.wait(timeout=10)

    def broker_gone() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return True
        return False

    try:
        wait_until(broker_gone, timeout=15, message="the demo's mosquitto gone with it")
    finally:
        # Should the test fail, do not leave the orphan running.
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if str(tmp_path).encode() in cmdline:
                os.kill(int(proc.name), signal.SIGKILL)


class LoopbackIsSecure(DefaultCookiePolicy):
    """Send ``Secure`` cookies to http://127.0.0.1 too, as browsers do for loopback.

    The console's cookies are all ``Secure``; Chromium and Firefox treat a
    loopback address as a secure context, so the demo's console works over
    plain HTTP there. Python's cookie jar would keep them to https.
    """

    def return_ok_secure(self, cookie: Any, request: Any) -> bool:
        return urlsplit(request.get_full_url()).hostname == "127.0.0.1" or super().return_ok_secure(
            cookie, request
        )


class ConsoleBrowser:
    """A console user over real HTTP: a cookie jar and the login form, as a browser posts it."""

    def __init__(self, console: str) -> None:
        self.console = console
        jar = CookieJar(policy=LoopbackIsSecure())
        self.opener = build_opener(HTTPCookieProcessor(jar))

    def login(self, user: str, password: str) -> None:
        """Post the login form with its CSRF token; fail unless the console lets the user in."""
        with self.opener.open(self.console + "login", timeout=10) as page:
            form = page.read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token, "the login page has its CSRF token"
        body = urlencode({"user": user, "password": password, "csrf_token": token[1]}).encode()
        with self.opener.open(self.console + "login", data=body, timeout=10) as answer:
            # Redirected, with the session cookie, to the console's home page.
            assert urlsplit(answer.url).path == urlsplit(self.console).path
            assert answer.status == 200

    def get_json(self, path: str) -> dict:
        """A JSON document of the console, as the logged-in user."""
        with self.opener.open(self.console + path, timeout=10) as response:
            return json.loads(response.read())


def test_the_demo_raises_a_warning_the_console_shows(tmp_path, run_demo):
    data = tmp_path / "demo"
    demo = run_demo(data, "--windows", "2", "--seed", "3")
    addresses = demo.addresses()
    # The demo says its thresholds are its own, and who has a bad day.
    (thresholds,) = [line for line in demo.stdout if line.startswith("warnings: ")]
    assert "warnings: demo thresholds (III at 3 dissatisfied in a month;" in thresholds
    assert "w01 林晓梅 (s001) has a bad day" in thresholds
    logins = dict(
        line.removeprefix("console login: ").split(" / ")
        for line in demo.stdout
        if line.startswith("console login: ")
    )

    # The manager logs in to the console before anything is raised, and follows its notices.
    manager = ConsoleBrowser(addresses["console"])
    manager.login("manager", logins["manager"])
    since = manager.get_json("notices.json")["version"]

    # The terminal says a warning was raised, within two minutes of the start.
    line = demo.next_line("demo: warning raised: ", timeout=FIRST_WARNING_S)
    assert line.startswith("demo: warning raised: 林晓梅 (s001) level III 效能告诫, 3 dissatisfied")

    # The hub's API shows it: level III for the bad-day staff member, at the demo's threshold.
    token = addresses["token"]
    warnings = get_json(addresses["hub"] + "/api/v1/warnings", token=token)["warnings"]
    assert [(w["staff"], w["level"], w["threshold"]) for w in warnings] == [("s001", "III", 3)]
    warning = warnings[0]
    assert warning["id"] in line

    # The console shows it as a notice, in Chinese, naming the staff member.
    def notices() -> list[dict]:
        found = manager.get_json(f"notices.json?after={since}")["notices"]
        return [n for n in found if n["id"] == warning["id"]]

    (notice,) = wait_until(notices, timeout=10, message="the warning's notice in the console")
    assert notice["staff_name"] == "林晓梅"
    assert notice["level"] == "III"
    assert "林晓梅" in notice["text"]

    demo.process.send_signal(signal.SIGINT)
    assert demo.wait(timeout=STOP_BOUND_S) == 0, demo.stderr

    # Nothing forged: each vote behind the warning is counted, from its own service (a start
    # and an end at window w01), with a ticket of its own that no other vote was counted for.
    hub = sqlite3.connect(f"file:{data / 'hub.sqlite'}?mode=ro", uri=True)
    try:
        behind = hub.execute(
            "SELECT v.level, v.counted, v.hub_rule, v.filter_rule, v.ticket, v.service, v.window"
            " FROM warning_votes x JOIN votes v ON v.id = x.vote_id WHERE x.warning_id = ?",
            (warning["id"],),
        ).fetchall()
        assert len(behind) == 3
        for level, counted, hub_rule, filter_rule, ticket, service, window in behind:
            assert level <= 2 and counted == 1 and hub_rule is None and filter_rule is None
            assert window == "w01"
            events = hub.execute(
                "SELECT event, ticket FROM service_events WHERE service = ? ORDER BY rowid",
                (service,),
            ).fetchall()
            assert [event for event, _ in events] == ["start", "end"]
            assert events[0][1] == ticket
            (others,) = hub.execute(
                "SELECT count(*) FROM votes WHERE ticket = ? AND counted = 1", (ticket,)
            ).fetchone()
            assert others == 1
        assert len({row[4] for row in behind}) == 3
    finally:
        hub.close()


def test_the_demo_raises_a_too_fast_service_alert_within_two_minutes(tmp_path, run_demo):
    data = tmp_path / "demo"
    demo = run_demo(data, "--windows", "1", "--seed", "7")
    addresses = demo.addresses()
    # The demo says its service-time limit is its own, not the sample hall's.
    assert [line for line in demo.stdout if line.startswith("supervision: ")] == [
        "supervision: demo limits (结婚登记 marriage-registration too fast under 3 s,"
        " the sample hall's 300 s; w01's queue system names each ticket's item)"
    ]
    token = addresses["token"]
    alerts_url = addresses["hub"] + "/api/v1/supervision/alerts"
    too_fast_url = addresses["hub"] + "/api/v1/supervision/alerts?kind=too_fast&status=yellow"

    # Within two minutes of the start, the supervision API shows a yellow too-fast alert
    # for a service of the item with the demo's minimum, at the bad-day window.
    alerts = wait_until(
        lambda: get_json(too_fast_url, token=token)["alerts"],
        timeout=FIRST_WARNING_S,
        message="a too-fast alert from the demo's queue-system window",
    )
    alert = alerts[0]
    assert (alert["kind"], alert["status"], alert["window"], alert["item"]) == (
        "too_fast",
        "yellow",
        "w01",
        "marriage-registration",
    )
    assert (alert["limits"], alert["limit_s"], alert["department"]) == ("item", 3, "civil")
    assert alert["seconds"] < 3 and alert["ticket"].startswith("W01-")

    # Not every service is flagged: the department's other item sets no limits.
    def other_item_served() -> bool:
        hub = sqlite3.connect(f"file:{data / 'hub.sqlite'}?mode=ro", uri=True)
        try:
            query = "SELECT count(*) FROM service_events WHERE item = ? AND event = 'end'"
            return hub.execute(query, ("minimum-living",)).fetchone()[0] > 0
        finally:
            hub.close()

    wait_until(other_item_served, timeout=FIRST_WARNING_S, message="a minimum-living service")
    every = get_json(alerts_url + "?limit=1000", token=token)["alerts"]
    assert every and {a["item"] for a in every} == {"marriage-registration"}

    demo.process.send_signal(signal.SIGINT)
    assert demo.wait(timeout=STOP_BOUND_S) == 0, demo.stderr
