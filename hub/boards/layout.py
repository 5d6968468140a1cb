"""Board layouts: the ``[[boards]]`` of the hub configuration, read and validated.

Each board has an id, a kind (the hall's ``wall`` board or a ``window``
strip), a size in character columns (a Chinese character takes two) and
lines, the pages it rotates through with how long each is held, and the
driver that reaches it. ``docs/led-boards.md`` describes every key.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import Field, ValidationInfo, model_validator

from device_agent.configfile import (
    Bool,
    Float,
    Int,
    Problems,
    Str,
    between,
    cross_check,
    matching,
    one_of,
    repeats,
    section,
)
from device_agent.topics import ID_PATTERN
from hub.directory import Directory

BOARD_KINDS = ("wall", "window")
DRIVERS = ("serial", "mqtt", "web")
# Pages any board may show, and pages only a window's strip can show.
HALL_PAGES = (
    "hall",
    "departments",
    "windows",
    "ranking",
    "warnings",
    "offline",
    "announcement",
    "clock",
    # The staff's online rate today, when the hall allows it ([supervision] show_presence_on_wall).
    "presence",
)
WINDOW_PAGES = ("window", "window_today")
# Notices: shown first whenever they have something to say, and at once when it is new.
NOTICE_PAGES = ("warnings", "offline")
ENCODINGS = ("gb18030", "gbk", "gb2312", "utf-8")

# A warnings page shows at most this many pages unless told otherwise.
WARNING_PAGES = 3


def _page_problems(data: dict[str, Any], problems: Problems, info: ValidationInfo) -> None:
    page, text = data.get("page"), data.get("text", "")
    if page == "announcement" and not (isinstance(text, str) and text.strip()):
        problems.add("text", "an announcement page needs its text")
    elif text and page != "announcement":
        problems.add("text", "only an announcement page has text")
    if "max_pages" in data and page != "warnings":
        problems.add("max_pages", "only a warnings page has max_pages")


@section
class PageSpec:
    """One page of a board's rotation (``pages`` of a board): what and for how many seconds.

    The file names the kind ``page``; which kinds a board may show is checked by its board.
    """

    kind: Annotated[Str, one_of(*HALL_PAGES, *WINDOW_PAGES)] = Field(alias="page")
    hold_s: Annotated[Float, between(1, 3600)] = 8.0
    text: Str = ""  # an announcement's text
    # A warnings page's most pages; the last says how many more.
    max_pages: Annotated[Int, between(1, 100)] = WARNING_PAGES

    _cross = cross_check(_page_problems)


@section
class SerialSettings:
    """Where a serial character controller is and how to talk to it."""

    url: Str
    baudrate: Annotated[Int, between(300, 4_000_000)] = 9600
    address: Annotated[Int, between(0, 255)] = 1
    encoding: Annotated[Str, one_of(*ENCODINGS)] = "gb18030"
    ack_timeout_s: Annotated[Float, between(0.01, 30)] = 0.5
    retries: Annotated[Int, between(0, 20)] = 3
    reopen_s: Annotated[Float, between(0.05, 600)] = 2.0


def _board_problems(data: dict[str, Any], problems: Problems, info: ValidationInfo) -> None:
    kind, window, driver = data.get("kind", "wall"), data.get("window"), data.get("driver", "web")
    if kind == "window" and not window:
        problems.add("window", "a window strip needs the id of its window")
    directory: Directory | None = (info.context or {}).get("directory")
    if window and directory is not None and window not in directory.windows:
        problems.add("window", f"unknown window {window!r}")
    if driver == "serial" and "serial" not in data:
        problems.add("serial.url", "is required")
    if driver != "serial" and "serial" in data:
        problems.add("serial", f"only a serial board has serial settings (driver is {driver!r})")
    pages = data.get("pages", [])
    if pages == []:
        problems.add("pages", "a board needs at least one page ([[boards.pages]])")
    allowed = HALL_PAGES + WINDOW_PAGES if kind == "window" or window else HALL_PAGES
    for i, page in enumerate(pages if isinstance(pages, list) else ()):
        kind_of_page = page.get("page") if isinstance(page, dict) else None
        if kind_of_page in WINDOW_PAGES and kind_of_page not in allowed:
            problems.add(
                f"pages[{i}].page", f"must be one of {', '.join(allowed)}, got {kind_of_page!r}"
            )


@section
class BoardLayout:
    """One LED board of the hall: a ``[[boards]]`` table."""

    id: Annotated[Str, matching(ID_PATTERN, "not a valid id")]
    kind: Annotated[Str, one_of(*BOARD_KINDS)] = "wall"
    columns: Annotated[Int, between(8, 255)] = 32
    lines: Annotated[Int, between(1, 32)] = 0  # 0: 4 on a wall, 2 on a window strip
    pages: tuple[PageSpec, ...] = ()
    driver: Annotated[Str, one_of(*DRIVERS)] = "web"
    name: Str = ""
    window: Str | None = None
    show_names: Bool = False
    interval_s: Annotated[Float, between(0.05, 60)] = 1.0
    serial: SerialSettings | None = None

    _cross = cross_check(_board_problems)

    @model_validator(mode="after")
    def _defaults(self) -> Self:
        if not self.lines:
            object.__setattr__(self, "lines", 4 if self.kind == "wall" else 2)
        if not self.window:
            object.__setattr__(self, "window", None)
        return self

    @property
    def title(self) -> str:
        """What the board is called on the web wall's index."""
        return self.name or self.id

    @property
    def rows_per_page(self) -> int:
        """Lines of a listing page under its title (a one-line board has no title)."""
        return self.lines - 1 if self.lines > 1 else 1

    @property
    def warning_rows(self) -> int:
        """The most warning lines this board shows, over all its warnings pages."""
        return max(
            (spec.max_pages * self.rows_per_page for spec in self.pages if spec.kind == "warnings"),
            default=0,
        )


def board_id_problems(boards: object, problems: Problems) -> None:
    """A problem for each board of ``boards`` (as written) whose id an earlier board has."""
    for i, ident in repeats(boards, "id"):
        problems.add(f"boards[{i}].id", f"duplicate board id {ident!r}")
