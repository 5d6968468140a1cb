"""The durable notice queue and its log: one ``notices`` row per event and target.

Events are queued inside the caller's transaction — a warning's with the
vote that raised it (:meth:`NoticeQueue.warning`), a device's outage by the
sender's periodic check (:meth:`NoticeQueue.review_devices`) — so a notice
exists exactly when its event does, and never waits on the network. The
text is rendered when queued, Chinese first, English second, short enough
for an SMS. Each row's ``key`` names its event and target, so queuing the
same event twice queues it once. :mod:`hub.notify.sender` delivers the rows;
:func:`notice_log` is what the console shows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from device_agent.directory import Directory
from device_agent.protocol import format_time
from hub.notify.settings import PERSON, NotifySettings, Target

# The events queued here; a module of its own (cases, issue 14) may add more via notify().
EVENTS = ("warning", "offline", "online")
PENDING_SQL = "SELECT count(*) FROM notices WHERE status = 'pending'"
INSERT_NOTICE_SQL = (
    "INSERT INTO notices (key, event, subject, role, department, target, channel, title, body,"
    " status, created_at, done_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (key) DO NOTHING"
)
# What the notice log shows of each notice (never its target's URL).
LOG_COLUMNS = (
    "id",
    "event",
    "subject",
    "role",
    "department",
    "channel",
    "title",
    "body",
    "status",
    "attempts",
    "created_at",
    "done_at",
    "last_error",
)
NOTICE_LOG_SQL = (
    f"SELECT {', '.join(LOG_COLUMNS)} FROM notices WHERE id < ? ORDER BY id DESC LIMIT ?"
)


class NoticeQueue:
    """Queues notices for the configured roles, inside the caller's transaction."""

    def __init__(
        self,
        settings: NotifySettings,
        directory: Directory,
        *,
        timezone: str,
        now: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.directory = directory
        self.zone = ZoneInfo(timezone)
        self._now = now

    def warning(self, conn: sqlite3.Connection, ident: str, seq: int) -> int:
        """Queue the notice of warning ``ident`` raised (or reinstated) by its event ``seq``."""
        row = conn.execute(
            "SELECT staff, department, level, period, count, action FROM warnings WHERE id = ?",
            (ident,),
        ).fetchone()
        staff, department, level, period, count, action = row
        targets = self.settings.targets_of(self.settings.warning_roles, department=department)
        person = self._staff_name(staff)
        hall = self.directory.name or self.directory.hall
        place = " ".join(p for p in (hall, self._department_name(department)) if p)
        title = f"效能预警{level}级：{person} | Warning {level}: {person}"
        body = (
            f"{place} {person}：{period} 不满意 {count} 次，{level}级预警（{action}）。\n"
            f"{place}: {person}, {count} dissatisfied votes in {period}, level {level} warning."
        )
        return self._enqueue(conn, "warning", ident, str(seq), targets, title=title, body=body)

    def review_devices(self, conn: sqlite3.Connection) -> int:
        """Queue a notice for each device offline past the limit, and for each back online.

        Once per outage: an outage noticed is kept in ``device_outages`` until
        the device is online again, across hub restarts.
        """
        now = self._now()
        noticed = dict(conn.execute("SELECT device, since FROM device_outages").fetchall())
        states = {
            r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, status, status_at FROM devices")
        }
        queued = 0
        for device in self.directory.devices.values():
            status, at = states.get(device.id, (None, None))
            if status == "offline" and device.id not in noticed and at is not None:
                since = datetime.fromisoformat(at)
                if (now - since).total_seconds() < self.settings.offline_after_s:
                    continue
                conn.execute(
                    "INSERT INTO device_outages (device, since, noticed_at) VALUES (?, ?, ?)",
                    (device.id, at, format_time(now)),
                )
                queued += self._device_notice(conn, device.id, "offline", at, now)
            elif status == "online" and device.id in noticed:
                conn.execute("DELETE FROM device_outages WHERE device = ?", (device.id,))
                queued += self._device_notice(conn, device.id, "online", noticed[device.id], now)
        return queued

    def _device_notice(
        self, conn: sqlite3.Connection, device: str, event: str, since: str, now: datetime
    ) -> int:
        start = datetime.fromisoformat(since)
        minutes = max(1, round((now - start).total_seconds() / 60))
        clock = start.astimezone(self.zone).strftime("%m-%d %H:%M")
        window = self.directory.devices[device].window
        where = self.directory.windows[window].name if window in self.directory.windows else ""
        hall = self.directory.name or self.directory.hall
        place = " ".join(p for p in (hall, where) if p)
        if event == "offline":
            title = f"设备离线：{device} | Device offline: {device}"
            body = (
                f"{place} 设备 {device} 自 {clock} 起离线 {minutes} 分钟。\n"
                f"{place}: device {device} offline since {clock}, {minutes} min."
            )
        else:
            title = f"设备恢复在线：{device} | Device back online: {device}"
            body = (
                f"{place} 设备 {device} 已恢复在线（{clock} 起离线 {minutes} 分钟）。\n"
                f"{place}: device {device} back online after {minutes} min (since {clock})."
            )
        targets = self.settings.targets_of(self.settings.device_roles, department=None)
        return self._enqueue(conn, event, device, since, targets, title=title, body=body)

    def notify(
        self,
        conn: sqlite3.Connection,
        event: str,
        subject: str,
        occurrence: str,
        *,
        roles: tuple[str, ...] = (),
        department: str | None = None,
        people: tuple[str, ...] = (),
        title: str,
        body: str,
    ) -> int:
        """Queue a notice of any event for ``roles`` (a department's head: of ``department``)
        and for ``people`` by name (the ``[people]`` table of the URLs).

        ``subject`` and ``occurrence`` name this happening of ``event`` (a case
        and its deadline, say): the same three queue one notice per target
        however often this is called. Returns how many were queued.
        """
        targets = self.settings.targets_of(roles, department=department)
        for name in people:
            targets.extend(self.settings.targets_of_person(name))
        return self._enqueue(conn, event, subject, occurrence, targets, title=title, body=body)

    def citizen(
        self, conn: sqlite3.Connection, source: int, occurrence: str, *, title: str, body: str
    ) -> int:
        """Queue an SMS to the citizen of case source ``source`` (its id in case_sources)
        through each ``citizen_sms`` template; the number is filled in when sent."""
        targets = self.settings.citizen_targets()
        return self._enqueue(
            conn, "citizen_sms", str(source), occurrence, targets, title=title, body=body
        )

    def _enqueue(
        self,
        conn: sqlite3.Connection,
        event: str,
        subject: str,
        occurrence: str,
        targets: list[Target],
        *,
        title: str,
        body: str,
    ) -> int:
        """Queue one row per target; past ``max_pending`` a row is logged as failed at once."""
        now = format_time(self._now())
        pending = conn.execute(PENDING_SQL).fetchone()[0]
        queued = 0
        for target in targets:
            full = pending >= self.settings.max_pending
            cursor = conn.execute(
                INSERT_NOTICE_SQL,
                (
                    f"{event}:{subject}:{occurrence}:{target.key}",
                    event,
                    subject,
                    target.role,
                    target.person if target.person is not None else target.department,
                    target.key,
                    target.channel,
                    title,
                    body,
                    "failed" if full else "pending",
                    now,
                    now if full else None,
                    f"queue full: {pending} notices pending" if full else None,
                ),
            )
            if cursor.rowcount and not full:
                pending += 1
                queued += 1
        return queued

    def _staff_name(self, staff: str) -> str:
        entry = self.directory.staff.get(staff)
        return entry.name if entry is not None and entry.name else staff

    def _department_name(self, department: str | None) -> str:
        entry = self.directory.departments.get(department or "")
        return entry.name if entry is not None and entry.name else (department or "")


def notice_log(
    conn: sqlite3.Connection, *, before: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Every notice, newest first, paged by ``before`` (an id): what went to whom, and how.

    Each says its event, the role (and department) it went to, the channel
    kind (never the URL), its text, when it was queued and delivered or
    given up, its attempts and its last error; a notice to one person (role
    ``person``) names them as ``person``.
    """
    return log_entries(
        conn.execute(NOTICE_LOG_SQL, (2**63 - 1 if before is None else before, limit))
    )


def log_entries(rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows of :data:`LOG_COLUMNS` as the log's entries."""
    log = []
    for row in rows:
        entry = dict(zip(LOG_COLUMNS, row, strict=True))
        # A person's notice keeps the name in the department column (role "person").
        person = entry["role"] == PERSON
        entry["person"] = entry["department"] if person else None
        if person:
            entry["department"] = None
        log.append(entry)
    return log
