"""bench/console_pages.py on a tiny hall, so the console pages' bench cannot rot unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_console_pages_bench_prints_a_row_per_page(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "console_pages.py"),
            "--votes",
            "2000",
            "--requests",
            "3",
            "--cache",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "console pages, 2,000 votes, 3 requests each (ms)", done.stderr
    rows = lines[2:-1]
    names = [row[:40].strip() for row in rows]
    assert names[0] == "votes: staff + month, first page"
    assert "devices" in names and "quarantine" in names and "live hall" in names
    assert "monthly report" in names and "monthly report, XLSX" in names
    assert len(rows) == 11
    assert lines[-1].startswith("votes=2000 requests=3 ")
    # The exit status says whether every p95 met the target, as the last column does.
    assert done.returncode == (0 if all(row.endswith("yes") for row in rows) else 1)
