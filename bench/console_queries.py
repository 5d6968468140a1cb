"""The console's reads with a million votes stored: p50/p95 server time of each, against 100 ms.

Uses ``bench/years.py``'s hall and its cached database (built through the hub's
own Store + Counting the first time, minutes; cached in ``--cache``), then
times, on a read-only connection, what each console page asks of the hub:

- the votes list filtered by a staff member and a month (``hub.vote_pages``,
  a page of 50 from the month's start);
- the live hall for the history's last day (``hub.console.live.read_live_hall``);
- the heat map of a month, with its SVG (``analytics.month_heatmap`` + ``charts``);
- the monthly report to county leaders, and its XLSX;
- a staff member's dimension page for a month, with its SVG; the department's
  dimension table.

Each is run ``--runs`` times, subjects and months varied; the table is printed
to stdout with a last line of ``key=value`` pairs.

Run: ``.venv/bin/python bench/console_queries.py [--votes N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.years import STAFF, ZONE, cached_database, staff_id, write_hall  # noqa: E402
from hub import analytics, charts, exports  # noqa: E402
from hub.config import HubConfig, load_hub_config  # noqa: E402
from hub.console import staff_store  # noqa: E402
from hub.console.live import read_live_hall  # noqa: E402
from hub.periods import Calendar  # noqa: E402
from hub.vote_pages import PageQuery, read_page  # noqa: E402

TARGET_MS = 100.0


def months_before(end: date, count: int) -> list[str]:
    """The ``count`` full months before the one ``end`` falls in, newest first."""
    found = []
    first = end.replace(day=1)
    for _ in range(count):
        first = (first - timedelta(days=1)).replace(day=1)
        found.append(first.strftime("%Y-%m"))
    return found


def timed(work: Callable[[], Any], runs: int) -> list[float]:
    """Milliseconds of each of ``runs`` calls (after one warm-up call)."""
    work()
    spent = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        spent.append((time.perf_counter() - began) * 1000)
    return spent


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) > 1 else values[0]


def cases(
    conn: sqlite3.Connection, config: HubConfig, end: date, rng: random.Random
) -> dict[str, Callable[[], Any]]:
    """What each console page asks, a new subject or month each call."""
    calendar = Calendar(config.timezone)
    months = months_before(end, 10)
    last_day = end - timedelta(days=1)
    departments = list(config.directory.departments)

    def votes_list() -> Any:
        month = rng.choice(months)
        since, _ = calendar.bounds_ms(month)
        staff = staff_id(rng.randint(1, STAFF))
        return read_page(conn, PageQuery(limit=50, staff=staff, since_ms=since))

    def live() -> Any:
        now = datetime(last_day.year, last_day.month, last_day.day, 15, tzinfo=ZONE)
        return read_live_hall(sqlite_utils.Database(conn), config, now=now)

    def heat() -> Any:
        month = rng.choice(months)
        department = rng.choice([None, *departments])
        found = analytics.month_heatmap(conn, config, month, department=department)
        return charts.heatmap_chart(found, f"{month} 不满意 Dissatisfied")

    def report() -> Any:
        month = rng.choice(months)
        found = analytics.monthly_report(conn, config, month, min_votes=30)
        return exports.monthly_report_xlsx(found)

    def report_data() -> Any:
        return analytics.monthly_report(conn, config, rng.choice(months), min_votes=30)

    def staff_page() -> Any:
        month = rng.choice(months)
        person = analytics.staff_dimensions(conn, config, staff_id(rng.randint(1, STAFF)), month)
        trend = analytics.monthly_trend(conn, config, month[:4])
        return charts.dimensions_chart(person), charts.trend_chart(trend, "trend")

    def own_staff_page() -> Any:
        # The console's staff page (hub.console.staff_pages): a year of months, one
        # month's comments, the warnings, the year's voided votes.
        month = rng.choice(months)
        staff = staff_id(rng.randint(1, STAFF))
        return (
            staff_store.months(conn, staff, month[:4]),
            staff_store.comments(conn, calendar, staff, month),
            staff_store.warnings(conn, staff),
            staff_store.voids(conn, calendar, staff, month[:4]),
        )

    def department_dimensions() -> Any:
        month = rng.choice(months)
        return analytics.dimensions(conn, config, month, department=rng.choice(departments))

    def trend() -> Any:
        points = analytics.daily_trend(conn, config, rng.choice(months))
        return charts.trend_chart(points, "满意率 Satisfaction")

    return {
        "votes list: staff + month (page of 50)": votes_list,
        "live hall today": live,
        "heat map of a month + SVG": heat,
        "monthly report (data)": report_data,
        "monthly report + XLSX": report,
        "staff dimension page + SVGs": staff_page,
        "staff page: comments, voids": own_staff_page,
        "department dimensions": department_dimensions,
        "daily trend + SVG": trend,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "bench-years")
    args = parser.parse_args()
    built = cached_database(args.cache, args.votes)
    with tempfile.TemporaryDirectory(prefix="hallrate-console-") as tmp:
        config = load_hub_config(write_hall(Path(tmp), database=str(built.path.resolve())))
        conn = sqlite3.connect(f"file:{built.path}?mode=ro", uri=True)
        try:
            rng = random.Random(13)
            rows = []
            for name, work in cases(conn, config, built.end, rng).items():
                spent = timed(work, args.runs)
                rows.append((name, statistics.median(spent), p95(spent), max(spent)))
        finally:
            conn.close()
    print(f"console reads, {built.votes:,} votes, {args.runs} runs each (ms)")
    print(f"{'read':<40} {'p50':>8} {'p95':>8} {'max':>8}  p95 <= {TARGET_MS:.0f}")
    for name, p50, high, top in rows:
        verdict = "yes" if high <= TARGET_MS else "NO"
        print(f"{name:<40} {p50:8.2f} {high:8.2f} {top:8.2f}  {verdict}")
    pairs = " ".join(
        f"{name.split()[0]}_{i}_p95={high:.2f}" for i, (name, _, high, _) in enumerate(rows)
    )
    print(f"votes={built.votes} runs={args.runs} {pairs}")
    return 0 if all(high <= TARGET_MS for _, _, high, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
