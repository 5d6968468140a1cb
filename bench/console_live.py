"""The console's live hall: server time per request with a year of votes in the database.

Uses ``bench/years.py``'s hall (50 windows, 150 staff, 12 months of votes
built through the hub's own Store and Counting, cached in ``--cache``), copies
the database, gives it a manager, and asks the hub's Flask app for the live
hall page (``/console/``) and its live update (``/console/live.json``) many
times in-process, with a logged-in session, as the hub serves them. Prints
p50/p95/max per page in milliseconds, and a last line of ``key=value`` pairs.
The issue's target is p95 ≤ 100 ms on this machine.

Run: ``.venv/bin/python bench/console_live.py [--votes N] [--requests N]``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.years import cached_database, log, write_hall  # noqa: E402
from device_agent.storage import write_transaction  # noqa: E402
from hub.app import create_app  # noqa: E402
from hub.config import HubConfig, load_hub_config  # noqa: E402
from hub.console.accounts import add_user  # noqa: E402
from hub.store import Store  # noqa: E402

PAGES = ("/console/", "/console/live.json")
PASSWORD = "bench password"


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def logged_in(database: Path, folder: Path, role: str) -> tuple[HubConfig, FlaskClient]:
    """A copy of ``database`` in ``folder`` with a user of ``role``, and a client logged in."""
    copy = folder / "hub.sqlite"
    shutil.copy(database, copy)
    config = load_hub_config(write_hall(folder / "hall", database=str(copy)))
    store = Store(config.database)
    with write_transaction(store.db) as conn:
        add_user(conn, role, PASSWORD, role=role)
    store.close()
    client = create_app(config).test_client()
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    login = {"user": role, "password": PASSWORD, "csrf_token": token}
    assert client.post("/console/login", data=login).status_code == 302
    return config, client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "bench-years")
    args = parser.parse_args(argv)
    built = cached_database(args.cache, args.votes)
    with tempfile.TemporaryDirectory(prefix="hallrate-console-") as tmp:
        _, client = logged_in(built.path, Path(tmp), "manager")
        figures: dict[str, list[float]] = {}
        for path in PAGES:
            client.get(path)  # warm: templates compiled, pages cached
            samples = []
            for _ in range(args.requests):
                started = time.perf_counter()
                answer = client.get(path)
                samples.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, answer.status_code
            figures[path] = samples
    print(f"{args.votes:,} votes, 50 windows, {args.requests} requests each (ms)")
    pairs = [f"votes={args.votes}"]
    for path, samples in figures.items():
        p50, p95 = statistics.median(samples), percentile(samples, 0.95)
        print(f"{path:24} p50 {p50:6.1f}  p95 {p95:6.1f}  max {max(samples):6.1f}")
        key = "live_page" if path == "/console/" else "live_json"
        pairs += [f"{key}_p50_ms={p50:.1f}", f"{key}_p95_ms={p95:.1f}"]
    log("done")
    print(" ".join(pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
