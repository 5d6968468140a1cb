"""The console's supervision pages: service-time alerts and their decisions, and presence.

The alerts (:mod:`hub.supervision`): each yellow alert with its service,
window, staff member, service item, duration against its limit; a
supervisor (manager, office, admin) confirms it (red) or dismisses it with a
note, recorded on the alert and in the console's audit log, in one
transaction. Per department and month, the counts of both kinds.

Presence (:mod:`hub.presence`): the staff's online rate per day or month
and the supervisors'. A department head sees their department only, and
decides nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from hub.console import accounts
from hub.console.messages import register
from hub.console.nav import NavEntry, add
from hub.console.web import address, console_blueprint, requires, user
from hub.db import get_db, hub_config, write
from hub.periods import Calendar, checked_period
from hub.presence import staff_presence, supervisors_presence
from hub.supervision import (
    KINDS,
    MAX_NOTE_CHARS,
    STATUSES,
    alert_document,
    alert_ids,
    confirm_alert,
    dismiss_alert,
    month_counts,
)

bp = console_blueprint("console_supervision", __name__, "/supervision", template_folder="templates")

VIEW_ROLES = ("manager", "dept_head", "office", "admin")
DECIDE_ROLES = ("manager", "office", "admin")
MAX_ALERTS = 200


def _calendar() -> Calendar:
    return Calendar(hub_config().timezone)


def _period(name: str, grain: str) -> str | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        found = checked_period(value)
    except ValueError:
        abort(400, description=f"{name}: {value!r} is not a {grain}")
    if found != grain:
        abort(400, description=f"{name}: {value!r} is not a {grain}")
    return value


def _scope() -> str | None:
    """The department a department head is limited to; None: the whole hall."""
    who = user()
    if who.role == "dept_head":
        return who.department or "\0"
    return None


def duration(seconds: float | None) -> str:
    """``seconds`` as the page shows a duration: ``0:58``, ``5:03``, ``1:02:00``."""
    if seconds is None:
        return "—"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    if minutes:
        return f"{minutes}:{secs:02d}"
    return f"0:{secs:02d}"


def _alerts_page(*, error: str | None = None, code: int = 200) -> ResponseReturnValue:
    calendar = _calendar()
    now = datetime.now(UTC)
    month = _period("month", "month") or calendar.current(now, "month")
    scope = _scope()
    filters = {
        "month": month,
        "department": scope or request.args.get("department", ""),
        "kind": request.args.get("kind", "") if request.args.get("kind") in KINDS else "",
        "status": request.args.get("status", "") if request.args.get("status") in STATUSES else "",
    }
    conn = get_db().conn
    directory = hub_config().directory
    alerts = [alert_document(conn, ident) for ident in alert_ids(conn, filters, limit=MAX_ALERTS)]
    counts = [
        row
        for row in month_counts(conn, month, directory)
        if scope is None or row["department"] == scope
    ]
    zone = calendar.zone

    def local(stamp: str | None) -> str:
        if not stamp:
            return "—"
        return datetime.fromisoformat(stamp).astimezone(zone).strftime("%m-%d %H:%M:%S")

    names: dict[str, dict[str, str]] = {
        "departments": {d.id: d.name for d in directory.departments.values()},
        "windows": {w.id: w.name for w in directory.windows.values()},
        "staff": {s.id: s.name for s in directory.staff.values()},
        "service_items": {i.id: i.name for i in directory.service_items.values()},
    }
    body = render_template(
        "console/supervision.html",
        alerts=alerts,
        counts=counts,
        filters=filters,
        kinds=KINDS,
        statuses=STATUSES,
        names=names,
        local=local,
        duration=duration,
        may_decide=user().role in DECIDE_ROLES,
        max_note=MAX_NOTE_CHARS,
        error=error,
        done=request.args.get("done", ""),
        scoped=scope is not None,
    )
    return body, code


@bp.get("/")
@requires(*VIEW_ROLES)
def index() -> ResponseReturnValue:
    """This month's (or ``month``'s) alerts, newest first, and the department counts."""
    return _alerts_page()


def _decide(ident: str, *, confirm: bool) -> ResponseReturnValue:
    who = user()
    note = request.form.get("note", "")
    note = note if note.strip() else ""
    back = {k: v for k, v in request.args.items() if k in ("month", "department", "kind", "status")}
    try:
        with write() as conn:
            if confirm:
                confirm_alert(conn, ident, by=who.name, note=note or None)
            else:
                dismiss_alert(conn, ident, by=who.name, note=note)
            accounts.audit(
                conn,
                who.name,
                "supervision_confirm" if confirm else "supervision_dismiss",
                target=f"alert:{ident}",
                note=note or None,
                address=address(),
            )
    except HTTPException as exc:
        return _alerts_page(error=exc.description, code=exc.code or 409)
    done = "confirm" if confirm else "dismiss"
    return redirect(url_for(".index", done=done, **back) + f"#alert-{ident}")


@bp.post("/alerts/<ident>/confirm")
@requires(*DECIDE_ROLES)
def confirm(ident: str) -> ResponseReturnValue:
    """Confirm a yellow alert: it turns red."""
    return _decide(ident, confirm=True)


@bp.post("/alerts/<ident>/dismiss")
@requires(*DECIDE_ROLES)
def dismiss(ident: str) -> ResponseReturnValue:
    """Dismiss a yellow alert, saying why."""
    return _decide(ident, confirm=False)


@bp.get("/presence")
@requires(*VIEW_ROLES)
def presence() -> ResponseReturnValue:
    """Online rates: staff per day (default today) or month, and the supervisors'."""
    calendar = _calendar()
    now = datetime.now(UTC)
    day = _period("day", "day")
    month = _period("month", "month")
    period = month or day or calendar.current(now, "day")
    config = hub_config()
    conn = get_db().conn
    staff = staff_presence(
        conn,
        period,
        directory=config.directory,
        settings=config.supervision,
        calendar=calendar,
        now=now,
    )
    scope = _scope()
    rows: list[dict[str, Any]] = staff["staff"]
    if scope is not None:
        rows = [r for r in rows if r["department"] == scope]
        signed = sum(r["signed_in_minutes"] for r in rows)
        expected = staff["open_minutes"] * len(rows)
        staff = {**staff, "rate": None if expected <= 0 else round(signed / expected, 4)}
    supervisors = None
    if scope is None:
        supervisors = supervisors_presence(
            conn, period, settings=config.supervision, calendar=calendar, now=now
        )
    return render_template(
        "console/presence.html",
        period=period,
        is_month=month is not None,
        staff=staff,
        rows=rows,
        supervisors=supervisors,
        departments={d.id: d.name for d in config.directory.departments.values()},
        today=calendar.current(now, "day"),
        this_month=calendar.current(now, "month"),
    )


add(NavEntry("console_supervision.index", "nav.supervision", frozenset(VIEW_ROLES)))
add(NavEntry("console_supervision.presence", "nav.presence", frozenset(VIEW_ROLES)))

register(
    {
        "nav.supervision": ("时效监察", "Supervision"),
        "nav.presence": ("在岗率", "Presence"),
        "sup.title": ("办理时效监察", "Service-time supervision"),
        "sup.month": ("月份", "Month"),
        "sup.department": ("部门", "Department"),
        "sup.kind": ("类型", "Kind"),
        "sup.status": ("状态", "Status"),
        "sup.any": ("全部", "Any"),
        "sup.filter": ("筛选", "Filter"),
        "sup.alerts": ("预警", "Alerts"),
        "sup.none": ("本月没有时效预警。", "No alerts this month."),
        "sup.k.too_fast": ("办理过快（疑似事后补录）", "Too fast (likely back-filled)"),
        "sup.k.overdue": ("办理超时", "Overdue"),
        "sup.st.yellow": ("黄色预警", "Yellow"),
        "sup.st.red": ("红色（已确认）", "Red (confirmed)"),
        "sup.st.dismissed": ("已排除", "Dismissed"),
        "sup.short.yellow": ("黄", "Yellow"),
        "sup.short.red": ("红", "Red"),
        "sup.short.dismissed": ("排除", "Dismissed"),
        "sup.service": ("服务", "Service"),
        "sup.window": ("窗口", "Window"),
        "sup.staff": ("工作人员", "Staff"),
        "sup.item": ("事项", "Service item"),
        "sup.started": ("开始", "Started"),
        "sup.duration": ("用时 / 时限", "Duration / limit"),
        "sup.min": ("最短 {limit}", "min {limit}"),
        "sup.max": ("最长 {limit}", "max {limit}"),
        "sup.limit_from.item": ("按事项", "item's limit"),
        "sup.limit_from.department": ("按部门", "department's limit"),
        "sup.decision": ("处理", "Decision"),
        "sup.decided": ("{who} {at}", "{who} {at}"),
        "sup.note": ("说明", "Note"),
        "sup.confirm": ("确认（转红色）", "Confirm (red)"),
        "sup.dismiss": ("排除（须说明）", "Dismiss (say why)"),
        "sup.refused": ("未能处理：{detail}", "Not done: {detail}"),
        "sup.done.confirm": ("已确认为红色预警。", "Confirmed: the alert is red."),
        "sup.done.dismiss": ("已排除该预警。", "The alert is dismissed."),
        "sup.counts": ("各部门 {month} 统计", "By department, {month}"),
        "sup.total": ("合计", "Total"),
        "sup.unknown_department": ("（未归属部门）", "(no department)"),
        "presence.title": ("在岗率", "Online rates"),
        "presence.day": ("日", "Day"),
        "presence.month": ("月", "Month"),
        "presence.show": ("查看", "Show"),
        "presence.staff": ("工作人员在岗率 {period}", "Staff online rate, {period}"),
        "presence.hall_rate": ("整体在岗率", "Overall rate"),
        "presence.open_minutes": ("开放时长 {minutes} 分钟", "Open {minutes} minutes"),
        "presence.signed_in": ("签到 {n} 人", "{n} signed in"),
        "presence.name": ("姓名", "Name"),
        "presence.department": ("部门", "Department"),
        "presence.minutes": ("在岗分钟", "Minutes signed in"),
        "presence.rate": ("在岗率", "Rate"),
        "presence.days": ("每日", "Each day"),
        "presence.closed": ("所选期间大厅未开放。", "The hall was not open in this period."),
        "presence.supervisors": ("监督人员在线率 {period}", "Supervisors' online rate, {period}"),
        "presence.supervisor": ("监督人员", "Supervisor"),
        "presence.days_acted": ("履职天数 / 工作日", "Days acted / working days"),
        "presence.no_supervisors": ("没有监督人员。", "No supervisors."),
        "presence.none": ("—", "—"),
    }
)
