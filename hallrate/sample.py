"""The fictional sample hall's files, wherever hallrate runs from, and ``hallrate sample-hall``.

The sample hall lives in one place in the repository,
``firmware_config/sample-hall/``. A wheel carries those same files as the
data folder ``hallrate/sample_hall/`` (``pyproject.toml`` maps one onto the
other), so an installed hallrate, which has no ``firmware_config/``, finds
them there. ``hallrate sample-hall DIR`` copies them out as the starting
point of a real hall's configuration.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# An installed wheel: the data folder inside the hallrate package.
_INSTALLED = _HERE / "sample_hall"
# A checkout (editable install, or run from the source tree).
_CHECKOUT = _HERE.parent / "firmware_config" / "sample-hall"

SAMPLE_HALL = _INSTALLED if _INSTALLED.is_dir() else _CHECKOUT


def sample_files() -> list[Path]:
    """The sample hall's configuration files: directory, hub, agent and kiosk."""
    return sorted(SAMPLE_HALL.glob("*.toml"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``hallrate sample-hall``."""
    parser.add_argument(
        "folder", type=Path, metavar="DIR", help="where to copy the files (created if missing)"
    )


def run(args: argparse.Namespace) -> int:
    """Copy the sample hall into ``args.folder``; 1 when that would overwrite a file."""
    folder: Path = args.folder
    files = sample_files()
    taken = [folder / f.name for f in files if (folder / f.name).exists()]
    if taken:
        # An operator's edited configuration is never overwritten by the sample.
        names = ", ".join(str(path) for path in taken)
        print(f"hallrate sample-hall: not copying, these exist already: {names}", file=sys.stderr)
        return 1
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for source in files:
            shutil.copyfile(source, folder / source.name)
            print(folder / source.name)
    except OSError as exc:
        print(f"hallrate sample-hall: cannot copy into {folder}: {exc}", file=sys.stderr)
        return 1
    return 0
