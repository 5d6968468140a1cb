"""Screenshots of the central console's county overview, on a desktop and a phone.

Runs a Mosquitto and a hub in central role for three fictional halls, and
gives it what those halls would have forwarded (their summaries with
per-person figures, and their warnings) through :func:`hub.central.accept`,
the function that stores every forwarded message. One person works in two
halls: 6 and 5 dissatisfied votes, a county warning although neither hall
raised one. Photographed in Debian's Chromium at 1366×768 and 390×844.
Run: ``.venv/bin/python bench/central_screenshots.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.shots import OVERFLOW, SIZES, chromium, log_in, sample_hub_toml, save, screen  # noqa: E402
from device_agent.protocol import format_time  # noqa: E402
from device_agent.storage import write_transaction  # noqa: E402
from hallrate.broker import MosquittoBroker  # noqa: E402
from hub import central  # noqa: E402
from hub.config import load_hub_config  # noqa: E402
from hub.console.accounts import add_user  # noqa: E402
from hub.periods import Calendar  # noqa: E402
from hub.service import HubService  # noqa: E402
from hub.store import Store  # noqa: E402

USER, PASSWORD = "office", "screenshots only"
# hall id: (name, votes today, dissatisfied today, votes this month, dissatisfied this month)
HALLS = {
    "qinghe": ("清河政务服务大厅", 412, 9, 8630, 141),
    "baima": ("白马镇便民服务中心", 96, 4, 2104, 52),
    "xishan": ("西山街道服务大厅", 0, 0, 1730, 20),
}
# (hall, staff, person, name, dissatisfied, counted) this month
PEOPLE = [
    ("qinghe", "s003", "320102-0457", "李娜", 6, 310),
    ("baima", "b012", "320102-0457", "李娜", 5, 120),
    ("qinghe", "s011", "320102-0981", "周强", 12, 402),
    ("baima", "b004", "320102-1203", "陈静", 3, 260),
    ("xishan", "x002", "320102-0330", "王磊", 4, 188),
]


def hall_counts(hall: str, period: str, total: int, unhappy: int) -> dict[str, Any]:
    return {
        "scope": "hall",
        "subject": hall,
        "period": period,
        "level_1": unhappy // 2,
        "level_2": unhappy - unhappy // 2,
        "level_3": total // 20,
        "level_4": total // 5,
        "level_5": total - unhappy - total // 20 - total // 5,
        "total": total,
        "dissatisfied": unhappy,
    }


def forward(config_path: Path, now: datetime) -> None:
    """Store the halls' summaries and warnings as central's consumer would."""
    config = load_hub_config(config_path)
    calendar = Calendar(config.timezone)
    day, month = calendar.current(now, "day"), calendar.current(now, "month")
    generated = format_time(now)
    store = Store(config.database)
    with write_transaction(store.db) as conn:
        add_user(conn, USER, PASSWORD, role="office", display_name="县效能办")
        for hall, (name, today, today_bad, total, bad) in HALLS.items():
            people = [
                [month, staff, unhappy, 0, 0, 0, counted - unhappy, counted, unhappy]
                for h, staff, _, _, unhappy, counted in PEOPLE
                if h == hall
            ]
            names = {
                staff: {"person": person, "name": who}
                for h, staff, person, who, _, _ in PEOPLE
                if h == hall
            }
            summary = {
                "v": 1,
                "message_id": f"summary-{hall}",
                "hall": hall,
                "name": name,
                "generated_at": generated,
                "periods": {"day": day, "month": month, "year": month[:4]},
                "counts": {
                    "day": [hall_counts(hall, day, today, today_bad)],
                    "month": [hall_counts(hall, month, total, bad)],
                },
                "open_warnings": 1 if hall == "qinghe" else 0,
                "people_periods": [month],
                "people_columns": list(central.PEOPLE_ROW),
                "people": people,
                "people_names": names,
            }
            central.accept(conn, hall, "summary", summary, received_at=generated)
        warning = {
            "v": 1,
            "message_id": f"s011-III-{month}.1",
            "hall": "qinghe",
            "id": f"s011-III-{month}",
            "staff": "s011",
            "department": "civil",
            "level": "III",
            "grain": "month",
            "period": month,
            "count": 12,
            "status": "acknowledged",
            "raised_at": generated,
            "event": {"seq": 1, "name": "raised", "at": generated, "by": "hub"},
        }
        central.accept(conn, "qinghe", "warning", warning, received_at=generated)
    store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, MosquittoBroker(Path(scratch)) as broker:
        halls = "".join(f"[central.halls.{hall}]\n" for hall in HALLS)
        config_path = sample_hub_toml(
            Path(scratch), broker.port, f"[central]\nenabled = true\n{halls}"
        )
        forward(config_path, datetime.now(UTC))
        hub = HubService(load_hub_config(config_path))
        hub.start()
        try:
            shots: list[Path] = []
            with chromium() as browser:
                for name in SIZES:
                    context = screen(browser, name)
                    page = context.new_page()
                    login = f"{hub.api_url}/console/login?next=/console/central/"
                    log_in(page, login, USER, PASSWORD, wait_for=".central-halls")
                    path = save(
                        page, args.out / f"console-central-{name}.png", shots, full_page=True
                    )
                    print(path, f"overflow {page.evaluate(OVERFLOW)} px")
                    context.close()
        finally:
            hub.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
