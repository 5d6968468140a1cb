"""The console's bulletin page: its figures are monthly_bulletin()'s, scoped, and downloadable.

The hub's Flask app on a real SQLite file; cases are registered and handled
through the console's own forms, as the office and the staff would.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hub import exports
from hub.app import create_app
from hub.cases.api import CASES_KEY
from hub.cases.bulletins import monthly_bulletin
from hub.config import HubConfig, load_hub_config
from hub.console.bulletins_pages import scoped
from hub.store import Store
from tests.hall import Hall
from tests.test_console import add_user, form_token, log_in

TAX = (
    '\n[[departments]]\nid = "tax"\nname = "税务"\n\n'
    '[[staff]]\nid = "t01"\nname = "税务员甲"\ndepartment = "tax"\n'
)
USERS = {
    "office": ("office", {}),
    "boss": ("manager", {}),
    "head": ("dept_head", {"department": "civil"}),
    "clerk": ("staff", {"staff": "s01"}),
    "root": ("admin", {}),
}
# 2025-11-20 10:00 in the hall.
NOW = datetime(2025, 11, 20, 2, 0, tzinfo=UTC)
FIELDS = (
    "received",
    "answered",
    "answered_on_time",
    "overdue",
    "reply_rate",
    "completion_rate",
    "satisfaction",
    "alerts",
)


@pytest.fixture
def config(tmp_path: Path) -> HubConfig:
    hall = Hall(tmp_path / "hall", 2)
    hall.directory_path.write_text(hall.directory_text() + TAX)
    config = load_hub_config(hall.hub_config())
    for name, (role, fields) in USERS.items():
        add_user(config, name, role, **fields)
    return config


@pytest.fixture
def app(config: HubConfig) -> Flask:
    app = create_app(config)
    app.extensions[CASES_KEY].now = lambda: NOW
    return app


def client_of(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    assert log_in(client, name).status_code == 302
    return client


def post(client: FlaskClient, url: str, **data: str) -> Any:
    token = form_token(client.get("/console/cases/").text)
    answer = client.post(url, data={"csrf_token": token, **data})
    assert answer.status_code == 302, answer.text
    return answer


def register(client: FlaskClient, received_on: str) -> int:
    form = {"channel": "phone", "received_on": received_on, "text": "来电反映窗口排队久。"}
    answer = post(client, "/console/cases/new", **{"class": "ordinary", **form})
    found = re.fullmatch(r"/console/cases/(\d+)\?done=register", answer.headers["Location"])
    assert found
    return int(found[1])


def shown(html: str) -> dict[str, dict[str, str]]:
    """Each row of the bulletin table as the page shows it, by its data-department."""
    rows = {}
    for department, row in re.findall(r'<tr data-department="([^"]*)">(.*?)</tr>', html, re.S):
        cells = dict(re.findall(r'<td data-field="(\w+)"[^>]*>(.*?)</td>', row, re.S))
        rows[department] = {
            k: re.sub(r"<small>.*?</small>", "", v).strip() for k, v in cells.items()
        }
    return rows


def expected(row: dict[str, Any]) -> dict[str, str]:
    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    return {
        name: pct(row[name]) if name.endswith(("rate", "satisfaction")) else str(row[name])
        for name in FIELDS
    }


@pytest.fixture
def handled(app: Flask) -> dict[str, int]:
    """November 2025: one civil case answered in time and archived after a satisfied check,
    one tax case left open past its deadline, one not yet assigned; and one October case."""
    office, clerk = client_of(app, "office"), client_of(app, "clerk")
    done = register(office, "2025-11-17")
    post(office, f"/console/cases/{done}/assign", department="civil", assignee="s01")
    post(clerk, f"/console/cases/{done}/start")
    post(clerk, f"/console/cases/{done}/draft", answer="已增开窗口。")
    post(clerk, f"/console/cases/{done}/answer")
    post(office, f"/console/cases/{done}/check", rating="satisfied")
    post(office, f"/console/cases/{done}/archive")
    late = register(office, "2025-11-03")
    post(office, f"/console/cases/{late}/assign", department="tax", assignee="t01")
    fresh = register(office, "2025-11-19")
    october = register(office, "2025-10-15")
    return {"done": done, "late": late, "fresh": fresh, "october": october}


def bulletin_now(config: HubConfig, app: Flask, month: str) -> dict[str, Any]:
    store = Store(config.database)
    try:
        return monthly_bulletin(
            app.extensions[CASES_KEY], store.db.conn, month, directory=config.directory, now=NOW
        )
    finally:
        store.close()


def test_the_page_shows_monthly_bulletins_figures_for_each_department(app, config, handled):
    bulletin = bulletin_now(config, app, "2025-11")
    page = client_of(app, "boss").get("/console/bulletins/?month=2025-11")
    assert page.status_code == 200
    rows = shown(page.text)
    for row in bulletin["departments"]:
        assert rows[row["department"] or ""] == expected(row), row["department"]
    assert rows["total"] == expected(bulletin["hall"])
    # And a recount by hand: three November cases (October's is not one of them).
    assert rows["civil"]["received"] == "1" and rows["civil"]["completion_rate"] == "100.0%"
    assert rows["civil"]["satisfaction"] == "100.0%"
    assert rows["tax"]["overdue"] == "1" and rows["tax"]["reply_rate"] == "0.0%"
    assert rows["total"]["received"] == "3" and rows["total"]["answered_on_time"] == "1"
    assert "2025-11 案件办理通报" in page.text
    assert 'href="/console/bulletins/2025-11.xlsx"' in page.text
    assert 'href="/console/bulletins/2025-11.csv"' in page.text
    october = shown(client_of(app, "boss").get("/console/bulletins/?month=2025-10").text)
    assert october["total"]["received"] == "1"


def test_a_department_head_sees_and_downloads_their_department_only(app, config, handled):
    head = client_of(app, "head")
    rows = shown(head.get("/console/bulletins/?month=2025-11").text)
    assert list(rows) == ["civil"]
    bulletin = bulletin_now(config, app, "2025-11")
    civil = next(r for r in bulletin["departments"] if r["department"] == "civil")
    assert rows["civil"] == expected(civil)
    download = head.get("/console/bulletins/2025-11.csv")
    assert download.status_code == 200
    assert (
        download.headers["Content-Disposition"]
        == 'attachment; filename="hallrate-bulletin-2025-11.csv"'
    )
    assert download.data == exports.bulletin_csv(scoped(bulletin, "civil"))
    table = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert [r[0] for r in table[1:]] == ["civil", "合计 Total"]
    assert "tax" not in download.data.decode("utf-8-sig")


def test_the_downloads_are_the_bulletins_and_a_bad_month_is_refused(app, config, handled):
    office = client_of(app, "office")
    bulletin = bulletin_now(config, app, "2025-11")
    assert office.get("/console/bulletins/2025-11.csv").data == exports.bulletin_csv(bulletin)
    xlsx = office.get("/console/bulletins/2025-11.xlsx")
    assert xlsx.status_code == 200 and xlsx.mimetype == exports.XLSX_TYPE
    assert office.get("/console/bulletins/?month=2025-13").status_code == 400
    assert office.get("/console/bulletins/2025-11.pdf").status_code == 404
    assert client_of(app, "clerk").get("/console/bulletins/").status_code == 403


def test_the_live_hall_shows_todays_online_rate_as_the_presence_page_does(app):
    boss = client_of(app, "boss")
    live = re.search(r'<dd data-hall="presence">([^<]*)</dd>', boss.get("/console/").text)
    presence = boss.get("/console/supervision/presence").text
    shown = re.search(r'<dd data-presence="rate">([^<]*)</dd>', presence)
    assert live and shown and live[1] == shown[1]
    assert boss.get("/console/live.json").json["presence"] is not None or live[1] == "—"
    # A department head's live hall is their department's: no hall-wide rate on it.
    assert 'data-hall="presence"' not in client_of(app, "head").get("/console/").text
