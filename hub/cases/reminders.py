"""Reminders and escalation: the responsible person, then level one, then level two.

One check (:meth:`Reminders.check`, given ``now`` so a test drives it against
the real database) looks at every open case by its current stage's deadline:

- due within ``remind_days`` working days (and not yet past): a reminder to
  the case's responsible person (its assignee, a ``[people]`` target of the
  notify URLs);
- past its deadline: level-one supervision, the head of the case's
  department (role ``dept_head`` of that department), is told;
- level one told and nobody acted on the case (any step of the chain after
  the escalation) for more than ``level_one_days`` working days: level two,
  the efficiency office (role ``office``), chases level one.

Each happens once per stage and deadline: a step in the case's audit log
(``case_events``: ``remind`` or ``escalate`` by ``hub``) and notices queued in
the same transaction, whose keys name the case, the level and the deadline.
A case sent back starts its stage again with a new deadline, and so new
reminders. :class:`ReminderWatch` runs the check in a thread of the hub.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from device_agent.protocol import format_time
from device_agent.storage import open_database, write_transaction
from hub.cases import store
from hub.cases.chain import Cases
from hub.notify.notices import NoticeQueue

if TYPE_CHECKING:
    from hub.config import HubConfig

logger = logging.getLogger(__name__)

HUB = "hub"  # who the audit log says reminded and escalated
OWN_EVENTS = ("remind", "escalate")  # the hub's own steps: not an action of level one
LEVEL_ONE_ROLES = ("dept_head",)
LEVEL_TWO_ROLES = ("office",)

# The hub's earlier reminder or escalation of a case's stage and deadline, if any.
DONE_SQL = (
    "SELECT seq, at FROM case_events WHERE case_id = ? AND event = ?"
    " AND json_extract(detail, '$.level') = ? AND json_extract(detail, '$.stage') = ?"
    " AND json_extract(detail, '$.due') = ? ORDER BY seq LIMIT 1"
)
# Whether anybody took a step on the case after its escalation (seq).
ACTED_SQL = (
    f"SELECT count(*) FROM case_events WHERE case_id = ? AND seq > ?"
    f" AND event NOT IN ({', '.join(repr(e) for e in OWN_EVENTS)})"
)


class Reminders:
    """The reminder and escalation check of a hall's cases."""

    def __init__(self, book: Cases, queue: NoticeQueue) -> None:
        self.book = book
        self.queue = queue
        self.settings = book.settings
        self.zone = ZoneInfo(book.timezone)

    def horizon(self, now: datetime) -> str:
        """The last deadline the check looks at on ``now``'s day (ISO date)."""
        today = now.astimezone(self.zone).date()
        return self.book.calendar.add_workdays(today, self.settings.remind_days).isoformat()

    def has_work(self, conn: sqlite3.Connection, now: datetime) -> bool:
        """Whether any open case is due by the horizon (read only: no write lock when idle)."""
        return bool(store.due_by(conn, self.horizon(now)))

    def check(self, conn: sqlite3.Connection, now: datetime) -> dict[str, int]:
        """Remind and escalate as of ``now``, in the caller's write transaction.

        Returns how many reminders, level-one and level-two escalations were
        made (each once: a second check the same day makes none).
        """
        today = now.astimezone(self.zone).date()
        made = {"remind": 0, "level_one": 0, "level_two": 0}
        for case in store.due_by(conn, self.horizon(now)):
            due = case["stage_due_on"]
            if due >= today.isoformat():
                made["remind"] += self._remind(conn, case, now)
                continue
            escalated = self._done(conn, case, "escalate", 1)
            if escalated is None:
                made["level_one"] += self._level_one(conn, case, now)
            elif self._level_two_due(conn, case, escalated, today):
                made["level_two"] += self._level_two(conn, case, now, escalated)
        return made

    # The three notices.

    def _remind(self, conn: sqlite3.Connection, case: dict[str, Any], now: datetime) -> int:
        person = case["assignee"]
        if not person or self._done(conn, case, "remind", 0) is not None:
            return 0
        label, due = self._stage_label(case), case["stage_due_on"]
        title = f"案件即将到期：#{case['id']} | Case due soon: #{case['id']}"
        body = (
            f"{person}：案件 #{case['id']}《{case['title']}》{label}阶段 {due} 到期，请及时办理。\n"
            f"{person}: case #{case['id']} ({label}) is due on {due}."
        )
        self._record(conn, case, now, "remind", level=0, body=body, detail={"to": person})
        self.queue.notify(
            conn,
            "case_reminder",
            str(case["id"]),
            self._occurrence(case),
            people=(person,),
            department=case["department"],
            title=title,
            body=body,
        )
        return 1

    def _level_one(self, conn: sqlite3.Connection, case: dict[str, Any], now: datetime) -> int:
        label, due = self._stage_label(case), case["stage_due_on"]
        place = self._department_name(case["department"])
        who = case["assignee"] or "未交办 unassigned"
        title = f"案件超期督办：#{case['id']} | Case overdue: #{case['id']}"
        body = (
            f"{place} 案件 #{case['id']}《{case['title']}》{label}阶段 {due} 到期，已超期；"
            f"责任人 {who}。请一级督办。\n"
            f"{place}: case #{case['id']} ({label}) was due on {due} and is overdue;"
            f" responsible: {who}. Level-one supervision, please act."
        )
        self._record(conn, case, now, "escalate", level=1, body=body, detail={"to": "dept_head"})
        self.queue.notify(
            conn,
            "case_overdue",
            str(case["id"]),
            self._occurrence(case),
            roles=LEVEL_ONE_ROLES,
            department=case["department"],
            title=title,
            body=body,
        )
        return 1

    def _level_two(
        self,
        conn: sqlite3.Connection,
        case: dict[str, Any],
        now: datetime,
        escalated: tuple[int, str],
    ) -> int:
        if self._done(conn, case, "escalate", 2) is not None:
            return 0
        label, due = self._stage_label(case), case["stage_due_on"]
        place = self._department_name(case["department"])
        since = self.book.local_date(escalated[1]).isoformat()
        days = self.settings.level_one_days
        title = f"二级督办：#{case['id']} 一级督办未落实 | Level two: case #{case['id']}"
        body = (
            f"{place} 案件 #{case['id']}《{case['title']}》{label}阶段 {due} 超期，"
            f"{since} 已告知部门负责人，{days} 个工作日内未见办理。请二级督办催办。\n"
            f"{place}: case #{case['id']} ({label}) overdue since {due}; the department head,"
            f" told on {since}, has not acted within {days} working days. Please chase."
        )
        self._record(
            conn,
            case,
            now,
            "escalate",
            level=2,
            body=body,
            detail={"to": "office", "since": since},
        )
        self.queue.notify(
            conn,
            "case_level_two",
            str(case["id"]),
            self._occurrence(case),
            roles=LEVEL_TWO_ROLES,
            department=case["department"],
            title=title,
            body=body,
        )
        return 1

    # Internals.

    def _level_two_due(
        self,
        conn: sqlite3.Connection,
        case: dict[str, Any],
        escalated: tuple[int, str],
        today: date,
    ) -> bool:
        """Level one has had its working days since the escalation and took no step."""
        told = self.book.local_date(escalated[1])
        limit = self.book.calendar.add_workdays(told, self.settings.level_one_days)
        if today <= limit:
            return False
        acted = conn.execute(ACTED_SQL, (case["id"], escalated[0])).fetchone()[0]
        return not acted

    def _done(
        self, conn: sqlite3.Connection, case: dict[str, Any], event: str, level: int
    ) -> tuple[int, str] | None:
        row = conn.execute(
            DONE_SQL, (case["id"], event, level, case["stage"], case["stage_due_on"])
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def _record(
        self,
        conn: sqlite3.Connection,
        case: dict[str, Any],
        now: datetime,
        event: str,
        *,
        level: int,
        body: str,
        detail: dict[str, Any],
    ) -> None:
        store.add_event(
            conn,
            case["id"],
            event=event,
            from_status=case["status"],
            to_status=case["status"],
            at=format_time(now),
            by=HUB,
            note=body.split("\n", 1)[0],
            detail={
                **detail,
                "level": level,
                "stage": case["stage"],
                "due": case["stage_due_on"],
            },
        )

    def _occurrence(self, case: dict[str, Any]) -> str:
        return f"{case['stage']}:{case['stage_due_on']}"

    def _stage_label(self, case: dict[str, Any]) -> str:
        stages = self.book.case_class(case["class"]).stages
        return stages[case["stage"]].label if case["stage"] < len(stages) else ""

    def _department_name(self, department: str | None) -> str:
        entry = self.queue.directory.departments.get(department or "")
        hall = self.queue.directory.name or self.queue.directory.hall
        name = entry.name if entry is not None and entry.name else (department or "")
        return " ".join(p for p in (hall, name) if p)


class ReminderWatch:
    """The hub's periodic reminder check: a thread running :meth:`Reminders.check`."""

    def __init__(
        self,
        config: HubConfig,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        book = Cases(config.cases, config.timezone, now=now)
        queue = NoticeQueue(config.notify, config.directory, timezone=config.timezone, now=now)
        self.reminders = Reminders(book, queue)
        self.interval = config.cases.reminder_check_s
        self.database = config.database
        self._now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start checking in a background thread."""
        self._thread = threading.Thread(target=self._run, name="hub-reminders", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current check."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def check_once(self) -> dict[str, int]:
        """One check, in a write transaction of its own only when a case is due."""
        db = open_database(self.database)
        try:
            now = self._now()
            if not self.reminders.has_work(db.conn, now):
                return {"remind": 0, "level_one": 0, "level_two": 0}
            with write_transaction(db) as conn:
                made = self.reminders.check(conn, now)
            if any(made.values()):
                logger.info("case reminders: %s", json.dumps(made, sort_keys=True))
            return made
        finally:
            db.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_once()
            except Exception:
                # Logged and tried again next turn: a locked or full disk passes.
                logger.exception("the case reminder check failed")
