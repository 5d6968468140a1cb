"""bench/console_queries.py and bench/console_pages.py on a tiny hall, so the console's
read and page benches cannot rot unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_bench(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``bench/<script>`` with ``args``; its output, whatever its exit status."""
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def rows_and_status(done: subprocess.CompletedProcess[str], title: str) -> list[str]:
    """The table's rows, once the title is checked and the exit status matches the last
    column: 0 when every p95 met the target, else 1."""
    lines = done.stdout.splitlines()
    assert lines[0] == title, done.stderr
    rows = lines[2:-1]
    assert done.returncode == (0 if all(row.endswith("yes") for row in rows) else 1)
    return rows


def test_the_console_bench_prints_a_row_per_read(tmp_path: Path) -> None:
    done = run_bench(
        "console_queries.py", "--votes", "2000", "--runs", "3", "--cache", str(tmp_path)
    )
    rows = rows_and_status(done, "console reads, 2,000 votes, 3 runs each (ms)")
    names = [row[:40].strip() for row in rows]
    assert "heat map of a month + SVG" in names and "monthly report + XLSX" in names
    assert len(rows) == 9
    assert done.stdout.splitlines()[-1].startswith("votes=2000 runs=3 ")


def test_the_console_pages_bench_prints_a_row_per_page(tmp_path: Path) -> None:
    done = run_bench(
        "console_pages.py", "--votes", "2000", "--requests", "3", "--cache", str(tmp_path)
    )
    rows = rows_and_status(done, "console pages, 2,000 votes, 3 requests each (ms)")
    names = [row[:40].strip() for row in rows]
    assert names[0] == "votes: staff + month, first page"
    assert "devices" in names and "quarantine" in names and "live hall" in names
    assert "monthly report" in names and "monthly report, XLSX" in names
    assert len(rows) == 11
    assert done.stdout.splitlines()[-1].startswith("votes=2000 requests=3 ")
