"""The console's pages with a million votes stored: p50/p95 server time through the real app.

Uses ``bench/years.py``'s hall and cached database (built through the hub's
own Store + Counting the first time; cached in ``--cache``), copies it, adds
an administrator (who opens every page), logs in through the login form, and
asks the hub's Flask app (its test client: the whole request, routing,
session check, queries, template) for each page many times, the subject and
month varied:

- the votes list filtered by a staff member and a month, its first page and
  a page deep into the month (``after`` a rowid), and the list of a department's
  level-1 votes, and a search no vote matches (the walk stops at its budget);
- the filter rules summary of a month;
- the live hall; the devices page; the quarantine;
- the charts page of a month (the heat map among its five SVG charts), the
  monthly report's page and its XLSX download.

Prints p50/p95/max per page in milliseconds against the 100 ms target, and a
last line of ``key=value`` pairs; exits 1 if a p95 misses the target.

Run: ``.venv/bin/python bench/console_pages.py [--votes N] [--requests N]``.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.console_live import logged_in  # noqa: E402
from bench.console_queries import months_before  # noqa: E402
from bench.years import STAFF, cached_database, log, staff_id  # noqa: E402

TARGET_MS = 100.0
PASSWORD = "bench password"
ROWID = re.compile(r'data-rowid="(\d+)"')


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def month_days(month: str) -> tuple[date, date]:
    """The first and last day of a month (``2026-11``)."""
    first = date.fromisoformat(f"{month}-01")
    return first, (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)


def month_args(month: str) -> str:
    """``from``/``until`` of a month, as the votes list's form sends them."""
    first, last = month_days(month)
    return f"from={first}&until={last}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "bench-years")
    args = parser.parse_args(argv)
    built = cached_database(args.cache, args.votes)
    rng = random.Random(13)
    months = months_before(built.end, 10)
    with tempfile.TemporaryDirectory(prefix="hallrate-console-") as tmp:
        config, client = logged_in(built.path, Path(tmp), "admin")
        departments = list(config.directory.departments)

        def get(path: str) -> Callable[[], Any]:
            def fetch() -> Any:
                answer = client.get(path)
                assert answer.status_code == 200, (path, answer.status_code)
                return answer

            return fetch

        def staff_month() -> Any:
            month = rng.choice(months)
            staff = staff_id(rng.randint(1, STAFF))
            return get(f"/console/votes/?staff={staff}&{month_args(month)}")()

        def staff_month_deep() -> Any:
            month = rng.choice(months)
            staff = staff_id(rng.randint(1, STAFF))
            first = client.get(f"/console/votes/?staff={staff}&{month_args(month)}").text
            rows = [int(r) for r in ROWID.findall(first)]
            after = rows[-1] if rows else 0
            # Three pages on: the page after the 150th vote of the month.
            for _ in range(2):
                found = client.get(
                    f"/console/votes/?staff={staff}&{month_args(month)}&after={after}"
                ).text
                more = [int(r) for r in ROWID.findall(found)]
                after = more[-1] if more else after
            started = time.perf_counter()
            get(f"/console/votes/?staff={staff}&{month_args(month)}&after={after}")()
            return (time.perf_counter() - started) * 1000

        def department_unhappy() -> Any:
            month = rng.choice(months)
            department = rng.choice(departments)
            return get(f"/console/votes/?department={department}&level=1&{month_args(month)}")()

        def no_match() -> Any:
            # No vote of the bench's hall has a comment: the walk runs to its budget.
            return get(f"/console/votes/?level=2&comment=1&{month_args(rng.choice(months))}")()

        def summary_month() -> Any:
            return get(f"/console/votes/filters?{month_args(rng.choice(months))}")()

        def charts_month() -> Any:
            month = rng.choice(months)
            return get(f"/console/charts/?month={month}&year={month[:4]}")()

        def report() -> Any:
            return get(f"/console/reports/monthly?month={rng.choice(months)}")()

        def report_xlsx() -> Any:
            return get(f"/console/reports/monthly.xlsx?month={rng.choice(months)}")()

        cases: dict[str, Callable[[], Any]] = {
            "votes: staff + month, first page": staff_month,
            "votes: department, level 1, month": department_unhappy,
            "votes: no match in a month (walk budget)": no_match,
            "filter rules summary, a month": summary_month,
            "live hall": get("/console/"),
            "devices": get("/console/devices"),
            "quarantine": get("/console/quarantine"),
            "charts of a month (heat map + 4 more)": charts_month,
            "monthly report": report,
            "monthly report, XLSX": report_xlsx,
        }
        figures: dict[str, list[float]] = {}
        for name, work in cases.items():
            work()  # warm: templates compiled, pages cached
            samples = []
            for _ in range(args.requests):
                started = time.perf_counter()
                work()
                samples.append((time.perf_counter() - started) * 1000)
            figures[name] = samples
        figures["votes: staff + month, 4th page"] = [
            staff_month_deep() for _ in range(args.requests)
        ]
    print(f"console pages, {built.votes:,} votes, {args.requests} requests each (ms)")
    print(f"{'page':<40} {'p50':>8} {'p95':>8} {'max':>8}  p95 <= {TARGET_MS:.0f}")
    pairs = [f"votes={built.votes}", f"requests={args.requests}"]
    met = True
    for i, (name, samples) in enumerate(figures.items()):
        p50, p95 = statistics.median(samples), percentile(samples, 0.95)
        verdict = "yes" if p95 <= TARGET_MS else "NO"
        met = met and p95 <= TARGET_MS
        print(f"{name:<40} {p50:8.2f} {p95:8.2f} {max(samples):8.2f}  {verdict}")
        pairs.append(f"page{i}_p95={p95:.2f}")
    log("done")
    print(" ".join(pairs))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
