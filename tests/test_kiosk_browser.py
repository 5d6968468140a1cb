"""The kiosk in a real headless Chromium, as a citizen uses it, down to the hub's database.

One browser serves the whole module; each test has a fresh browser context
(no cookies carried over). Debian's chromium and a CJK font are installed
by ``make test`` (.ci/system-deps); Playwright only drives that browser.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page

from hallrate.broker import free_port
from hub.cases import chain
from hub.cases.chain import Actor, Cases
from hub.service import HubService
from kiosk.service import KioskService
from tests.browser import KIOSK, new_page
from tests.hall import query, wait_until
from tests.kiosk_hall import HOSTILE_NAME, KioskHall, start_hub, start_kiosk


@pytest.fixture(scope="module")
def hall(tmp_path_factory: pytest.TempPathFactory, mosquitto) -> KioskHall:
    return KioskHall(tmp_path_factory.mktemp("kiosk-hall"), mosquitto.port)


@pytest.fixture(scope="module")
def hub(hall: KioskHall) -> Iterator[HubService]:
    hub = start_hub(hall)
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def kiosk_service(hall: KioskHall, hub: HubService) -> Iterator[KioskService]:
    kiosk = start_kiosk(hall, 1, hub_url=hub.api_url)
    yield kiosk
    kiosk.stop()


@pytest.fixture
def kiosk(kiosk_service: KioskService) -> KioskService:
    """The module's kiosk, with a new citizen in front of it."""
    kiosk_service.next_citizen()
    return kiosk_service


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    dialogs: list[str] = []
    with new_page(browser, KIOSK) as page:
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        yield page
    assert dialogs == [], "a page ran a script it should have shown as text"


def rate(page: Page, levels: dict[str, int], *, reasons: tuple[str, ...] = ()) -> None:
    """Tap a face on each named line and the given reasons, as a citizen would."""
    for dimension, level in levels.items():
        page.click(f"fieldset[data-dimension={dimension}] label[data-level='{level}']")
    for reason in reasons:
        page.click(f"label[data-reason='{reason}']")


def checked_levels(page: Page) -> dict[str, str]:
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('input[type=radio]:checked')]"
        ".filter(i => ['attitude','efficiency','style'].includes(i.name))"
        ".map(i => [i.name, i.value]))"
    )


def votes_for(hall: KioskHall, staff: str) -> list[dict]:
    return [
        {
            "level": row[1],
            "dims": json.loads(row[2]),
            "anonymous": row[3],
            "ticket": row[4],
            "reasons": json.loads(row[5]),
            "window": row[6],
        }
        for row in hall.kiosk_votes()
        if row[0] == staff
    ]


def test_browse_from_home_to_a_staff_profile(page, kiosk):
    page.goto(kiosk.url)
    assert page.inner_text("h1") == "欢迎来到测试大厅"
    page.click("[data-tile=departments]")
    page.click("[data-department=civil]")
    page.click("a.card[data-staff=s01]")

    assert page.inner_text("h1") == "职员1"
    facts = page.inner_text("dl.facts")
    assert "女" in facts and "1号窗口" in facts and "民政" in facts
    # The photo is the one the hub serves, synced into the kiosk's own folder.
    width = page.eval_on_selector("img.photo", "img => img.complete && img.naturalWidth")
    assert width == 8


def test_rating_reaches_the_thank_you_and_the_hub_with_three_dimensions(page, hall, kiosk):
    page.goto(f"{kiosk.url}/staff/s02")
    page.click("[data-action=rate]")
    assert page.inner_text("h1") == "为 职员2 评价"
    rate(page, {"attitude": 4, "efficiency": 2, "style": 5}, reasons=("long-wait",))
    page.click("button[type=submit]")

    reference = page.inner_text("[data-reference]")
    assert page.inner_text("h1") == "感谢您的评价！"
    assert reference.startswith("KIOSK-01-")
    votes = wait_until(lambda: votes_for(hall, "s02"), message="the kiosk vote at the hub")
    assert votes == [
        {
            "level": 2,  # the lowest of the three
            "dims": {"attitude": 4, "efficiency": 2, "style": 5},
            "anonymous": 1,
            "ticket": None,
            "reasons": ["long-wait"],
            "window": "w02",
        }
    ]


def test_idle_reset_forgets_a_half_finished_rating(page, hall, hub):
    impatient = start_kiosk(hall, 2, hub_url=hub.api_url, idle_reset_s=2)
    try:
        page.goto(f"{impatient.url}/display/elderly/on?next=/rate/staff/s01")
        rate(page, {"attitude": 1, "efficiency": 1})
        assert checked_levels(page) == {"attitude": "1", "efficiency": "1"}

        # Nobody touches the screen: the kiosk goes home by itself.
        page.wait_for_url(f"{impatient.url}/", timeout=20_000)
        assert page.get_attribute("body", "class") == "standard"
        page.goto(f"{impatient.url}/rate/staff/s01")
        assert checked_levels(page) == {}
        assert votes_for(hall, "s01") == []
    finally:
        impatient.stop()


def notice(page: Page) -> str | None:
    """The key of the notice the page shows, if any."""
    found = page.query_selector("[data-notice]")
    return found.get_attribute("data-notice") if found else None


# It waits out a kiosk's idle reset, six seconds by design.
@pytest.mark.slow
def test_home_does_not_reset_the_citizen_and_a_repeat_is_kept_filtered(page, hall, hub):
    # A kiosk of its own with a short idle time, so the test can wait for the reset.
    impatient = start_kiosk(hall, 2, hub_url=hub.api_url, idle_reset_s=6)

    def stored() -> list[tuple]:
        """(filter rule, counted) of each vote for s99 (whom no other test rates) from it."""
        return query(
            hall.database,
            "SELECT filter_rule, counted FROM votes WHERE device = 'kiosk-02' AND staff = 's99'"
            " ORDER BY rowid",
        )

    def rate_s99(level: int = 1) -> tuple[str | None, str | None]:
        """Rate s99 (by default "very dissatisfied"); the notices of the form and thank-you."""
        page.goto(f"{impatient.url}/rate/staff/s99")
        ahead = notice(page)
        rate(page, {"attitude": level, "efficiency": level, "style": level})
        page.click("button[type=submit]")
        page.wait_for_selector("[data-reference]")
        return ahead, notice(page)

    try:
        assert rate_s99() == (None, None)
        page.click(".thanks a.button")  # 首页
        page.wait_for_url(f"{impatient.url}/")
        assert rate_s99() == ("rate.repeat_ahead", "rate.repeat_saved")
        assert "不重复计入统计" in page.inner_text("[data-notice]")
        page.click(".thanks a.button")
        page.wait_for_url(f"{impatient.url}/")
        wait_until(lambda: len(stored()) == 2, message="both votes at the hub")
        assert stored() == [(None, 1), ("kiosk_repeat", 0)]

        # Nobody touches the screen: the home page's idle timer ends the citizen's session.
        assert page.get_attribute("body", "data-idle") == "6"
        page.wait_for_selector("body[data-idle='0']", state="attached", timeout=30_000)
        # Satisfied: a third dissatisfied vote from this kiosk within minutes would be the
        # hub's kiosk_burst, whoever cast it.
        assert rate_s99(4) == (None, None)
        wait_until(lambda: len(stored()) == 3, message="the new citizen's vote at the hub")
        assert stored() == [(None, 1), ("kiosk_repeat", 0), (None, 1)]
    finally:
        impatient.stop()


def test_a_double_tap_stores_one_vote(page, hall, kiosk):
    page.goto(f"{kiosk.url}/rate/staff/s03")
    rate(page, {"attitude": 5, "efficiency": 5, "style": 4})
    # Two posts of the same form racing each other (what a double tap sends when
    # the page's own guard is too slow), then the tap itself.
    statuses = page.evaluate(
        """async () => {
            const form = document.querySelector("form.rating");
            const send = () => fetch(form.action, {
                method: "POST", body: new URLSearchParams(new FormData(form)), redirect: "manual"});
            const answers = await Promise.all([send(), send()]);
            return answers.map(a => a.type);
        }"""
    )
    assert statuses == ["opaqueredirect", "opaqueredirect"]  # both sent to the thank-you
    page.dblclick("button[type=submit]")
    page.wait_for_selector("[data-reference]")

    wait_until(lambda: votes_for(hall, "s03"), message="the vote at the hub")
    wait_until(lambda: kiosk.sender.depth == 0, message="the kiosk's outbox drained")
    assert len(votes_for(hall, "s03")) == 1


def test_a_stale_session_keeps_the_citizens_choice(page, hall, kiosk):
    page.goto(f"{kiosk.url}/rate/staff/s01")
    rate(page, {"attitude": 3, "efficiency": 4, "style": 3})
    # The session is gone (kiosk restarted, cookie expired): the form's token is stale.
    page.context.clear_cookies()
    page.click("button[type=submit]")

    assert page.get_attribute("[data-notice]", "data-notice") == "rate.stale"
    assert checked_levels(page) == {"attitude": "3", "efficiency": "4", "style": "3"}
    page.click("button[type=submit]")
    page.wait_for_selector("[data-reference]")
    votes = wait_until(lambda: votes_for(hall, "s01"), message="the vote at the hub")
    assert [v["dims"] for v in votes] == [{"attitude": 3, "efficiency": 4, "style": 3}]


def test_the_kiosk_works_while_the_hub_is_stopped(page, tmp_path, mosquitto):
    hall = KioskHall(tmp_path / "hall", mosquitto.port)
    api_port = free_port()
    hub = start_hub(hall, api_port=api_port)
    kiosk = start_kiosk(hall, 1, hub_url=hub.api_url)
    try:
        hub.stop()
        kiosk.sync.sync_soon()
        wait_until(lambda: kiosk.sync.last_error is not None, message="the kiosk noticing")

        page.goto(kiosk.url)
        assert "暂时连不上中心" in page.inner_text("footer")
        page.click("[data-tile=rate]")
        page.click("[data-tile=by-window]")
        page.click("[data-window=w03]")
        page.click("a.card[data-staff=s03]")
        rate(page, {"attitude": 5, "efficiency": 5, "style": 5})
        page.click("button[type=submit]")
        assert page.inner_text("h1") == "感谢您的评价！"
        assert kiosk.sender.depth == 1

        hub = start_hub(hall, api_port=api_port)
        votes = wait_until(lambda: votes_for(hall, "s03"), message="the vote after the hub returns")
        assert votes[0]["dims"] == {"attitude": 5, "efficiency": 5, "style": 5}
        wait_until(lambda: kiosk.sender.depth == 0, message="the receipt clearing the outbox")
    finally:
        kiosk.stop()
        hub.stop()


def test_a_complaints_code_and_password_show_its_status(page, hall, hub, kiosk):
    page.goto(kiosk.url)
    page.click("[data-tile=complaints]")
    page.click("[data-tile=new-complaint]")
    page.click("label[data-category=efficiency]")
    page.click("label[data-detail=long-wait]")
    page.click("label[data-detail=extra-trips]")
    for digit in "246813":
        page.click(f".keypad[data-target=password] [data-key='{digit}']")
    page.click("button[type=submit]")

    code = page.inner_text("[data-claim-code]").replace(" ", "")
    assert len(code) == 8
    stored = wait_until(hall.complaints, message="the complaint at the hub")
    complaint_id, stored_code, category, text, anonymous, contact, secret, _ = stored[0]
    assert (stored_code, category, anonymous, contact) == (code, "efficiency", 1, None)
    assert text == "【等候时间过长】【多次往返仍未办成】"
    assert "246813" not in secret  # only the salted hash travels

    def look_up(password: str) -> None:
        page.goto(f"{kiosk.url}/complaints/lookup")
        for digit in code:
            page.click(f".keypad[data-target=code] [data-key='{digit}']")
        for digit in password:
            page.click(f".keypad[data-target=lookup-password] [data-key='{digit}']")
        page.click("button[type=submit]")

    look_up("111111")
    assert page.get_attribute("[data-error]", "data-error") == "lookup.not_found"
    look_up("246813")
    assert page.inner_text("[data-status]") == "已受理"
    assert page.inner_text("[data-answer]") == "还没有答复，请耐心等待。"
    today = datetime.now(ZoneInfo(hub.config.timezone)).date().isoformat()
    assert page.inner_text("[data-steps]") == f"{today} 已受理"
    assert page.inner_text("[data-due]") > today

    # Issue 14: its case goes along the chain (as the office and the handler do by API).
    book = Cases(hub.config.cases, hub.config.timezone)
    office, handler = Actor("office-li", "office"), Actor("zhang", "handler")
    with hub_database(hall) as conn:
        (case,) = conn.execute(
            "SELECT case_id FROM case_sources WHERE ref = ?", (complaint_id,)
        ).fetchone()
        chain.assign(book, conn, case, office, department="civil", assignee="zhang")
    look_up("246813")
    assert page.inner_text("[data-status]") == "已交办"  # not 已受理 forever
    assert page.inner_text("[data-answer]") == "还没有答复，请耐心等待。"

    with hub_database(hall) as conn:
        chain.start(book, conn, case, handler)
        chain.draft(book, conn, case, handler, answer="<b>已核实</b>\n窗口已增派人手。")
        chain.answer(book, conn, case, handler)
    look_up("246813")
    assert page.inner_text("[data-status]") == "已答复"
    assert page.inner_text("[data-answer]") == "<b>已核实</b>\n\n窗口已增派人手。"
    assert page.inner_text("[data-steps]").split("\n") == [
        f"{today} 已受理",
        f"{today} 已交办",
        f"{today} 办理中",
        f"{today} 已答复",
    ]
    assert page.locator("[data-due]").count() == 0  # answered: no deadline left to show


def test_a_staff_name_like_a_script_renders_as_text(page, kiosk):
    page.goto(f"{kiosk.url}/staff/s99")
    assert page.inner_text("h1") == HOSTILE_NAME
    assert page.inner_text("dl.facts").count("<img src=x onerror=alert(1)>") == 1
    page.click("[data-action=rate]")
    assert page.inner_text("h1") == f"为 {HOSTILE_NAME} 评价"
    page.goto(f"{kiosk.url}/departments/civil")
    assert HOSTILE_NAME in page.inner_text("a.card[data-staff=s99]")


def test_every_target_is_at_least_64_pixels(page, kiosk):
    for path in ("/", "/rate/staff/s01", "/complaints/new", "/complaints/lookup", "/windows"):
        page.goto(kiosk.url + path)
        small = page.evaluate(
            """() => [...document.querySelectorAll(
                    "a, button, label.face-choice, label.chip, input:not([type=hidden])")]
                .filter(e => e.offsetParent !== null && !e.closest(".chip, .face-choice"))
                .concat([...document.querySelectorAll("label.chip, label.face-choice")])
                .map(e => [e.outerHTML.slice(0, 60), e.getBoundingClientRect()])
                .filter(([_, r]) => r.width > 0 && (r.height < 64 || r.width < 64))
                .map(([html, r]) => `${html} ${r.width}x${r.height}`)"""
        )
        assert small == [], path


def test_english_and_elderly_mode(page, kiosk):
    page.goto(kiosk.url)
    # Sizes are read once the page has loaded: a click that navigates returns when the
    # new page starts, maybe before its stylesheet applies (CI saw the browser's 32 px).
    page.wait_for_load_state("load")
    normal_size = page.eval_on_selector("h1", "e => parseFloat(getComputedStyle(e).fontSize)")
    page.click("[data-nav=language]")
    assert page.inner_text("[data-tile=rate] .tile-title") == "Rate a staff member"
    page.click("[data-nav=elderly]")
    page.wait_for_load_state("load")
    assert page.get_attribute("body", "class") == "elderly"
    assert page.inner_text("[data-nav=elderly]") == "Standard text"
    large_size = page.eval_on_selector("h1", "e => parseFloat(getComputedStyle(e).fontSize)")
    assert large_size >= normal_size * 1.3
    background = page.eval_on_selector("body", "e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(0, 0, 0)"


@contextmanager
def hub_database(hall: KioskHall) -> Iterator[sqlite3.Connection]:
    """A writable connection to the hub's database, committed on leaving the block."""
    conn = sqlite3.connect(hall.database, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
    finally:
        conn.close()
