"""``hallrate check-config``: validate agent, hub, kiosk and directory files, listing problems."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from device_agent.config import read_agent_config
from device_agent.configfile import ConfigReader
from hub.config import read_hub_config
from hub.directory import read_directory
from kiosk.config import read_kiosk_config

READERS = {
    "device": ("agent", read_agent_config),
    "hub": ("hub", read_hub_config),
    "hall": ("directory", read_directory),
    "kiosk": ("kiosk", read_kiosk_config),
}


def check(path: Path) -> tuple[str, list[str]]:
    """The kind of ``path`` and every problem found in it (none when valid)."""
    reader = ConfigReader(path)
    if reader.problems:
        return "unknown", reader.problems
    for table, (kind, read) in READERS.items():
        if table in reader.data:
            read(reader)
            return kind, reader.problems
    tables = ", ".join(f"[{t}]" for t in READERS)
    return "unknown", [f"{path}: cannot tell what this file configures: it has none of {tables}"]


@click.command("check-config", help="Validate agent, hub, kiosk or hall directory files (TOML).")
@click.argument(
    "files", nargs=-1, required=True, metavar="FILE...", type=click.Path(path_type=Path)
)
def command(files: tuple[Path, ...]) -> int:
    """``hallrate check-config FILE...``: each file's verdict; 1 if any file has a problem."""
    failed = False
    for path in files:
        kind, problems = check(path)
        if problems:
            failed = True
            print(f"{path}: {len(problems)} problem(s) in this {kind} file:", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
        else:
            print(f"{path}: valid {kind} configuration")
    return 1 if failed else 0
