"""Screenshots of the console's monthly bulletin page: a desktop, and as it prints.

Runs a Mosquitto and a hub of the sample hall (``firmware_config/sample-hall``).
The office registers this month's cases through the console's own forms,
assigns each to a department's staff member and moves some along the chain
(answered, rated, archived); a department head's view is the same page with
one row. Photographed in Debian's Chromium through Playwright at 1366×768,
once on screen and once with print media emulated, into docs/screenshots/.
Run: ``.venv/bin/python bench/bulletin_screenshots.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.screenshots_wall import wait_for  # noqa: E402
from bench.shots import CHROMIUM, CHROMIUM_ARGS, SAMPLE_DIRECTORY  # noqa: E402
from device_agent.storage import write_transaction  # noqa: E402
from hallrate.broker import MosquittoBroker  # noqa: E402
from hub.config import HubConfig, load_hub_config  # noqa: E402
from hub.console.accounts import add_user  # noqa: E402
from hub.service import HubService  # noqa: E402
from hub.store import Store  # noqa: E402

USER, PASSWORD = "office", "screenshots only"
# Per department: cases received, of which answered, of which rated and archived.
PLAN = {"civil": (6, 5, 4), "hrss": (9, 6, 3), "market": (4, 1, 0), "estate": (5, 5, 5)}


def _token(client: FlaskClient, url: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).text)
    assert found, url
    return found[1]


def _post(client: FlaskClient, url: str, **data: str) -> str:
    answer = client.post(url, data={"csrf_token": _token(client, "/console/cases/"), **data})
    assert answer.status_code == 302, (url, answer.status_code, answer.text[:400])
    return answer.headers["Location"]


def fill(hub: HubService, config: HubConfig) -> None:
    """This month's cases, through the console's forms as the office uses them."""
    client = hub.app.test_client()
    page = client.get("/console/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    client.post("/console/login", data={"user": USER, "password": PASSWORD, "csrf_token": found[1]})
    today = datetime.now(UTC).astimezone(ZoneInfo(config.timezone)).date()
    staff = {s.department: s.id for s in config.directory.staff.values()}
    for department, (received, answered, archived) in PLAN.items():
        for n in range(received):
            day = today.replace(day=1 + (n * 3) % today.day)
            where = _post(
                client,
                "/console/cases/new",
                channel=("phone", "letter", "hotline", "website")[n % 4],
                received_on=day.isoformat(),
                text=f"群众反映：办理等候时间较长（{department} {n + 1}）。",
                **{"class": "ordinary"},
            )
            case = re.search(r"/console/cases/(\d+)", where)
            assert case
            url = f"/console/cases/{case[1]}"
            _post(client, f"{url}/assign", department=department, assignee=staff[department])
            if n >= answered:
                continue
            _post(client, f"{url}/start")
            _post(client, f"{url}/draft", answer="已调整窗口人员，高峰时段增开窗口。")
            _post(client, f"{url}/answer")
            if n >= archived:
                continue
            rating = "satisfied" if n % 3 else "basically_satisfied"
            _post(client, f"{url}/check", rating=rating, by="office")
            _post(client, f"{url}/archive")


def take(hub: HubService, out: Path) -> list[Path]:
    shots = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        page = context.new_page()
        page.goto(f"{hub.api_url}/console/bulletins/")
        page.fill("input[name=user]", USER)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("table.bulletin-table")
        for media in ("screen", "print"):
            page.emulate_media(media=media)
            name = "desktop" if media == "screen" else "print"
            path = out / f"console-bulletin-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            shots.append(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the bulletin is {overflow} px wider than the screen"
        browser.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, MosquittoBroker(Path(scratch)) as broker:
        config_path = Path(scratch) / "hub.toml"
        config_path.write_text(
            f'[hub]\nhall = "qinghe"\ndatabase = "{Path(scratch) / "hub.sqlite"}"\n'
            f'directory = "{SAMPLE_DIRECTORY}"\n\n'
            f'[broker]\nhost = "127.0.0.1"\nport = {broker.port}\n\n[api]\nport = 0\n',
            encoding="utf-8",
        )
        config = load_hub_config(config_path)
        store = Store(config.database)
        with write_transaction(store.db) as conn:
            add_user(conn, USER, PASSWORD, role="office", display_name="效能办")
        store.close()
        hub = HubService(config)
        hub.start()
        try:
            wait_for(lambda: hub.ingest.state.connected, "the hub to connect")
            fill(hub, config)
            for path in take(hub, args.out):
                print(path)
        finally:
            hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
