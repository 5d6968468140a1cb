"""Screenshots of the console's live hall and a warning, on a desktop and a phone.

Runs a Mosquitto and a hub of the sample hall (``firmware_config/sample-hall``)
on this machine and casts a morning at its windows as their evaluators would
send it: each citizen's service starting and ending, most of them rated; the
evaluators report online with their outbox depth, one has lost power. With the
page open, one window's last citizens are dissatisfied enough to raise a level
III warning, which the console shows as a notice; then the warning's own page,
with the votes behind it and what the citizens said. Photographed in Debian's
Chromium through Playwright at 1366×768 and at a phone's 390×844. Needs the
``chromium`` and ``fonts-wqy-microhei`` packages (``make test`` installs them).
Run: ``.venv/bin/python bench/console_screenshots.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.screenshots_wall import (  # noqa: E402
    MORNING,
    WARNED_STAFF,
    WARNED_WINDOW,
    wait_for,
)
from bench.shots import SIZES, check_fits, chromium, log_in, sample_hub_toml, save, screen  # noqa: E402
from device_agent.protocol import format_time  # noqa: E402
from device_agent.storage import write_transaction  # noqa: E402
from device_agent.topics import DeviceTopic, Topics  # noqa: E402
from hallrate.broker import MosquittoBroker  # noqa: E402
from hub.config import load_hub_config  # noqa: E402
from hub.console.accounts import add_user  # noqa: E402
from hub.service import HubService  # noqa: E402
from hub.store import Store  # noqa: E402

USER, PASSWORD = "manager", "screenshots only"
# A few citizens at each window leave without rating.
UNRATED = 0.15
OUTBOX = {"w01": 0, "w02": 0, "w03": 2, "w04": 0, "w05": 0, "w06": 0, "w07": 14}
OFFLINE = "w08-eval"


def morning(seed: int = 7) -> list[tuple[str, str, dict]]:
    """The morning's messages as (device, topic kind, body): services and their votes."""
    rng = random.Random(seed)
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    start = min(now.replace(hour=8, minute=30, second=0, microsecond=0), now - timedelta(hours=3))
    sent: list[tuple[str, str, dict]] = []
    for window, (count, weights) in MORNING.items():
        device, staff = f"{window}-eval", f"s0{window[1:]}"
        seq = 0
        for n in range(count + round(count * UNRATED)):
            at = format_time(start + timedelta(minutes=3 * n))
            seq += 1
            service = f"{device}-shots{seq:06d}"
            for kind in ("start", "end"):
                sent.append(
                    (device, "service", _event(device, seq, window, staff, kind, at, service))
                )
                seq += 1
            if n < count:
                level = rng.choices([5, 4, 3, 2, 1], weights)[0]
                sent.append((device, "vote", _vote(device, seq, window, staff, level, at, service)))
    return sent


def _event(
    device: str, seq: int, window: str, staff: str, kind: str, at: str, service: str
) -> dict:
    return {
        "v": 1,
        "id": f"{device}-shots{seq:06d}",
        "seq": seq,
        "ts": at,
        "device": device,
        "window": window,
        "staff": staff,
        "event": kind,
        "service": service,
    }


def _vote(
    device: str, seq: int, window: str, staff: str, level: int, at: str, service: str
) -> dict:
    return {
        "v": 1,
        "id": f"{device}-shots{seq:06d}",
        "seq": seq,
        "ts": at,
        "sent": at,
        "device": device,
        "channel": "window",
        "window": window,
        "staff": staff,
        "ticket": None,
        "level": level,
        "dims": None,
        "reasons": [],
        "comment": None,
        "anonymous": False,
        "flags": [],
        "service": service,
    }


def warning_votes() -> list[tuple[str, str, dict]]:
    """Ten dissatisfied citizens at the warned window, now."""
    device = f"{WARNED_WINDOW}-eval"
    now = format_time(datetime.now().astimezone())
    votes = [
        (device, "vote", _vote(device, 5000 + n, WARNED_WINDOW, WARNED_STAFF, 1, now, None))
        for n in range(10)
    ]
    # An eleventh press the evaluator filtered as a repeat: the votes list shows its rule
    # (and it counts toward nothing, so the ten above still raise the warning).
    repeat = _vote(device, 5010, WARNED_WINDOW, WARNED_STAFF, 1, now, None)
    repeat["filter"] = {"rule": "one_per_service", "version": 1}
    votes.append((device, "vote", repeat))
    # What some of them said: the warning's page shows it beside each vote.
    for (_, _, body), (reasons, comment) in zip(votes, WARNING_WORDS, strict=False):
        body["reasons"], body["comment"] = reasons, comment
    return votes  # type: ignore[return-value]


WARNING_WORDS = (
    (["long-wait"], "排了一个多小时，窗口一直在打电话"),
    (["rude", "unclear"], "问了三遍才说清楚要带什么材料"),
    (["extra-trips"], None),
    (["long-wait", "rude"], "态度很差"),
)


def publish(
    port: int, topics: Topics, messages: list[tuple[str, str, dict]], *, devices: bool
) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="screenshots-console")
    client.connect("127.0.0.1", port)
    client.loop_start()
    kinds = {"vote": DeviceTopic.VOTE, "service": DeviceTopic.SERVICE}
    infos = [
        client.publish(topics.device(device, kinds[kind]), json.dumps(body), qos=1)
        for device, kind, body in messages
    ]
    if devices:
        for window, depth in OUTBOX.items():
            device = f"{window}-eval"
            infos.append(
                client.publish(
                    topics.device(device, DeviceTopic.STATUS), b"online", qos=1, retain=True
                )
            )
            telemetry = {
                "v": 1,
                "config_version": 3,
                "alarm": None,
                "outbox": {"depth": depth, "limit": 1000000, "oldest_unreceipted_s": depth * 4.0},
                "keypad": {"state": "open", "frames": 1480, "malformed": depth // 4},
            }
            info = {
                "v": 1,
                "software": "0.1.0",
                "started_at": format_time(datetime.now().astimezone()),
            }
            infos.append(
                client.publish(
                    topics.device(device, DeviceTopic.INFO), json.dumps(info), qos=1, retain=True
                )
            )
            infos.append(
                client.publish(
                    topics.device(device, DeviceTopic.TELEMETRY), json.dumps(telemetry), qos=1
                )
            )
        infos.append(
            client.publish(
                topics.device(OFFLINE, DeviceTopic.STATUS), b"offline", qos=1, retain=True
            )
        )
    for info in infos:
        info.wait_for_publish(timeout=30)
    client.disconnect()
    client.loop_stop()


def take(hub: HubService, broker_port: int, out: Path) -> list[Path]:
    shots = []
    with chromium() as browser:
        pages = {}
        for name in SIZES:
            page = screen(browser, name).new_page()
            log_in(page, f"{hub.api_url}/console/", USER, PASSWORD, wait_for="#live")
            pages[name] = page
        # The warning arrives while both pages are open: each shows it as a notice.
        publish(broker_port, hub.ingest.topics, warning_votes(), devices=False)
        for name, page in pages.items():
            page.wait_for_selector("#notices .notice", timeout=30_000)
            page.wait_for_function(
                f"document.querySelector('[data-window={WARNED_WINDOW}]').classList.contains('red')"
            )
            save(page, out / f"console-live-{name}.png", shots)
            check_fits(page, name)
        # The warning's own page: its facts, the forms, the votes behind it, its history.
        month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
        for name, page in pages.items():
            page.goto(f"{hub.api_url}/console/warnings/{WARNED_STAFF}-III-{month}")
            page.wait_for_selector("[data-vote]")
            # The whole page on a desktop; on a phone its first two screens (ten votes as
            # cards run far longer): the facts, the form and the first votes.
            width, height = SIZES[name]
            tall = page.evaluate("document.documentElement.scrollHeight")
            clip = {"x": 0, "y": 0, "width": width, "height": min(tall, 2 * height)}
            save(page, out / f"console-warning-{name}.png", shots, full_page=True, clip=clip)
            check_fits(page, f"warning {name}")
        # The votes list (the warned window's dissatisfied votes, a filtered press among
        # them) and the devices page.
        for name, page in pages.items():
            for shot, path_query in (
                ("votes", f"/console/votes/?window={WARNED_WINDOW}&level=1"),
                ("devices", "/console/devices"),
            ):
                page.goto(hub.api_url + path_query)
                save(page, out / f"console-{shot}-{name}.png", shots)
                check_fits(page, f"{shot} {name}")
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    messages = morning()
    with tempfile.TemporaryDirectory() as scratch, MosquittoBroker(Path(scratch)) as broker:
        config_path = sample_hub_toml(Path(scratch), broker.port)
        config = load_hub_config(config_path)
        store = Store(config.database)
        with write_transaction(store.db) as conn:
            add_user(conn, USER, PASSWORD, role="manager", display_name="李主任")
        store.close()
        hub = HubService(config)
        hub.start()
        try:
            wait_for(lambda: hub.ingest.state.connected, "the hub to connect")
            publish(broker.port, hub.ingest.topics, messages, devices=True)
            votes = sum(1 for _, kind, _ in messages if kind == "vote")
            wait_for(lambda: hub.ingest.state.stored >= votes, "every vote stored")
            for path in take(hub, broker.port, args.out):
                print(path)
        finally:
            hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
