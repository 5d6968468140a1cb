"""The console's supervision and presence pages on a real store fed real service events.

Alerts are raised by the hub's own supervision check on events stored as
ingest stores them (tests/test_supervision.py's ``Scripted``); the pages are
driven through Flask's test client with the forms' tokens.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient

from device_agent.storage import write_transaction
from hub.app import create_app
from hub.console import accounts
from hub.periods import Calendar
from tests.hall import query
from tests.test_console import PASSWORD, form_token, log_in
from tests.test_supervision import EVERY_DAY, Scripted

USERS = {
    "boss": "manager",
    "office": "office",
    "head": "dept_head",
    "taxhead": "dept_head",
    "clerk": "staff",
}


@pytest.fixture
def scripted(tmp_path):
    hall = Scripted(tmp_path / "hall", "[supervision.limits]\ncivil = { min_s = 60 }\n")
    with write_transaction(hall.store.db) as conn:
        for name, role in USERS.items():
            department = {"head": "civil", "taxhead": "tax"}.get(name)
            staff = "s01" if role == "staff" else None
            accounts.add_user(conn, name, PASSWORD, role=role, department=department, staff=staff)
    yield hall
    hall.close()


@pytest.fixture
def app(scripted) -> Flask:
    return create_app(scripted.config)


def client_of(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    assert log_in(client, name).status_code == 302
    return client


def fast_service(scripted: Scripted) -> str:
    """The seed's case: an inspection "done" 58 s after acceptance; its alert's id."""
    start = scripted.add(
        "w01", "start", "2026-11-05T09:00:00+08:00", staff="s01", ticket="A017", item="permit"
    )
    scripted.add("w01", "end", "2026-11-05T09:00:58+08:00", staff="s01", service=start)
    assert scripted.check("2026-11-05T09:01:00+08:00") == 1
    (ident,) = query(scripted.config.database, "SELECT id FROM supervision_alerts")[0]
    return ident


def alert_row(page: str, ident: str) -> str:
    found = re.search(rf'<tr id="alert-{re.escape(ident)}"(.*?)</tr>', page, re.S)
    assert found, "the alert is listed"
    return found[1]


def test_a_yellow_alert_is_shown_with_its_service_and_confirmed_red(app, scripted):
    ident = fast_service(scripted)
    office = client_of(app, "office")
    page = office.get("/console/supervision/?month=2026-11").text
    row = alert_row(page, ident)
    assert "黄色预警" in row and "办理过快" in row
    assert "1号窗口" in row and "职员1" in row and "危险化学品安全生产许可" in row and "A017" in row
    assert "<strong>0:58</strong>" in row and "最短 30:00" in row and "按事项" in row
    token = form_token(page)
    url = f"/console/supervision/alerts/{ident}"
    refused = office.post(f"{url}/dismiss?month=2026-11", data={"csrf_token": token, "note": " "})
    assert refused.status_code == 409 and "a dismissal says why" in refused.text
    done = office.post(
        f"{url}/confirm?month=2026-11", data={"csrf_token": token, "note": "查实：事后补录"}
    )
    assert done.status_code == 302
    page = office.get(done.headers["Location"]).text
    row = alert_row(page, ident)
    assert "红色（已确认）" in row and "office" in row and "查实：事后补录" in row
    assert 'class="decide"' not in row
    counts = re.search(r'<tr data-counts="civil">(.*?)</tr>', page, re.S)
    assert counts and '<td data-count="too_fast-red">1</td>' in counts[1]
    again = office.post(f"{url}/dismiss", data={"csrf_token": token, "note": "改主意"})
    assert again.status_code == 409 and "red already" in again.text
    assert query(
        scripted.config.database,
        "SELECT user, action, target, note FROM console_audit WHERE action LIKE 'supervision_%'",
    ) == [("office", "supervision_confirm", f"alert:{ident}", "查实：事后补录")]


def test_who_may_decide_and_what_a_department_head_sees(app, scripted):
    ident = fast_service(scripted)
    head, taxhead = client_of(app, "head"), client_of(app, "taxhead")
    page = head.get("/console/supervision/?month=2026-11").text
    assert 'class="decide"' not in alert_row(page, ident)
    token = form_token(page)
    answer = head.post(f"/console/supervision/alerts/{ident}/confirm", data={"csrf_token": token})
    assert answer.status_code == 403
    assert 'data-alert="' not in taxhead.get("/console/supervision/?month=2026-11").text
    assert client_of(app, "clerk").get("/console/supervision/").status_code == 403
    boss = client_of(app, "boss")
    page = boss.get("/console/supervision/?month=2026-11").text
    dismissed = boss.post(
        f"/console/supervision/alerts/{ident}/dismiss",
        data={"csrf_token": form_token(page), "note": "排队系统故障，补录"},
    )
    assert dismissed.status_code == 302
    row = alert_row(boss.get("/console/supervision/?month=2026-11").text, ident)
    assert "已排除" in row and "排队系统故障，补录" in row


def test_presence_shows_each_persons_rate_and_a_department_head_only_theirs(app, scripted):
    scripted.add("w01", "sign_in", "2026-11-05T08:30:00+08:00", staff="s01")
    scripted.add("w01", "sign_out", "2026-11-05T12:00:00+08:00", staff="s01")
    boss = client_of(app, "boss")
    page = boss.get("/console/supervision/presence?day=2026-11-05").text
    s01 = re.search(r'<tr data-staff="s01">(.*?)</tr>', page, re.S)
    assert s01 and "职员1" in s01[1] and "210.0" in s01[1] and "50.0%" in s01[1]
    assert "监督人员在线率" in page
    taxhead = client_of(app, "taxhead")
    scoped = taxhead.get("/console/supervision/presence?day=2026-11-05").text
    assert 'data-staff="s01"' not in scoped and "监督人员在线率" not in scoped
    month = boss.get("/console/supervision/presence?month=2026-11").text
    # November 2026: 21 open weekdays of 420 minutes; 210 minutes on the 5th.
    row = re.search(r'<tr data-staff="s01">(.*?)</tr>', month, re.S)
    assert row and ">2.4%</td>" in row[1] and "<td>50.0%</td>" in row[1]
    assert boss.get("/console/supervision/presence?day=nonsense").status_code == 400


def test_the_console_users_who_act_are_the_supervisors_by_default(tmp_path):
    """No [supervision] supervisors and no API token: the manager, the office and the
    administrator of the console are the supervisors; a login and a case step are actions."""
    hall = Scripted(tmp_path / "open", f"[supervision.opening_hours]\n{EVERY_DAY}\n")
    with write_transaction(hall.store.db) as conn:
        for name, role in {**USERS, "root": "admin", "gone": "office"}.items():
            department = {"head": "civil", "taxhead": "tax"}.get(name)
            staff = "s01" if role == "staff" else None
            accounts.add_user(conn, name, PASSWORD, role=role, department=department, staff=staff)
        conn.execute("UPDATE console_users SET disabled_at = '2026-11-01' WHERE name = 'gone'")
    try:
        app = create_app(hall.config)
        office = client_of(app, "office")
        today = Calendar().current(datetime.now(UTC), "day")
        form = {"channel": "phone", "received_on": today, "text": "来电反映：窗口排队太久。"}
        token = form_token(office.get("/console/cases/new").text)
        opened = office.post("/console/cases/new", data={"csrf_token": token, **form})
        assert opened.status_code == 302, opened.text
        boss = client_of(app, "boss")  # the manager logs in and does nothing more
        page = boss.get(f"/console/supervision/presence?day={today}").text
    finally:
        hall.close()
    listed = re.findall(r'<tr data-supervisor="([^"]+)"><td>[^<]*</td><td>(\d+) / 1<', page)
    # Department heads and staff are not supervisors; nor is a disabled account.
    assert listed == [("boss", "1"), ("office", "1"), ("root", "0")]
    assert "没有监督人员" not in page
