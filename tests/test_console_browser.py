"""The console in a real headless Chromium, against a real broker and hub.

A manager logs in (a wrong password first), watches the live hall update as a
vote arrives over MQTT, and sees a warning raised by votes appear as a notice;
a staff member is refused the live hall. The hub's cookies are Secure: Chromium
keeps them on http://127.0.0.1, a secure context like https.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from device_agent.topics import DeviceTopic, Topics
from tests.browser import add_console_users, log_in, open_page
from tests.thirdparty import vote_payload

PASSWORD = "manager password"
USERS = (("boss", "manager", {"display_name": "王经理"}), ("clerk", "staff", {"staff": "s01"}))
# Two dissatisfied votes a month raise a warning; a window is red from 2 votes below 90%.
SETTINGS = (
    '[warnings]\n[[warnings.rules]]\nlevel = "III"\nmonthly = 2\naction = "告诫"\n\n'
    "[console]\nred_below = 0.9\nred_min_votes = 2\n"
)


# Tests ask for ``hub`` before ``page`` (tests/conftest.py's): the page (and its event
# stream) closes before the hub stops, so teardown does not race the browser's
# reconnects. (Once, under load, the hub's stop failed with EBADF on waitress's trigger
# while a page stayed open; not reproduced since.)


@pytest.fixture
def hub(hall, start_hub):
    add_console_users(hall.database, PASSWORD, USERS)
    return start_hub(hall, extra=SETTINGS)


def test_a_manager_logs_in_after_a_wrong_password(hub, page):
    page.goto(hub.api_url + "/")
    expect(page).to_have_url(hub.api_url + "/console/login?next=/console/")
    log_in(page, "boss", "not my password")
    expect(page.locator(".error")).to_have_text("用户名或密码不正确。")
    log_in(page, "boss", PASSWORD)
    expect(page).to_have_url(hub.api_url + "/console/")
    expect(page.locator("h1")).to_contain_text("实时大厅")
    expect(page.locator(".user")).to_have_text("王经理 · 大厅负责人")
    expect(page.locator("[data-window]")).to_have_count(3)
    # The session cookie is the browser's, kept as Secure, HttpOnly and SameSite=Strict.
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "hallrate_console"]
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # Logging out ends it.
    page.click("form.logout button")
    expect(page.locator(".info")).to_have_text("已退出登录。")
    page.goto(hub.api_url + "/console/")
    expect(page).to_have_url(hub.api_url + "/console/login?next=/console/")


def test_the_live_hall_updates_as_votes_arrive_and_a_warning_shows_as_a_notice(
    hall, hub, page, third_party
):
    page.goto(hub.api_url + "/console/")
    log_in(page, "boss", PASSWORD)
    card = page.locator('[data-window="w01"]')
    expect(card.locator('[data-field="votes"]')).to_have_text("0")
    expect(card.locator(".red-mark")).to_be_hidden()
    expect(page.locator("#notices .notice")).to_have_count(0)
    # Marks this very page: a reload would lose it.
    page.evaluate("window.notReloaded = true")
    expect(page.locator("body")).to_have_attribute("data-live", "stream")

    firmware = third_party(hall.port)
    topics = Topics.for_hall(hall.id)
    firmware.wait_for_hub(topics)
    vote_topic = topics.device("w01-eval", DeviceTopic.VOTE)
    firmware.publish(vote_topic, vote_payload("w01-eval", 1, level=5, staff="s01"))
    expect(card.locator('[data-field="votes"]')).to_have_text("1")
    expect(card.locator('[data-field="satisfaction"]')).to_have_text("100.0%")
    expect(page.locator('[data-hall="votes"]')).to_have_text("1")
    assert page.evaluate("window.notReloaded") is True

    # Two dissatisfied votes for 职员1 this month: a warning, and the window turns red.
    firmware.publish(vote_topic, vote_payload("w01-eval", 2, level=1, staff="s01"))
    firmware.publish(vote_topic, vote_payload("w01-eval", 3, level=2, staff="s01"))
    notice = page.locator("#notices .notice")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("新预警：职员1（民政）III，本期不满意 2 次")
    expect(card.locator('[data-field="votes"]')).to_have_text("3")
    expect(card.locator('[data-field="satisfaction"]')).to_have_text("33.3%")
    expect(card.locator(".red-mark")).to_be_visible()
    expect(card).to_have_class("window red")
    expect(page.locator('[data-hall="red"]')).to_have_text("1")
    expect(page.locator('[data-hall="red_names"]')).to_have_text("1号窗口")
    assert page.evaluate("window.notReloaded") is True
    # On a phone the same page fits the screen's width: nothing to scroll sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(overflow) <= 0
    expect(notice).to_be_visible()
    notice.locator("button").click()
    expect(notice).to_have_count(0)


def test_a_staff_member_is_refused_the_live_hall(hub, page):
    page.goto(hub.api_url + "/console/")
    log_in(page, "clerk", PASSWORD)
    expect(page.locator(".error")).to_have_text("您的账号无权查看此页面。")
    expect(page.locator("[data-window]")).to_have_count(0)
    # Their menu names only the pages of their own: their own scores first (their home),
    # then their warnings, appeals and cases, in the menu's order (hub.console.nav).
    expect(page.locator(".nav a")).to_have_text(["我的评价", "效能预警", "申诉", "办件"])
    response = page.goto(hub.api_url + "/console/")
    assert response is not None and response.status == 403


def test_every_open_page_shows_the_notice_even_when_no_stream_is_free(
    browser, hall, start_hub, third_party
):
    """Two pages, one event stream allowed: the second polls, and both show the warning."""
    add_console_users(hall.database, PASSWORD, USERS)
    hub = start_hub(hall, extra=SETTINGS + "streams = 1\n")
    pages = []
    for _ in range(2):
        page = open_page(browser, timeout_ms=20_000)
        page.goto(hub.api_url + "/console/")
        log_in(page, "boss", PASSWORD)
        expect(page.locator("h1")).to_contain_text("实时大厅")
        pages.append(page)
    # The first page holds the only stream; the second was refused one and polls.
    expect(pages[0].locator("body")).to_have_attribute("data-live", "stream")
    expect(pages[1].locator("body")).to_have_attribute("data-live", "poll")
    assert hub.console_feed.streams == 1
    firmware = third_party(hall.port)
    topics = Topics.for_hall(hall.id)
    firmware.wait_for_hub(topics)
    vote_topic = topics.device("w01-eval", DeviceTopic.VOTE)
    firmware.publish(vote_topic, vote_payload("w01-eval", 1, level=1, staff="s01"))
    firmware.publish(vote_topic, vote_payload("w01-eval", 2, level=1, staff="s01"))
    # The polling page looks every 5 s: give it a few rounds on a loaded machine.
    for page in pages:
        notice = page.locator("#notices .notice")
        expect(notice).to_contain_text("新预警：职员1", timeout=20_000)
        votes = page.locator('[data-window="w01"] [data-field="votes"]')
        expect(votes).to_have_text("2", timeout=20_000)
    for page in pages:
        page.context.close()
