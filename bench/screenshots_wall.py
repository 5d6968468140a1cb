"""Screenshots of the LED web wall for docs/screenshots: a wall page, a warning, a window strip.

Runs a Mosquitto and a hub of the sample hall (``firmware_config/sample-hall``)
on this machine, casts a morning's votes at its windows — enough dissatisfied
ones at one window to raise a level III warning — marks one evaluator
offline, and photographs the boards in Debian's Chromium through Playwright
at 1280×720 (a 1920×1080 screen shows the same, larger). Needs the ``chromium`` and
``fonts-wqy-microhei`` packages (``make test`` installs them).
Run: ``.venv/bin/python bench/screenshots_wall.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.shots import chromium, sample_hub_toml, save  # noqa: E402
from device_agent.protocol import Vote, encode, envelope_id, format_time  # noqa: E402
from device_agent.topics import DeviceTopic, Topics  # noqa: E402
from hallrate.broker import MosquittoBroker  # noqa: E402
from hub.config import load_hub_config  # noqa: E402
from hub.service import HubService  # noqa: E402

BOARDS = """
[[boards]]
id = "hall-main"
name = "大厅主屏"
kind = "wall"
columns = 40
lines = 9
pages = [{ page = "windows", hold_s = 3600 }]

[[boards]]
id = "hall-notices"
name = "大厅副屏"
kind = "wall"
columns = 32
lines = 4
pages = [{ page = "warnings", hold_s = 3600 }, { page = "offline", hold_s = 3600 }]

[[boards]]
id = "strip-w05"
name = "5号窗口条屏"
kind = "window"
window = "w05"
columns = 16
lines = 2
pages = [{ page = "window", hold_s = 3600 }]
"""
# Votes per window this morning: (very satisfied .. very dissatisfied) weights and count.
MORNING = {
    "w01": (35, [70, 20, 6, 3, 1]),
    "w02": (22, [60, 25, 10, 4, 1]),
    "w03": (41, [75, 18, 5, 1, 1]),
    "w04": (18, [55, 30, 10, 4, 1]),
    "w05": (29, [80, 15, 4, 1, 0]),
    "w06": (26, [40, 20, 10, 15, 15]),
    "w07": (33, [65, 25, 6, 3, 1]),
}
WARNED_WINDOW, WARNED_STAFF = "w06", "s006"


def votes(seed: int = 7) -> list[tuple[str, Vote]]:
    """The morning's votes as (topic device, vote), the last ten raising a warning."""
    rng = random.Random(seed)
    now = format_time(datetime.now().astimezone())
    cast: list[tuple[str, Vote]] = []
    for window, (count, weights) in MORNING.items():
        device = f"{window}-eval"
        staff = f"s0{window[1:]}"
        for seq in range(1, count + 1):
            level = rng.choices([5, 4, 3, 2, 1], weights)[0]
            cast.append((device, _vote(device, seq, window, staff, level, now)))
    device = f"{WARNED_WINDOW}-eval"
    for seq in range(1000, 1010):
        cast.append((device, _vote(device, seq, WARNED_WINDOW, WARNED_STAFF, 1, now)))
    return cast


def _vote(device: str, seq: int, window: str, staff: str, level: int, now: str) -> Vote:
    return Vote(
        id=envelope_id(device, seq, epoch="shots001"),
        seq=seq,
        ts=now,
        sent=now,
        device=device,
        channel="window",
        window=window,
        staff=staff,
        level=level,
    )


def publish(port: int, topics: Topics, cast: list[tuple[str, Vote]]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="screenshots-wall")
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [
        client.publish(topics.device(device, DeviceTopic.VOTE), encode(vote), qos=1)
        for device, vote in cast
    ]
    # An evaluator that lost power: its will marks it offline, retained.
    infos.append(
        client.publish(
            topics.device("w08-eval", DeviceTopic.STATUS), b"offline", qos=1, retain=True
        )
    )
    for info in infos:
        info.wait_for_publish(timeout=30)
    client.disconnect()
    client.loop_stop()


def wait_for(predicate: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.1)


def take(hub: HubService, out: Path) -> list[Path]:
    shots = []
    with chromium() as browser:
        for board, name, size in (
            ("hall-main", "led-wall", (1280, 720)),
            ("hall-notices", "led-wall-warning", (1280, 400)),
            ("strip-w05", "led-strip", (960, 270)),
        ):
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            page.goto(f"{hub.api_url}/boards/{board}")
            page.wait_for_selector("#live.on")
            save(page, out / f"{name}.png", shots)
            page.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    cast = votes()
    with tempfile.TemporaryDirectory() as scratch, MosquittoBroker(Path(scratch)) as broker:
        config_path = sample_hub_toml(Path(scratch), broker.port, BOARDS)
        hub = HubService(load_hub_config(config_path))
        hub.start()
        try:
            wait_for(lambda: hub.ingest.state.connected, "the hub to connect")
            publish(broker.port, hub.ingest.topics, cast)
            wait_for(lambda: hub.ingest.state.stored >= len(cast), "every vote stored")

            def boards_ready() -> bool:
                notices = hub.boards.feed.view("hall-notices")
                main_view = hub.boards.feed.view("hall-main")
                return (
                    notices is not None
                    and len(notices.frame.pages) == 2
                    and main_view is not None
                    and f" {MORNING['w07'][0]}" in "".join(main_view.frame.pages[0].lines)
                )

            wait_for(boards_ready, "the boards to show the morning")
            for path in take(hub, args.out):
                print(path)
        finally:
            hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
