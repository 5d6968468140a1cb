"""The web wall in a real headless Chromium: it changes with the votes, without a reload."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from device_agent.topics import DeviceTopic, Topics
from tests.browser import new_page
from tests.hall import wait_until
from tests.thirdparty import vote_payload

BOARDS = """
[[boards]]
id = "hall-main"
kind = "wall"
columns = 24
lines = 4
interval_s = 0.2
pages = [{ page = "warnings" }, { page = "windows", hold_s = 600 }]
"""


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with new_page(browser, (1280, 720)) as opened:
        yield opened


def board_text(page: Page) -> list[str]:
    lines = page.locator("#board .line").evaluate_all("rows => rows.map(r => r.textContent)")
    return [line.rstrip() for line in lines]


def test_the_wall_updates_live_and_turns_red_for_a_warning(hall, start_hub, third_party, page):
    hub = start_hub(hall, extra=BOARDS)
    wait_until(lambda: hub.boards.feed.view("hall-main"), message="the first frame")
    page.goto(f"{hub.api_url}/boards/hall-main")
    assert board_text(page)[1] == "1号窗口         暂无评价"
    page.wait_for_selector("#live.on")
    page.evaluate("window.notReloaded = true")

    client = third_party(hall.port)
    topic = Topics.for_hall(hall.id).device("w01-eval", DeviceTopic.VOTE)
    client.publish(topic, vote_payload("w01-eval", 1, level=5, staff="s01"))
    page.wait_for_function(
        "document.querySelector('#board').textContent.includes('100.0% 1')", timeout=20_000
    )
    assert page.evaluate("window.notReloaded") is True

    for seq in range(2, 12):  # ten dissatisfied votes raise a level III warning for s01
        client.publish(topic, vote_payload("w01-eval", seq, level=1, staff="s01"))
    page.wait_for_selector("#board.alert", timeout=20_000)
    assert board_text(page)[:2] == ["        效能预警", "民政      III级 效能告诫"]
    assert "职员1" not in page.text_content("#board")
    # Each Chinese character fills two cells of the board's grid, a digit one.
    widths = page.evaluate(
        "[...document.querySelectorAll('#board .line:nth-child(2) span')]"
        ".slice(0, 3).map(s => Math.round(s.getBoundingClientRect().width))"
    )
    assert widths[0] == widths[1]
    assert abs(widths[0] - 2 * widths[2]) <= 1
    assert page.evaluate("window.notReloaded") is True
