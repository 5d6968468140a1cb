"""The bulletin page in a real headless Chromium: the XLSX it downloads, print, a phone.

A real hub holds two cases of this month (one assigned to civil); the office
opens the bulletin, downloads the XLSX (opened with openpyxl: the figures the
page shows), prints it (no menu, the title block, black on white) and reads
it on a phone without scrolling sideways.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from playwright.sync_api import Browser, Page, expect

from hub.service import HubService
from tests.test_console import PASSWORD, add_user, form_token, log_in


@pytest.fixture
def hub(hall, start_hub) -> HubService:
    hub = start_hub(hall)
    add_user(hub.config, "office", "office")
    office = hub.app.test_client()
    assert log_in(office, "office").status_code == 302
    today = datetime.now(UTC).astimezone(ZoneInfo(hub.config.timezone)).date().isoformat()
    for _ in range(2):
        token = form_token(office.get("/console/cases/new").text)
        answer = office.post(
            "/console/cases/new",
            data={"csrf_token": token, "channel": "phone", "received_on": today,
                  "text": "来电反映排队久。", "class": "ordinary"},
        )  # fmt: skip
        assert answer.status_code == 302
    token = form_token(office.get("/console/cases/1").text)
    answer = office.post(
        "/console/cases/1/assign",
        data={"csrf_token": token, "department": "civil", "assignee": "s01"},
    )
    assert answer.status_code == 302
    return hub


def open_page(browser: Browser, hub: HubService, width: int, height: int) -> Page:
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="zh-CN", accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(hub.api_url + "/console/bulletins/")
    page.fill("input[name=user]", "office")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("table.bulletin-table")).to_be_visible()
    return page


def test_the_office_downloads_the_xlsx_prints_the_bulletin_and_reads_it_on_a_phone(hub, browser):
    page = open_page(browser, hub, 1366, 768)
    try:
        civil = page.locator("tr[data-department=civil]")
        assert civil.locator("[data-field=received]").inner_text() == "1"
        total = page.locator("tr[data-department=total]")
        assert total.locator("[data-field=received]").inner_text() == "2"
        with page.expect_download() as started:
            page.click("a[href$='.xlsx']")
        download = started.value
        assert re.fullmatch(r"hallrate-bulletin-\d{4}-\d{2}\.xlsx", download.suggested_filename)
        sheet = openpyxl.load_workbook(io.BytesIO(Path(download.path()).read_bytes())).active
        values = [[cell for cell in row] for row in sheet.iter_rows(values_only=True)]
        header = next(i for i, row in enumerate(values) if "受理 Received" in row)
        column = values[header].index("受理 Received")
        by_department = {row[0]: row for row in values[header + 1 :]}
        assert by_department["civil"][column] == 1
        assert by_department["合计 Total"][column] == 2
        assert by_department[None][column] == 1  # the case not assigned yet

        page.emulate_media(media="print")
        expect(page.locator("header.top")).to_be_hidden()
        expect(page.locator(".bulletin-tools")).to_be_hidden()
        expect(page.locator(".bulletin-title h1")).to_contain_text("案件办理通报")
        colors = page.locator("tr[data-department=civil] td").first.evaluate(
            "e => [getComputedStyle(e).color, getComputedStyle(e).borderTopColor]"
        )
        assert colors == ["rgb(0, 0, 0)", "rgb(0, 0, 0)"]
    finally:
        page.context.close()

    phone = open_page(browser, hub, 390, 844)
    try:
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
    finally:
        phone.context.close()
