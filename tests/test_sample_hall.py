"""The fictional sample hall in firmware_config/ is valid, documented, and what the demo runs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from hallrate.check_config import check
from hallrate.cli import main
from hallrate.demo_hall import SAMPLE_HALL, write_demo_hall
from tests.certs import make_hall_ca

FILES = ("directory.toml", "hub.toml", "agent-w01.toml")
KEY_LINE = re.compile(r'^\s*("[^"]+"|[A-Za-z0-9_]+)\s*=')
KEYPAD_MARKER = "# [keypad]"


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """The sample hall copied as an installer would, with its password files beside it."""
    folder = tmp_path / "etc-hallrate"
    shutil.copytree(SAMPLE_HALL, folder)
    (folder / "broker.password").write_text("device-secret\n")
    (folder / "hub-broker.password").write_text("hub-secret\n")
    # The hall CA the devices' TLS settings name, as provisioning copies it.
    ca = make_hall_ca(tmp_path / "ca")
    shutil.copy(ca.ca, folder / "hall-ca.crt")
    return folder


@pytest.mark.parametrize("name", FILES)
def test_sample_files_pass_check_config(installed, name):
    kind, problems = check(installed / name)
    assert problems == []
    assert kind == {"directory.toml": "directory", "hub.toml": "hub"}.get(name, "agent")


def test_the_keypad_section_is_valid_once_uncommented(installed):
    path = installed / "agent-w01.toml"
    text = path.read_text()
    head, marker, tail = text.partition(KEYPAD_MARKER)
    assert marker, "the sample agent shows the keypad section"
    uncommented = re.sub(r"(?m)^# ", "", marker + tail)
    path.write_text(head + uncommented)
    assert check(path) == ("agent", [])


def test_every_key_of_the_sample_agent_is_explained():
    # A key is explained by an inline comment or one in the lines just above
    # it (a paragraph of related keys shares one).
    lines = (SAMPLE_HALL / "agent-w01.toml").read_text().splitlines()
    unexplained = [
        line
        for i, line in enumerate(lines)
        if KEY_LINE.match(line) and "#" not in line and not _commented_above(lines, i)
    ]
    assert unexplained == []


def test_the_demo_hall_is_the_sample_hall(tmp_path):
    hall = write_demo_hall(tmp_path, windows=8, broker_port=1883, protocol="5")
    copied = (tmp_path / "directory.toml").read_text(encoding="utf-8")
    # Word for word, but for the one service-time minimum the demo marks as its own.
    demo_only = "min_s = 3  # demo only (hallrate demo), see hallrate/demo_hall.py\n"
    assert copied.count(demo_only) == 1
    assert (SAMPLE_HALL / "directory.toml").read_text(encoding="utf-8") in copied.replace(
        demo_only, "min_s = 300\n"
    )
    assert hall.directory.service_items["marriage-registration"].min_s == 3
    assert hall.directory.name == "青禾县政务服务中心"
    assert [w.device for w in hall.windows] == [f"w{n:02d}-eval" for n in range(1, 9)]
    # Each window's agent carries the staff member the directory seats there.
    staff = {w.window: w.staff for w in hall.windows}
    assert staff["w01"] == "s001"
    assert all(hall.directory.staff[s].window == w for w, s in staff.items())


def _commented_above(lines: list[str], index: int) -> bool:
    """Whether a comment precedes line ``index`` in its paragraph (table headers included)."""
    for line in reversed(lines[:index]):
        if not line.strip():
            return False
        if line.lstrip().startswith("#"):
            return True
    return False


def test_sample_hall_command_copies_the_files_and_reports_a_folder_it_cannot_use(tmp_path, capsys):
    assert main(["sample-hall", str(tmp_path / "new")]) == 0
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == sorted(
        p.name for p in SAMPLE_HALL.glob("*.toml")
    )
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["sample-hall", str(blocker / "sub")]) == 1
    assert f"cannot copy into {blocker / 'sub'}" in capsys.readouterr().err
