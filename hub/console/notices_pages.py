"""The console's notice log: every notice the hub queued, to whom, how, and what came of it.

Warnings raised, devices offline and back, case reminders and escalations,
the citizens' SMS: each with its event, the role (and department) or the
person it went to, the channel's kind (never its URL), its status (pending,
sent, failed with the sender's redacted error), its attempts and times.
Filters by event and status; pages by id (``before``). Admin and the
efficiency office see every notice; a department head their department's.
A phone number never shows: the citizen's is filled in only when sent, and
any mobile number in a text shown here is masked besides.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue

from hub.console import notices_store
from hub.console.messages import register
from hub.console.nav import NavEntry, add
from hub.console.web import console_blueprint, requires, user
from hub.db import get_db, hub_config

bp = console_blueprint("console_notices", __name__, "/notices", template_folder="templates")

VIEW_ROLES = ("admin", "office", "dept_head")
# The events the hub queues (hub.notify.notices and hub.cases): the filter's choices.
EVENTS = (
    "warning",
    "offline",
    "online",
    "case_reminder",
    "case_overdue",
    "case_level_two",
    "citizen_sms",
)
STATUSES = ("pending", "sent", "failed")
PAGE = 50
MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)")


def masked(text: str | None) -> str | None:
    """``text`` with every mainland mobile number masked."""
    return None if text is None else MOBILE.sub("1**********", text)


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = request.args.get(name, "").strip()
    if value and value not in allowed:
        abort(400, description=f"{name}: must be one of {', '.join(allowed)}")
    return value


@bp.get("/")
@requires(*VIEW_ROLES)
def index() -> ResponseReturnValue:
    """A page of the notice log, newest first."""
    event = _choice("event", EVENTS)
    status = _choice("status", STATUSES)
    before_text = request.args.get("before", "").strip()
    if before_text and not before_text.isdigit():
        abort(400, description="before: must be a notice id")
    before = int(before_text) if before_text else None
    who = user()
    department = (who.department or "\0") if who.role == "dept_head" else ""
    rows = notices_store.notices(
        get_db().conn,
        event=event,
        status=status,
        department=department,
        before=before,
        limit=PAGE + 1,
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    for row in rows:
        row["title"] = masked(row["title"])
        row["body"] = masked(row["body"])
        row["last_error"] = masked(row["last_error"])
    config = hub_config()
    zone = config.timezone

    def local(stamp: str | None) -> str:
        if not stamp:
            return "—"
        return datetime.fromisoformat(stamp).astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M:%S")

    return render_template(
        "console/notices.html",
        rows=rows,
        filters={"event": event, "status": status},
        events=EVENTS,
        statuses=STATUSES,
        older=rows[-1]["id"] if more and rows else None,
        first_page=before is None,
        departments={d.id: d.name for d in config.directory.departments.values()},
        local=local,
        scoped=bool(department),
    )


add(NavEntry("console_notices.index", "nav.notices", frozenset(VIEW_ROLES)))

register(
    {
        "nav.notices": ("通知记录", "Notice log"),
        "notices.title": ("通知记录", "Notice log"),
        "notices.scoped": ("仅显示发给本部门的通知。", "Notices to your department only."),
        "notices.event": ("事件", "Event"),
        "notices.status": ("状态", "Status"),
        "notices.any": ("全部", "Any"),
        "notices.filter": ("筛选", "Filter"),
        "notices.to": ("发送对象", "To"),
        "notices.channel": ("渠道", "Channel"),
        "notices.text": ("内容", "Text"),
        "notices.attempts": ("尝试", "Attempts"),
        "notices.created": ("生成", "Queued"),
        "notices.done": ("完成", "Done"),
        "notices.none": ("没有符合条件的通知。", "No notices match."),
        "notices.older": ("更早的通知", "Older notices"),
        "notices.newest": ("最新的通知", "Newest notices"),
        "notices.person": ("个人：{name}", "Person: {name}"),
        "notices.citizen": ("群众（号码不显示）", "The citizen (number not shown)"),
        "notices.e.warning": ("效能预警", "Warning raised"),
        "notices.e.offline": ("设备离线", "Device offline"),
        "notices.e.online": ("设备恢复", "Device back online"),
        "notices.e.case_reminder": ("案件到期提醒", "Case reminder"),
        "notices.e.case_overdue": ("案件超期（一级督办）", "Case overdue (level one)"),
        "notices.e.case_level_two": ("二级督办", "Escalated to level two"),
        "notices.e.citizen_sms": ("群众短信", "Citizen SMS"),
        "notices.s.pending": ("待发送", "Pending"),
        "notices.s.sent": ("已发送", "Sent"),
        "notices.s.failed": ("发送失败", "Failed"),
    }
)
