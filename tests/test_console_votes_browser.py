"""The votes list in a real headless Chromium: filtered with the form, paged forward and back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, expect

from device_agent.storage import write_transaction
from hub.config import load_hub_config
from hub.console import accounts
from hub.counting import Counting
from hub.store import Batch, Store
from tests.browser import PHONE, new_page
from tests.hall import query
from tests.stored_votes import Clock, make_vote

PASSWORD = "office password"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with new_page(browser, PHONE) as opened:
        yield opened


@pytest.fixture
def hub(hall, start_hub):
    """A hub whose database holds 130 November votes, 65 of them at window 2."""
    config = load_hub_config(hall.hub_config())
    counting = Counting(config, now=Clock(datetime(2026, 12, 1, 4, tzinfo=UTC)))
    store = Store(config.database, counting=counting, rules=counting.rules)
    try:
        votes = [
            make_vote(
                f"2026-11-{n % 28 + 1:02d}T{9 + n % 8:02d}:{n % 60:02d}:00.000+08:00",
                level=n % 5 + 1,
                window=f"w0{n % 2 + 1}",
                staff=f"s0{n % 2 + 1}",
            )
            for n in range(130)
        ]
        store.commit(Batch(votes=votes))
        with write_transaction(store.db) as conn:
            accounts.add_user(conn, "office", PASSWORD, role="office")
    finally:
        store.close()
    return start_hub(hall)


def shown(page: Page) -> list[int]:
    return [
        int(r)
        for r in page.locator("tr[data-rowid]").evaluate_all(
            "rows => rows.map(r => r.dataset.rowid)"
        )
    ]


def test_the_votes_list_filtered_with_the_form_and_paged_on_a_phone(hall, hub, page):
    page.goto(hub.api_url + "/console/votes/")
    page.fill("input[name=user]", "office")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("评价记录")
    page.fill("input[name=from]", "2026-11-01")
    page.fill("input[name=until]", "2026-11-30")
    page.select_option("select[name=window]", "w02")
    page.click(".vote-filters button[type=submit]")

    expect(page.locator("tr[data-rowid]")).to_have_count(50)
    expected = [
        r[0]
        for r in query(hall.database, "SELECT rowid FROM votes WHERE window = 'w02' ORDER BY rowid")
    ]
    first = shown(page)
    assert first == expected[:50]
    # A row is a card on a phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("a[rel=next]")
    expect(page.locator("tr[data-rowid]")).to_have_count(15)
    assert shown(page) == expected[50:]
    expect(page.locator("a[rel=next]")).to_have_count(0)
    page.click("a[rel=prev]")
    expect(page.locator("tr[data-rowid]")).to_have_count(50)
    assert shown(page) == first
    # The filter stays with the pages, and the form shows it.
    expect(page.locator("select[name=window]")).to_have_value("w02")
    expect(page.locator("tr[data-rowid] td[data-label='窗口']").first).to_have_text("2号窗口")
