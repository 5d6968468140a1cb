"""Case reminders and escalation (issue 14) on a real hub, delivered through apprise.

The notices go by apprise's ``json://`` to the loopback receiver of
test_notify: the responsible person by name (``[people]``), the civil
department's head (level one) and the efficiency office (level two).
The check takes ``now``: the tests drive it against the hub's real database
while the running hub's sender delivers what it queued.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from device_agent.errors import ConfigError
from device_agent.storage import open_database, write_transaction
from hub.cases import chain
from hub.cases.chain import Cases
from hub.cases.reminders import Reminders
from hub.config import load_hub_config
from hub.notify.notices import NoticeQueue, notice_log
from hub.service import HubService
from tests.hall import Hall, query, wait_until
from tests.test_notify import Receiver, free_port

CLERK = chain.Actor("office-li", "office")
ZHAO = chain.Actor("zhao", "handler")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(free_port())
    receiver.start()
    yield receiver
    receiver.stop()


def reminder_config(hall: Hall, port: int, check_s: float = 3600, remind_days: int = 1) -> str:
    """zhang by name, civil's head and the office each have a URL of their own."""
    (hall.root / "notify-urls.toml").write_text(
        f'office = ["json://127.0.0.1:{port}/office"]\n'
        f'[dept_head]\ncivil = ["json://127.0.0.1:{port}/civil"]\n'
        f'[people]\nzhang = ["json://127.0.0.1:{port}/zhang"]\n'
    )
    return (
        '[notify]\nurls_file = "notify-urls.toml"\npoll_s = 0.05\nretry_min_s = 0.2\n'
        "retry_max_s = 0.5\ntimeout_s = 2\n\n"
        f"[cases]\nremind_days = {remind_days}\nlevel_one_days = 2\n"
        f"reminder_check_s = {check_s}\n"
    )


def at(day: date) -> datetime:
    """10:00 in Beijing on ``day``."""
    return datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)


class Clocked:
    """The hub's cases and reminders at a chosen moment, on the hub's own database."""

    def __init__(self, hub: HubService) -> None:
        self.hub = hub
        self.now = at(date(2025, 10, 9))
        config = hub.config
        self.book = Cases(config.cases, config.timezone, now=lambda: self.now)
        queue = NoticeQueue(
            config.notify, config.directory, timezone=config.timezone, now=lambda: self.now
        )
        self.reminders = Reminders(self.book, queue)
        self.db = open_database(config.database)

    def check(self, day: date) -> dict[str, int]:
        self.now = at(day)
        with write_transaction(self.db) as conn:
            return self.reminders.check(conn, self.now)

    def steps(self, case_id: int) -> list[tuple[str, str, str]]:
        rows = query(
            self.hub.config.database,
            "SELECT event, by, json_extract(detail, '$.level') FROM case_events"
            " WHERE case_id = ? ORDER BY seq",
            (case_id,),
        )
        return [tuple(r) for r in rows]


def test_an_overdue_case_escalates_to_level_one_then_level_two_both_delivered(
    hall, start_hub, receiver
):
    hub = start_hub(hall, extra=reminder_config(hall, receiver.port))
    clock = Clocked(hub)
    try:
        with write_transaction(clock.db) as conn:
            # Received Thursday 25 September 2025, ordinary: due Saturday 11 October (worked).
            late = chain.register(
                clock.book, conn, CLERK, channel="phone", received_on=date(2025, 9, 25), text="噪音"
            )
            chain.assign(clock.book, conn, late, CLERK, department="civil", assignee="zhang")
            acted = chain.register(
                clock.book, conn, CLERK, channel="letter", received_on=date(2025, 9, 25), text="信"
            )
            chain.assign(clock.book, conn, acted, CLERK, department="civil", assignee="zhao")
        assert query(hub.config.database, "SELECT stage_due_on FROM cases") == [
            ("2025-10-11",),
            ("2025-10-11",),
        ]

        # Thursday the 9th: the deadline is 2 working days away, no reminder yet.
        assert clock.check(date(2025, 10, 9)) == {"remind": 0, "level_one": 0, "level_two": 0}
        # Friday the 10th: one working day before, zhang is reminded (zhao has no URL).
        assert clock.check(date(2025, 10, 10)) == {"remind": 2, "level_one": 0, "level_two": 0}
        [reminder] = wait_until(lambda: receiver.at("/zhang"), message="zhang's reminder")
        assert reminder["title"] == f"案件即将到期：#{late} | Case due soon: #{late}"
        assert reminder["message"].startswith(
            f"zhang：案件 #{late}《噪音》答复阶段 2025-10-11 到期"
        )

        # Monday the 13th: overdue, both cases go to civil's head (level one), once each.
        assert clock.check(date(2025, 10, 13)) == {"remind": 0, "level_one": 2, "level_two": 0}
        assert clock.check(date(2025, 10, 13)) == {"remind": 0, "level_one": 0, "level_two": 0}
        civil = wait_until(lambda: len(receiver.at("/civil")) == 2 and receiver.at("/civil"))
        assert {n["title"] for n in civil} == {
            f"案件超期督办：#{late} | Case overdue: #{late}",
            f"案件超期督办：#{acted} | Case overdue: #{acted}",
        }
        assert any(
            f"#{late}《噪音》答复阶段 2025-10-11 到期，已超期；责任人 zhang" in n["message"]
            for n in civil
        )
        # Pressed by the head, zhao takes the other on: a step after the escalation.
        clock.now = at(date(2025, 10, 14))
        with write_transaction(clock.db) as conn:
            chain.start(clock.book, conn, acted, ZHAO, note="已督促")

        # Level one's limit is 2 working days after the 13th: through Wednesday the 15th.
        assert clock.check(date(2025, 10, 15)) == {"remind": 0, "level_one": 0, "level_two": 0}
        assert clock.check(date(2025, 10, 16)) == {"remind": 0, "level_one": 0, "level_two": 1}
        assert clock.check(date(2025, 10, 17)) == {"remind": 0, "level_one": 0, "level_two": 0}
        [office] = wait_until(lambda: receiver.at("/office"), message="level two's notice")
        assert office["title"] == f"二级督办：#{late} 一级督办未落实 | Level two: case #{late}"
        assert "2025-10-13 已告知部门负责人，2 个工作日内未见办理" in office["message"]

        # The audit log of each case, and the notice log with every delivery.
        assert clock.steps(late) == [
            ("registered", "office-li", None),
            ("assign", "office-li", None),
            ("remind", "hub", 0),
            ("escalate", "hub", 1),
            ("escalate", "hub", 2),
        ]
        assert clock.steps(acted) == [
            ("registered", "office-li", None),
            ("assign", "office-li", None),
            ("remind", "hub", 0),
            ("escalate", "hub", 1),
            ("start", "zhao", None),
        ]
        log = wait_until(
            lambda: (
                (log := notice_log(clock.db.conn))
                and all(n["status"] == "sent" for n in log)
                and log
            ),
            message="every notice sent",
        )
        assert sorted((n["event"], n["role"], n["person"], n["department"]) for n in log) == [
            ("case_level_two", "office", None, None),
            ("case_overdue", "dept_head", None, "civil"),
            ("case_overdue", "dept_head", None, "civil"),
            ("case_reminder", "person", "zhang", None),
        ]
        assert len(receiver.notices) == 4
    finally:
        clock.db.close()


def test_the_running_hub_reminds_and_escalates_on_its_own(hall, start_hub, receiver):
    hub = start_hub(hall, extra=reminder_config(hall, receiver.port, check_s=0.1, remind_days=30))
    book = Cases(hub.config.cases, hub.config.timezone)
    db = open_database(hub.config.database)
    try:
        with write_transaction(db) as conn:
            old = chain.register(
                book,
                conn,
                CLERK,
                channel="hotline",
                received_on=book.today() - timedelta(days=40),
                text="旧",
            )
            chain.assign(book, conn, old, CLERK, department="civil", assignee="zhao")
            new = chain.register(
                book, conn, CLERK, channel="visit", received_on=book.today(), text="新"
            )
            chain.assign(book, conn, new, CLERK, department="civil", assignee="zhang")
        [overdue] = wait_until(lambda: receiver.at("/civil"), message="level one told")
        assert overdue["title"] == f"案件超期督办：#{old} | Case overdue: #{old}"
        [reminder] = wait_until(lambda: receiver.at("/zhang"), message="zhang reminded")
        assert reminder["title"] == f"案件即将到期：#{new} | Case due soon: #{new}"
        # Level two waits for level one's working days: nothing for the office today.
        assert receiver.at("/office") == []
        steps = query(
            hub.config.database,
            "SELECT case_id, event, by FROM case_events WHERE by = 'hub' ORDER BY case_id",
        )
        assert steps == [(old, "escalate", "hub"), (new, "remind", "hub")]
    finally:
        db.close()


def test_a_person_target_with_a_bad_url_is_reported_without_the_url(hall, caplog):
    (hall.root / "urls.toml").write_text(
        '[people]\nzhang = ["nosuchscheme://SECRET-TOKEN"]\nli = "json://127.0.0.1/"\n'
    )
    path = hall.hub_config(extra='[notify]\nurls_file = "urls.toml"\n')
    with pytest.raises(ConfigError) as caught:
        load_hub_config(path)
    text = str(caught.value)
    assert "people.zhang[0]: not a URL apprise can send to (scheme nosuchscheme)" in text
    assert "people.li: must be a list of URL strings" in text
    assert "SECRET-TOKEN" not in text and "SECRET-TOKEN" not in caplog.text
