"""The console's votes list, filter summary, quarantine and devices pages, as a browser gets them.

The hub's real Flask app on a real SQLite file filled through the hub's own
Store (with its rules and counting), driven by Flask's test client with a
logged-in session; the devices page reads what a real agent sent through a
real broker to a real hub, and sends it a configuration it answers.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from device_agent.protocol import VoteFilter, format_time
from device_agent.storage import write_transaction
from hub.app import create_app
from hub.config import HubConfig, load_hub_config
from hub.console import accounts
from hub.console.votes_list import parse_filters, read_votes
from hub.counting import Counting
from hub.quarantine import Quarantined
from hub.store import Batch, Store, StoredVote
from tests.hall import query, wait_until
from tests.stored_votes import Clock, make_vote
from tests.test_console_live import TwoDepartmentHall

PASSWORD = "a good password"
ROWID = re.compile(r'data-rowid="(\d+)"')
NEXT = re.compile(r'<a rel="next" href="([^"]+)"')
PREV = re.compile(r'<a rel="prev" href="([^"]+)"')
# Every range below asks for November 2026, in the hall's time zone (Asia/Shanghai).
NOVEMBER = {"from": "2026-11-01", "until": "2026-11-30"}


def add_users(config: HubConfig) -> None:
    store = Store(config.database)
    try:
        with write_transaction(store.db) as conn:
            accounts.add_user(conn, "boss", PASSWORD, role="manager")
            accounts.add_user(conn, "civil", PASSWORD, role="dept_head", department="civil")
            accounts.add_user(conn, "office", PASSWORD, role="office")
            accounts.add_user(conn, "clerk", PASSWORD, role="staff", staff="s01")
            accounts.add_user(conn, "root", PASSWORD, role="admin")
    finally:
        store.close()


def log_in(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    data = {"user": name, "password": PASSWORD, "csrf_token": token}
    assert client.post("/console/login", data=data).status_code == 302
    return client


def local(day: int, hour: int, minute: int = 0) -> str:
    """A November 2026 time in the hall's zone (+08:00), as a device writes it."""
    return f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:00.000+08:00"


class Votes:
    """A hall with two departments (w03 and s03 are 税务) and its store, as the hub runs it."""

    def __init__(self, root: Path) -> None:
        self.hall = TwoDepartmentHall(root, port=1883)
        self.config = load_hub_config(self.hall.hub_config())
        counting = Counting(self.config, now=Clock(datetime(2026, 12, 1, 4, tzinfo=UTC)))
        self.store = Store(self.config.database, counting=counting, rules=counting.rules)

    def add(self, *votes: StoredVote) -> None:
        self.store.commit(Batch(votes=list(votes)))

    def rowids(self, where: str = "1", params: tuple = ()) -> list[int]:
        return [
            r[0]
            for r in query(
                self.hall.database, f"SELECT rowid FROM votes WHERE {where} ORDER BY rowid", params
            )
        ]


@pytest.fixture
def votes(tmp_path: Path):
    found = Votes(tmp_path / "hall")
    add_users(found.config)
    yield found
    found.store.close()


def spread(count: int) -> list[StoredVote]:
    """``count`` votes over November at windows 1-3, every level, some with comments."""
    made = []
    for n in range(count):
        window = n % 3 + 1
        vote = make_vote(
            local(n % 28 + 1, 9 + n % 8, n % 60),
            level=n % 5 + 1,
            window=f"w{window:02d}",
            staff=f"s{window:02d}",
        )
        if n % 7 == 0:
            vote = replace(vote, vote=replace(vote.vote, comment=f"意见 {n}"))
        made.append(vote)
    return made


def walk(client: FlaskClient, first: str) -> tuple[list[int], list[str]]:
    """Follow the next links from ``first``: every rowid shown, and each page's URL."""
    shown: list[int] = []
    urls = [first]
    url: str | None = first
    while url is not None:
        page = client.get(url)
        assert page.status_code == 200, page.text
        shown += [int(r) for r in ROWID.findall(page.text)]
        found = NEXT.search(page.text)
        url = found[1].replace("&amp;", "&") if found else None
        if url:
            urls.append(url)
    return shown, urls


def test_pages_forward_and_back_never_repeat_or_skip_a_vote(votes):
    for start in range(0, 180, 45):
        votes.add(*spread(180)[start : start + 45])
    client = log_in(create_app(votes.config), "boss")

    everything, urls = walk(client, "/console/votes/?from=2026-11-01&until=2026-11-30")
    assert everything == votes.rowids()
    assert len(urls) == 4  # 50 + 50 + 50 + 30

    # Back from the last page by its previous links: the same votes, page by page.
    back: list[int] = []
    url: str | None = urls[-1]
    while url is not None:
        page = client.get(url).text
        back = [int(r) for r in ROWID.findall(page)] + back
        found = PREV.search(page)
        url = found[1].replace("&amp;", "&") if found else None
    assert back == everything

    # Filtered: level 1 at window 1 with a comment; still in order, none missed.
    shown, _ = walk(client, "/console/votes/?from=2026-11-01&until=2026-11-30&level=1&comment=1")
    assert shown == votes.rowids("level = 1 AND comment <> ''")
    assert shown
    page = client.get("/console/votes/?from=2026-11-01&until=2026-11-30&level=1&comment=1").text
    assert "意见" in page and "非常不满意" in page


def test_a_walk_that_stops_at_its_budget_goes_on_from_there_without_a_gap(votes):
    """Pages of a rare filter, the table read 7 rowids at a time, 2 spans a page at most."""
    votes.add(*spread(180))
    filters = parse_filters(NOVEMBER, votes.config, today=date(2026, 12, 1), department=None)
    rare = replace(filters, level=1, comment=True)
    expected = votes.rowids("level = 1 AND comment <> ''")
    assert 3 < len(expected) < 50

    def forward() -> tuple[list[int], int]:
        seen, after, stops = [], 0, 0
        while True:
            page = read_votes(votes.store.db.conn, votes.config, rare, after=after, span=7, spans=2)
            seen += [row.rowid for row in page.rows]
            stops += page.searched_to is not None
            if page.next_after is None:
                return seen, stops
            after = page.next_after

    seen, stops = forward()
    assert seen == expected and stops > 3
    # Back from the end: the same votes, none twice.
    back, before = [], votes.rowids()[-1] + 1
    while before is not None:
        page = read_votes(votes.store.db.conn, votes.config, rare, before=before, span=7, spans=2)
        back = [row.rowid for row in page.rows] + back
        before = page.previous_before
    assert back == expected
    # Unfiltered, a page still fills across spans: 50 votes, then the next page goes on.
    page = read_votes(votes.store.db.conn, votes.config, filters, span=7, spans=20)
    assert [row.rowid for row in page.rows] == votes.rowids()[:50]
    assert page.next_after == votes.rowids()[49] and page.searched_to is None


def test_the_until_day_is_included_to_its_last_minute_and_late_votes_are_found(votes):
    late = make_vote(local(10, 23, 59), received=format_time(datetime(2026, 11, 20, tzinfo=UTC)))
    votes.add(make_vote(local(9, 12)), make_vote(local(10, 0, 0)), make_vote(local(11, 0, 0)))
    votes.add(late)  # cast on the 10th, arrived ten days later, after the 11th's vote
    client = log_in(create_app(votes.config), "boss")

    page = client.get("/console/votes/?from=2026-11-10&until=2026-11-10").text

    assert re.findall(r"<time>([^<]+)</time>", page) == [
        "2026-11-10 00:00:00",
        "2026-11-10 23:59:00",
    ]
    assert "大厅所在时区 Asia/Shanghai" in page
    whole = client.get("/console/votes/?from=2026-11-09&until=2026-11-11").text
    assert len(ROWID.findall(whole)) == 4
    assert client.get("/console/votes/?from=2026-11-11&until=2026-11-10").status_code == 400


def test_a_department_head_sees_their_department_only_and_staff_no_list(votes):
    votes.add(*spread(30))
    app = create_app(votes.config)
    head = log_in(app, "civil")

    shown, _ = walk(head, "/console/votes/?from=2026-11-01&until=2026-11-30")
    assert shown == votes.rowids("window IN ('w01', 'w02')")
    page = head.get("/console/votes/?from=2026-11-01&until=2026-11-30").text
    assert "职员3" not in page and "职员1" in page
    assert head.get("/console/votes/?staff=s03").status_code == 403
    assert head.get("/console/votes/?window=w03").status_code == 403
    assert head.get("/console/votes/?department=tax").status_code == 403
    assert head.get("/console/votes/filters?department=tax").status_code == 403

    manager = log_in(app, "boss")
    tax, _ = walk(manager, "/console/votes/?from=2026-11-01&until=2026-11-30&department=tax")
    assert tax == votes.rowids("window = 'w03'")
    assert log_in(app, "clerk").get("/console/votes/").status_code == 403


def test_a_filtered_press_shows_its_rule_and_the_summary_counts_them(votes):
    counted = make_vote(local(5, 10), window="w01", staff="s01", level=4)
    repeat = make_vote(local(5, 10, 1), window="w01", staff="s01", level=1)
    repeat = replace(repeat, vote=replace(repeat.vote, filter=VoteFilter("one_per_service", 1)))
    stranger = make_vote(local(5, 11), window="w02", staff="s88")  # not in the directory
    votes.add(counted, repeat, stranger)
    client = log_in(create_app(votes.config), "office")

    page = client.get("/console/votes/?from=2026-11-05&until=2026-11-05&status=filtered").text

    assert len(ROWID.findall(page)) == 2
    assert 'data-rule="one_per_service"' in page and "同一次服务只计一次评价" in page
    assert "设备过滤" in page
    assert 'data-rule="unknown_staff"' in page and "评价的工作人员不在名录中" in page
    assert "中心过滤" in page
    only = client.get("/console/votes/?from=2026-11-05&until=2026-11-05&rule=unknown_staff").text
    assert ROWID.findall(only) == [str(votes.rowids("staff = 's88'")[0])]

    summary = client.get("/console/votes/filters?from=2026-11-01&until=2026-11-30").text
    assert re.search(r'data-total="counted">1<', summary)
    assert re.search(r'data-total="filtered">2<', summary)
    rows = re.findall(r'<tr data-rule="([a-z_]+)">.*?class="count">(\d+)<', summary, re.S)
    assert sorted(rows) == [("one_per_service", "1"), ("unknown_staff", "1")]
    english = client.get("/console/lang/en?next=/console/votes/filters?from=2026-11-01")
    assert english.status_code == 302
    assert "One vote per service" in client.get("/console/votes/filters?from=2026-11-01").text
    assert client.get("/console/votes/filters?from=2026-01-01&until=2026-11-30").status_code == 400


PHONE = "13812345678"


def test_the_quarantine_shows_what_was_refused_redacted_newest_first(votes):
    at = format_time(datetime(2026, 11, 20, 2, tzinfo=UTC))

    def refused(n: int) -> Quarantined:
        body = json.dumps({"v": 1, "n": n, "contact": PHONE, "text": "x" * 3000}).encode()
        return Quarantined("t/device/w01-eval/complaint", "w01-eval", None, f"bad {n}", body, at)

    votes.store.commit(Batch(quarantine=[refused(n) for n in range(30)]))
    app = create_app(votes.config)
    office = log_in(app, "office")

    page = office.get("/console/quarantine").text

    reasons = re.findall(r'<td data-label="原因">([^<]+)</td>', page)
    assert reasons == [f"bad {n}" for n in range(29, 4, -1)]  # newest first, 25 a page
    assert PHONE not in page and "[redacted]" in page
    assert re.search(r'data-total="rows">30<', page)
    assert "已截断" in page  # the stored prefix is shorter than the payload
    older = re.search(r'<a rel="next" href="([^"]+)"', page)[1]  # type: ignore[index]
    rest = office.get(older.replace("&amp;", "&")).text
    assert re.findall(r'<td data-label="原因">([^<]+)</td>', rest) == [
        f"bad {n}" for n in range(4, -1, -1)
    ]
    assert log_in(app, "boss").get("/console/quarantine").status_code == 403
    assert log_in(app, "root").get("/console/quarantine").status_code == 200


def devices_row(html: str, device: str) -> str:
    found = re.search(rf'<tr data-device="{device}">(.*?)</tr>', html, re.S)
    assert found, html
    return found[1]


def field(row: str, name: str) -> str:
    found = re.search(rf'data-field="{name}">(.*?)</td>', row, re.S)
    assert found, row
    return re.sub(r"<[^>]+>", " ", found[1]).split()


def test_the_devices_page_shows_an_agents_telemetry_and_its_answer_to_a_config(
    hall, start_hub, start_agent
):
    hub = start_hub(hall)
    add_users(hub.config)
    window = start_agent(hall, 1)
    wait_until(lambda: window.agent.link.connected, message="agent connected")
    window.press(17)
    wait_until(
        lambda: (
            query(hall.database, "SELECT telemetry FROM devices WHERE id = 'w01-eval'")
            and query(hall.database, "SELECT telemetry FROM devices WHERE id = 'w01-eval'")[0][0]
        ),
        message="the agent's telemetry at the hub",
    )
    app = create_app(hub.config)
    app.config["HALLRATE_DEVICE_CONFIG_WAIT_S"] = 20
    admin = log_in(app, "root")

    row = devices_row(admin.get("/console/devices").text, "w01-eval")
    assert field(row, "status") == ["在线"]
    assert field(row, "software")[0][0].isdigit()
    assert field(row, "outbox")[0].isdigit()
    assert field(row, "outbox")[1:3] == ["/", "1000000"]  # its depth against its limit
    assert field(row, "keypad") == ["—"]  # buttons on GPIO, no serial keypad
    assert field(row, "alarm") == ["正常"]
    assert devices_row(admin.get("/console/devices").text, "w02-eval").count("未上报") >= 1

    page = admin.get("/console/devices").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]  # type: ignore[index]
    good = {"v": 1, "config_version": 7, "staff": "s02"}
    sent = admin.post(
        "/console/devices/config",
        data={"csrf_token": token, "device": "w01-eval", "document": json.dumps(good)},
    )
    assert sent.status_code == 200
    assert 'data-sent="applied"' in sent.text and "设备已应用该配置" in sent.text

    bad = {"v": 1, "config_version": 8, "session": {"cooldown_s": -1}}
    refused = admin.post(
        "/console/devices/config",
        data={"csrf_token": token, "device": "w01-eval", "document": json.dumps(bad)},
    )
    assert 'data-sent="refused"' in refused.text
    assert "session.cooldown_s: must be between 0 and 600" in refused.text
    # The device's answer as the hub stored it shows on the page, for the manager too.
    manager = log_in(app, "boss")

    def answer() -> str:
        return " ".join(
            field(devices_row(manager.get("/console/devices").text, "w01-eval"), "answer")
        )

    wait_until(lambda: "已拒绝" in answer(), message="the refusal on the page")
    assert "第 8 版" in answer() and "第 7 版" in answer()
    assert "cooldown_s" in answer()
    assert "send_config" not in manager.get("/console/devices").text
    assert "仅系统管理员可修改设备配置" in manager.get("/console/devices").text
    assert manager.post("/console/devices/config", data={"csrf_token": "x"}).status_code in (
        400,
        403,
    )
    audit = query(
        hall.database,
        "SELECT user, action, target, note FROM console_audit WHERE action = 'device_config'"
        " ORDER BY rowid",
    )
    assert [(u, a, t, n.split(":")[0]) for u, a, t, n in audit] == [
        ("root", "device_config", "w01-eval", "applied"),
        ("root", "device_config", "w01-eval", "refused"),
    ]
    assert log_in(app, "office").get("/console/devices").status_code == 403

    # w02's evaluator is not running: the page says the document waits for it, and
    # shows its answer once it connects and applies the retained document.
    app.config["HALLRATE_DEVICE_CONFIG_WAIT_S"] = 1
    later = {"v": 1, "config_version": 3, "staff": "s01"}
    pending = admin.post(
        "/console/devices/config",
        data={"csrf_token": token, "device": "w02-eval", "document": json.dumps(later)},
    )
    assert 'data-sent="pending"' in pending.text and "设备连线后会应用" in pending.text
    assert 'http-equiv="refresh"' in pending.text
    assert field(devices_row(pending.text, "w02-eval"), "answer") == ["—"]
    start_agent(hall, 2)

    def answer_of_w02() -> list[str]:
        return field(devices_row(admin.get("/console/devices").text, "w02-eval"), "answer")

    wait_until(lambda: "已应用" in " ".join(answer_of_w02()), message="w02's answer")
    assert "第 3 版" in " ".join(answer_of_w02())
    # The page stops looking again once the answer to that version is in.
    answered = admin.get("/console/devices?device=w02-eval&waiting=3").text
    assert 'http-equiv="refresh"' not in answered
    assert 'http-equiv="refresh"' in admin.get("/console/devices?device=w02-eval&waiting=4").text
