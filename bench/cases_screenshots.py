"""Screenshots of the console's case page and supervision page, on a desktop and a phone.

Runs a Mosquitto and a hub of the sample hall (``firmware_config/sample-hall``).
Cases are registered and moved along the chain by the hub's own chain
functions (as the console's forms call them): a 12345 hotline complaint
assigned, drafted, sent back by the manager and drafted again, with a
duplicate letter merged into it, and a few more for the list. At window 1
(marriage registration, at least 5 minutes) evaluators send services this
morning, three "done" in under a minute: three yellow alerts, of which the
office confirms one and dismisses one. Photographed in Debian's Chromium
through Playwright at 1366×768 and 390×844 into docs/screenshots/.
Run: ``.venv/bin/python bench/cases_screenshots.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.screenshots_wall import wait_for  # noqa: E402
from bench.shots import SIZES, check_fits, chromium, log_in, sample_hub_toml, save, screen  # noqa: E402
from device_agent.protocol import format_time  # noqa: E402
from device_agent.storage import write_transaction  # noqa: E402
from device_agent.topics import DeviceTopic, Topics  # noqa: E402
from hallrate.broker import MosquittoBroker  # noqa: E402
from hub.cases import chain  # noqa: E402
from hub.cases.api import CASES_KEY  # noqa: E402
from hub.cases.chain import Actor, Cases  # noqa: E402
from hub.config import load_hub_config  # noqa: E402
from hub.console.accounts import add_user  # noqa: E402
from hub.service import HubService  # noqa: E402
from hub.store import Store  # noqa: E402
from hub.supervision import confirm_alert, dismiss_alert  # noqa: E402

PASSWORD = "screenshots only"
ZONE = ZoneInfo("Asia/Shanghai")


def make_cases(book: Cases, store: Store) -> int:
    """The cases of the pictures; returns the one photographed."""
    office, boss, handler = (
        Actor("office", "office"),
        Actor("boss", "manager"),
        Actor("s002", "handler"),
    )
    today = book.today()
    with write_transaction(store.db) as conn:
        main = chain.register(
            book, conn, office, channel="hotline", ref="12345-20251103-0042",
            received_on=today - timedelta(days=2), case_class="important", department="civil",
            title="社会救助窗口午间无人值守", contact="138****0000",
            text="来电反映：12:00 前后到 2 号窗口办理低保申请，窗口无人，等候四十分钟。",
        )  # fmt: skip
        duplicate = chain.register(
            book, conn, office, channel="letter", received_on=today - timedelta(days=1),
            department="civil", text="来信：社会救助窗口中午没人，希望安排值守。",
        )  # fmt: skip
        chain.merge(book, conn, duplicate, office, into=main, note="同一事项，合并办理")
        chain.assign(
            book, conn, main, office, department="civil", assignee="s002", note="请三日内答复"
        )
        chain.start(book, conn, main, handler)
        chain.draft(book, conn, main, handler, answer="已核实，窗口午间将加派人员。")
        chain.send_back(book, conn, main, boss, note="请写明值守时段和负责人")
        chain.draft(
            book, conn, main, handler,
            answer="经核实，2 号窗口工作人员午间轮休时未安排替班。自本周起每日 12:00—14:00 "
            "由周建国值守，并在窗口公示。感谢您的监督。",
        )  # fmt: skip
        late = chain.register(
            book, conn, office, channel="letter", received_on=today - timedelta(days=20),
            department="hrss", text="来信：社保转移接续办理超过承诺时限。",
        )  # fmt: skip
        chain.assign(book, conn, late, office, department="hrss", assignee="s003")
        chain.register(
            book, conn, office, channel="website", received_on=today,
            text="网站留言：不动产登记取号难。",
        )  # fmt: skip
    return main


def services(device: str, window: str, staff: str) -> list[dict]:
    """This morning's services at a window: three ended within a minute, the rest in time."""
    start = datetime.now(ZONE).replace(hour=8, minute=40, second=0, microsecond=0)
    if start > datetime.now(ZONE):
        start -= timedelta(days=1)
    lengths = [58, 900, 41, 1200, 35, 700]
    found, seq, at = [], 0, start
    for n, seconds in enumerate(lengths):
        service = f"{device}-{seq + 1:012d}"
        for kind, moment in (("start", at), ("end", at + timedelta(seconds=seconds))):
            seq += 1
            found.append(
                {
                    "v": 1, "id": f"{device}-{seq:012d}", "seq": seq, "ts": format_time(moment),
                    "device": device, "event": kind, "window": window, "staff": staff,
                    "ticket": f"A{n + 11:03d}", "item": "marriage-registration",
                    "service": service,
                }
            )  # fmt: skip
        at += timedelta(seconds=seconds + 300)
    return found


def publish(port: int, topics: Topics, device: str, bodies: list[dict]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="screenshots-cases")
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [
        client.publish(topics.device(device, DeviceTopic.SERVICE), json.dumps(b), qos=1)
        for b in bodies
    ]
    for info in infos:
        info.wait_for_publish(timeout=30)
    client.disconnect()
    client.loop_stop()


def take(url: str, case_id: int, month: str, out: Path) -> list[Path]:
    shots = []
    with chromium() as browser:
        for name in SIZES:
            context = screen(browser, name)
            page = context.new_page()
            log_in(page, f"{url}/console/login", "boss", PASSWORD)
            for slug, path in (
                ("case", f"/console/cases/{case_id}"),
                ("supervision", f"/console/supervision/?month={month}"),
            ):
                page.goto(url + path)
                check_fits(page, f"{slug} {name}")
                save(page, out / f"console-{slug}-{name}.png", shots, full_page=name == "desktop")
            context.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, MosquittoBroker(Path(scratch)) as broker:
        config_path = sample_hub_toml(
            Path(scratch), broker.port, "[supervision]\ncheck_interval_s = 0.2\n"
        )
        config = load_hub_config(config_path)
        store = Store(config.database)
        with write_transaction(store.db) as conn:
            add_user(conn, "boss", PASSWORD, role="manager", display_name="王主任")
            add_user(conn, "office", PASSWORD, role="office", display_name="效能办李")
        hub = HubService(config)
        hub.start()
        try:
            wait_for(lambda: hub.ingest.state.connected, "the hub to connect")
            book: Cases = hub.app.extensions[CASES_KEY]
            case_id = make_cases(book, store)
            bodies = services("w01-eval", "w01", "s001")
            publish(broker.port, hub.ingest.topics, "w01-eval", bodies)

            def alerts() -> list[str]:
                rows = store.db.execute("SELECT id FROM supervision_alerts ORDER BY started_at")
                return [r[0] for r in rows]

            wait_for(lambda: len(alerts()) == 3, "three alerts")
            first, second, _ = alerts()
            with write_transaction(store.db) as conn:
                confirm_alert(conn, first, by="office", note="查实：事后补录，已约谈")
                dismiss_alert(conn, second, by="office", note="系统故障后补录，有纸质记录")
            month = datetime.now(ZONE).strftime("%Y-%m")
            for path in take(hub.api_url, case_id, month, args.out):
                print(path)
        finally:
            hub.stop()
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
