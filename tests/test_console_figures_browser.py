"""The charts, reports and staff pages in a real headless Chromium, against a running hub.

A month and a half of votes of two departments is stored through the hub's real
store and counting before the hub starts (a real broker, a real SQLite file);
then a staff member sees only their own page and is refused another's, a
manager reads the charts (SVG with Chinese labels) and prints them, and
downloads the monthly report's XLSX through the browser, opened here with
openpyxl and checked against a recount of the raw votes.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect

from device_agent.storage import write_transaction
from hub.config import load_hub_config
from hub.console import accounts
from hub.counting import Counting
from hub.service import HubService
from hub.store import Store
from tests.browser import log_in, new_page
from tests.stored_votes import Clock, CountingHub
from tests.test_analytics import MONTH, TwoDepartments, _votes, counted_votes
from tests.test_console_figures import MIN_STAFF_VOTES, SETTINGS, _with_comment

PASSWORD = "figures password"
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.fixture
def hub(tmp_path, mosquitto, start_hub) -> HubService:
    hall = TwoDepartments(tmp_path / "hall", mosquitto.port, windows=3)
    config = load_hub_config(hall.hub_config(extra=SETTINGS))
    clock = Clock(datetime(2027, 1, 5, 4, 0, tzinfo=UTC))
    counting = Counting(config, now=clock)
    store = Store(config.database, counting=counting, rules=counting.rules)
    filling = CountingHub(hall, config, store, counting, clock)
    votes = [
        _with_comment(v, f"窗口服务评论{i}") if i % 5 == 1 else v
        for i, v in enumerate(_votes(random.Random(13)))
    ]
    for i in range(0, len(votes), 40):
        filling.add(*votes[i : i + 40])
    with write_transaction(store.db) as conn:
        accounts.add_user(conn, "boss", PASSWORD, role="manager", display_name="王主任")
        accounts.add_user(conn, "clerk", PASSWORD, role="staff", staff="s01")
    store.close()
    return start_hub(hall, extra=SETTINGS)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with new_page(browser, timeout_ms=20_000, accept_downloads=True) as opened:
        yield opened


def test_a_staff_member_sees_their_own_page_and_is_refused_another(hub, page):
    log_in(page, "clerk", PASSWORD, hub.api_url + "/console/login")
    # Their home is their own page, first in their menu.
    expect(page).to_have_url(hub.api_url + "/console/staff/s01")
    expect(page.locator("h1")).to_contain_text("职员1 的评价")
    expect(page.locator(".nav a").first).to_have_text("我的评价")
    november = page.locator(f'[data-month="{MONTH}"]')
    expect(november).to_be_visible()
    expect(november.locator(".comments li").first).to_contain_text("窗口服务评论")
    expect(page.locator(".rule")).to_contain_text(f"至少 {MIN_STAFF_VOTES} 票")
    expect(page.locator("#staff-trend svg")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(OVERFLOW) <= 0
    response = page.goto(hub.api_url + "/console/staff/s02")
    assert response is not None and response.status == 403
    expect(page.locator(".error")).to_have_text("您的账号无权查看此页面。")
    expect(page.locator("[data-month]")).to_have_count(0)


def test_the_charts_page_draws_svg_with_chinese_labels_and_prints(hub, page):
    log_in(page, "boss", PASSWORD, hub.api_url + f"/console/charts/?month={MONTH}&year=2026")
    expect(page.locator(".chart svg")).to_have_count(5)
    heat = page.locator("#chart-heatmap svg")
    expect(heat.locator("text").filter(has_text="周一 Mon")).to_have_count(1)
    expect(heat.locator("title").first).to_contain_text("不满意票：星期 × 时段")
    # The labels are laid out as text (the screenshots show the glyphs themselves).
    width = page.evaluate(
        "[...document.querySelectorAll('#chart-heatmap svg text')]"
        ".find(t => t.textContent.startsWith('周一')).getComputedTextLength()"
    )
    assert width > 20
    # The pickers change the period.
    page.fill("input[name=month]", "2026-12")
    page.click(".pickers button[type=submit]")
    expect(page.locator("#chart-daily svg title")).to_contain_text("2026-12 每日满意率")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(OVERFLOW) <= 0
    # On paper: no menu, no pickers, the charts as wide as the page.
    page.set_viewport_size({"width": 1366, "height": 768})
    page.emulate_media(media="print")
    expect(page.locator(".top")).to_be_hidden()
    expect(page.locator(".pickers")).to_be_hidden()
    chart = page.locator("#chart-heatmap svg").bounding_box()
    main = page.locator("main").bounding_box()
    assert chart is not None and main is not None and chart["width"] >= main["width"] - 40
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000


def test_the_monthly_report_downloads_as_xlsx_equal_to_a_recount(hub, page, tmp_path):
    log_in(page, "boss", PASSWORD, hub.api_url + f"/console/reports/monthly?month={MONTH}")
    expect(page.locator("h1")).to_contain_text("月度报告")
    with page.expect_download() as info:
        page.click("a[data-format=xlsx]")
    download = info.value
    assert download.suggested_filename == f"hallrate-monthly-{MONTH}.xlsx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    sheet = load_workbook(saved).active
    assert "月度报告" in sheet["A1"].value
    shown = {row[0].value: (row[2].value, row[4].value) for row in sheet.iter_rows(min_row=3)}
    recount: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for vote in counted_votes(hub.config.database):
        if vote.local.strftime("%Y-%m") != MONTH:
            continue
        for key in (vote.department, hub.config.hall):
            recount[key][0] += 1
            recount[key][1] += vote.level <= 2
    assert shown == {key: tuple(value) for key, value in recount.items()}
    # The page shows the same figures.
    civil = page.locator('tr[data-row="civil"]')
    expect(civil.locator('[data-col="votes"]')).to_have_text(str(recount["civil"][0]))
