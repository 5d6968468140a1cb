"""The console's notice log, over notices a real hub queued and delivered through apprise.

A warning raised by votes over MQTT goes to the manager (delivered to a local
``json://`` receiver) and to civil's head (a closed port: it keeps failing);
a case reminder goes to one person and an SMS to a citizen whose number the
case holds. The page shows each with its event, whom, channel, status, error
and attempts, filters and pages them, scopes a department head, and never
shows a phone number.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient

from device_agent.storage import write_transaction
from hub.app import create_app
from hub.config import load_hub_config
from hub.notify.notices import NoticeQueue
from hub.store import Store
from tests.hall import Hall, query, wait_until
from tests.test_console import add_user, form_token, log_in
from tests.test_notify import Firmware, Receiver, free_port

PHONE = "13812345678"


def settings(hall: Hall, port: int, closed: int) -> str:
    (hall.root / "notify-urls.toml").write_text(
        f'manager = ["json://127.0.0.1:{port}/manager"]\n'
        f'citizen_sms = ["json://127.0.0.1:{port}/sms/{{phone}}"]\n'
        f'[dept_head]\ncivil = ["json://127.0.0.1:{closed}/civil"]\n'
        f'[people]\ns01 = ["json://127.0.0.1:{port}/s01"]\n'
    )
    return (
        '[warnings]\n[[warnings.rules]]\nlevel = "III"\naction = "效能告诫"\nmonthly = 2\n'
        'yearly = 40\n\n[notify]\nurls_file = "notify-urls.toml"\n'
        "retry_min_s = 0.2\nretry_max_s = 0.5\npoll_s = 0.05\ncheck_s = 0.1\ntimeout_s = 2\n"
    )


def rows(html: str) -> list[dict[str, str]]:
    found = []
    for ident, status, body in re.findall(
        r'<tr data-notice="(\d+)" data-status="(\w+)">(.*?)</tr>', html, re.S
    ):
        fields = dict(re.findall(r'data-field="(\w+)"[^>]*>(.*?)</(?:td|small|span)>', body, re.S))
        found.append({**fields, "id": ident, "status": status})
    return found


def client_of(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    assert log_in(client, name).status_code == 302
    return client


@pytest.fixture
def receiver():
    receiver = Receiver(free_port())
    receiver.start()
    yield receiver
    receiver.stop()


def test_the_notice_log_shows_every_notice_whom_how_and_what_came_of_it(
    hall, mosquitto, receiver, start_hub, third_party
):
    extra = settings(hall, receiver.port, free_port())
    config = load_hub_config(hall.hub_config(extra=extra))
    for name, role, fields in (
        ("office", "office", {}),
        ("head", "dept_head", {"department": "civil"}),
        ("boss", "manager", {}),
    ):
        add_user(config, name, role, **fields)
    # Before the hub starts: a case with the citizen's number, registered as the office
    # does, and the notices of its reminder and of its answer's SMS, queued by hub.notify.
    office = client_of(create_app(config), "office")
    token = form_token(office.get("/console/cases/new").text)
    office.post(
        "/console/cases/new",
        data={"csrf_token": token, "channel": "phone", "received_on": "2026-12-01",
              "text": "来电反映排队久。", "class": "ordinary", "contact": PHONE},
    )  # fmt: skip
    [(source,)] = query(hall.database, "SELECT id FROM case_sources")
    queue = NoticeQueue(
        config.notify, config.directory, timezone=config.timezone, now=lambda: datetime.now(UTC)
    )
    store = Store(config.database)
    try:
        with write_transaction(store.db) as conn:
            queue.notify(conn, "case_reminder", "1", "2026-11-10", people=("s01",),
                         title="案件即将到期 | Case due soon",
                         body=f"请尽快办理（来电 {PHONE}）。\nPlease handle it.")  # fmt: skip
            queue.citizen(conn, source, "answer", title="答复已出", body="您的诉求已答复。")
    finally:
        store.close()
    hub = start_hub(hall, extra=extra)
    Firmware(third_party(mosquitto.port), hall).vote_dissatisfied(2)
    wait_until(
        lambda: receiver.at("/manager") and receiver.at("/s01") and receiver.at(f"/sms/{PHONE}"),
        message="three notices delivered",
    )
    wait_until(
        lambda: query(hall.database, "SELECT attempts FROM notices WHERE department = 'civil'")
        [0][0] >= 2,
        message="civil's notice tried twice",
    )  # fmt: skip

    office = client_of(hub.app, "office")
    page = office.get("/console/notices/")
    assert page.status_code == 200
    assert PHONE not in page.text and "1**********" in page.text
    shown = rows(page.text)
    by_event = {(r["event"], r["to"]): r for r in shown}
    assert set(by_event) == {
        ("效能预警", "大厅负责人"),
        ("效能预警", "部门负责人 · 民政"),
        ("案件到期提醒", "个人：s01"),
        ("群众短信", "群众（号码不显示）"),
    }
    assert all(r["channel"] == "json" for r in shown)
    civil = by_event[("效能预警", "部门负责人 · 民政")]
    assert civil["status"] == "pending" and int(civil["attempts"]) >= 2
    assert "127.0.0.1" in civil["error"]
    assert by_event[("效能预警", "大厅负责人")]["status"] == "sent"
    assert by_event[("群众短信", "群众（号码不显示）")]["attempts"] == "1"

    # Filters, and paging by id.
    sent = rows(office.get("/console/notices/?status=sent").text)
    assert {r["status"] for r in sent} == {"sent"} and len(sent) == 3
    warnings = rows(office.get("/console/notices/?event=warning").text)
    assert [r["event"] for r in warnings] == ["效能预警", "效能预警"]
    newest = int(shown[0]["id"])
    older = rows(office.get(f"/console/notices/?before={newest}").text)
    assert [r["id"] for r in older] == [r["id"] for r in shown[1:]]
    assert office.get("/console/notices/?status=lost").status_code == 400

    # Civil's head: only the notice to civil's head; a manager may not open the log.
    head = rows(client_of(hub.app, "head").get("/console/notices/").text)
    assert [(r["event"], r["to"]) for r in head] == [("效能预警", "部门负责人 · 民政")]
    assert client_of(hub.app, "boss").get("/console/notices/").status_code == 403
