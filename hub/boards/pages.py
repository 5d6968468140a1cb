"""The pages of each board, laid out from a :class:`~hub.boards.content.Snapshot`.

Pure functions: the same snapshot and layout always give the same pages, so
the scheduler sends a board something only when what it shows has changed.
Every line is fitted to the board's width by display width
(:mod:`hub.boards.width`); a list longer than the board continues on further
pages held as long as the first. Notices (active warnings, devices offline)
come first in the rotation, and warnings never name a staff member unless
the board's ``show_names`` allows it. The warnings page shows this month's
and this year's standing warnings, most severe first, on at most its
``max_pages`` pages, the last line saying how many more stand.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from hub.boards.content import Snapshot, Tally
from hub.boards.frames import Page, Style
from hub.boards.layout import NOTICE_PAGES, BoardLayout, PageSpec
from hub.boards.width import center, fit, spread, width, wrap
from hub.directory import Directory

WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
LEVEL_NAMES = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
DEVICE_NAMES = {"evaluator": "评价器", "kiosk": "触摸屏"}
NO_VOTES = "暂无评价"


def percent(tally: Tally) -> str:
    """Satisfaction as ``98.7%``, or ``--`` without votes."""
    rate = tally.satisfaction
    return "--" if rate is None else f"{rate * 100:.1f}%"


def board_pages(
    board: BoardLayout, snapshot: Snapshot, directory: Directory, *, timezone: str
) -> tuple[Page, ...]:
    """Every page of ``board``'s rotation now: notices first, then its pages in order."""
    builder = _Builder(board, snapshot, directory, ZoneInfo(timezone))
    notices = [spec for spec in board.pages if spec.kind in NOTICE_PAGES]
    others = [spec for spec in board.pages if spec.kind not in NOTICE_PAGES]
    pages: list[Page] = []
    if (
        snapshot.presence is not None
        and board.kind == "wall"
        and not any(spec.kind == "presence" for spec in board.pages)
    ):
        # The hall allows it: the wall's rotation shows today's online rate as well.
        others.append(PageSpec("presence", hold_s=board.pages[0].hold_s))
    for spec in notices + others:
        pages.extend(builder.pages(spec))
    if not pages:
        # Every configured page is a notice with nothing to say: show the time.
        pages.extend(builder.pages(PageSpec("clock", hold_s=board.pages[0].hold_s)))
    return tuple(pages)


class _Builder:
    """Lays out each kind of page for one board."""

    def __init__(
        self, board: BoardLayout, snapshot: Snapshot, directory: Directory, zone: ZoneInfo
    ) -> None:
        self.board = board
        self.snap = snapshot
        self.directory = directory
        self.zone = zone
        self.columns = board.columns
        self.kinds: dict[str, Callable[[PageSpec], list[Page]]] = {
            "hall": self._hall,
            "departments": self._departments,
            "windows": self._windows,
            "ranking": self._ranking,
            "warnings": self._warnings,
            "offline": self._offline,
            "announcement": self._announcement,
            "clock": self._clock,
            "presence": self._presence,
            "window": self._window,
            "window_today": self._window_today,
        }

    def pages(self, spec: PageSpec) -> list[Page]:
        return self.kinds[spec.kind](spec)

    # Laying out lists over as many pages as they need.

    def _paged(
        self,
        spec: PageSpec,
        title: str,
        rows: list[str],
        *,
        style: Style = "normal",
        keys: frozenset[str] = frozenset(),
    ) -> list[Page]:
        lines = self.board.lines
        # A one-line board has no room for a title: its rows speak for themselves.
        head = [center(title, self.columns)] if lines > 1 and title else []
        per_page = lines - len(head)
        chunks = [rows[i : i + per_page] for i in range(0, len(rows), per_page)] or [[]]
        return [
            Page(
                lines=self._filled(head + chunk),
                hold_s=spec.hold_s,
                style=style,
                kind=spec.kind,
                keys=keys,
            )
            for chunk in chunks
        ]

    def _filled(self, lines: list[str]) -> tuple[str, ...]:
        blank = fit("", self.columns)
        fitted = [fit(line, self.columns) for line in lines[: self.board.lines]]
        return tuple(fitted + [blank] * (self.board.lines - len(fitted)))

    def _row(self, left: str, right: str) -> str:
        return spread(left, right, self.columns)

    def _votes_row(self, total: int) -> str:
        # "今日评价 1234人次" needs 17 columns: a 16-column strip says "评价" instead.
        right = f"{total}人次"
        label = "今日评价" if width(right) + 9 <= self.columns else "评价"
        return self._row(label, right)

    def _tally_text(self, tally: Tally) -> str:
        return NO_VOTES if tally.total == 0 else f"{percent(tally)} {tally.total}"

    # The pages.

    def _hall(self, spec: PageSpec) -> list[Page]:
        hall = self.snap.hall
        rows = [
            self._votes_row(hall.total),
            self._row("满意率", percent(hall)),
        ]
        rows += [self._row(LEVEL_NAMES[n], str(hall.level(n))) for n in (5, 4, 3, 2, 1)]
        return self._paged(spec, self.directory.name, rows)

    def _departments(self, spec: PageSpec) -> list[Page]:
        rows = [
            self._row(dept.name, self._tally_text(self.snap.departments.get(dept.id, Tally())))
            for dept in self.directory.departments.values()
        ]
        return self._paged(spec, "今日各部门满意率", rows)

    def _windows(self, spec: PageSpec) -> list[Page]:
        rows = [
            self._row(window.name, self._tally_text(self.snap.windows.get(window.id, Tally())))
            for window in self.directory.windows.values()
        ]
        return self._paged(spec, "今日各窗口满意率", rows)

    def _ranking(self, spec: PageSpec) -> list[Page]:
        rows = []
        for place, ranked in enumerate(self.snap.ranking, start=1):
            window = self.directory.windows.get(ranked.window)
            name = window.name if window else ranked.window
            rows.append(self._row(f"{place} {name}", percent(ranked.tally)))
        if not rows:
            rows = ["评价数不足 暂不排名"]
        return self._paged(spec, "本周窗口满意度排名", rows)

    def _warnings(self, spec: PageSpec) -> list[Page]:
        warnings = self.snap.warnings
        if not warnings:
            return []
        standing = len(warnings) + self.snap.more_warnings
        room = spec.max_pages * self.board.rows_per_page
        if standing > room:
            # The last line says how many are left out: the office's list has them all
            # (a board with room for one line shows the most severe warning alone).
            warnings = warnings[: max(1, room - 1)]
        rows = []
        for warning in warnings:
            dept = self.directory.departments.get(warning.department or "")
            who = dept.name if dept else "工作人员"
            if self.board.show_names:
                person = self.directory.staff.get(warning.staff)
                who = f"{person.name if person else warning.staff} {who}"
            rows.append(self._row(who, f"{warning.level}级 {warning.action}"))
        if standing > len(rows) and len(rows) < room:
            rows.append(f"另有{standing - len(rows)}条预警")
        keys = frozenset(w.id for w in warnings)
        return self._paged(spec, "效能预警", rows, style="alert", keys=keys)

    def _offline(self, spec: PageSpec) -> list[Page]:
        offline = self.snap.offline
        if not offline:
            return []
        rows = []
        for device in offline:
            window = self.directory.windows.get(device.window or "")
            where = window.name if window else device.id
            rows.append(self._row(where, f"{DEVICE_NAMES.get(device.kind, '设备')}离线"))
        keys = frozenset(d.id for d in offline)
        return self._paged(spec, "设备离线", rows, style="alert", keys=keys)

    def _presence(self, spec: PageSpec) -> list[Page]:
        shown = self.snap.presence
        if shown is None:
            return []  # the hall does not allow it
        rate = "--" if shown.rate is None else f"{shown.rate * 100:.1f}%"
        rows = [self._row("在岗率", rate), self._row("签到", f"{shown.signed_in}/{shown.listed}人")]
        return self._paged(spec, "今日工作人员在岗", rows)

    def _announcement(self, spec: PageSpec) -> list[Page]:
        return self._paged(spec, "", wrap(spec.text, self.columns))

    def _clock(self, spec: PageSpec) -> list[Page]:
        local = self.snap.now.astimezone(self.zone)
        date = f"{local.year}年{local.month}月{local.day}日 {WEEKDAYS[local.weekday()]}"
        time = f"{local:%H:%M}"
        if self.board.lines == 1:
            lines = [center(f"{local.month}月{local.day}日 {time}", self.columns)]
        else:
            lines = [center(date, self.columns), center(time, self.columns)]
        return [Page(lines=self._filled(lines), hold_s=spec.hold_s, kind=spec.kind)]

    def _window_parts(self) -> tuple[str, str, Tally]:
        ident = self.board.window or ""
        window = self.directory.windows.get(ident)
        duty = self.snap.duty.get(ident)
        if duty is not None and duty.paused:
            status = "暂停服务"
        elif duty is not None and duty.staff:
            status = " ".join(
                self.directory.staff[s].name if s in self.directory.staff else s for s in duty.staff
            )
        else:
            status = "暂无人员"
        return (window.name if window else ident), status, self.snap.windows.get(ident, Tally())

    def _window(self, spec: PageSpec) -> list[Page]:
        name, status, tally = self._window_parts()
        if self.board.lines == 1:
            lines = [self._row(name, status)]
        else:
            lines = [center(name, self.columns), center(status, self.columns)]
            if self.board.lines > 2:
                lines.append(self._row("今日满意率", percent(tally)))
        return [Page(lines=self._filled(lines), hold_s=spec.hold_s, kind=spec.kind)]

    def _window_today(self, spec: PageSpec) -> list[Page]:
        name, _, tally = self._window_parts()
        rows = [self._votes_row(tally.total), self._row("满意率", percent(tally))]
        title = name if self.board.lines > 2 else ""
        return self._paged(spec, title, rows)
