"""The console's monthly bulletin page (通报): how each department handled its cases.

The figures are :func:`hub.cases.bulletins.monthly_bulletin`'s, unchanged:
cases received, answered (on time), overdue, reply and completion rates,
satisfaction with the handling (回访) and the service-time supervision
alerts, a row per department and the hall's totals. A month picker, CSV and
XLSX downloads of the same figures (:mod:`hub.exports`), and a print
stylesheet: the printed page is the bulletin itself, with a title block
naming the hall and the month. A department head sees, prints and downloads
their own department's row only.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, render_template, request
from flask.typing import ResponseReturnValue

from hub import exports
from hub.cases.bulletins import COUNTS, month_bounds, monthly_bulletin
from hub.console.cases_pages import book
from hub.console.messages import register
from hub.console.nav import NavEntry, add
from hub.console.web import console_blueprint, requires, user
from hub.db import get_db, hub_config

bp = console_blueprint("console_bulletins", __name__, "/bulletins", template_folder="templates")

VIEW_ROLES = ("office", "manager", "admin", "dept_head")
FORMATS = ("csv", "xlsx")


def _month() -> str:
    month = request.args.get("month", "").strip() or book().today().isoformat()[:7]
    try:
        month_bounds(month)
    except ValueError:
        abort(400, description=f"month: must be YYYY-MM, got {month!r}")
    return month


def scoped(bulletin: dict[str, Any], department: str | None) -> dict[str, Any]:
    """``bulletin`` as ``department``'s head sees it: their row, and it as the total."""
    if department is None:
        return bulletin
    rows = [r for r in bulletin["departments"] if r["department"] == department]
    if not rows:
        empty = {"department": department, "name": None, **dict.fromkeys(COUNTS, 0)}
        empty.update(reply_rate=None, completion_rate=None, satisfaction=None)
        rows = [empty]
    return {**bulletin, "departments": rows, "hall": {**rows[0], "department": None}}


def bulletin_for_user(month: str) -> dict[str, Any]:
    """The month's bulletin, limited to a department head's department."""
    cases = book()
    bulletin = monthly_bulletin(
        cases, get_db().conn, month, directory=hub_config().directory, now=cases.now()
    )
    who = user()
    return scoped(bulletin, (who.department or "\0") if who.role == "dept_head" else None)


@bp.get("/")
@requires(*VIEW_ROLES)
def index() -> ResponseReturnValue:
    """The month's bulletin (default: this month), a row per department."""
    month = _month()
    bulletin = bulletin_for_user(month)
    directory = hub_config().directory
    return render_template(
        "console/bulletins.html",
        bulletin=bulletin,
        month=month,
        this_month=book().today().isoformat()[:7],
        hall_name=directory.name or directory.hall,
        scoped=user().role == "dept_head",
    )


@bp.get("/<month>.<kind>")
@requires(*VIEW_ROLES)
def download(month: str, kind: str) -> ResponseReturnValue:
    """The same bulletin as CSV or XLSX."""
    if kind not in FORMATS:
        abort(404)
    try:
        month_bounds(month)
    except ValueError:
        abort(404)
    bulletin = bulletin_for_user(month)
    if kind == "csv":
        body, media = exports.bulletin_csv(bulletin), exports.CSV_TYPE
    else:
        body, media = exports.bulletin_xlsx(bulletin), exports.XLSX_TYPE
    name = exports.filename("bulletin", month, kind)
    return Response(
        body, mimetype=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


add(NavEntry("console_bulletins.index", "nav.bulletins", frozenset(VIEW_ROLES)))

register(
    {
        "nav.bulletins": ("月度通报", "Bulletins"),
        # The live hall's summary line (hub/console/views.py): today's staff online rate.
        "presence.hall_rate_today": ("今日在岗率", "Online rate today"),
        "bulletin.title": ("案件办理月度通报", "Monthly case bulletin"),
        "bulletin.heading": ("{hall} {month} 案件办理通报", "{hall}: case bulletin, {month}"),
        "bulletin.as_of": ("统计截至 {day}", "As of {day}"),
        "bulletin.month": ("月份", "Month"),
        "bulletin.show": ("查看", "Show"),
        "bulletin.csv": ("下载 CSV", "Download CSV"),
        "bulletin.xlsx": ("下载 Excel", "Download XLSX"),
        "bulletin.print": ("打印", "Print"),
        "bulletin.scoped": ("仅显示本部门。", "Your department only."),
        "bulletin.department": ("部门", "Department"),
        "bulletin.received": ("受理", "Received"),
        "bulletin.answered": ("已答复", "Answered"),
        "bulletin.on_time": ("按期答复", "On time"),
        "bulletin.overdue": ("超期", "Overdue"),
        "bulletin.reply_rate": ("答复率", "Reply rate"),
        "bulletin.completion_rate": ("办结率", "Completion rate"),
        "bulletin.satisfaction": ("回访满意率", "Satisfaction"),
        "bulletin.rated": ("回访 {n} 件", "{n} rated"),
        "bulletin.alerts": ("时效预警", "Supervision alerts"),
        "bulletin.red": ("确认 {n}", "{n} confirmed"),
        "bulletin.total": ("合计", "Total"),
        "bulletin.no_department": ("（未分派）", "(not assigned)"),
        "bulletin.none": ("—", "—"),
        "bulletin.rules": (
            "受理：本月登记的案件（合并的重复件不重复计）；按期答复：最后一次答复不晚于当时的期限；"
            "超期：逾期答复及未答复已过期限；答复率 = 已答复 / 受理；办结率 = 已归档 / 受理；"
            "回访满意率 = 满意及基本满意 / 已回访。",
            "Received: cases registered this month (merged duplicates counted once); on time: "
            "the last answer went out by its deadline; overdue: answered late, or unanswered past "
            "the deadline; reply rate = answered / received; completion rate = archived / "
            "received; satisfaction = satisfied or basically satisfied / rated.",
        ),
    }
)
