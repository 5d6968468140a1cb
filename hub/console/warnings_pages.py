"""The console's warnings queue, a warning's page with its votes and lifecycle, and appeals.

Every lifecycle step calls the engine the JSON API calls
(:mod:`hub.warnings_api`: acknowledge, record_action, close); the notice
(预警告知函, 限期整改) is an action the office records, and the engine's
``on_notice`` hook opens its case. An accepted appeal voids its votes
through :func:`hub.appeals.void_vote`. Roles follow ``hub.tokens``: a
manager acknowledges; the office acknowledges, records the notice and the
action, closes and decides appeals; staff and department heads file appeals.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import Conflict

from hub.aggregates import dissatisfied
from hub.cases.store import case_of_source, get_case
from hub.console import accounts
from hub.console.messages import register
from hub.console.nav import NavEntry, add
from hub.console.warnings_store import (
    APPEAL_STATES,
    STATES,
    Scope,
    appeal,
    appeals,
    appeals_of,
    decide_appeal,
    file_appeal,
    local_time,
    votes_by_id,
    warning_queue,
    warning_row,
    warning_votes,
)
from hub.console.web import address, console_blueprint, requires, t, user
from hub.db import counting, get_db, hub_config, write
from hub.errors import StateError, UnknownRecord
from hub.periods import Calendar
from hub.warnings import warning_events

bp = console_blueprint("console_warnings", __name__, "/warnings")

READERS = ("manager", "dept_head", "office", "staff", "admin")
ACKNOWLEDGE = ("manager", "office", "admin")
OFFICE = ("office", "admin")
APPELLANTS = ("staff", "dept_head")
# The cases page's endpoint, once a console page of cases exists: the notice's case links there.
CASE_ENDPOINT = "console_cases.case"

add(NavEntry("console_warnings.index", "nav.warnings", frozenset(READERS)))
add(NavEntry("console_warnings.appeals_list", "nav.appeals", frozenset(READERS)))

register(
    {
        "nav.warnings": ("效能预警", "Warnings"),
        "nav.appeals": ("申诉", "Appeals"),
        "warnings.title": ("效能预警", "Efficiency warnings"),
        "warnings.none": ("没有符合条件的预警。", "No warnings match."),
        "warnings.filter": ("筛选", "Filter"),
        "warnings.any": ("全部", "Any"),
        "warnings.level": ("等级", "Level"),
        "warnings.person": ("人员", "Person"),
        "warnings.department": ("部门", "Department"),
        "warnings.period": ("期间", "Period"),
        "warnings.count": ("不满意次数", "Dissatisfied"),
        "warnings.state": ("状态", "State"),
        "warnings.raised_at": ("预警时间", "Raised at"),
        "warnings.action": ("处理措施", "Action"),
        "warnings.threshold": ("阈值", "Threshold"),
        "warnings.current": ("本期现有不满意", "Dissatisfied now"),
        "warnings.readonly": ("仅供查看。", "Read only."),
        "warnings.superseded": ("已被更高等级预警取代：{by}", "Superseded by {by}"),
        "warnings.withdrawn_at": ("已于 {at} 撤销", "Withdrawn at {at}"),
        "warnings.level_name": ("{level} 级 · {action}", "Level {level} · {action}"),
        "warnings.grain.month": ("月", "month"),
        "warnings.grain.year": ("年", "year"),
        "state.open": ("待处理", "Open"),
        "state.raised": ("新预警", "Raised"),
        "state.acknowledged": ("已知悉", "Acknowledged"),
        "state.actioned": ("已处理", "Actioned"),
        "state.closed": ("已办结", "Closed"),
        "state.withdrawn": ("已撤销", "Withdrawn"),
        "state.all": ("全部", "All"),
        "warning.facts": ("基本情况", "Facts"),
        "warning.history": ("处理记录", "History"),
        "warning.votes": ("预警依据的评价", "The votes behind it"),
        "warning.vote_time": ("评价时间", "Time"),
        "warning.channel": ("渠道", "Channel"),
        "warning.window": ("窗口", "Window"),
        "warning.vote_level": ("评价", "Rating"),
        "warning.reasons": ("原因", "Reasons"),
        "warning.comment": ("留言", "Comment"),
        "warning.filtered": ("过滤", "Filtered"),
        "warning.counted": ("计入", "Counted"),
        "warning.filtered_by": ("已过滤（{rule}）", "Filtered ({rule})"),
        "warning.voided": ("已作废（{reason}）", "Voided ({reason})"),
        "warning.event": ("事件", "Event"),
        "warning.at": ("时间", "When"),
        "warning.by": ("操作人", "By"),
        "warning.note": ("说明", "Note"),
        "warning.case": ("整改案件", "Case"),
        "warning.case_text": (
            "案件 {number}，状态 {status}，本阶段期限 {due}",
            "Case {number}, {status}, this stage due {due}",
        ),
        "warning.actions": ("处理", "Handle"),
        "warning.acknowledge": ("确认知悉", "Acknowledge"),
        "warning.notice": ("发出预警告知函（限期整改）", "Send the notice (correct by a deadline)"),
        "warning.deadline": ("整改期限", "Deadline"),
        "warning.notice_text": (
            "预警告知函，限期整改至 {deadline}。{note}",
            "预警告知函，限期整改至 {deadline}。{note}",
        ),
        "warning.record_action": ("记录处理措施", "Record the action taken"),
        "warning.what": ("所做处理", "What was done"),
        "warning.close": ("办结", "Close"),
        "warning.submit": ("提交", "Submit"),
        "warning.done": ("已记录。", "Recorded."),
        "warning.refused": ("未能办理：{why}", "Not done: {why}"),
        "channel.window": ("窗口评价器", "Window"),
        "channel.kiosk": ("自助终端", "Kiosk"),
        "vote.level.1": ("非常不满意", "Very dissatisfied"),
        "vote.level.2": ("不满意", "Dissatisfied"),
        "vote.level.3": ("基本满意", "Fair"),
        "vote.level.4": ("满意", "Satisfied"),
        "vote.level.5": ("非常满意", "Very satisfied"),
        "appeal.title": ("申诉", "Appeals"),
        "appeal.file": ("提出申诉", "File an appeal"),
        "appeal.votes": ("申诉的评价", "Votes contested"),
        "appeal.reason": ("申诉理由", "Grounds"),
        "appeal.text": ("申诉说明", "Explanation"),
        "appeal.reason.malicious": ("恶意评价", "Malicious rating"),
        "appeal.reason.not_about_staff": ("非本人服务", "Not about this person's service"),
        "appeal.reason.duplicate": ("重复评价", "Duplicate rating"),
        "appeal.status.filed": ("待裁定", "Awaiting decision"),
        "appeal.status.accepted": ("已采纳", "Accepted"),
        "appeal.status.rejected": ("已驳回", "Rejected"),
        "appeal.number": ("申诉 {number}", "Appeal {number}"),
        "appeal.filed": ("{by} 于 {at} 提出", "Filed by {by} at {at}"),
        "appeal.decided": ("{by} 于 {at} 裁定", "Decided by {by} at {at}"),
        "appeal.accept": ("采纳（作废所申诉的评价）", "Accept (void the votes contested)"),
        "appeal.reject": ("驳回", "Reject"),
        "appeal.note": ("裁定说明", "Decision note"),
        "appeal.none": ("没有申诉。", "No appeals."),
        "appeal.warning": ("预警", "Warning"),
        # The kiosks' preset reasons (kiosk/config.py DEFAULT_REASONS); others show as sent.
        "reason.patient": ("耐心细致", "Patient and careful"),
        "reason.quick": ("办事快捷", "Quick"),
        "reason.clear": ("讲解清楚", "Explained clearly"),
        "reason.long-wait": ("等候时间长", "Long wait"),
        "reason.unclear": ("解释不清楚", "Unclear explanations"),
        "reason.rude": ("态度生硬", "Unfriendly manner"),
        "reason.extra-trips": ("让我多跑路", "Made me come back again"),
        "event.raised": ("触发预警", "Raised"),
        "event.reinstated": ("重新生效", "Reinstated"),
        "event.acknowledged": ("确认知悉", "Acknowledged"),
        "event.action": ("记录处理", "Action recorded"),
        "event.closed": ("办结", "Closed"),
        "event.withdrawn": ("撤销", "Withdrawn"),
        "event.superseded": ("被取代", "Superseded"),
        "event.unsuperseded": ("恢复", "No longer superseded"),
        "event.votes_changed": ("依据变更", "Votes changed"),
    }
)


def scope() -> Scope:
    """What the signed-in user may see: a department head their department, staff themselves."""
    who = user()
    if who.role == "dept_head":
        return Scope(department=who.department or "\0")
    if who.role == "staff":
        return Scope(staff=who.staff or "\0")
    return Scope()


def label(prefix: str, code: str) -> str:
    """The catalogue's words for ``prefix.code``, else the code as stored."""
    key = f"{prefix}.{code}"
    text = t(key)
    return code if text == key else text


def _zone() -> Any:
    return Calendar(hub_config().timezone).zone


def _names() -> dict[str, dict[str, str]]:
    directory = hub_config().directory
    return {
        "staff": {s.id: s.name for s in directory.staff.values()},
        "departments": {d.id: d.name for d in directory.departments.values()},
        "windows": {w.id: w.name for w in directory.windows.values()},
    }


@bp.get("/")
@requires(*READERS)
def index() -> ResponseReturnValue:
    """The queue: open, most severe, oldest first; filters state, level, department, period."""
    filters = {
        name: request.args.get(name, "").strip()
        for name in ("state", "level", "department", "period")
    }
    if filters["state"] not in STATES:
        filters["state"] = "open"
    zone = _zone()
    items = warning_queue(get_db().conn, scope(), filters)
    for item in items:
        item["raised_local"] = local_time(item["raised_at"], zone)
    return render_template(
        "console/warnings.html",
        items=items,
        filters=filters,
        states=STATES,
        levels=[rule.level for rule in counting().engine.rules],
        names=_names(),
        fixed_department=scope().department,
    )


def _page(ident: str, *, message: str | None = None, status: int = 200) -> ResponseReturnValue:
    conn = get_db().conn
    try:
        warning = warning_row(conn, ident, scope())
    except UnknownRecord:
        abort(404)
    zone = _zone()
    warning["raised_local"] = local_time(warning["raised_at"], zone)
    if warning["withdrawn_at"]:
        warning["withdrawn_local"] = local_time(warning["withdrawn_at"], zone)
    warning["current"] = dissatisfied(conn, warning["staff"], warning["period"])
    events = warning_events(conn, ident)
    for event in events:
        event["at_local"] = local_time(event["at"], zone)
        detail = event["detail"]
        event["note"] = detail.get("note") or detail.get("what") or _cause(detail)
    votes = warning_votes(conn, ident, zone)
    its_appeals = appeals_of(conn, ident)
    shown = {vote["id"] for vote in votes}
    gone = [v for a in its_appeals for v in a["votes"] if v not in shown]
    votes += votes_by_id(conn, list(dict.fromkeys(gone)), zone)
    for item in its_appeals:
        item["filed_local"] = local_time(item["filed_at"], zone)
        item["decided_local"] = item["decided_at"] and local_time(item["decided_at"], zone)
    case_id = case_of_source(conn, "warning", ident)
    case = get_case(conn, case_id) if case_id is not None else None
    who = user()
    standing = warning["withdrawn_at"] is None
    body = render_template(
        "console/warning.html",
        warning=warning,
        events=events,
        votes=votes,
        appeals=its_appeals,
        case=case,
        case_url=url_for(CASE_ENDPOINT, ident=case_id)
        if case is not None and CASE_ENDPOINT in current_app.view_functions
        else None,
        names=_names(),
        message=message,
        can_acknowledge=standing and who.role in ACKNOWLEDGE and warning["status"] == "raised",
        can_act=standing
        and who.role in OFFICE
        and warning["status"] in ("acknowledged", "actioned"),
        can_close=standing and who.role in OFFICE and warning["status"] == "actioned",
        can_appeal=standing and who.role in APPELLANTS and bool(votes),
        can_decide=who.role in OFFICE,
        reasons=("malicious", "not_about_staff", "duplicate"),
        label=label,
        today=datetime.now(zone).date().isoformat(),
    )
    return body, status


def _cause(detail: dict[str, Any]) -> str:
    parts = []
    if "void" in detail:
        parts.append(f"void {detail['void']} ({detail.get('reason', '')})")
    if "count" in detail:
        parts.append(f"count {detail['count']}")
    if "by_warning" in detail:
        parts.append(str(detail["by_warning"]))
    return ", ".join(parts)


@bp.get("/<ident>")
@requires(*READERS)
def warning(ident: str) -> ResponseReturnValue:
    """A warning: its facts, its history, its votes, its appeals, and the forms the role has."""
    return _page(ident)


def _step(ident: str, action: str, call: Any, **kwargs: Any) -> ResponseReturnValue:
    """Run one engine step with the user's name, audited in the same transaction.

    :func:`hub.db.write` answers a refused step (StateError) as 409 and an unknown
    warning as 404; a refusal shows the warning's page again with the reason."""
    who = user()
    note = request.form.get("note", "").strip() or None
    try:
        with write() as conn:
            warning_row(conn, ident, scope())
            call(conn, ident, by=who.name, **kwargs)
            accounts.audit(
                conn,
                who.name,
                f"warning_{action}",
                target=ident,
                note=kwargs.get("what") or note,
                address=address(),
            )
    except Conflict as exc:
        return _page(ident, message=t("warning.refused", why=exc.description), status=409)
    return redirect(url_for(".warning", ident=ident, done=action))


def _note() -> str | None:
    note = request.form.get("note", "").strip()
    return note or None


@bp.post("/<ident>/acknowledge")
@requires(*ACKNOWLEDGE)
def acknowledge(ident: str) -> ResponseReturnValue:
    """Acknowledge a raised warning, with a note."""
    return _step(ident, "acknowledge", counting().engine.acknowledge, note=_note())


@bp.post("/<ident>/notice")
@requires(*OFFICE)
def notice(ident: str) -> ResponseReturnValue:
    """Record the notice sent (预警告知函, 限期整改 by a date): the hook opens its case."""
    deadline = request.form.get("deadline", "").strip()
    try:
        date.fromisoformat(deadline)
    except ValueError:
        return _page(ident, message=t("warning.refused", why="deadline: YYYY-MM-DD"), status=400)
    what = t("warning.notice_text", deadline=deadline, note=_note() or "").strip()
    return _step(ident, "notice", counting().engine.record_action, what=what)


@bp.post("/<ident>/action")
@requires(*OFFICE)
def action(ident: str) -> ResponseReturnValue:
    """Record the action taken (the talk held, the letter delivered)."""
    what = request.form.get("what", "").strip()
    return _step(ident, "action", counting().engine.record_action, what=what)


@bp.post("/<ident>/close")
@requires(*OFFICE)
def close(ident: str) -> ResponseReturnValue:
    """Close a warning whose action is recorded."""
    return _step(ident, "close", counting().engine.close, note=_note())


@bp.post("/<ident>/appeal")
@requires(*APPELLANTS)
def file(ident: str) -> ResponseReturnValue:
    """A staff member (their own) or a department head (their department's) files an appeal."""
    who = user()
    try:
        with write() as conn:
            found = warning_row(conn, ident, scope())
            if found["withdrawn_at"] is not None:
                raise StateError(f"warning {ident} was withdrawn")
            number = file_appeal(
                conn,
                found,
                votes=request.form.getlist("vote"),
                reason=request.form.get("reason", ""),
                text=request.form.get("text", ""),
                by=who.name,
                at=accounts.now_text(),
            )
            accounts.audit(
                conn,
                who.name,
                "appeal_file",
                target=f"{ident} #{number}",
                note=request.form.get("text", "").strip(),
                address=address(),
            )
    except Conflict as exc:
        return _page(ident, message=t("warning.refused", why=exc.description), status=409)
    return redirect(url_for(".warning", ident=ident, done="appeal"))


@bp.get("/appeals")
@requires(*READERS)
def appeals_list() -> ResponseReturnValue:
    """Every appeal the user may see, undecided first."""
    state = request.args.get("state", "")
    zone = _zone()
    items = appeals(get_db().conn, scope(), state)
    for item in items:
        item["filed_local"] = local_time(item["filed_at"], zone)
        item["decided_local"] = item["decided_at"] and local_time(item["decided_at"], zone)
    return render_template(
        "console/warnings_appeals.html",
        items=items,
        state=state if state in APPEAL_STATES else "",
        states=APPEAL_STATES,
        names=_names(),
        can_decide=user().role in OFFICE,
    )


@bp.post("/appeals/<appeal_id>/decide")
@requires(*OFFICE)
def decide(appeal_id: str) -> ResponseReturnValue:
    """Accept (void the votes contested; counts and warnings follow) or reject with a note."""
    if not appeal_id.isdigit():
        abort(404)
    number = int(appeal_id)
    who = user()
    verdict = request.form.get("decision", "")
    if verdict not in ("accept", "reject"):
        abort(400, description="decision: accept or reject")
    note = request.form.get("note", "")
    try:
        found = appeal(get_db().conn, number)
    except UnknownRecord:
        abort(404)
    try:
        with write() as conn:
            decide_appeal(
                conn,
                counting(),
                number,
                accept=verdict == "accept",
                note=note,
                by=who.name,
                at=accounts.now_text(),
            )
            accounts.audit(
                conn,
                who.name,
                f"appeal_{verdict}",
                target=f"{found['warning_id']} #{number}",
                note=note.strip() or None,
                address=address(),
            )
    except Conflict as exc:
        why = t("warning.refused", why=exc.description)
        return _page(found["warning_id"], message=why, status=409)
    back = request.form.get("back", "")
    if back == "list":
        return redirect(url_for(".appeals_list"))
    return redirect(url_for(".warning", ident=found["warning_id"], done="decide"))
