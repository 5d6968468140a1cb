"""Where ``hallrate demo`` logs: a file in its data folder, so its address block prints whole.

The demo runs a broker, a hub, a kiosk and simulated windows in one
process; their log records would otherwise land on the terminal between
the address lines. While the demo runs, every record goes to
``demo.log`` in the data folder (the block's ``logs:`` line says where);
the terminal keeps only errors, and those never in the middle of the block.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOG_NAME = "demo.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _consoles() -> list[logging.Handler]:
    """The root logger's handlers that write to a terminal or a pipe, not to a file."""
    return [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]


@contextmanager
def logging_to_file(path: Path) -> Iterator[None]:
    """Send every log record to ``path`` meanwhile; the console handlers keep only errors."""
    root = logging.getLogger()
    consoles = _consoles()
    levels = [h.level for h in consoles]
    to_file = logging.FileHandler(path, encoding="utf-8")
    # The same format as the console's, set up by the command line.
    to_file.setFormatter(consoles[0].formatter if consoles else logging.Formatter(FORMAT))
    for handler in consoles:
        handler.setLevel(max(handler.level, logging.ERROR))
    root.addHandler(to_file)
    try:
        yield
    finally:
        root.removeHandler(to_file)
        to_file.close()
        for handler, level in zip(consoles, levels, strict=True):
            handler.setLevel(level)


def print_block(lines: list[str]) -> None:
    """Print ``lines`` in one write, while no console handler can write a record."""
    consoles = _consoles()
    for handler in consoles:
        handler.acquire()
    try:
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        sys.stdout.flush()
    finally:
        for handler in reversed(consoles):
            handler.release()
