"""The systemd units in systemd/: valid for systemd, hardened, and starting real commands."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hallrate.cli import SUBCOMMANDS

UNITS = Path(__file__).resolve().parent.parent / "systemd"
INSTALLED = "/opt/hallrate/venv/bin/hallrate"
HARDENING = {
    "User": "hallrate",
    "StateDirectory": "hallrate",
    "Restart": "on-failure",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "ReadWritePaths": "/var/lib/hallrate",
}


def settings(name: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file (keys may repeat)."""
    found: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.parametrize("name", ["hallrate-hub.service", "hallrate-agent.service"])
def test_units_are_hardened_and_run_existing_commands(name):
    unit = settings(name)
    for key, value in HARDENING.items():
        assert unit.get(key) == [value], key
    for command in unit["ExecStartPre"] + unit["ExecStart"]:
        argv = shlex.split(command)
        assert argv[0] == INSTALLED
        assert argv[1] in SUBCOMMANDS
        assert argv[-1].startswith("/etc/hallrate/")


@pytest.mark.parametrize("name", ["hallrate-agent.service", "hallrate-hub.service"])
def test_the_agent_and_hub_tell_systemd_they_are_ready_and_alive(name):
    # device_agent/sdnotify.py: READY=1, WATCHDOG=1 while the loop turns, STOPPING=1.
    unit = settings(name)
    assert unit["Type"] == ["notify"]
    assert unit["NotifyAccess"] == ["main"]
    assert unit["WatchdogSec"] == ["30"]
    assert "AF_UNIX" in unit["RestrictAddressFamilies"][0].split()  # $NOTIFY_SOCKET


def test_the_agent_may_use_gpio_and_serial_devices():
    unit = settings("hallrate-agent.service")
    assert unit["SupplementaryGroups"] == ["gpio dialout"]
    assert "PrivateDevices" not in unit


@pytest.mark.parametrize("name", ["hallrate-hub.service", "hallrate-agent.service"])
def test_systemd_accepts_the_unit(tmp_path, name):
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze (package systemd) is needed to check units"
    # Point ExecStart at this checkout's hallrate, so only the unit itself is judged.
    here = str(Path(sys.executable).parent / "hallrate")
    unit = tmp_path / name
    unit.write_text((UNITS / name).read_text().replace(INSTALLED, here))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""
