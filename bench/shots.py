"""What the screenshot scripts share: Debian's headless Chromium, a console login, the
width check and saving a PNG.

Each script (bench/*screenshots*.py) seeds a hall, starts what it shows and
calls these; a page wider than its screen fails the script, as the brief's
"no horizontal overflow" asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The console's two screens: a hall PC and a phone.
SIZES = {"desktop": (1366, 768), "phone": (390, 844)}
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIRECTORY = ROOT / "firmware_config" / "sample-hall" / "directory.toml"


def sample_hub_toml(scratch: Path, broker_port: int, extra: str = "") -> Path:
    """A hub.toml in ``scratch`` for the sample hall (qinghe) on a loopback broker, its
    API on a free port; ``extra`` is appended (a section of the script's own)."""
    path = scratch / "hub.toml"
    path.write_text(
        f'[hub]\nhall = "qinghe"\ndatabase = "{scratch / "hub.sqlite"}"\n'
        f'directory = "{SAMPLE_DIRECTORY}"\n\n'
        f'[broker]\nhost = "127.0.0.1"\nport = {broker_port}\n\n[api]\nport = 0\n'
        + (f"\n{extra}" if extra else ""),
        encoding="utf-8",
    )
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, closed on leaving."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screen(browser: Browser, name: str, size: tuple[int, int] | None = None) -> BrowserContext:
    """A context for the screen ``name`` of :data:`SIZES` (a phone: mobile, 2x pixels)."""
    width, height = size or SIZES[name]
    phone = name == "phone"
    return browser.new_context(
        viewport={"width": width, "height": height},
        locale="zh-CN",
        device_scale_factor=2 if phone else 1,
        is_mobile=phone,
    )


def log_in(page: Page, url: str, user: str, password: str, *, wait_for: str = "main h1") -> None:
    """Log in to the console at ``url`` (a login page, or a page that sends to it)."""
    page.goto(url)
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector(wait_for)


def check_fits(page: Page, what: str) -> None:
    """Fail when the page scrolls sideways on its screen."""
    overflow = page.evaluate(OVERFLOW)
    assert overflow <= 0, f"{what}: the page is {overflow} px wider than the screen"


def save(page: Page, path: Path, shots: list[Path], **options: Any) -> Path:
    """Screenshot ``page`` to ``path`` and add it to ``shots``."""
    page.screenshot(path=str(path), **options)
    shots.append(path)
    return path
