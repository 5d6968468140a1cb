"""The console's case pages: the list, a case with one form per allowed step, registering.

Every step calls the same chain functions as the JSON API
(:mod:`hub.cases.chain`), with the signed-in user as the :class:`Actor`; the
console's role decides the actor's role (:data:`ACTOR_ROLES`), and a staff
user acts as the responsible person named by their directory staff id
(:func:`case_actor`). Each step is recorded twice, in one transaction: as
the case's own step (who, when, note) and in the console's audit log. A
case is never deleted: no page offers it, and the database refuses it.

Scope: a department head sees their department's cases only, a staff
member the cases assigned to them only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from hub.cases import chain, store
from hub.cases.api import CASES_KEY
from hub.cases.chain import (
    CLOSED,
    PERMISSIONS,
    RATINGS,
    STAFF_CHANNELS,
    STATUSES,
    TRANSITIONS,
    Actor,
    CaseInputError,
    Cases,
    NotAllowed,
)
from hub.console import accounts, cases_store
from hub.console.accounts import User
from hub.console.messages import register
from hub.console.nav import NavEntry, add
from hub.console.web import address, console_blueprint, requires, user
from hub.db import get_db, hub_config, write
from hub.tokens import ROLES as TOKEN_ROLES

bp = console_blueprint("console_cases", __name__, "/cases", template_folder="templates")

# Each console role acts on cases as this role of the chain (hub.tokens.ROLES): a
# department head reads, a staff member handles the cases assigned to them.
ACTOR_ROLES = {
    "manager": "manager",
    "office": "office",
    "admin": "admin",
    "dept_head": "reader",
    "staff": "handler",
}
# The steps only the responsible person (or the office on their behalf) takes.
HANDLER_ACTIONS = ("start", "draft", "answer")
ACTIONS = (*TRANSITIONS, "merge")
CHANNELS = ("kiosk", *STAFF_CHANNELS, "warning")
LIST_ROLES = ("manager", "dept_head", "office", "staff", "admin")
MAX_LIST = 200


def case_actor(who: User) -> Actor:
    """The chain's actor for a console user.

    A staff user is the responsible person whose directory staff id is
    their ``--staff``: a case is assigned to that id, and they act as it. A
    staff user with no staff id only reads. Everyone else acts under their
    login name with their role's mapping.
    """
    if who.role == "staff":
        return Actor(who.staff, "handler") if who.staff else Actor(who.name, "reader")
    return Actor(who.name, ACTOR_ROLES[who.role])


def roles_for(action: str) -> tuple[str, ...]:
    """The console roles whose actor role may take ``action`` (register included)."""
    need = PERMISSIONS[action]
    return tuple(r for r in LIST_ROLES if need in TOKEN_ROLES[ACTOR_ROLES[r]])


def book() -> Cases:
    """The app's case book (the one the cases API uses)."""
    cases: Cases = current_app.extensions[CASES_KEY]
    return cases


def sees(case: dict[str, Any], who: User) -> bool:
    """Whether ``who`` may see ``case``: department heads their department, staff their own."""
    if who.role == "dept_head":
        return who.department is not None and case["department"] == who.department
    if who.role == "staff":
        return who.staff is not None and case["assignee"] == who.staff
    return True


def may_read_contact(case: dict[str, Any], who: User) -> bool:
    """Whether ``who`` may read the citizen's contact for the callback (回访): the office,
    the administrator and the case's responsible person; never anyone else."""
    if who.role in ("office", "admin"):
        return True
    return who.role == "staff" and who.staff is not None and case["assignee"] == who.staff


def allowed_actions(cases: Cases, case: dict[str, Any], who: User) -> list[str]:
    """The steps ``who`` may take on ``case`` now: the forms the case page shows."""
    if case["status"] in CLOSED or not sees(case, who):
        return []
    actor = case_actor(who)
    may = TOKEN_ROLES.get(actor.role, frozenset())
    found = []
    for action in ACTIONS:
        if PERMISSIONS[action] not in may:
            continue
        if action != "merge" and case["status"] not in TRANSITIONS[action][0]:
            continue
        if action in HANDLER_ACTIONS and actor.role == "handler" and case["assignee"] != actor.name:
            continue
        if (
            action == "answer"
            and case["status"] == "drafted"
            and cases.case_class(case["class"]).approval
        ):
            continue  # a leader approves first
        found.append(action)
    return found


def workdays_left(cases: Cases, today: date, due: date) -> int:
    """Working days from ``today`` to ``due``: positive ahead, negative overdue, 0 today."""
    sign, start, end = (1, today, due) if due >= today else (-1, due, today)
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if cases.calendar.is_workday(day):
            count += 1
    return sign * count


def _due(cases: Cases, today: date, case: dict[str, Any]) -> dict[str, Any] | None:
    if not case["stage_due_on"]:
        return None
    due = date.fromisoformat(case["stage_due_on"])
    left = workdays_left(cases, today, due)
    overdue = due < today
    return {"on": case["stage_due_on"], "left": left, "overdue": overdue}


def _local(cases: Cases, stamp: str | None) -> str:
    if not stamp:
        return ""
    moment = datetime.fromisoformat(stamp).astimezone(ZoneInfo(cases.timezone))
    return moment.strftime("%Y-%m-%d %H:%M")


def _names() -> dict[str, dict[str, str]]:
    directory = hub_config().directory
    return {
        "departments": {d.id: d.name for d in directory.departments.values()},
        "staff": {s.id: s.name for s in directory.staff.values()},
    }


def _case_id(ident: str) -> int:
    # Not a route converter: a path that is no number still needs a login first.
    if not ident.isdigit() or len(ident) > 18:
        abort(404, description=f"no case {ident!r}")
    return int(ident)


def _stages(cases: Cases, case: dict[str, Any], steps: list[dict[str, Any]]) -> list[dict]:
    """Each stage of the case's class: its limit and when it ended, runs, or is planned."""
    case_class = cases.case_class(case["class"])
    reached: dict[str, str] = {}
    for step in steps:
        reached.setdefault(step["to_status"], step["at"])
    found = []
    planned: date | None = None
    for index, stage in enumerate(case_class.stages):
        row: dict[str, Any] = {"label": stage.label, "days": stage.days, "until": stage.until}
        if index < case["stage"] or case["status"] in CLOSED:
            at = reached.get(stage.until)
            row["state"] = "done"
            row["on"] = cases.local_date(at).isoformat() if at else None
        elif index == case["stage"]:
            row["state"] = "current"
            row["started"] = case["stage_started_on"]
            row["on"] = case["stage_due_on"]
            planned = date.fromisoformat(case["stage_due_on"]) if case["stage_due_on"] else None
        else:
            row["state"] = "planned"
            if planned is not None:
                planned = cases.calendar.add_workdays(planned, stage.days)
            row["on"] = planned.isoformat() if planned else None
        found.append(row)
    return found


@bp.get("/")
@requires(*LIST_ROLES)
def index() -> ResponseReturnValue:
    """The cases, newest first, with the list's filters."""
    who = user()
    cases = book()
    filters = {name: request.args.get(name, "").strip() for name in cases_store.FILTER_SQL}
    filters["assignee"] = ""
    if who.role == "dept_head":
        filters["department"] = who.department or "\0"
    if who.role == "staff":
        filters["assignee"] = who.staff or "\0"
    overdue = request.args.get("overdue") == "1"
    today = cases.today()
    rows = cases_store.list_cases(
        get_db().conn,
        filters,
        overdue_before=today.isoformat() if overdue else None,
        limit=MAX_LIST,
    )
    for row in rows:
        row["due"] = _due(cases, today, row)
    return render_template(
        "console/cases.html",
        cases=rows,
        filters=filters,
        overdue=overdue,
        statuses=STATUSES,
        classes=cases.settings.classes,
        class_labels={c.name: c.label for c in cases.settings.classes},
        channels=CHANNELS,
        names=_names(),
        today=today.isoformat(),
        warnings=cases.calendar_warnings(),
        may_register=who.role in roles_for("register"),
        max_list=MAX_LIST,
    )


def _case_page(case_id: int, *, error: str | None = None, code: int = 200) -> ResponseReturnValue:
    who = user()
    cases = book()
    conn = get_db().conn
    case = store.get_case(conn, case_id)
    if case is None:
        abort(404, description=f"no case {case_id}")
    if not sees(case, who):
        abort(403, description="not a case of yours")
    document = chain.case_document(cases, conn, case_id)
    today = cases.today()
    steps = document["steps"]
    merged = [
        found
        for step in steps
        if step["event"] == "merge"
        and (found := store.get_case(conn, step["detail"]["merged"])) is not None
    ]
    contacts: list[str] = []
    if may_read_contact(case, who):
        contacts = [contact for _, contact in store.contacts(conn, case_id)]
        if contacts:
            with write() as writing:
                accounts.audit(
                    writing,
                    who.name,
                    "case_contact_viewed",
                    target=f"case:{case_id}",
                    address=address(),
                )
    names = _names()
    # Who took a step: a console user's display name, a staff member's directory name.
    names["by"] = {**names["staff"], **cases_store.display_names(conn)}
    directory = hub_config().directory
    staff_by_department: dict[str, list[tuple[str, str]]] = {}
    for person in directory.staff.values():
        staff_by_department.setdefault(person.department, []).append((person.id, person.name))
    body = render_template(
        "console/case.html",
        case=document,
        steps=steps,
        stages=_stages(cases, case, steps),
        due=_due(cases, today, case),
        merged=merged,
        sources=document["sources"],
        actions=allowed_actions(cases, case, who),
        departments=list(directory.departments.values()),
        staff_by_department=staff_by_department,
        ratings=RATINGS,
        names=names,
        local=lambda stamp: _local(cases, stamp),
        contacts=contacts,
        error=error,
        done=request.args.get("done", ""),
        warnings=cases.calendar_warnings(),
    )
    return body, code


@bp.get("/<ident>")
@requires(*LIST_ROLES)
def case(ident: str) -> ResponseReturnValue:
    """A case: its sources, deadlines, texts, every step, and the forms of the allowed steps."""
    return _case_page(_case_id(ident))


def _form(name: str) -> str | None:
    value = request.form.get(name, "")
    return value if value.strip() else None


def _assign_args() -> dict[str, Any]:
    department = _form("department") or ""
    assignee = _form("assignee") or ""
    directory = hub_config().directory
    if department not in directory.departments:
        raise CaseInputError("department: choose a department of the directory")
    person = directory.staff.get(assignee)
    if person is None or person.department != department:
        raise CaseInputError("assignee: choose one person of that department")
    return {"department": department, "assignee": assignee, "note": _form("note")}


def _check_args() -> dict[str, Any]:
    return {
        "rating": request.form.get("rating", ""),
        "by_citizen": request.form.get("by") != "office",
        "note": _form("note"),
    }


def _draft_args() -> dict[str, Any]:
    return {"answer": request.form.get("answer", ""), "note": _form("note")}


def _send_back_args() -> dict[str, Any]:
    return {"note": request.form.get("note", "")}


ARGUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "assign": _assign_args,
    "draft": _draft_args,
    "send_back": _send_back_args,
    "check": _check_args,
}


def _act(action: str, ident: str) -> ResponseReturnValue:
    """Take ``action`` on the case (merge: merge the form's duplicate into it)."""
    case_id = _case_id(ident)
    who = user()
    cases = book()
    try:
        kwargs = ARGUMENTS.get(action, lambda: {"note": _form("note")})()
        with write() as conn:
            target = case_id
            if action == "merge":
                duplicate = (request.form.get("duplicate") or "").strip()
                if not duplicate.isdigit():
                    raise CaseInputError("duplicate: the number of the duplicate case")
                target = int(duplicate)
                kwargs["into"] = case_id
            for checked in {case_id, target}:
                found = store.get_case(conn, checked)
                if found is not None and not sees(found, who):
                    raise NotAllowed(f"case {checked} is not a case of yours")
            chain.ACTIONS[action](cases, conn, target, case_actor(who), **kwargs)
            accounts.audit(
                conn,
                who.name,
                f"case_{action}",
                target=f"case:{target}" + (f"→{case_id}" if action == "merge" else ""),
                note=kwargs.get("note"),
                address=address(),
            )
    except CaseInputError as exc:
        return _case_page(case_id, error=str(exc), code=400)
    except NotAllowed as exc:
        return _case_page(case_id, error=str(exc), code=403)
    except HTTPException as exc:
        if exc.code == 404 and store.get_case(get_db().conn, case_id) is None:
            raise
        return _case_page(case_id, error=exc.description, code=exc.code or 409)
    return redirect(url_for(".case", ident=case_id, done=action))


def _action_view(action: str) -> Callable[[str], ResponseReturnValue]:
    def view(ident: str) -> ResponseReturnValue:
        return _act(action, ident)

    view.__name__ = f"act_{action}"
    view.__doc__ = f"The case step {action!r}, from its form on the case page."
    return view


for _action in ACTIONS:
    bp.add_url_rule(
        f"/<ident>/{_action}",
        endpoint=f"act_{_action}",
        view_func=requires(*roles_for(_action))(_action_view(_action)),
        methods=["POST"],
    )


@bp.route("/new", methods=["GET", "POST"])
@requires(*roles_for("register"))
def new() -> ResponseReturnValue:
    """Register a complaint received by phone, letter, the 12345 hotline, the website, a visit."""
    cases = book()
    error = None
    if request.method == "POST":
        who = user()
        try:
            received = request.form.get("received_on", "")
            try:
                received_on = date.fromisoformat(received)
            except ValueError:
                raise CaseInputError("received_on: the date it was received") from None
            with write() as conn:
                case_id = chain.register(
                    cases,
                    conn,
                    case_actor(who),
                    channel=request.form.get("channel", ""),
                    received_on=received_on,
                    text=request.form.get("text", ""),
                    title=_form("title"),
                    case_class=_form("class"),
                    department=_form("department"),
                    contact=_form("contact"),
                    ref=_form("ref"),
                )
                accounts.audit(
                    conn,
                    who.name,
                    "case_register",
                    target=f"case:{case_id}",
                    note=request.form.get("channel"),
                    address=address(),
                )
            return redirect(url_for(".case", ident=case_id, done="register"))
        except CaseInputError as exc:
            error = str(exc)
        except HTTPException as exc:
            error = exc.description
    page = render_template(
        "console/case_new.html",
        channels=STAFF_CHANNELS,
        classes=cases.settings.classes,
        default_class=cases.settings.default_class,
        departments=list(hub_config().directory.departments.values()),
        today=cases.today().isoformat(),
        form=request.form,
        error=error,
        warnings=cases.calendar_warnings(),
    )
    return page, 400 if error else 200


add(NavEntry("console_cases.index", "nav.cases", frozenset(LIST_ROLES)))

register(
    {
        "nav.cases": ("办件", "Cases"),
        "cases.title": ("办件", "Cases"),
        "cases.new": ("登记来件", "Register a complaint"),
        "cases.filter": ("筛选", "Filter"),
        "cases.any": ("全部", "Any"),
        "cases.status": ("状态", "Status"),
        "cases.class": ("类别", "Class"),
        "cases.department": ("部门", "Department"),
        "cases.channel": ("来源渠道", "Channel"),
        "cases.overdue_only": ("只看超期", "Overdue only"),
        "cases.id": ("编号", "No."),
        "cases.case_title": ("事项", "Subject"),
        "cases.assignee": ("责任人", "Responsible"),
        "cases.received_on": ("受理日期", "Received"),
        "cases.due": ("本阶段期限", "Stage due"),
        "cases.none": ("没有符合条件的办件。", "No case matches."),
        "cases.shown_max": ("最多显示 {n} 件", "At most {n} shown"),
        "cases.left": ("剩 {n} 个工作日", "{n} working days left"),
        "cases.due_today": ("今日到期", "Due today"),
        "cases.overdue": ("超期 {n} 个工作日", "Overdue by {n} working days"),
        "cases.overdue_mark": ("超期", "Overdue"),
        "cases.calendar_warning": ("日历提示", "Calendar notice"),
        "cases.case": ("办件 {id}", "Case {id}"),
        "cases.back": ("返回办件列表", "Back to the cases"),
        "cases.text": ("来件内容", "What was received"),
        "cases.draft": ("拟答复", "Drafted answer"),
        "cases.answer": ("答复", "Answer"),
        "cases.rating": ("回访评价", "Follow-up rating"),
        "cases.deadlines": ("办理期限", "Deadlines"),
        "cases.stage": ("阶段", "Stage"),
        "cases.limit": ("时限", "Limit"),
        "cases.workdays": ("{n} 个工作日", "{n} working days"),
        "cases.stage_done": ("已完成 {on}", "Done {on}"),
        "cases.stage_current": ("{started} 起，{on} 到期", "From {started}, due {on}"),
        "cases.stage_planned": ("预计 {on}", "Planned {on}"),
        "cases.final_due": ("最终期限", "Final deadline"),
        "cases.sources": ("来源", "Sources"),
        "cases.ref": ("来源编号", "Reference"),
        "cases.registered_by": ("登记人", "Registered by"),
        "cases.contact": ("联系方式", "Contact"),
        "cases.has_contact": ("留有联系方式", "Left a contact"),
        "cases.contact_for_callback": (
            "回访联系方式（查看已记录）",
            "Contact for the callback (each view is recorded)",
        ),
        "cases.first_case": ("原办件 {id}", "First case {id}"),
        "cases.merged": ("已合并的重复件", "Duplicates merged into this case"),
        "cases.merged_into": ("已合并到办件 {id}", "Merged into case {id}"),
        "cases.steps": ("办理记录", "Steps"),
        "cases.at": ("时间", "When"),
        "cases.step": ("环节", "Step"),
        "cases.by": ("经办人", "By"),
        "cases.note": ("意见", "Note"),
        "cases.detail": ("详情", "Details"),
        "cases.actions": ("办理", "Act"),
        "cases.no_actions": ("您当前没有可办理的环节。", "Nothing for you to do on this case now."),
        "cases.refused": ("未能办理：{detail}", "Not done: {detail}"),
        "cases.done": ("已办理：{action}", "Done: {action}"),
        "cases.note_optional": ("意见（可选）", "Note (optional)"),
        "cases.note_required": ("意见（必填）", "Note (required)"),
        "cases.choose": ("请选择", "Choose"),
        "cases.by_citizen": ("群众评价", "Rated by the citizen"),
        "cases.by_office": ("效能办评价", "Rated by the office"),
        "cases.duplicate": ("重复件编号", "Duplicate case no."),
        "cases.title_field": ("标题（可选）", "Title (optional)"),
        "cases.register_hint": (
            "电话、信件、12345 热线、网站或来访收到的投诉，在此登记，受理日期为实际收到之日。",
            "Complaints by phone, letter, the 12345 hotline, the website or a visit: the date"
            " received is the day it reached the hall.",
        ),
        "cases.submit_register": ("登记", "Register"),
        "cases.approval": ("需领导审核", "Needs a leader's approval"),
        # Statuses, channels, steps and ratings.
        "cases.s.registered": ("已受理", "Registered"),
        "cases.s.assigned": ("已交办", "Assigned"),
        "cases.s.in_progress": ("办理中", "In progress"),
        "cases.s.drafted": ("已拟答复", "Drafted"),
        "cases.s.approved": ("已审核", "Approved"),
        "cases.s.answered": ("已答复", "Answered"),
        "cases.s.checked": ("已回访", "Checked"),
        "cases.s.archived": ("已办结", "Closed"),
        "cases.s.merged": ("已合并", "Merged"),
        "cases.c.kiosk": ("自助终端", "Kiosk"),
        "cases.c.phone": ("电话", "Phone"),
        "cases.c.letter": ("信件", "Letter"),
        "cases.c.hotline": ("12345 热线", "12345 hotline"),
        "cases.c.website": ("网站", "Website"),
        "cases.c.visit": ("来访", "Visit"),
        "cases.c.warning": ("预警告知", "Warning notice"),
        "cases.a.registered": ("登记", "Registered"),
        "cases.a.register": ("登记", "Register"),
        "cases.a.assign": ("交办", "Assign"),
        "cases.a.start": ("签收", "Take on"),
        "cases.a.draft": ("拟写答复", "Draft the answer"),
        "cases.a.approve": ("审核通过", "Approve"),
        "cases.a.send_back": ("退回重办", "Send back"),
        "cases.a.answer": ("答复群众", "Send the answer"),
        "cases.a.check": ("回访", "Follow up"),
        "cases.a.redo": ("回访不满意，退回重办", "Follow-up dissatisfied: redo"),
        "cases.a.archive": ("归档销号", "Archive"),
        "cases.a.merge": ("合并重复件到本件", "Merge a duplicate into this case"),
        "cases.a.merge_into": ("合并到其他办件", "Merged into another case"),
        "cases.r.satisfied": ("满意", "Satisfied"),
        "cases.r.basically_satisfied": ("基本满意", "Basically satisfied"),
        "cases.r.dissatisfied": ("不满意（退回重办）", "Dissatisfied (redo)"),
    }
)
