"""Screenshots of the kiosk for docs/screenshots: home, staff profile, rating, thank-you, elderly.

Runs the sample hall (broker, hub, kiosk) on this machine and drives
Debian's Chromium through Playwright at a lobby screen's 1280×800. Needs
the ``chromium`` and ``fonts-wqy-microhei`` packages (``make test`` installs
them). Run: ``.venv/bin/python bench/kiosk_screenshots.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kiosk_hall import ROOT, SampleKioskHall
from bench.shots import chromium, save

STAFF = "s001"


def rate(page: Page) -> None:
    """Tap a face on each line and a reason, as a citizen would."""
    for dimension, level in (("attitude", 5), ("efficiency", 4), ("style", 5)):
        page.click(f"fieldset[data-dimension={dimension}] label[data-level='{level}']")
    page.click("label[data-reason=patient]")


def take(hall: SampleKioskHall, out: Path) -> list[Path]:
    shots = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})

        def shot(name: str, *, full_page: bool = False) -> None:
            save(page, out / f"kiosk-{name}.png", shots, full_page=full_page)

        page.goto(hall.kiosk_url)
        shot("home")
        page.goto(f"{hall.kiosk_url}/staff/{STAFF}")
        shot("staff-profile")
        page.click("[data-action=rate]")
        rate(page)
        shot("rating", full_page=True)
        page.click("button[type=submit]")
        page.wait_for_selector("[data-reference]")
        shot("thank-you")
        page.goto(f"{hall.kiosk_url}/display/elderly/on?next=/")
        shot("elderly-home")
        page.goto(f"{hall.kiosk_url}/rate/staff/s003")
        rate(page)
        page.evaluate("window.scrollTo(0, 0)")
        shot("elderly-rating")
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, SampleKioskHall(Path(scratch)) as hall:
        for path in take(hall, args.out):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
