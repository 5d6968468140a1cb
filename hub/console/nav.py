"""The console's navigation: every page's entry, in one list, with the roles that see it.

A page module appends its entry here (or calls :func:`add` at import). An entry
shows only to the roles it names, and only once its endpoint exists, so the
list may name a page before it is built. The roles here only decide what the
menu shows; the page's own ``@requires`` decides who may open it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app

from hub.console.accounts import User


@dataclass(frozen=True, slots=True)
class NavEntry:
    """One menu entry: the view's endpoint, its label's message key, who sees it."""

    endpoint: str
    label: str
    roles: frozenset[str]
    # Shown only while this says so (e.g. only when the hub runs as central); None: always.
    when: Callable[[], bool] | None = None


NAV: list[NavEntry] = [
    NavEntry("console.live", "nav.live", frozenset({"manager", "dept_head", "office", "admin"})),
]


# The menu's order, by the page's blueprint; within one, the order its entries were
# added. Import order would otherwise decide it. A blueprint not named here comes last.
ORDER = (
    "console",
    "console_warnings",
    "console_votes",
    "console_charts",
    "console_reports",
    "console_staff",
    "console_cases",
    "console_supervision",
    "console_bulletins",
    "console_notices",
    "console_devices",
    "console_central",
)


# A role whose home (the first entry, where a login lands) is not the menu's first page.
HOMES = {"staff": "console_staff.mine"}


def _place(entry: NavEntry) -> int:
    blueprint = entry.endpoint.partition(".")[0]
    return ORDER.index(blueprint) if blueprint in ORDER else len(ORDER)


def add(entry: NavEntry) -> None:
    """Add a page's entry to the menu (after the entries before it)."""
    if any(existing.endpoint == entry.endpoint for existing in NAV):
        raise ValueError(f"a nav entry for {entry.endpoint!r} exists")
    NAV.append(entry)


def entries_for(user: User) -> list[NavEntry]:
    """The entries ``user``'s role sees, of pages that exist."""
    views = current_app.view_functions
    shown = [
        entry
        for entry in NAV
        if user.role in entry.roles
        and entry.endpoint in views
        and (entry.when is None or entry.when())
    ]
    home = HOMES.get(user.role)
    # Stable: a blueprint's entries keep their order.
    return sorted(shown, key=lambda entry: (entry.endpoint != home, _place(entry)))
