"""Bytes a stored vote takes in the hub's file, in the row and in each index, before and after.

N votes (default 100,000; 12 months, 50 windows, one kiosk, 40 % of them at
levels 1-2, most naming a ticket) are stored through the real
:class:`hub.store.Store` with counting, the hub's rules and the warning
engine on, in batches as ingest commits them. "after" is that file; "before"
is the same votes written in the schema before issue 12 (ISO text times, hex
digests; ``tests/old_schema.py``), with the indexes that schema had. SQLite's
``dbstat`` table gives the pages each table and index takes, after a VACUUM
of each file so both are measured packed alike.

Run: ``.venv/bin/python bench/vote_bytes.py [--votes N]``.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.old_schema import written_before_issue_12
from tests.stored_votes import counting_hub, make_vote

BATCH = 200


def fill(root: Path, votes: int) -> Path:
    """A hub database of ``votes`` votes stored through the hub's own store; returns its path."""
    hub = counting_hub(root, windows=50, kiosks=1)
    rng = random.Random(12)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(days=365) / votes
    pending = []
    for n in range(votes):
        cast = start + step * n
        level = rng.choice((1, 2, 3, 4, 4, 5, 5, 5, 5, 5)) if n % 5 else rng.choice((1, 2))
        # The hall's clock moves on with the votes, so the rules judge them as they arrive.
        hub.clock.now = cast
        if n % 20 == 0:
            vote = make_vote(cast.isoformat(), channel="kiosk", window=None, level=level)
        else:
            window = f"w{n % 50 + 1:02d}"
            vote = make_vote(
                cast.isoformat(), window=window, staff=f"s{n % 50 + 1:02d}", level=level
            )
        # A device with a clock says when it sent the vote, as real evaluators do.
        vote.vote = replace(vote.vote, sent=(cast + timedelta(milliseconds=180)).isoformat())
        pending.append(vote)
        if len(pending) == BATCH:
            hub.add(*pending)
            pending = []
    if pending:
        hub.add(*pending)
    hub.close()
    return hub.config.database


def sizes(path: Path) -> dict[str, int]:
    """Bytes per table and index of the votes (as ``dbstat`` counts pages)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("VACUUM")
        names = {
            name: table
            for name, table in conn.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"
            )
        }
        found: dict[str, int] = {}
        for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            if names.get(name) in ("votes", "cast_hours"):
                found[name] = size
        return found
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=100_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vote-bytes-") as tmp:
        began = time.monotonic()
        after_path = fill(Path(tmp) / "hall", args.votes)
        filled = time.monotonic() - began
        before_path = Path(tmp) / "before.sqlite"
        written_before_issue_12(after_path, before_path)
        count = args.votes
        print(f"{count} votes stored through the hub's store in {filled:.1f} s")
        totals = {}
        for label, path in (("before", before_path), ("after", after_path)):
            found = sizes(path)
            row = found.pop("votes")
            indexes = sum(found.values())
            totals[label] = (row + indexes) / count
            print(
                f"{label}: {(row + indexes) / count:.0f} bytes a vote:"
                f" {row / count:.0f} in the row, {indexes / count:.0f} in"
                f" {len(found)} indexes and tables"
            )
            for name, size in sorted(found.items(), key=lambda kv: -kv[1]):
                print(f"    {name:28} {size / count:6.1f}")
        print(f"bytes_before={totals['before']:.0f} bytes_after={totals['after']:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
