"""The web wall: pages per board, live updates by server-sent events, a cap on streams."""

from __future__ import annotations

import http.client
import json
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import pytest

from device_agent.topics import DeviceTopic, Topics
from hub.boards.drivers.web import WallFeed
from hub.boards.frames import Frame, Page
from tests.hall import wait_until
from tests.thirdparty import vote_payload

BOARDS = """
[[boards]]
id = "hall-main"
name = "大厅<主屏>"
kind = "wall"
columns = 24
lines = 4
interval_s = 0.2
pages = [{ page = "windows", hold_s = 600 }]

[[boards]]
id = "strip-w01"
kind = "window"
window = "w01"
columns = 16
lines = 2
pages = [{ page = "window" }]
"""


class EventStream:
    """A client of a server-sent event stream, reading one event at a time."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
        self.conn.request("GET", parts.path, headers={"Accept": "text/event-stream"})
        self.response = self.conn.getresponse()

    @property
    def status(self) -> int:
        return self.response.status

    def next_page(self) -> dict:
        """The next ``page`` event's data; comments and other fields are skipped."""
        event, data = None, []
        while True:
            line = self.response.readline().decode()
            assert line, "the stream ended"
            line = line.rstrip("\n")
            if not line:
                if event == "page":
                    return json.loads("".join(data))
                event, data = None, []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())

    def page_with(self, text: str) -> dict:
        while True:
            page = self.next_page()
            if any(text in line for line in page["lines"]):
                return page

    def close(self) -> None:
        self.response.close()
        self.conn.close()


@pytest.fixture
def streams():
    opened: list[EventStream] = []

    def open_stream(url: str) -> EventStream:
        stream = EventStream(url)
        opened.append(stream)
        return stream

    yield open_stream
    for stream in opened:
        stream.close()


def read(url: str, *, token: str | None = None) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urlopen(Request(url, headers=headers), timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read().decode()


def test_each_board_has_a_page_drawn_as_the_board_shows_it(hall, start_hub):
    hub = start_hub(hall, extra=BOARDS)
    wait_until(lambda: hub.boards.feed.view("hall-main"), message="the first frame")

    status, kind, index = read(f"{hub.api_url}/boards/")
    assert (status, kind) == (200, "text/html; charset=utf-8")
    assert 'href="/boards/hall-main"' in index
    assert 'href="/boards/strip-w01"' in index
    assert "大厅&lt;主屏&gt;" in index  # escaped, never markup

    status, _, wall = read(f"{hub.api_url}/boards/hall-main")
    assert status == 200
    assert "<title>大厅&lt;主屏&gt;</title>" in wall
    assert "--columns: 24; --lines: 4;" in wall
    # Every character in a cell as wide as the board makes it: Chinese takes two.
    assert '<span class="c1">1</span><span class="c2">号</span>' in wall
    assert 'data-events="/boards/hall-main/events"' in wall
    assert "<script>" not in wall and "<style>" not in wall  # assets are files

    for asset, kind in (("wall.css", "text/css"), ("wall.js", "text/javascript")):
        status, served, _ = read(f"{hub.api_url}/boards/static/{asset}")
        assert status == 200 and served.startswith(kind)

    _, _, body = read(f"{hub.api_url}/boards/hall-main/frame.json")
    view = json.loads(body)["view"]
    assert view["lines"][1].rstrip() == "1号窗口         暂无评价"
    assert view["cells"][1][:2] == [["1", 1], ["号", 2]]

    with pytest.raises(HTTPError) as missing:
        urlopen(f"{hub.api_url}/boards/nope", timeout=10)
    missing.value.close()
    assert missing.value.code == 404


def test_a_vote_reaches_the_wall_as_an_event_without_a_reload(
    hall, start_hub, third_party, streams
):
    hub = start_hub(hall, extra=BOARDS)
    stream = streams(f"{hub.api_url}/boards/hall-main/events")
    assert stream.status == 200
    assert stream.response.headers["Content-Type"].startswith("text/event-stream")
    first = stream.page_with("暂无评价")
    assert first["board"] == "hall-main"

    client = third_party(hall.port)
    client.publish(
        Topics.for_hall(hall.id).device("w01-eval", DeviceTopic.VOTE),
        vote_payload("w01-eval", 1, level=5),
    )

    page = stream.page_with("100.0% 1")
    assert page["lines"][1].rstrip() == "1号窗口         100.0% 1"
    assert page["seq"] > first["seq"]


def test_streams_are_capped_so_the_api_keeps_its_threads(hall, start_hub, streams):
    hub = start_hub(hall, extra=BOARDS)
    # A short heartbeat, so a closed screen is noticed within the test.
    hub.app.config["HALLRATE_WALL_HEARTBEAT_S"] = 0.2
    feed = hub.boards.feed
    assert feed.max_streams == 2  # half of [api] threads = 4

    url = f"{hub.api_url}/boards/hall-main/events"
    first, second = streams(url), streams(url)
    assert (first.status, second.status) == (200, 200)
    first.next_page()
    second.next_page()

    with pytest.raises(HTTPError) as refused:
        urlopen(url, timeout=10)
    assert refused.value.code == 503
    assert refused.value.headers["Retry-After"] == "60"
    assert "poll frame.json" in json.loads(refused.value.read())["detail"]
    refused.value.close()

    # The API still answers while both streams hold their threads.
    status, _, body = read(f"{hub.api_url}/api/v1/votes", token=hall.token)
    assert status == 200 and json.loads(body)["votes"] == []
    status, _, _ = read(f"{hub.api_url}/boards/strip-w01/frame.json")
    assert status == 200

    # A screen switched off gives its slot back.
    first.close()
    wait_until(lambda: feed.streams == 1, message="the closed stream's slot released")
    third = streams(url)
    assert third.status == 200
    third.next_page()


def test_stopping_the_hub_ends_open_streams(hall, start_hub, streams):
    hub = start_hub(hall, extra=BOARDS)
    stream = streams(f"{hub.api_url}/boards/hall-main/events")
    stream.next_page()
    hub.stop()
    assert hub.boards.feed.closed
    with pytest.raises(AssertionError, match="the stream ended"):
        stream.next_page()


def test_the_page_a_screen_already_shows_wakes_no_stream():
    feed = WallFeed(max_streams=1)

    def frame(seq: int, *texts: str) -> Frame:
        pages = tuple(Page(lines=(f"{text:<8}",), hold_s=5.0) for text in texts)
        return Frame("wall", seq, pages, "2026-11-30T04:00:00.000+00:00", 8, 1)

    feed.show(frame(1, "hall 1", "clock"), 0)
    shown = feed.view("wall")
    assert shown is not None
    # A new frame whose other page changed: page 0 is what the screens draw already.
    feed.show(frame(2, "hall 1", "clock 2"), 0)
    assert feed.next_view("wall", shown.version, timeout=0.05) is None
    view = feed.view("wall")
    assert view is not None and (view.version, view.frame.seq) == (shown.version, 2)
    # The page turns: an event.
    feed.show(frame(2, "hall 1", "clock 2"), 1)
    turned = feed.next_view("wall", shown.version, timeout=0.05)
    assert turned is not None and turned.as_json()["lines"] == ["clock 2 "]
