"""Screenshots of the console's charts (the heat map), a staff page and a printed report.

Stores three months (September to November 2026) of the sample hall's votes
(``firmware_config/sample-hall``) through the hub's real store and counting —
weekdays 09:00–17:00, more dissatisfied votes on Monday mornings and Friday
afternoons and at one window, one vote in ten from the kiosk rating the three
dimensions, some with a comment — then runs a Mosquitto and the hub and
photographs, in Debian's Chromium through Playwright at 1366×768 and at a
phone's 390×844: the charts page scrolled to its heat map (as the manager),
the staff page (as the staff member 林晓梅 herself), and the monthly report as
printed (print media; also saved as a PDF next to the PNGs when ``--pdf``).
Checks that no page is wider than its screen. Needs ``chromium`` and
``fonts-wqy-microhei``. Run: ``.venv/bin/python bench/console_figures_screenshots.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.shots import SIZES, check_fits, chromium, log_in, sample_hub_toml, save, screen  # noqa: E402
from device_agent.storage import write_transaction  # noqa: E402
from hallrate.broker import MosquittoBroker  # noqa: E402
from hub.config import load_hub_config  # noqa: E402
from hub.console.accounts import add_user  # noqa: E402
from hub.counting import Counting  # noqa: E402
from hub.service import HubService  # noqa: E402
from hub.store import Batch, Store, StoredVote  # noqa: E402
from tests.stored_votes import make_vote  # noqa: E402

PASSWORD = "screenshots only"
ZONE = ZoneInfo("Asia/Shanghai")
SEATED = {f"w0{i}": f"s00{i}" for i in range(1, 9)}
COMMENTS = (
    "办理很快，态度很好",
    "讲解耐心细致，谢谢",
    "排队时间有点长",
    "材料一次告知清楚，点赞",
    "希望中午也能办理",
    "工作人员很热情",
)


def _level(rng: random.Random, bad: float) -> int:
    return rng.choice([1, 2]) if rng.random() < bad else rng.choice([3, 4, 5, 5, 5])


def _vote(rng: random.Random, local: datetime, window: str, level: int) -> StoredVote:
    staff = SEATED[window]
    if rng.random() < 0.1:  # the lobby kiosk: three dimensions around the overall level
        dims = {
            k: max(1, min(5, level + rng.randint(-1, 1)))
            for k in ("attitude", "efficiency", "style")
        }
        return make_vote(
            local.isoformat(), channel="kiosk", window=None, staff=staff, level=level, dims=dims
        )
    return make_vote(local.isoformat(), window=window, staff=staff, level=level)


def votes(seed: int = 11) -> list[StoredVote]:
    """Three months of weekday votes at the sample hall's eight windows and its kiosk."""
    rng = random.Random(seed)
    found = []
    day = date(2026, 9, 1)
    while day < date(2026, 12, 1):
        for window in SEATED if day.weekday() < 5 else ():
            for _ in range(rng.randint(3, 8)):
                hour = rng.randint(9, 16)
                minute = rng.randrange(60)
                local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)
                monday_morning = day.weekday() == 0 and hour < 11
                friday_afternoon = day.weekday() == 4 and hour >= 15
                bad = 0.3 if monday_morning or friday_afternoon else 0.05
                stored = _vote(
                    rng, local, window, _level(rng, bad + (0.1 if window == "w07" else 0))
                )
                if rng.random() < 0.08:
                    vote = dataclasses.replace(stored.vote, comment=rng.choice(COMMENTS))
                    stored = StoredVote(vote, stored.cast_at, stored.received_at, stored.flags)
                found.append(stored)
        day += timedelta(days=1)
    return found


def fill(config_path: Path) -> int:
    """Store the votes through the hub's store and counting; add the two users."""
    config = load_hub_config(config_path)
    counting = Counting(config)
    store = Store(config.database, counting=counting, rules=counting.rules)
    stored = votes()
    for i in range(0, len(stored), 200):
        store.commit(Batch(votes=stored[i : i + 200]))
    with write_transaction(store.db) as conn:
        add_user(conn, "manager", PASSWORD, role="manager", display_name="李主任")
        add_user(conn, "s001", PASSWORD, role="staff", staff="s001")
    store.close()
    return len(stored)


def take(url: str, out: Path, *, pdf: bool) -> list[Path]:
    shots = []
    with chromium() as browser:
        for name in SIZES:
            for user, path, shot in (
                ("manager", "/console/charts/?month=2026-11&year=2026", "console-heatmap"),
                ("s001", "/console/staff/s001?year=2026", "console-staff"),
            ):
                context = screen(browser, name)
                page = context.new_page()
                log_in(page, f"{url}/console/login", user, PASSWORD)
                began = time.monotonic()
                page.goto(url + path)
                print(f"{path} ({name}): {time.monotonic() - began:.2f} s to load")
                if shot == "console-heatmap":
                    page.locator("#chart-heatmap").scroll_into_view_if_needed()
                    page.evaluate(
                        "document.getElementById('chart-heatmap').scrollIntoView({block: 'start'})"
                    )
                check_fits(page, f"{path} {name}")
                save(page, out / f"{shot}-{name}.png", shots)
                context.close()
        context = screen(browser, "desktop")
        page = context.new_page()
        log_in(page, f"{url}/console/login", "manager", PASSWORD)
        page.goto(url + "/console/reports/monthly?month=2026-11")
        page.emulate_media(media="print")
        save(page, out / "console-report-print.png", shots, full_page=True)
        if pdf:
            pdf_path = out / "console-report-print.pdf"
            page.pdf(path=str(pdf_path), format="A4")
            shots.append(pdf_path)
        context.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--pdf", action="store_true", help="also save the printed report as PDF")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, MosquittoBroker(Path(scratch)) as broker:
        config_path = sample_hub_toml(Path(scratch), broker.port)
        began = time.monotonic()
        stored = fill(config_path)
        print(f"{stored} votes stored in {time.monotonic() - began:.1f} s")
        hub = HubService(load_hub_config(config_path))
        hub.start()
        try:
            for path in take(hub.api_url, args.out, pdf=args.pdf):
                print(path)
        finally:
            hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
