"""The serial driver and a fake controller on a pty: frames, acks, retries, noise, unplugging."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from device_agent.topics import DeviceTopic, Topics
from hub.boards.drivers.serial import (
    ACK,
    CMD_PAGE,
    FrameDecoder,
    LinkFrame,
    SerialDriver,
    crc16,
    encode_frame,
    page_payload,
)
from hub.boards.frames import Frame, Page
from hub.boards.layout import BoardLayout, PageSpec, SerialSettings
from hub.boards.width import fit
from tests.hall import Hall, wait_until
from tests.ledcontroller import FakeController
from tests.thirdparty import vote_payload


@pytest.fixture
def controller(tmp_path: Path):
    fake = FakeController(tmp_path / "ttyLED")
    yield fake
    fake.close()


@pytest.fixture
def driver(controller: FakeController):
    settings = SerialSettings(url=str(controller.path), ack_timeout_s=0.3, retries=3, reopen_s=0.1)
    layout = BoardLayout(
        id="strip-w01",
        kind="window",
        window="w01",
        columns=16,
        lines=2,
        pages=(PageSpec("window"),),
        driver="serial",
        serial=settings,
    )
    driver = SerialDriver(layout, settings)
    driver.start()
    yield driver
    driver.close()


def frame(seq: int, *pages: tuple[str, str], style: str = "normal") -> Frame:
    return Frame(
        board="strip-w01",
        seq=seq,
        pages=tuple(Page((fit(a, 16), fit(b, 16)), 5.0, style) for a, b in pages),  # type: ignore[arg-type]
        updated="2026-11-30T04:00:00.000+00:00",
        columns=16,
        lines=2,
    )


def test_a_page_arrives_whole_with_its_header(controller, driver):
    driver.show(frame(1, ("1号窗口", "林晓梅"), ("今日评价 3", "满意率 100.0%")), 1)
    wait_until(controller.shown, message="a page at the controller")
    shown = controller.shown()[0]
    assert (shown.style, shown.columns, shown.lines, shown.page, shown.pages) == (0, 16, 2, 2, 2)
    assert shown.text == ("今日评价 3      ", "满意率 100.0%   ")
    # The controller shows the page before its ACK reaches the driver.
    wait_until(lambda: driver.stats.acked == 1, message="the driver counted the ACK")


@pytest.mark.parametrize(
    "answers",
    [
        ("nak",),
        ("silence",),
        ("garble",),
        ("silence", "nak", "garble"),  # three failures, then the fourth try is acked
    ],
)
def test_a_page_is_sent_again_until_the_controller_acknowledges_it(controller, driver, answers):
    controller.answer_next(*answers)
    driver.show(frame(1, ("暂停服务", "")), 0)
    wait_until(controller.shown, message="the page accepted after retries")
    assert controller.frames_seen == len(answers) + 1
    assert driver.stats.retries == len(answers)
    # The controller shows the page before its ACK reaches the driver.
    wait_until(lambda: driver.stats.acked == 1, message="the driver counted the ACK")
    assert controller.texts() == [("暂停服务", "")]


def test_garbage_on_the_line_is_survived(controller, driver):
    controller.noise(b"\xff\xfe\x03\x10junk\x02\x01\x01")  # includes a broken frame start
    driver.show(frame(1, ("1号窗口", "")), 0)
    wait_until(controller.shown, message="first page")
    controller.noise(bytes(range(256)) * 4)
    driver.show(frame(2, ("2号窗口", "")), 0)
    wait_until(lambda: len(controller.shown()) == 2, message="second page after noise")
    assert [t[0] for t in controller.texts()] == ["1号窗口", "2号窗口"]


def test_a_silent_controller_is_offered_the_newest_page_until_it_answers(controller, driver):
    controller.answer_next(*["silence"] * 8)
    driver.show(frame(1, ("旧", "")), 0)
    wait_until(lambda: driver.stats.unanswered >= 1, message="the driver giving up a round")
    driver.show(frame(2, ("新", "")), 0)
    wait_until(controller.shown, message="a page once the controller answers")
    # The old page was dropped for the newer one: a board never shows stale numbers last.
    assert controller.texts()[-1] == ("新", "")


def test_an_unplugged_port_is_reopened_and_the_page_sent_again(controller, driver):
    driver.show(frame(1, ("1号窗口", "")), 0)
    wait_until(controller.shown, message="first page")

    controller.unplug()
    driver.show(frame(2, ("1号窗口", "林晓梅")), 0)
    wait_until(lambda: driver.stats.lost >= 1, message="the driver noticing the unplug")
    driver.show(frame(3, ("1号窗口", "暂停服务")), 0)

    controller.plug()
    wait_until(lambda: len(controller.shown()) == 2, message="a page after plugging back")
    assert controller.texts() == [("1号窗口", ""), ("1号窗口", "暂停服务")]
    assert driver.stats.opened == 2


def test_a_page_the_controller_has_is_not_sent_again(controller, driver):
    driver.show(frame(1, ("1号窗口", "林晓梅")), 0)
    wait_until(controller.shown, message="first page")
    # A new frame whose page 1 is the page shown: nothing on the line.
    driver.show(frame(2, ("1号窗口", "林晓梅"), ("今日评价 1", "")), 0)
    driver.show(frame(3, ("1号窗口", "暂停服务")), 0)
    wait_until(lambda: len(controller.shown()) == 2, message="the changed page")
    assert controller.texts() == [("1号窗口", "林晓梅"), ("1号窗口", "暂停服务")]
    assert controller.frames_seen == 2


def test_an_unchanged_page_is_sent_again_after_a_while_for_a_controller_that_lost_power(
    controller, driver
):
    driver.redeliver_s = 0.3  # RESEND_S (a minute) in the running hub
    driver.show(frame(1, ("1号窗口", "林晓梅")), 0)
    wait_until(lambda: len(controller.shown()) >= 2, message="the page sent again")
    assert set(controller.texts()) == {("1号窗口", "林晓梅")}


# The whole hub: votes in, frames on the serial line.


def boards_toml(path: Path, *, interval_s: float = 0.2) -> str:
    return f"""
[[boards]]
id = "strip-w01"
kind = "window"
window = "w01"
columns = 16
lines = 2
driver = "serial"
interval_s = {interval_s}
pages = [{{ page = "window_today", hold_s = 600 }}]

[boards.serial]
url = "{path}"
ack_timeout_s = 0.3
reopen_s = 0.1
"""


def publish_votes(third_party, hall: Hall, levels: list[int], *, start: int = 1) -> None:
    client = third_party(hall.port)
    topics = Topics.for_hall(hall.id)
    # A vote published before the hub has subscribed would reach no one.
    client.wait_for_hub(topics)
    for seq, level in enumerate(levels, start=start):
        client.publish(
            topics.device("w01-eval", DeviceTopic.VOTE),
            vote_payload("w01-eval", seq, level=level),
        )


def test_votes_reach_the_window_strip_on_the_serial_line(hall, start_hub, third_party, controller):
    start_hub(hall, extra=boards_toml(controller.path))
    wait_until(
        lambda: ("今日评价   0人次", "满意率        --") in controller.texts(),
        message="the empty strip",
    )

    publish_votes(third_party, hall, [5, 4, 1])

    wait_until(
        lambda: controller.texts()[-1] == ("今日评价   3人次", "满意率     66.7%"),
        message="the strip after three votes",
    )


def test_an_unplugged_board_never_holds_up_ingest(hall, start_hub, third_party, controller):
    controller.unplug()
    hub = start_hub(hall, extra=boards_toml(controller.path))

    publish_votes(third_party, hall, [5] * 40)

    wait_until(lambda: len(hall.stored_votes()) == 40, message="every vote stored")
    assert hub.ingest.state.stored == 40
    assert hub.boards.drivers["strip-w01"].stats.acked == 0

    controller.plug()
    wait_until(
        lambda: controller.texts()[-1:] == [("今日评价  40人次", "满意率    100.0%")],
        message="the strip catching up once plugged in",
    )


def test_a_new_frame_that_leaves_the_shown_page_alone_puts_nothing_on_the_line(
    hall, start_hub, third_party, controller
):
    toml = boards_toml(controller.path).replace(
        '{ page = "window_today", hold_s = 600 }',
        '{ page = "window", hold_s = 600 }, { page = "window_today", hold_s = 600 }',
    )
    hub = start_hub(hall, extra=toml)
    wait_until(controller.shown, message="the strip's first page")
    assert controller.texts() == [("    1号窗口", "     职员1")]
    board = hub.boards.scheduler.board("strip-w01")
    assert board.updates == 1

    publish_votes(third_party, hall, [5])

    # The vote changes the second page; the first, on the board, stays as it was.
    wait_until(lambda: board.updates == 2, message="a new frame with the vote")
    time.sleep(0.5)  # the driver's thread has long had the frame
    assert controller.frames_seen == 1
    assert hub.boards.drivers["strip-w01"].stats.sent == 1


@pytest.mark.parametrize("encoding", ["gb2312", "gbk"])
@pytest.mark.parametrize("name", ["张喆", "王\u200b五", "\U00020000"])
def test_a_character_the_encoding_lacks_keeps_the_line_at_the_boards_width(encoding, name):
    # A GB controller draws one column per byte: a name with a character its
    # encoding lacks (rare in gb2312, a zero-width space pasted into the
    # directory) must neither end short of the right edge nor run past it.
    shown = frame(1, (name, "满意率 100.0%"))
    sent = page_payload(shown, 0, encoding)[5:].split(b"\n")
    assert [len(line) for line in sent] == [16, 16]
    assert sent[1] == shown.pages[0].lines[1].encode(encoding)


def test_the_documented_example_is_what_the_driver_sends():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "led-boards.md").read_text()
    example = doc[doc.index("**Example.**") :]
    page_hex, ack_hex = re.findall(r"```text\n([0-9a-f ]+)\n```", example)[:2]
    payload = bytes([0, 8, 1, 1, 1]) + fit("1号窗口", 8).encode("gb18030")
    assert encode_frame(LinkFrame(1, 2, CMD_PAGE, payload)) == bytes.fromhex(page_hex)
    assert encode_frame(LinkFrame(1, 2, ACK)) == bytes.fromhex(ack_hex)
    assert crc16(b"123456789") == 0x29B1
    # Noise around a frame does not hide it.
    decoded = FrameDecoder().feed(b"\xff" + bytes.fromhex(page_hex) + b"\x00")
    assert decoded == [LinkFrame(1, 2, CMD_PAGE, payload)]


def test_a_thousand_votes_make_at_most_one_frame_per_interval(
    hall, start_hub, third_party, controller
):
    start_hub(hall, extra=boards_toml(controller.path, interval_s=1.0))
    wait_until(controller.shown, message="the empty strip")
    before = len(controller.shown())

    client = third_party(hall.port)
    topic = Topics.for_hall(hall.id).device("w01-eval", DeviceTopic.VOTE)
    started = time.monotonic()
    infos = [
        client.client.publish(topic, vote_payload("w01-eval", seq, level=5), qos=1)
        for seq in range(1, 1001)
    ]
    for info in infos:
        info.wait_for_publish(timeout=60)

    wait_until(
        lambda: controller.texts()[-1] == ("评价    1000人次", "满意率    100.0%"),
        timeout=60,
        message="the strip counting all 1,000 votes",
    )
    shown = controller.shown()
    span = shown[-1].at - started
    # A frame resent because its ack came late (a loaded machine) is the same
    # frame: count distinct sequence numbers.
    frames = len({page.seq for page in shown[before:]})
    # One frame at once, then at most one per second of the burst.
    assert frames <= 2 + span / 1.0, (frames, span)
    assert frames < 20
