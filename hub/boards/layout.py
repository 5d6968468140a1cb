"""Board layouts: the ``[[boards]]`` of the hub configuration, read and validated.

Each board has an id, a kind (the hall's ``wall`` board or a ``window``
strip), a size in character columns (a Chinese character takes two) and
lines, the pages it rotates through with how long each is held, and the
driver that reaches it. ``docs/led-boards.md`` describes every key.
"""

from __future__ import annotations

from dataclasses import dataclass

from device_agent.configfile import ConfigReader, in_range, one_of
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
)
WINDOW_PAGES = ("window", "window_today")
# Notices: shown first whenever they have something to say, and at once when it is new.
NOTICE_PAGES = ("warnings", "offline")
ENCODINGS = ("gb18030", "gbk", "gb2312", "utf-8")

BOARD_KEYS = (
    "id",
    "kind",
    "name",
    "columns",
    "lines",
    "window",
    "driver",
    "show_names",
    "interval_s",
    "pages",
    "serial",
)
PAGE_KEYS = ("page", "hold_s", "text", "max_pages")
# A warnings page shows at most this many pages unless told otherwise.
WARNING_PAGES = 3
SERIAL_KEYS = (
    "url",
    "baudrate",
    "address",
    "encoding",
    "ack_timeout_s",
    "retries",
    "reopen_s",
)


@dataclass(frozen=True, slots=True)
class PageSpec:
    """One page of a board's rotation: what it shows and for how many seconds."""

    kind: str
    hold_s: float = 8.0
    text: str = ""  # an announcement's text
    max_pages: int = WARNING_PAGES  # a warnings page's most pages; the last says how many more


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Where a serial character controller is and how to talk to it."""

    url: str
    baudrate: int = 9600
    address: int = 1
    encoding: str = "gb18030"
    ack_timeout_s: float = 0.5
    retries: int = 3
    reopen_s: float = 2.0


@dataclass(frozen=True, slots=True)
class BoardLayout:
    """One LED board of the hall."""

    id: str
    kind: str
    columns: int
    lines: int
    pages: tuple[PageSpec, ...]
    driver: str = "web"
    name: str = ""
    window: str | None = None
    show_names: bool = False
    interval_s: float = 1.0
    serial: SerialSettings | None = None

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


def read_boards(reader: ConfigReader, directory: Directory) -> tuple[BoardLayout, ...]:
    """Read every ``[[boards]]`` table, recording each problem with its file and key."""
    boards: list[BoardLayout] = []
    seen: set[str] = set()
    for i, item in enumerate(reader.items("boards")):
        board = _read_board(item, directory)
        if board.id in seen:
            reader.problem(f"boards[{i}].id", f"duplicate board id {board.id!r}")
        seen.add(board.id)
        boards.append(board)
    return tuple(boards)


def _read_board(reader: ConfigReader, directory: Directory) -> BoardLayout:
    reader.reject_unknown("", BOARD_KEYS)
    ident = reader.get(
        "id", str, check=lambda v: None if ID_PATTERN.fullmatch(v) else "not a valid id"
    )
    kind = reader.get("kind", str, default="wall", check=one_of(*BOARD_KINDS))
    columns = reader.get("columns", int, default=32, check=in_range(8, 255))
    lines = reader.get("lines", int, default=4 if kind == "wall" else 2, check=in_range(1, 32))
    window = reader.get("window", str, default="") or None
    if kind == "window" and window is None:
        reader.problem("window", "a window strip needs the id of its window")
    if window is not None and window not in directory.windows:
        reader.problem("window", f"unknown window {window!r}")
    driver = reader.get("driver", str, default="web", check=one_of(*DRIVERS))
    serial = _read_serial(reader) if driver == "serial" else None
    if driver != "serial" and reader.has("serial"):
        reader.problem("serial", f"only a serial board has serial settings (driver is {driver!r})")
    return BoardLayout(
        id=ident,
        kind=kind,
        columns=columns,
        lines=lines,
        pages=_read_pages(reader, kind, window),
        driver=driver,
        name=reader.get("name", str, default=""),
        window=window,
        show_names=reader.get("show_names", bool, default=False),
        interval_s=reader.get("interval_s", float, default=1.0, check=in_range(0.05, 60)),
        serial=serial,
    )


def _read_pages(reader: ConfigReader, kind: str, window: str | None) -> tuple[PageSpec, ...]:
    items = reader.items("pages")
    if not items:
        if reader.data.get("pages", []) == []:
            reader.problem("pages", "a board needs at least one page ([[boards.pages]])")
        return ()
    allowed = HALL_PAGES + WINDOW_PAGES if kind == "window" or window else HALL_PAGES
    pages = []
    for item in items:
        item.reject_unknown("", PAGE_KEYS)
        page = item.get("page", str, check=one_of(*allowed))
        text = item.get("text", str, default="")
        if page == "announcement" and not text.strip():
            item.problem("text", "an announcement page needs its text")
        elif text and page != "announcement":
            item.problem("text", "only an announcement page has text")
        max_pages = item.get("max_pages", int, default=WARNING_PAGES, check=in_range(1, 100))
        if item.has("max_pages") and page != "warnings":
            item.problem("max_pages", "only a warnings page has max_pages")
        pages.append(
            PageSpec(
                kind=page,
                hold_s=item.get("hold_s", float, default=8.0, check=in_range(1, 3600)),
                text=text,
                max_pages=max_pages,
            )
        )
    return tuple(pages)


def _read_serial(reader: ConfigReader) -> SerialSettings:
    reader.reject_unknown("serial", SERIAL_KEYS)
    return SerialSettings(
        url=reader.get("serial.url", str),
        baudrate=reader.get("serial.baudrate", int, default=9600, check=in_range(300, 4_000_000)),
        address=reader.get("serial.address", int, default=1, check=in_range(0, 255)),
        encoding=reader.get("serial.encoding", str, default="gb18030", check=one_of(*ENCODINGS)),
        ack_timeout_s=reader.get(
            "serial.ack_timeout_s", float, default=0.5, check=in_range(0.01, 30)
        ),
        retries=reader.get("serial.retries", int, default=3, check=in_range(0, 20)),
        reopen_s=reader.get("serial.reopen_s", float, default=2.0, check=in_range(0.05, 600)),
    )
