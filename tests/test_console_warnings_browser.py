"""The warnings pages in a real headless Chromium, against a real broker and hub.

Dissatisfied votes published over MQTT raise a warning; the office handles it to
the end from its page, and a staff member's appeal, accepted by the office,
voids a vote: the warning is withdrawn, and the live hall open in another
browser shows the lower count without a reload.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from device_agent.topics import DeviceTopic, Topics
from tests.browser import DESKTOP, PHONE, add_console_users, log_in, open_page
from tests.hall import Hall
from tests.test_console_browser import SETTINGS
from tests.thirdparty import vote_payload

PASSWORD = "warnings password"


@pytest.fixture
def hub(hall, start_hub):
    add_console_users(hall.database, PASSWORD)
    return start_hub(hall, extra=SETTINGS)


# Asked for after ``hub``: the browsers close before the hub stops.
@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    """Browsers of their own (one per user); closed before the hub stops."""
    made: list[BrowserContext] = []
    yield made
    for context in made:
        context.close()


def open_as(
    browser: Browser,
    contexts: list[BrowserContext],
    url: str,
    name: str,
    *,
    size: tuple[int, int] = DESKTOP,
) -> Page:
    page = open_page(browser, size)
    contexts.append(page.context)
    log_in(page, name, PASSWORD, url)
    return page


def raise_warning(hall: Hall, third_party) -> str:
    """Two dissatisfied votes for 职员1 over MQTT, one with the citizen's words."""
    firmware = third_party(hall.port)
    topics = Topics.for_hall(hall.id)
    firmware.wait_for_hub(topics)
    vote_topic = topics.device("w01-eval", DeviceTopic.VOTE)
    firmware.publish(
        vote_topic,
        vote_payload(
            "w01-eval", 1, level=1, staff="s01", reasons=["long-wait"], comment="<i>排队一小时</i>"
        ),
    )
    firmware.publish(vote_topic, vote_payload("w01-eval", 2, level=2, staff="s01"))
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    return f"s01-III-{month}"


def no_overflow(page: Page) -> None:
    width = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(width) <= 0


def test_the_office_acknowledges_notifies_and_closes_a_warning(
    browser,
    hall,
    hub,
    contexts,
    third_party,
):
    office = open_as(browser, contexts, hub.api_url + "/console/warnings/", "office")
    expect(office.locator("h1")).to_have_text("效能预警")
    expect(office.locator("[data-warning]")).to_have_count(0)
    ident = raise_warning(hall, third_party)
    # The console's notice tells of it at once; the queue lists it.
    expect(office.locator("#notices .notice")).to_contain_text("新预警：职员1（民政）III")
    office.reload()
    row = office.locator(f'[data-warning="{ident}"]')
    expect(row.locator('[data-field="count"]')).to_have_text("2 / 2")
    expect(row.locator('[data-field="state"]')).to_have_text("新预警")
    row.locator("a").click()
    expect(office).to_have_url(f"{hub.api_url}/console/warnings/{ident}")
    # Its votes: the citizen's words as text, the window, the channel.
    votes = office.locator("[data-vote]")
    expect(votes).to_have_count(2)
    expect(votes.first).to_contain_text("<i>排队一小时</i>")
    expect(votes.first).to_contain_text("等候时间长")
    expect(votes.first).to_contain_text("1号窗口")
    expect(votes.first.locator('[data-field="filtered"]')).to_have_text("计入")

    office.fill('[data-form="acknowledge"] textarea[name=note]', "已阅")
    office.click('[data-form="acknowledge"] button')
    expect(office.locator('[data-field="state"]')).to_have_text("已知悉")
    office.fill('[data-form="notice"] input[name=deadline]', "2099-12-31")
    office.fill('[data-form="notice"] textarea[name=note]', "书面告知本人")
    office.click('[data-form="notice"] button')
    expect(office.locator('[data-field="state"]')).to_have_text("已处理")
    expect(office.locator('[data-field="case"]')).to_contain_text("案件 1")
    expect(office.locator('[data-form="notice"]')).to_have_count(0)
    office.fill('[data-form="close"] textarea[name=note]', "整改到位")
    office.click('[data-form="close"] button')
    expect(office.locator('[data-field="state"]')).to_have_text("已办结")
    history = office.locator("[data-event]")
    expect(history).to_have_count(4)
    expect(history.nth(2)).to_contain_text("限期整改至 2099-12-31")
    expect(history.nth(3)).to_contain_text("整改到位")
    expect(office.locator("form.wform")).to_have_count(0)
    # The open queue no longer lists it; the closed one does.
    office.goto(hub.api_url + "/console/warnings/")
    expect(office.locator("[data-warning]")).to_have_count(0)
    office.select_option("select[name=state]", "closed")
    office.click(".wfilters button")
    expect(office.locator(f'[data-warning="{ident}"]')).to_be_visible()


def test_an_appeal_filed_by_staff_and_accepted_by_the_office_lowers_the_counts(
    browser,
    hall,
    hub,
    contexts,
    third_party,
):
    manager = open_as(browser, contexts, hub.api_url + "/console/", "boss")
    card = manager.locator('[data-window="w01"]')
    expect(manager.locator("body")).to_have_attribute("data-live", "stream")
    ident = raise_warning(hall, third_party)
    expect(card.locator('[data-field="dissatisfied"]')).to_have_text("2")
    manager.evaluate("window.notReloaded = true")

    # The staff member, on a phone, appeals the first vote of their own warning.
    clerk = open_as(browser, contexts, hub.api_url + "/console/warnings/", "clerk", size=PHONE)
    expect(clerk.locator(".readonly")).to_be_visible()
    clerk.locator(f'[data-warning="{ident}"] a').click()
    no_overflow(clerk)
    clerk.locator("[data-vote] input[type=checkbox]").first.check()
    clerk.select_option("select[name=reason]", "not_about_staff")
    clerk.fill("textarea[name=text]", "该评价针对取号排队，非本人服务")
    clerk.click('[data-form="appeal"] button[type=submit]')
    expect(clerk.locator("[data-appeal] [data-field=appeal-status]")).to_have_text("待裁定")
    no_overflow(clerk)

    # The office decides from the appeals list.
    office = open_as(browser, contexts, hub.api_url + "/console/warnings/appeals", "office")
    appeal = office.locator("[data-appeal]")
    expect(appeal).to_contain_text("该评价针对取号排队")
    appeal.locator("textarea[name=note]").fill("核实属实")
    appeal.locator("button[value=accept]").click()
    expect(office.locator("[data-appeal] [data-field=appeal-status]")).to_have_text("已采纳")

    # The live hall, never reloaded, shows one dissatisfied vote fewer.
    expect(card.locator('[data-field="dissatisfied"]')).to_have_text("1")
    assert manager.evaluate("window.notReloaded") is True
    # The warning no longer holds: withdrawn, with the vote voided and the appeal accepted.
    clerk.reload()
    expect(clerk.locator('[data-field="state"]')).to_have_text("已撤销")
    expect(clerk.locator('[data-field="count"]')).to_have_text("2")
    expect(clerk.locator('[data-field="current"]')).to_have_text("1")
    expect(clerk.locator("[data-appeal]")).to_contain_text("已采纳")
    expect(clerk.locator("[data-appeal]")).to_contain_text("核实属实")
    expect(clerk.locator('[data-field="filtered"]').first).to_have_text("已作废（非本人服务）")
    # The open queue no longer lists it.
    manager.goto(hub.api_url + "/console/warnings/")
    expect(manager.locator("h1")).to_have_text("效能预警")
    expect(manager.locator("[data-warning]")).to_have_count(0)
    manager.goto(hub.api_url + "/console/warnings/?state=withdrawn")
    expect(manager.locator(f'[data-warning="{ident}"] [data-field="state"]')).to_have_text("已撤销")
