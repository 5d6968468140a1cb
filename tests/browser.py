"""Headless Chromium for the browser tests: Debian's chromium, the flags pitfalls.md names.

``conftest.py`` makes :func:`chromium` the module-scoped ``browser`` fixture;
a test opens pages with :func:`new_page` (a fresh context: no cookies carried
over), signs the console's users up with :func:`add_console_users` and logs
in with :func:`log_in`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from device_agent.storage import write_transaction
from hub.console import accounts
from hub.store import Store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = (1366, 768)
PHONE = (390, 844)
KIOSK = (1280, 800)
# Console users most browser tests log in as: (name, role, fields).
USERS = (
    ("office", "office", {"display_name": "效能办李"}),
    ("boss", "manager", {"display_name": "王经理"}),
    ("clerk", "staff", {"staff": "s01"}),
)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, closed on leaving."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run the tests with `make test`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(
    browser: Browser,
    size: tuple[int, int] = DESKTOP,
    *,
    timeout_ms: int = 15_000,
    **options: Any,
) -> Page:
    """A page in a context of its own, Chinese first; close it with ``page.context.close()``."""
    context = browser.new_context(
        viewport={"width": size[0], "height": size[1]}, locale="zh-CN", **options
    )
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    return page


@contextmanager
def new_page(
    browser: Browser,
    size: tuple[int, int] = DESKTOP,
    *,
    timeout_ms: int = 15_000,
    **options: Any,
) -> Iterator[Page]:
    """:func:`open_page`, its context closed on leaving."""
    page = open_page(browser, size, timeout_ms=timeout_ms, **options)
    try:
        yield page
    finally:
        page.context.close()


def log_in(page: Page, name: str, password: str, url: str | None = None) -> None:
    """Fill the console's login form (at ``url`` if given, else the page at hand) and send it."""
    if url is not None:
        page.goto(url)
    page.fill("input[name=user]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def add_console_users(
    database: Path,
    password: str,
    users: tuple[tuple[str, str, dict[str, str]], ...] = USERS,
) -> None:
    """Sign ``users`` up on the console of the hall whose database is ``database``."""
    store = Store(database)
    try:
        with write_transaction(store.db) as conn:
            for name, role, fields in users:
                accounts.add_user(conn, name, password, role=role, **fields)
    finally:
        store.close()
