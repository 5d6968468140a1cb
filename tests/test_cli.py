"""The ``hallrate`` command line: lazy subcommands, help, usage errors and bad configurations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hallrate.cli import SUBCOMMANDS, main
from tests.hall import Hall

ROOT = Path(__file__).resolve().parent.parent


def imported_roles(*argv: str) -> list[str]:
    """The hub and kiosk modules a fresh interpreter has imported after ``hallrate ARGV``."""
    code = (
        "import sys\n"
        "from hallrate.cli import main\n"
        f"status = main({list(argv)!r})\n"
        "roles = sorted(m for m in sys.modules if m.split('.')[0] in ('hub', 'kiosk'))\n"
        "print('RESULT', status, *roles)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=True,
    )
    _, status, *roles = result.stdout[result.stdout.index("RESULT") :].split()
    assert status == "0", result.stdout
    return roles


def test_a_window_device_running_the_agent_loads_no_hub_or_kiosk_code():
    assert imported_roles("agent", "--help") == []
    assert imported_roles("--help") == []


def test_the_hub_command_loads_the_hub_and_not_the_kiosk():
    roles = imported_roles("hub", "--help")
    assert "hub.main" in roles
    assert not [m for m in roles if m.startswith("kiosk")]


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_subcommand_has_help(name, capsys):
    assert main([name, "--help"]) == 0
    assert f"Usage: hallrate {name}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [[], ["nope"], ["hub"], ["hub", "--config", "x.toml", "restart"], ["token"]]
)
def test_a_usage_error_exits_2_and_says_what_is_wrong(argv, capsys):
    assert main(argv) == 2
    assert "Usage: hallrate" in capsys.readouterr().err


def test_hallrate_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, (_, text) in SUBCOMMANDS.items():
        assert f"{name}  " in out and text in out, name


@pytest.mark.parametrize(
    "argv",
    [
        ["token", "list"],
        ["report", "monthly", "--month", "2026-11"],
        ["device-config", "w01-eval", "doc.json"],
        ["hub", "rebuild"],
    ],
)
def test_a_misspelt_key_is_reported_by_every_command_with_file_and_key(tmp_path, argv, capsys):
    path = Hall(tmp_path, 1883).hub_config(broker="colour = 1\n")
    assert main([*argv, "--config", str(path)]) == 2
    assert f"{path}: broker.colour: unknown key" in capsys.readouterr().err.splitlines()
