"""``hallrate check-config``: validate agent, hub, kiosk and directory files, listing problems."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from device_agent.config import load_agent_config
from device_agent.configfile import load_toml
from device_agent.errors import ConfigError
from hub.config import load_hub_config
from hub.directory import load_directory
from kiosk.config import load_kiosk_config

LOADERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "device": ("agent", load_agent_config),
    "hub": ("hub", load_hub_config),
    "hall": ("directory", load_directory),
    "kiosk": ("kiosk", load_kiosk_config),
}


def check(path: Path) -> tuple[str, list[str]]:
    """The kind of ``path`` and every problem found in it (none when valid)."""
    try:
        data = load_toml(path)
    except ConfigError as exc:
        return "unknown", exc.problems
    for table, (kind, load) in LOADERS.items():
        if table in data:
            try:
                load(path)
            except ConfigError as exc:
                return kind, exc.problems
            return kind, []
    tables = ", ".join(f"[{t}]" for t in LOADERS)
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
