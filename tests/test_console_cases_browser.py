"""Cases and supervision in a real headless Chromium, against a real broker, hub and kiosk.

A citizen files a complaint at the kiosk; the efficiency office assigns its
case in the console, the responsible staff member takes it on and drafts an
answer, the manager sends the draft back with a note and then approves the
redraft, the staff member answers, and the citizen sees the answer at the
kiosk's lookup; the office records the follow-up and archives the case. A
service "done" faster than its item's minimum raises a yellow alert on the
supervision page, which the manager confirms red.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from device_agent.topics import DeviceTopic, Topics
from hub.config import load_hub_config
from hub.service import HubService
from kiosk.service import KioskService
from tests.browser import add_console_users, log_in, open_page
from tests.hall import wait_until
from tests.kiosk_hall import KioskHall, start_kiosk
from tests.thirdparty import ThirdParty

PASSWORD = "console password"
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.fixture
def hall(tmp_path: Path, mosquitto) -> KioskHall:
    hall = KioskHall(tmp_path / "hall", mosquitto.port)
    # The marriage registration takes at least 5 minutes: sooner is back-filled.
    hall.directory_path.write_text(
        hall.directory_text().replace('windows = ["w01"]\n', 'windows = ["w01"]\nmin_s = 300\n')
    )
    add_console_users(hall.database, PASSWORD)
    return hall


@pytest.fixture
def hub(hall: KioskHall) -> Iterator[HubService]:
    # Supervision checks every 0.1 s, as a test need not wait the default 15 s.
    config = load_hub_config(hall.hub_config(extra="[supervision]\ncheck_interval_s = 0.1\n"))
    hub = HubService(config)
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def kiosk(hall: KioskHall, hub: HubService) -> Iterator[KioskService]:
    kiosk = start_kiosk(hall, 1, hub_url=hub.api_url)
    yield kiosk
    kiosk.stop()


@pytest.fixture
def pages(browser: Browser, hub: HubService) -> Iterator[dict[str, Page]]:
    """One browser context per person: the citizen, the office, the staff member, the manager."""
    found = {}
    for who in ("citizen", "office", "clerk", "boss"):
        found[who] = open_page(browser)
    yield found
    for page in found.values():
        page.context.close()


def file_complaint(page: Page, kiosk: KioskService) -> str:
    """A complaint at the kiosk's screens, as a citizen files one; its claim code."""
    page.goto(kiosk.url)
    page.click("[data-tile=complaints]")
    page.click("[data-tile=new-complaint]")
    page.click("label[data-category=efficiency]")
    page.click("label[data-detail=long-wait]")
    for digit in "246813":
        page.click(f".keypad[data-target=password] [data-key='{digit}']")
    page.click("button[type=submit]")
    return page.inner_text("[data-claim-code]").replace(" ", "")


def look_up(page: Page, kiosk: KioskService, code: str) -> None:
    page.goto(f"{kiosk.url}/complaints/lookup")
    for digit in code:
        page.click(f".keypad[data-target=code] [data-key='{digit}']")
    for digit in "246813":
        page.click(f".keypad[data-target=lookup-password] [data-key='{digit}']")
    page.click("button[type=submit]")


def act(page: Page, action: str, **fields: str) -> None:
    """Fill the case page's form of ``action`` and send it; the page says it is done."""
    form = page.locator(f"form[data-action={action}]")
    for name, value in fields.items():
        radio = form.locator(f"input[type=radio][name={name}][value={json.dumps(value)}]")
        field = form.locator(f"[name={name}]").first
        if radio.count():
            radio.check()
        elif field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.locator("button[type=submit]").first.click()
    expect(page.locator(f"[data-done={action}]")).to_be_visible()


def test_a_kiosk_complaint_goes_through_the_console_to_archive(hall, hub, kiosk, pages):
    code = file_complaint(pages["citizen"], kiosk)
    wait_until(hall.complaints, message="the complaint at the hub")
    console = hub.api_url + "/console/cases/"

    office = pages["office"]
    log_in(office, "office", PASSWORD, console)
    row = office.locator("tr[data-case]")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(4)).to_have_text("自助终端")
    expect(row.locator("[data-field=status]")).to_have_text("已受理")
    row.locator("a").first.click()
    case_url = office.url
    expect(office.locator("[data-source=kiosk]")).to_contain_text("自助终端")
    expect(office.locator("[data-field=text]")).to_have_text("【等候时间过长】")
    # The office may assign, merge and (on the handler's behalf) nothing else yet.
    expect(office.locator("form.action")).to_have_count(2)
    # The person list shows only the chosen department's staff.
    office.select_option("form[data-action=assign] [name=department]", "tax")
    expect(office.locator("optgroup[data-department=civil]")).to_be_hidden()
    act(office, "assign", department="civil", assignee="s01", note="请三日内答复")
    expect(office.locator("[data-field=assignee]")).to_have_text("职员1")

    clerk = pages["clerk"]
    log_in(clerk, "clerk", PASSWORD, console)
    expect(clerk.locator("tr[data-case]")).to_have_count(1)
    clerk.goto(case_url)
    act(clerk, "start")
    act(clerk, "draft", answer="已核实，午间加派人手。")
    expect(clerk.locator("[data-field=draft]")).to_have_text("已核实，午间加派人手。")

    boss = pages["boss"]
    log_in(boss, "boss", PASSWORD, case_url)
    expect(boss).to_have_url(case_url)
    expect(boss.locator("form.action")).to_have_count(2)  # approve, send back
    act(boss, "send_back", note="写明加派时段")
    expect(boss.locator("tr[data-step=send_back] [data-field=note]")).to_have_text("写明加派时段")

    clerk.reload()
    expect(clerk.locator("tr[data-step=send_back]")).to_contain_text("写明加派时段")
    act(clerk, "draft", answer="已核实，每日12:00-14:00加派一人值守。")
    boss.reload()
    act(boss, "approve")
    clerk.reload()
    act(clerk, "answer")
    expect(clerk.locator("[data-field=answer]")).to_have_text(
        "已核实，每日12:00-14:00加派一人值守。"
    )

    citizen = pages["citizen"]
    look_up(citizen, kiosk, code)
    expect(citizen.locator("[data-status]")).to_have_text("已答复")
    expect(citizen.locator("[data-answer]")).to_have_text("已核实，每日12:00-14:00加派一人值守。")

    office.reload()
    act(office, "check", rating="satisfied", by="citizen")
    act(office, "archive", note="办结")
    expect(office.locator(".status-badge")).to_have_text("已办结")
    expect(office.locator("form.action")).to_have_count(0)
    # Every step with who took it: by display name or directory name where known, else login.
    assert office.locator("tr[data-step] [data-field=by]").all_inner_texts() == [
        "kiosk", "效能办李", "职员1", "职员1", "王经理", "职员1", "王经理", "职员1",
        "效能办李", "效能办李",
    ]  # fmt: skip
    look_up(citizen, kiosk, code)
    expect(citizen.locator("[data-status]")).to_have_text("已办结")

    # On a phone the case page fits the screen's width.
    office.set_viewport_size({"width": 390, "height": 844})
    office.reload()
    assert office.evaluate(OVERFLOW) <= 0


def test_a_service_faster_than_its_minimum_shows_yellow_and_is_confirmed_red(
    hall, hub, pages, third_party
):
    firmware: ThirdParty = third_party(hall.port)
    topics = Topics.for_hall(hall.id)
    firmware.wait_for_hub(topics)
    topic = topics.device("w01-eval", DeviceTopic.SERVICE)
    start = "w01-eval-000000000001"
    for seq, kind, at in ((1, "start", "09:00:00"), (2, "end", "09:00:58")):
        body = {
            "v": 1,
            "id": f"w01-eval-{seq:012d}",
            "seq": seq,
            "ts": f"2026-11-05T{at}.000+08:00",
            "device": "w01-eval",
            "event": kind,
            "window": "w01",
            "staff": "s01",
            "ticket": "A017",
            "item": "marriage",
            "service": start,
        }
        firmware.publish(topic, json.dumps(body).encode())
    boss = pages["boss"]
    log_in(boss, "boss", PASSWORD, hub.api_url + "/console/supervision/?month=2026-11")
    alert = boss.locator("tr[data-alert]")
    expect(alert).to_have_count(1)
    expect(alert.locator("[data-field=status]")).to_have_text("黄色预警")
    expect(alert.locator("[data-field=item]")).to_contain_text("结婚登记")
    expect(alert.locator("[data-field=duration]")).to_contain_text("0:58 / 最短 5:00")
    alert.locator("textarea[name=note]").fill("查实：事后补录")
    alert.locator("button.confirm").click()
    expect(boss.locator("[data-done=confirm]")).to_be_visible()
    expect(alert.locator("[data-field=status]")).to_have_text("红色（已确认）")
    expect(alert.locator("[data-field=decision]")).to_contain_text("查实：事后补录")
    expect(boss.locator('tr[data-counts=civil] [data-count="too_fast-red"]')).to_have_text("1")
    boss.set_viewport_size({"width": 390, "height": 844})
    assert boss.evaluate(OVERFLOW) <= 0
