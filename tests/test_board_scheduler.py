"""The scheduler: bursts coalesce, pages rotate, new notices jump the queue.

The scheduler runs on a clock the test moves, against a real hub database
that the real store fills, and hands its pages to a driver that records them.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from device_agent.storage import open_reader
from hub.boards.content import read_snapshot
from hub.boards.drivers.base import BoardDriver
from hub.boards.frames import Frame
from hub.boards.layout import BoardLayout, PageSpec
from hub.boards.scheduler import BoardScheduler
from hub.boards.service import BoardService
from hub.store import Batch, DeviceState
from tests.stored_votes import CountingHub, counting_hub, make_vote

TODAY = "2026-11-30T10:00:00+08:00"


class RecordingDriver(BoardDriver):
    """A board that remembers every page it was shown."""

    def __init__(self) -> None:
        self.shown: list[tuple[int, int, str, tuple[str, ...]]] = []

    def show(self, frame: Frame, page: int) -> None:
        shown = frame.pages[page]
        self.shown.append((frame.seq, page, shown.kind, tuple(x.rstrip() for x in shown.lines)))

    @property
    def frames(self) -> list[int]:
        return sorted({seq for seq, *_ in self.shown})


@pytest.fixture
def hub(tmp_path: Path):
    hub = counting_hub(tmp_path / "hall")
    yield hub
    hub.close()


def layout(*kinds: str, interval_s: float = 1.0, lines: int = 2, hold_s: float = 5.0):
    return BoardLayout(
        id="b1",
        kind="wall",
        columns=24,
        lines=lines,
        pages=tuple(PageSpec(k, hold_s) for k in kinds),
        interval_s=interval_s,
    )


def scheduler_for(hub: CountingHub, board: BoardLayout) -> tuple[BoardScheduler, RecordingDriver]:
    reader = open_reader(hub.config.database)
    driver = RecordingDriver()

    def read(now):
        return read_snapshot(
            reader,
            hall=hub.config.hall,
            directory=hub.config.directory,
            calendar=hub.counting.calendar,
            now=now,
        )

    scheduler = BoardScheduler(
        [(board, [driver])],
        read,
        directory=hub.config.directory,
        timezone=hub.config.timezone,
        now=hub.clock,
        clock=lambda: 0.0,
    )
    return scheduler, driver


@pytest.mark.parametrize("interval_s", [1.0, 0.25])
def test_a_thousand_votes_in_a_second_make_a_bounded_number_of_frames(hub, interval_s):
    scheduler, driver = scheduler_for(
        hub, layout("hall", interval_s=interval_s, hold_s=60, lines=3)
    )
    scheduler.step(0.0)
    assert driver.frames == [1]

    # 1,000 votes in one second, committed as ingest does: a batch every 10 ms,
    # each commit setting the scheduler's event.
    now = 0.0
    for _ in range(100):
        hub.add(*[make_vote(TODAY, level=5) for _ in range(10)])
        scheduler.changed.set()
        now += 0.01
        scheduler.step(now)
    scheduler.step(now + interval_s)  # the last coalesced change

    made = scheduler.board("b1").updates
    assert made - 1 <= round(1.0 / interval_s) + 1, driver.frames
    assert driver.shown[-1][3][1:] == ("今日评价        1000人次", "满意率            100.0%")


def test_a_single_vote_after_a_quiet_spell_is_shown_at_once(hub):
    scheduler, driver = scheduler_for(hub, layout("hall", hold_s=60, lines=3))
    scheduler.step(0.0)
    hub.add(make_vote(TODAY, level=4))
    scheduler.changed.set()
    scheduler.step(30.0)
    assert driver.shown[-1][3][1] == "今日评价           1人次"


def test_pages_turn_after_their_hold_and_a_lone_page_is_not_sent_again(hub):
    scheduler, driver = scheduler_for(hub, layout("departments", "clock", hold_s=5))
    assert scheduler.step(0.0) == pytest.approx(5.0)
    assert scheduler.step(5.0) == pytest.approx(5.0)
    scheduler.step(10.0)
    assert [(page, kind) for _, page, kind, _ in driver.shown] == [
        (0, "departments"),
        (1, "clock"),
        (0, "departments"),
    ]
    assert driver.frames == [1]  # nothing changed: the same frame, turned

    lone, lone_driver = scheduler_for(hub, layout("hall", lines=8, hold_s=5))
    # A lone page has nothing to turn to: the scheduler sleeps until the next minute.
    assert lone.step(0.0) == pytest.approx(60.0, abs=0.1)
    lone.step(5.0)
    lone.step(10.0)
    assert [(seq, page) for seq, page, *_ in lone_driver.shown] == [(1, 0)]


def test_a_new_warning_is_shown_at_once_and_first(hub):
    scheduler, driver = scheduler_for(
        hub, layout("departments", "windows", "warnings", interval_s=0.5, hold_s=5)
    )
    scheduler.step(0.0)
    scheduler.step(5.0)
    scheduler.step(10.0)
    assert driver.shown[-1][2] == "windows"

    hub.add(*[make_vote(TODAY, level=1) for _ in range(10)])  # the 10th raises level III
    scheduler.changed.set()
    scheduler.step(10.1)

    seq, page, kind, lines = driver.shown[-1]
    assert (seq, page, kind) == (2, 0, "warnings")
    assert lines == ("        效能预警", "民政      III级 效能告诫")

    # The rotation goes on from the notice; the same warning does not jump again.
    scheduler.step(15.1)
    assert driver.shown[-1][2] == "departments"
    hub.add(make_vote(TODAY, level=5))
    scheduler.changed.set()
    scheduler.step(16.0)
    assert driver.shown[-1][:3] == (3, 1, "departments")


def test_unchanged_numbers_make_no_new_frame(hub):
    scheduler, driver = scheduler_for(hub, layout("hall", hold_s=600))
    scheduler.step(0.0)
    for t in (20.0, 40.0, 60.0):  # refreshes with nothing new
        scheduler.changed.set()
        scheduler.step(t)
    assert driver.frames == [1]
    assert len(driver.shown) == 1


def test_a_commit_that_changes_nothing_shown_is_not_laid_out_again(hub):
    scheduler, driver = scheduler_for(hub, layout("hall", "clock", hold_s=600, lines=3))
    scheduler.step(0.0)
    board = scheduler.board("b1")
    assert board.layouts == 1

    # A window's evaluator says it is online: nothing any board shows.
    online = DeviceState("w01-eval", "status", "online", hub.clock().isoformat())
    hub.store.commit(Batch(device_states=[online]))
    for t in (1.0, 2.0, 30.0):
        scheduler.changed.set()
        scheduler.step(t)
    assert board.layouts == 1
    assert driver.frames == [1]

    # At the next minute the clock page changes: laid out again, a new frame.
    hub.clock.now += timedelta(minutes=1)
    scheduler.step(60.1)
    assert board.layouts == 2
    assert driver.frames == [1, 2]

    # A vote changes the hall page.
    hub.add(make_vote(TODAY, level=5))
    scheduler.changed.set()
    scheduler.step(62.0)
    assert (board.layouts, driver.frames) == (3, [1, 2, 3])


def test_boards_wait_for_a_database_that_is_not_there_yet(hub, tmp_path):
    database = tmp_path / "later" / "hub.sqlite"
    config = replace(hub.config, database=database, boards=(layout("hall", lines=3),))
    # On the hub's clock (a whole minute): the next minute is never under a second away.
    service = BoardService(config, now=hub.clock)
    assert service.scheduler.step(0.0) == pytest.approx(1.0)  # tries again in a second
    assert service.feed.view("b1") is None

    database.parent.mkdir()
    with closing(sqlite3.connect(database)) as copy:
        hub.store.db.conn.backup(copy)
    service.scheduler.step(1.0)
    view = service.feed.view("b1")
    assert view is not None
    assert view.frame.pages[0].lines[0].strip() == "测试大厅"
    service.stop()
