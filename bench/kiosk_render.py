"""Server-side render time of each kiosk page under load from a second process.

The sample hall runs as ``hallrate hub`` and ``hallrate kiosk`` processes
(``bench/kiosk_hall.py``); this process is the load: ``--clients`` threads,
each with a keep-alive connection, fetch the kiosk's pages round-robin for
``--seconds``. The kiosk says in each response's ``Server-Timing`` header
how long it took to make the page (request start to response ready, the
template rendered); the client's round trip is noted beside it.

The last line is ``key=value`` pairs. Run: ``.venv/bin/python bench/kiosk_render.py``.
"""

from __future__ import annotations

import argparse
import http.client
import re
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kiosk_hall import SampleKioskHall

PAGES = {
    "home": "/",
    "departments": "/departments",
    "department": "/departments/civil",
    "windows": "/windows",
    "staff": "/staff/s001",
    "services": "/services",
    "service": "/services/company-setup",
    "announcements": "/announcements",
    "rate-choose": "/rate",
    "rate-form": "/rate/staff/s003",
    "complaint-form": "/complaints/new",
    "lookup-form": "/complaints/lookup",
}
TIMING = re.compile(r"app;dur=([0-9.]+)")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def load(port: int, seconds: float, clients: int) -> tuple[dict, dict, int]:
    server: dict[str, list[float]] = defaultdict(list)
    round_trip: dict[str, list[float]] = defaultdict(list)
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    names = list(PAGES)

    def client(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine_server: dict[str, list[float]] = defaultdict(list)
        mine_trip: dict[str, list[float]] = defaultdict(list)
        i = offset
        while time.monotonic() < deadline:
            name = names[i % len(names)]
            i += 1
            started = time.perf_counter()
            try:
                conn.request("GET", PAGES[name])
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                with lock:
                    errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            elapsed = (time.perf_counter() - started) * 1000
            found = TIMING.search(response.headers.get("Server-Timing", ""))
            if response.status != 200 or found is None:
                with lock:
                    errors[0] += 1
                continue
            mine_server[name].append(float(found.group(1)))
            mine_trip[name].append(elapsed)
        conn.close()
        with lock:
            for name, values in mine_server.items():
                server[name].extend(values)
                round_trip[name].extend(mine_trip[name])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return server, round_trip, errors[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=4, help="the kiosk's waitress threads")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory() as scratch,
        SampleKioskHall(Path(scratch), kiosk_threads=args.threads) as hall,
    ):
        load(hall.kiosk_port, 2.0, 2)  # warm up: templates compiled, caches filled
        server, trip, errors = load(hall.kiosk_port, args.seconds, args.clients)
    total = sum(len(v) for v in server.values())
    header = ("page", "n", "server p50", "server p95", "trip p50", "trip p95")
    print("{:<16}{:>7}{:>12}{:>12}{:>10}{:>10}".format(*header))
    for name in PAGES:
        s, t = server[name], trip[name]
        if not s:
            continue
        print(
            f"{name:<16}{len(s):>7}{percentile(s, 0.5):>10.2f}ms{percentile(s, 0.95):>10.2f}ms"
            f"{percentile(t, 0.5):>8.1f}ms{percentile(t, 0.95):>8.1f}ms"
        )
    everything = [v for values in server.values() for v in values]
    print(
        f"pages={total} errors={errors} clients={args.clients} threads={args.threads}"
        f" pages_per_s={total / args.seconds:.0f}"
        f" server_p50_ms={percentile(everything, 0.5):.2f}"
        f" server_p95_ms={percentile(everything, 0.95):.2f}"
    )
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
