"""网上公布 (issue 14): the kiosk's public results page in a real headless Chromium.

A hall that publishes its results (``[cases] publish_results``) lists its
answered cases on the kiosk, fetched from the hub's public endpoint:
anonymised, with no contact and with phone numbers in the texts masked.
A hall that does not publish says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from playwright.sync_api import Browser, Page

from device_agent.storage import open_database, write_transaction
from hub.cases import chain
from hub.cases.chain import Actor, Cases
from hub.config import load_hub_config
from hub.service import HubService
from tests.browser import KIOSK, new_page
from tests.kiosk_hall import KioskHall, start_kiosk

PHONE = "13912345678"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with new_page(browser, KIOSK) as opened:
        yield opened


def start(hall: KioskHall, extra: str) -> HubService:
    hub = HubService(load_hub_config(hall.hub_config(extra=extra)))
    hub.start()
    return hub


def answered_case(hub: HubService) -> int:
    """A complaint by phone, answered: its text carries the citizen's number."""
    book = Cases(hub.config.cases, hub.config.timezone)
    office, handler = Actor("office-li", "office"), Actor("zhang", "handler")
    db = open_database(hub.config.database)
    try:
        with write_transaction(db) as conn:
            case = chain.register(
                book,
                conn,
                office,
                channel="phone",
                received_on=date(2026, 11, 2),
                text=f"窗口排队太久，请回电 {PHONE}",
                contact="王先生 13800000000",
            )
            chain.assign(book, conn, case, office, department="civil", assignee="zhang")
            chain.start(book, conn, case, handler)
            chain.draft(book, conn, case, handler, answer="已增开两个窗口。\n感谢监督。")
            chain.answer(book, conn, case, handler)
            chain.register(
                book, conn, office, channel="letter", received_on=date(2026, 11, 3), text="未答复"
            )
    finally:
        db.close()
    return case


def test_a_publishing_hall_lists_its_answered_cases_anonymised(page, tmp_path, mosquitto):
    hall = KioskHall(tmp_path / "hall", mosquitto.port)
    hub = start(hall, "[cases]\npublish_results = true\n")
    try:
        case = answered_case(hub)
        kiosk = start_kiosk(hall, 1, hub_url=hub.api_url)
        try:
            page.goto(f"{kiosk.url}/complaints")
            page.click("[data-tile=results]")
            assert page.inner_text("h1") == "办理结果公开"
            items = page.locator("[data-result]")
            assert items.count() == 1  # the unanswered letter is not listed
            assert page.get_attribute("[data-result]", "data-result") == str(case)
            shown = page.inner_text("[data-results]")
            assert "民政" in shown and "2026-11-02" in shown
            assert page.inner_text("[data-question]") == "窗口排队太久，请回电 ***********"
            assert page.inner_text("[data-answer]") == "已增开两个窗口。\n\n感谢监督。"
            html = page.content()
            assert PHONE not in html and "13800000000" not in html and "王先生" not in html
            assert "zhang" not in html and "office-li" not in html
        finally:
            kiosk.stop()
    finally:
        hub.stop()


def test_a_hall_that_does_not_publish_says_so(page, tmp_path, mosquitto):
    hall = KioskHall(tmp_path / "hall", mosquitto.port)
    hub = start(hall, "")
    try:
        answered_case(hub)
        with pytest.raises(HTTPError) as refused:
            urlopen(f"{hub.api_url}/api/v1/public/results", timeout=5)
        with refused.value as answer:
            assert answer.code == 404
        kiosk = start_kiosk(hall, 1, hub_url=hub.api_url)
        try:
            page.goto(f"{kiosk.url}/complaints/results")
            assert page.inner_text("[data-results-error]") == "本大厅暂未公开办理结果。"
            assert page.locator("[data-result]").count() == 0
        finally:
            kiosk.stop()
    finally:
        hub.stop()
