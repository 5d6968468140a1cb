"""The LED wall shows the hall's staff online rate today only when the hall allows it.

``[supervision] show_presence_on_wall``: on, a wall board's rotation gains a
page with the rate and how many signed in (never a name); off, nothing.
"""

from __future__ import annotations

import json
from urllib.request import urlopen

import pytest

from device_agent.protocol import parse_time
from hub.boards.pages import board_pages
from hub.boards.service import BoardService
from tests.hall import wait_until
from tests.test_supervision import Scripted

WALL = """
[[boards]]
id = "hall-main"
kind = "wall"
columns = 24
lines = 4
interval_s = 0.2
pages = [{ page = "hall", hold_s = 30 }]
"""


@pytest.mark.parametrize("allowed", [False, True])
def test_the_walls_rotation_has_the_online_rate_only_when_allowed(tmp_path, allowed):
    flag = "true" if allowed else "false"
    hall = Scripted(tmp_path / "hall", f"[supervision]\nshow_presence_on_wall = {flag}\n" + WALL)
    try:
        hall.add("w01", "sign_in", "2026-11-05T08:30:00+08:00", staff="s01")
        hall.add("w02", "sign_in", "2026-11-05T09:00:00+08:00", staff="s02")
        now = parse_time("2026-11-05T10:00:00+08:00")
        service = BoardService(hall.config, now=lambda: now)
        try:
            snapshot = service._read(now)  # what the scheduler reads each round
        finally:
            service.stop()
        [wall] = hall.config.boards
        pages = board_pages(wall, snapshot, hall.config.directory, timezone=hall.config.timezone)
    finally:
        hall.close()
    shown = [[line.rstrip() for line in page.lines] for page in pages if page.kind == "presence"]
    if not allowed:
        assert shown == [] and all("在岗" not in "".join(p.lines) for p in pages)
        return
    # Open since 08:30: 90 minutes each for three staff; signed in 90 + 60 (as wall_presence).
    assert shown == [
        [
            "    今日工作人员在岗",
            "在岗率             55.6%",
            "签到               2/3人",
            "",
        ]
    ]
    names = {s.name for s in hall.config.directory.staff.values()}
    assert not any(name in line for page in pages for line in page.lines for name in names)


@pytest.mark.parametrize("allowed", [False, True])
def test_the_web_wall_shows_the_presence_page_only_when_allowed(hall, start_hub, allowed):
    flag = "true" if allowed else "false"
    board = WALL.replace(
        'pages = [{ page = "hall", hold_s = 30 }]', 'pages = [{ page = "presence" }]'
    )
    hub = start_hub(hall, extra=f"[supervision]\nshow_presence_on_wall = {flag}\n" + board)
    view = wait_until(lambda: hub.boards.feed.view("hall-main"), message="the first frame")
    with urlopen(f"{hub.api_url}/boards/hall-main/frame.json", timeout=10) as response:
        lines = [line.rstrip() for line in json.load(response)["view"]["lines"]]
    with urlopen(f"{hub.api_url}/boards/hall-main", timeout=10) as response:
        page = response.read().decode()
    assert view is not None
    if allowed:
        assert lines[0].strip() == "今日工作人员在岗" and lines[1].startswith("在岗率")
        assert lines[2].startswith("签到") and lines[2].endswith("/3人")
        assert '<span class="c2">岗</span>' in page
    else:
        # Nothing else to show: the board falls back to the time, and never the rate.
        assert not any("在岗" in line for line in lines)
        assert '<span class="c2">岗</span>' not in page
