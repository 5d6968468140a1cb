"""Board layouts in the hub configuration: read whole, every problem with file and key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from device_agent.errors import ConfigError
from hub.boards.layout import PageSpec, SerialSettings
from hub.config import load_hub_config
from tests.hall import Hall

GOOD = """
[[boards]]
id = "hall-main"
name = "大厅主屏"
kind = "wall"
columns = 40
lines = 8
driver = "web"

[[boards.pages]]
page = "warnings"
hold_s = 6
max_pages = 5

[[boards.pages]]
page = "hall"

[[boards.pages]]
page = "announcement"
text = "周六上午正常办公"

[[boards]]
id = "strip-w01"
kind = "window"
window = "w01"
columns = 16
driver = "serial"
interval_s = 0.5
pages = [{ page = "window", hold_s = 10 }, { page = "window_today" }]

[boards.serial]
url = "/dev/ttyUSB0"
baudrate = 19200
encoding = "gbk"
"""


@pytest.fixture
def hall(tmp_path: Path) -> Hall:
    return Hall(tmp_path / "hall", port=1883)


def test_boards_are_read_with_their_defaults(hall):
    config = load_hub_config(hall.hub_config(extra=GOOD))
    wall, strip = config.boards
    assert (wall.id, wall.kind, wall.columns, wall.lines, wall.driver) == (
        "hall-main",
        "wall",
        40,
        8,
        "web",
    )
    assert wall.show_names is False
    assert wall.pages == (
        PageSpec("warnings", 6.0, max_pages=5),
        PageSpec("hall", 8.0),
        PageSpec("announcement", 8.0, "周六上午正常办公"),
    )
    # Five pages of seven warnings under the title: the most the wall shows.
    assert (wall.warning_rows, strip.warning_rows) == (35, 0)
    assert (strip.window, strip.lines, strip.interval_s) == ("w01", 2, 0.5)
    assert strip.serial == SerialSettings(url="/dev/ttyUSB0", baudrate=19200, encoding="gbk")


BAD = """
[[boards]]
id = "Hall Main"
kind = "ceiling"
columns = 4
lines = 2
driver = "serial"
colour = "red"
pages = [
  { page = "window" },
  { page = "announcement" },
  { page = "hall", hold_s = 0, text = "x", max_pages = 0 },
]

[[boards]]
id = "strip"
kind = "window"
window = "w99"
driver = "mqtt"
pages = []

[boards.serial]
url = "/dev/ttyUSB1"

[[boards]]
id = "strip"
kind = "window"
driver = "serial"
pages = [{ page = "window" }]

[boards.serial]
baudrate = 12
parity = "even"
"""


def test_every_board_problem_is_reported_at_once_with_file_and_key(hall):
    path = hall.hub_config(extra=BAD)
    with pytest.raises(ConfigError) as caught:
        load_hub_config(path)
    problems = caught.value.problems
    expected = [
        "boards[0].colour: unknown key",
        "boards[0].id: not a valid id",
        "boards[0].kind: must be one of wall, window, got 'ceiling'",
        "boards[0].columns: must be between 8 and 255, got 4",
        "boards[0].serial.url: is required",
        "boards[0].pages[0].page: must be one of hall, departments, windows, ranking,"
        " warnings, offline, announcement, clock, presence, got 'window'",
        "boards[0].pages[1].text: an announcement page needs its text",
        "boards[0].pages[2].text: only an announcement page has text",
        "boards[0].pages[2].hold_s: must be between 1 and 3600, got 0.0",
        "boards[0].pages[2].max_pages: must be between 1 and 100, got 0",
        "boards[0].pages[2].max_pages: only a warnings page has max_pages",
        "boards[1].window: unknown window 'w99'",
        "boards[1].serial: only a serial board has serial settings (driver is 'mqtt')",
        "boards[1].pages: a board needs at least one page ([[boards.pages]])",
        "boards[2].window: a window strip needs the id of its window",
        "boards[2].serial.parity: unknown key",
        "boards[2].serial.url: is required",
        "boards[2].serial.baudrate: must be between 300 and 4000000, got 12",
        "boards[2].id: duplicate board id 'strip'",
    ]
    assert sorted(problems) == sorted(f"{path}: {p}" for p in expected)


def test_check_config_lists_board_problems(hall):
    path = hall.hub_config(extra=BAD)
    result = subprocess.run(
        [sys.executable, "-m", "hallrate.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"{path}: boards[0].kind: must be one of wall, window, got 'ceiling'" in result.stderr
