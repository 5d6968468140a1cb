"""What the boards say, laid out from the hub's real database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.boards.content import read_snapshot
from hub.boards.layout import BoardLayout, PageSpec
from hub.boards.pages import board_pages
from hub.boards.width import width
from hub.store import Batch, DeviceState, StoredEvent
from tests.stored_votes import CountingHub, counting_hub, make_vote

TODAY = "2026-11-30T10:00:00+08:00"  # the test clock's day, in Shanghai


@pytest.fixture
def hub(tmp_path: Path):
    hub = counting_hub(tmp_path / "hall")
    yield hub
    hub.close()


def board(*kinds: str, columns: int = 32, lines: int = 6, **options: object) -> BoardLayout:
    text = "今天下午三点起暂停办理业务，请谅解"
    pages = tuple(PageSpec(k, 5.0, text if k == "announcement" else "") for k in kinds)
    kind = "window" if options.get("window") else "wall"
    return BoardLayout(id="b1", kind=kind, columns=columns, lines=lines, pages=pages, **options)  # type: ignore[arg-type]


def pages_of(hub: CountingHub, layout: BoardLayout) -> list[tuple[str, str, list[str]]]:
    snapshot = read_snapshot(
        hub.store.db,
        hall=hub.config.hall,
        directory=hub.config.directory,
        calendar=hub.counting.calendar,
        now=hub.clock(),
    )
    pages = board_pages(layout, snapshot, hub.config.directory, timezone="Asia/Shanghai")
    for page in pages:
        assert len(page.lines) == layout.lines
        assert all(width(line) == layout.columns for line in page.lines)
    return [(p.kind, p.style, [line.rstrip() for line in p.lines]) for p in pages]


def dissatisfied_votes(hub: CountingHub, n: int = 10) -> None:
    hub.add(*[make_vote(TODAY, level=1) for _ in range(n)])


def test_hall_departments_and_windows_show_todays_satisfaction(hub):
    hub.add(*[make_vote(TODAY, level=level) for level in (5, 5, 4, 2)])
    hub.add(make_vote(TODAY, level=3, window="w02", staff="s02", device="w02-eval"))
    # Yesterday's vote is not today's.
    hub.add(make_vote("2026-11-29T23:59:00+08:00", level=1))

    pages = pages_of(hub, board("hall", "departments", "windows", columns=24, lines=8))

    assert pages[0] == (
        "hall",
        "normal",
        [
            "        测试大厅",
            "今日评价           5人次",
            "满意率             80.0%",
            "非常满意               2",
            "满意                   1",
            "基本满意               1",
            "不满意                 1",
            "非常不满意             0",
        ],
    )
    assert pages[1][2][:2] == ["    今日各部门满意率", "民政             80.0% 5"]
    assert pages[2][2][:4] == [
        "    今日各窗口满意率",
        "1号窗口          75.0% 4",
        "2号窗口         100.0% 1",
        "3号窗口         暂无评价",
    ]


def test_a_long_list_continues_on_further_pages(hub):
    pages = pages_of(hub, board("windows", columns=20, lines=2))
    # One window per page under the title, for three windows.
    assert [p[2] for p in pages] == [
        ["  今日各窗口满意率", "1号窗口     暂无评价"],
        ["  今日各窗口满意率", "2号窗口     暂无评价"],
        ["  今日各窗口满意率", "3号窗口     暂无评价"],
    ]


def test_warnings_are_anonymous_unless_names_are_allowed_and_come_first(hub):
    layout = board("hall", "warnings")
    assert [p[0] for p in pages_of(hub, layout)] == ["hall", "hall"]

    dissatisfied_votes(hub)

    anonymous = pages_of(hub, layout)
    assert anonymous[0] == (
        "warnings",
        "alert",
        ["            效能预警", "民政              III级 效能告诫", "", "", "", ""],
    )
    assert all("职员1" not in line for _, _, lines in anonymous for line in lines)

    named = pages_of(hub, board("hall", "warnings", show_names=True))
    assert named[0][2][1] == "职员1 民政        III级 效能告诫"


def test_an_offline_device_is_a_notice(hub):
    hub.store.commit(
        Batch(device_states=[DeviceState("w03-eval", "status", "offline", hub.clock().isoformat())])
    )
    pages = pages_of(hub, board("clock", "offline", columns=24, lines=2))
    assert pages[0] == ("offline", "alert", ["        设备离线", "3号窗口       评价器离线"])
    assert pages[1] == ("clock", "normal", [" 2026年11月30日 星期一", "         12:00"])


def test_a_window_strip_shows_who_is_on_duty_and_a_pause(hub):
    strip = board("window", "window_today", columns=16, lines=2, window="w02")
    hub.add(make_vote(TODAY, level=4, window="w02", staff="s02", device="w02-eval"))
    # Nobody signed in today: the directory's staff member for the window is shown.
    assert pages_of(hub, strip) == [
        ("window", "normal", ["    2号窗口", "     职员2"]),
        ("window_today", "normal", ["今日评价   1人次", "满意率    100.0%"]),
    ]

    hub.store.commit(
        Batch(events=[service_event("sign_in", "s03", 1), service_event("pause", "s03", 2)])
    )
    assert pages_of(hub, strip)[0][2] == ["    2号窗口", "    暂停服务"]
    hub.store.commit(Batch(events=[service_event("resume", "s03", 3)]))
    assert pages_of(hub, strip)[0][2] == ["    2号窗口", "     职员3"]


def service_event(event: str, staff: str, seq: int) -> StoredEvent:
    from device_agent.protocol import ServiceEvent, envelope_id

    cast = datetime(2026, 11, 30, 3, 0, seq, tzinfo=UTC).isoformat()
    return StoredEvent(
        ServiceEvent(
            id=envelope_id("w02-eval", 1000 + seq, epoch="test0001"),
            seq=1000 + seq,
            ts=cast,
            device="w02-eval",
            event=event,  # type: ignore[arg-type]
            window="w02",
            staff=staff,
        ),
        cast,
        cast,
    )


def test_an_announcement_wraps_by_display_width(hub):
    pages = pages_of(hub, board("announcement", columns=16, lines=2))
    assert [p[2] for p in pages] == [
        ["今天下午三点起暂", "停办理业务，请谅"],
        ["解", ""],
    ]


def test_the_weeks_ranking_needs_enough_votes(hub):
    for window, staff, device, levels in (
        ("w01", "s01", "w01-eval", [5] * 30),
        ("w02", "s02", "w02-eval", [5] * 25 + [1] * 5),
        ("w03", "s03", "w03-eval", [5] * 5),  # too few to rank
    ):
        hub.add(
            *[
                make_vote(
                    "2026-12-01T09:00:00+08:00", level=v, window=window, staff=staff, device=device
                )
                for v in levels
            ]
        )
    hub.clock.now = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
    pages = pages_of(hub, board("ranking", columns=24, lines=4))
    assert pages == [
        (
            "ranking",
            "normal",
            ["   本周窗口满意度排名", "1 1号窗口         100.0%", "2 2号窗口          83.3%", ""],
        )
    ]


def staff_votes(hub: CountingHub, cast: str, n: int, count: int) -> None:
    """``count`` dissatisfied votes for staff member ``n`` at their window."""
    hub.add(
        *[
            make_vote(cast, level=1, window=f"w{n:02d}", staff=f"s{n:02d}", device=f"w{n:02d}-eval")
            for _ in range(count)
        ]
    )


def warnings_of_many_periods(hub: CountingHub) -> None:
    """Standing warnings from past months and last year, and four of this month and year."""
    for month in ("2025-11", "2025-12", "2026-08", "2026-09", "2026-10"):
        for n in (1, 2, 3):
            staff_votes(hub, f"{month}-10T10:00:00+08:00", n, 10)
    # This month: 职员2 reaches level II (20), 职员3 level III (10); with the
    # months before, both pass this year's level III (40).
    staff_votes(hub, TODAY, 2, 20)
    staff_votes(hub, TODAY, 3, 10)


def test_the_wall_shows_this_month_and_years_warnings_most_severe_first(hub):
    warnings_of_many_periods(hub)
    standing = hub.warnings(standing=True)
    past = [ident for ident in standing if not ident.endswith(("2026-11", "-2026"))]
    assert len(past) == 15  # every staff member's level III of five past months

    pages = pages_of(hub, board("warnings", columns=32, lines=6, show_names=True))

    assert pages == [
        (
            "warnings",
            "alert",
            [
                "            效能预警",
                "职员2 民政         II级 效能谈话",
                "职员2 民政        III级 效能告诫",
                "职员3 民政        III级 效能告诫",
                "职员3 民政        III级 效能告诫",
                "",
            ],
        )
    ]


def test_more_warnings_than_the_page_holds_end_with_how_many_more(hub):
    warnings_of_many_periods(hub)
    # Two lines under the title on one page: the most severe, then the rest counted.
    capped = BoardLayout(
        id="b1",
        kind="wall",
        columns=24,
        lines=3,
        pages=(PageSpec("warnings", 5.0, max_pages=1),),
        show_names=True,
    )
    assert pages_of(hub, capped) == [
        ("warnings", "alert", ["        效能预警", "职员2 民政 II级 效能谈话", "另有3条预警"])
    ]
    # Room for all four on two pages: no count line.
    two = BoardLayout(
        id="b1",
        kind="wall",
        columns=24,
        lines=3,
        pages=(PageSpec("warnings", 5.0, max_pages=2),),
    )
    assert [p[2][1:] for p in pages_of(hub, two)] == [
        ["民政       II级 效能谈话", "民政      III级 效能告诫"],
        ["民政      III级 效能告诫", "民政      III级 效能告诫"],
    ]


@pytest.mark.parametrize(
    ("limit", "more"),
    [(2, 2), (3, 1), (4, 0), (100, 0)],  # 2: month and year each have more than read
)
def test_the_boards_read_only_as_many_warnings_as_they_show_and_count_the_rest(hub, limit, more):
    warnings_of_many_periods(hub)
    snapshot = read_snapshot(
        hub.store.db,
        hall=hub.config.hall,
        directory=hub.config.directory,
        calendar=hub.counting.calendar,
        now=hub.clock(),
        warnings_limit=limit,
    )
    order = ["s02-II-2026-11", "s02-III-2026", "s03-III-2026", "s03-III-2026-11"]
    assert [w.id for w in snapshot.warnings] == order[:limit]
    assert snapshot.more_warnings == more
    if limit != 2:
        return
    pages = board_pages(
        board("warnings", columns=24, lines=8), snapshot, hub.config.directory, timezone="UTC"
    )
    assert [line.rstrip() for line in pages[0].lines[1:4]] == [
        "民政       II级 效能谈话",
        "民政      III级 效能告诫",
        "另有2条预警",
    ]


def test_every_read_of_an_update_seeks_the_periods_shown_through_an_index(hub):
    # What a board update reads must not grow with the hall's history: every
    # query on counts binds the period, warnings go through the index of
    # standing warnings, service events through the cast time.
    warnings_of_many_periods(hub)
    hub.store.commit(Batch(events=[service_event("sign_in", "s02", 1)]))
    statements: list[str] = []
    conn = hub.store.db.conn
    conn.set_trace_callback(statements.append)
    try:
        read_snapshot(
            hub.store.db,
            hall=hub.config.hall,
            directory=hub.config.directory,
            calendar=hub.counting.calendar,
            now=hub.clock(),
            warnings_limit=2,
        )
    finally:
        conn.set_trace_callback(None)
    plans = {
        sql: [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        for sql in statements
        if sql.startswith("SELECT")
    }
    tables = set()
    for sql, plan in plans.items():
        for step in plan:
            table = step.split()[1] if step.startswith(("SCAN", "SEARCH")) else None
            tables.add(table)
            if table == "counts":
                assert "period=?" in step, (sql, plan)
            elif table == "warnings":
                assert "warnings_standing (period=?)" in step, (sql, plan)
            elif table == "service_events":
                assert "cast_at>?" in step, (sql, plan)
            elif table is not None:
                assert table == "devices", (sql, plan)  # one row per device of the directory
    assert {"counts", "warnings", "service_events"} <= tables
