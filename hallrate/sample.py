"""The fictional sample hall's files, wherever hallrate runs from, and ``hallrate sample-hall``.

The sample hall lives in one place in the repository,
``firmware_config/sample-hall/``. A wheel carries those same files as the
data folder ``hallrate/sample_hall/`` (``pyproject.toml`` maps one onto the
other), so an installed hallrate, which has no ``firmware_config/``, finds
them there. ``hallrate sample-hall DIR`` copies them out as the starting
point of a real hall's configuration.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

_HERE = Path(__file__).resolve().parent
# An installed wheel: the data folder inside the hallrate package.
_INSTALLED = _HERE / "sample_hall"
# A checkout (editable install, or run from the source tree).
_CHECKOUT = _HERE.parent / "firmware_config" / "sample-hall"

SAMPLE_HALL = _INSTALLED if _INSTALLED.is_dir() else _CHECKOUT


def sample_files() -> list[Path]:
    """The sample hall's configuration files: directory, hub, agent and kiosk."""
    return sorted(SAMPLE_HALL.glob("*.toml"))


@click.command(
    "sample-hall",
    help="Copy the sample hall's configuration files into a folder (created if missing).",
)
@click.argument("folder", metavar="DIR", type=click.Path(path_type=Path))
def command(folder: Path) -> int:
    """``hallrate sample-hall DIR``: 1 when the copy would overwrite a file, or fails."""
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
