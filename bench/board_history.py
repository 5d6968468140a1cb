"""CPU per board update on a hub with few or many warnings from past months.

Two hub databases are filled through the hub's own store and counting code
(:mod:`tests.stored_votes`), for a hall of 100 windows and staff members:
one with about 50 standing warnings from past months, one with about 5,000
(a staff member with 10 dissatisfied votes in a month keeps a level III
warning for that month; the yearly counts add the yearly warnings). Both get
the same warnings this month. The boards' scheduler then runs in this
process with the sample hall's wall board (40×10, the pages of
``firmware_config/sample-hall/hub.toml``) and the web wall's feed, on a
clock the bench moves: each update is one vote committed, the scheduler's
event set, and one :meth:`~hub.boards.scheduler.BoardScheduler.step`. The
figure is the CPU time of that step (this thread's), which is the boards'
whole share of a vote, and the pages and bytes of the wall's frame (what
an MQTT board would be sent after each vote).

The last line is ``key=value`` pairs. Run: ``.venv/bin/python bench/board_history.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from device_agent.storage import open_reader
from hub.boards.content import read_snapshot
from hub.boards.drivers.web import WallFeed, WebDriver
from hub.boards.layout import BoardLayout, PageSpec
from hub.boards.scheduler import BoardScheduler
from hub.store import StoredVote
from tests.stored_votes import CountingHub, counting_hub, make_vote

STAFF = 100
TODAY = "2026-11-30T10:00:00+08:00"  # the stored votes' clock: 2026-11-30 04:00 UTC
# The sample hall's wall board (firmware_config/sample-hall/hub.toml).
WALL = BoardLayout(
    id="hall-main",
    kind="wall",
    columns=40,
    lines=10,
    pages=(
        PageSpec("warnings", 8),
        PageSpec("offline", 6),
        PageSpec("hall", 8),
        PageSpec("departments", 8),
        PageSpec("windows", 10),
        PageSpec("ranking", 8),
        PageSpec("announcement", 6, "办事请取号 请对我们的服务作出评价"),
        PageSpec("clock", 4),
    ),
)


def window_vote(cast: str, n: int, level: int) -> StoredVote:
    """A vote at window ``n`` for the staff member seated there."""
    return make_vote(
        cast, level=level, window=f"w{n:02d}", staff=f"s{n:02d}", device=f"w{n:02d}-eval"
    )


def past_months(count: int) -> list[str]:
    """The ``count`` months before November 2026, as ``YYYY-MM``."""
    months = []
    year, month = 2026, 11
    for _ in range(count):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        months.append(f"{year}-{month:02d}")
    return months


def fill(hub: CountingHub, *, staff: int, months: int) -> None:
    """10 dissatisfied votes per staff member and past month, then this month's warnings."""
    for month in past_months(months):
        votes = [
            window_vote(f"{month}-15T10:00:00+08:00", n, 1)
            for n in range(1, staff + 1)
            for _ in range(10)
        ]
        for i in range(0, len(votes), 500):
            hub.add(*votes[i : i + 500])
    # This month: ten staff members at level III, the same in both halls.
    hub.add(*[window_vote(TODAY, n, 1) for n in range(1, 11) for _ in range(10)])


def standing(hub: CountingHub) -> int:
    row = hub.store.db.execute(
        "SELECT count(*) FROM warnings"
        " WHERE status != 'closed' AND withdrawn_at IS NULL AND superseded_by IS NULL"
    ).fetchone()
    return row[0]


def measure(hub: CountingHub, updates: int) -> tuple[list[float], int, int]:
    """CPU ms of each board update after one vote, and the wall frame's pages and bytes."""
    reader = open_reader(hub.config.database)
    feed = WallFeed(max_streams=1)

    def read(now):  # type: ignore[no-untyped-def]
        return read_snapshot(
            reader,
            hall=hub.config.hall,
            directory=hub.config.directory,
            calendar=hub.counting.calendar,
            now=now,
            # As the hub's BoardService reads for this one board.
            warnings_limit=WALL.warning_rows,
            duty_windows=[],
        )

    clock = [0.0]
    scheduler = BoardScheduler(
        [(WALL, [WebDriver(feed)])],
        read,
        directory=hub.config.directory,
        timezone=hub.config.timezone,
        now=hub.clock,
        clock=lambda: clock[0],
    )
    scheduler.step(0.0)
    costs = []
    for i in range(updates):
        n = 1 + i % STAFF
        hub.add(window_vote(TODAY, n, 5))
        clock[0] += 1.0  # one vote a second
        scheduler.changed.set()
        started = time.thread_time()
        scheduler.step(clock[0])
        costs.append((time.thread_time() - started) * 1000)
    frame = scheduler.board(WALL.id).frame
    reader.close()
    assert frame is not None
    return costs, len(frame.pages), len(frame.encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200, help="board updates to time")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="hallrate-bench-") as tmp:
        for name, staff, months in (("few", 10, 4), ("many", STAFF, 48)):
            hub = counting_hub(Path(tmp) / name, windows=STAFF)
            try:
                started = time.monotonic()
                fill(hub, staff=staff, months=months)
                built = time.monotonic() - started
                costs, pages, size = measure(hub, args.updates)
                results[name] = (standing(hub), statistics.median(costs), pages)
                print(
                    f"{name}: {results[name][0]} standing warnings (built in {built:.0f} s);"
                    f" board update after a vote: p50 {statistics.median(costs):.2f} ms CPU,"
                    f" max {max(costs):.2f} ms; wall frame {pages} pages, {size:,} bytes"
                )
            finally:
                hub.close()
    (few_w, few_ms, few_p), (many_w, many_ms, many_p) = results["few"], results["many"]
    print(
        f"warnings_few={few_w} update_ms_few={few_ms:.2f} pages_few={few_p}"
        f" warnings_many={many_w} update_ms_many={many_ms:.2f} pages_many={many_p}"
        f" ratio={many_ms / few_ms:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
