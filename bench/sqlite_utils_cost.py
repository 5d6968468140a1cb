"""What sqlite-utils costs against plain sqlite3 on the hub's two kinds of work, side by side.

The hub keeps sqlite-utils as its connection type (``device_agent.storage``)
and for reading rows as dicts where a page or an API answer wants names; its
hot write path (ingest, counting) sends prepared SQL. This bench says why, in
figures, on one vote-shaped table in a temporary file:

- writes: N rows through ``Table.insert_all`` against ``executemany`` of one
  prepared INSERT, each inside one ``BEGIN IMMEDIATE`` transaction;
- reads: the same N rows as dicts through ``Database.query`` against a cursor
  with ``dict(zip(names, row))``.

Run: ``.venv/bin/python bench/sqlite_utils_cost.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from device_agent.storage import open_database, write_transaction

COLUMNS = ("id", "device", "seq", "channel", "window", "staff", "level", "cast_at", "counted")
CREATE = """CREATE TABLE votes (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, device TEXT NOT NULL,
    seq INTEGER NOT NULL, channel TEXT NOT NULL, window TEXT, staff TEXT,
    level INTEGER NOT NULL, cast_at INTEGER NOT NULL, counted INTEGER NOT NULL)"""
INSERT = f"INSERT INTO votes ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
SELECT = f"SELECT {', '.join(COLUMNS)} FROM votes ORDER BY rowid"


def rows(count: int) -> list[tuple]:
    rng = random.Random(7)
    return [
        (
            f"w{n % 50:02d}-eval-e1-{n:012d}",
            f"w{n % 50:02d}-eval",
            n,
            "window",
            f"w{n % 50:02d}",
            f"s{n % 120:03d}",
            rng.randint(1, 5),
            1_767_225_600_000 + n * 997,
            1,
        )
        for n in range(count)
    ]


def timed(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    data = rows(args.rows)
    dicts = [dict(zip(COLUMNS, row, strict=True)) for row in data]
    with tempfile.TemporaryDirectory() as root:
        figures = {}
        for name in ("sqlite-utils insert_all", "sqlite3 executemany"):
            db = open_database(Path(root) / f"{name.split()[0]}.sqlite")
            db.execute(CREATE)
            with write_transaction(db) as conn:
                if name.startswith("sqlite-utils"):
                    table = db["votes"]
                    figures[name] = timed(lambda t=table: t.insert_all(dicts, batch_size=500))
                else:
                    figures[name] = timed(lambda conn=conn: conn.executemany(INSERT, data))
            db.close()
        db = open_database(Path(root) / "sqlite3.sqlite")
        figures["sqlite-utils query (dicts)"] = timed(lambda: list(db.query(SELECT)))
        figures["sqlite3 cursor + dict(zip)"] = timed(
            lambda: [dict(zip(COLUMNS, row, strict=True)) for row in db.execute(SELECT)]
        )
        figures["sqlite3 cursor (tuples)"] = timed(lambda: db.execute(SELECT).fetchall())
        db.close()
    print(f"{args.rows:,} vote-shaped rows")
    print(f"{'':30} {'seconds':>8} {'rows/s':>12}")
    for name, seconds in figures.items():
        print(f"{name:30} {seconds:8.3f} {args.rows / seconds:12,.0f}")


if __name__ == "__main__":
    main()
