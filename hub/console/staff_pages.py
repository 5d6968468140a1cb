"""The staff page: one staff member's scores per month and dimension, comments, warnings.

A staff user sees their own page only (another's answers 403); a department
head the pages of their department's staff; the manager, the office and the
administrator anyone's. The privacy rule holds for every viewer: a month is
shown only once it has ended and has at least ``[console] staff_min_votes``
counted votes (its dimensions likewise, through
:func:`hub.analytics.staff_dimensions`), comments are shown as text alone
and never who, when, where or with which ticket; so no single rating, and no
live one, can be read off the page.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, current_app, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from hub import analytics, charts
from hub.analytics import Point, StaffDimensions
from hub.console import messages, staff_store
from hub.console.nav import NavEntry, add
from hub.console.periods_picker import calendar, current, department_scope, picked
from hub.console.warnings_store import local_time
from hub.console.web import console_blueprint, requires, t, user
from hub.db import get_db, hub_config

bp = console_blueprint("console_staff", __name__, "/staff")

VIEWERS = ("manager", "dept_head", "office", "admin")

messages.register(
    {
        "nav.staff": ("工作人员", "Staff"),
        "nav.my_page": ("我的评价", "My ratings"),
        "staff.list_title": ("工作人员评价", "Staff ratings"),
        "staff.title": ("{name} 的评价", "Ratings of {name}"),
        "staff.year": ("年份", "Year"),
        "staff.show": ("显示", "Show"),
        "staff.print": ("打印", "Print"),
        "staff.rule": (
            "只显示已结束且至少 {votes} 票的月份；评论只显示内容，不显示评价人、时间、窗口或票号。",
            "Only months that have ended with at least {votes} votes are shown; comments show"
            " their text only, never who, when, where or the ticket.",
        ),
        "staff.year_votes": ("全年有效票", "Votes this year"),
        "staff.year_satisfaction": ("全年满意率", "Satisfaction this year"),
        "staff.year_dissatisfied": ("全年不满意", "Dissatisfied this year"),
        "staff.trend": ("{year} 年每月满意率", "Satisfaction by month, {year}"),
        "staff.months": ("每月评价", "Month by month"),
        "staff.month": ("{month}", "{month}"),
        "staff.withheld": (
            "本月不足 {votes} 票（或未结束），不显示。",
            "Fewer than {votes} votes (or not ended): not shown.",
        ),
        "staff.dimensions_withheld": (
            "评价器评分不足 {votes} 票，不显示分项。",
            "Fewer than {votes} kiosk ratings: dimensions not shown.",
        ),
        "staff.votes": ("有效票", "Votes"),
        "staff.satisfaction": ("满意率", "Satisfaction"),
        "staff.dissatisfied": ("不满意", "Dissatisfied"),
        "staff.comments": ("评论", "Comments"),
        "staff.no_comments": ("无评论。", "No comments."),
        "staff.warnings": ("预警", "Warnings"),
        "staff.no_warnings": ("无预警。", "No warnings."),
        "staff.warning_period": ("期间", "Period"),
        "staff.warning_level": ("级别", "Level"),
        "staff.warning_count": ("不满意次数", "Dissatisfied"),
        "staff.warning_action": ("处理", "Action"),
        "staff.warning_status": ("状态", "Status"),
        "staff.withdrawn": ("已撤销", "withdrawn"),
        "staff.appeal_here": ("对预警提出申诉", "Appeal a warning"),
        "staff.appeals": ("申诉", "Appeals"),
        "staff.no_appeals": ("无申诉。", "No appeals."),
        "staff.appeal_warning": ("预警", "Warning"),
        "staff.appeal_filed": ("提出", "Filed"),
        "staff.appeal_grounds": ("理由", "Grounds"),
        "staff.appeal_state": ("状态", "State"),
        "staff.appeal_decision": ("裁定", "Decision"),
        "staff.appeal_decided": ("{by} 于 {at}", "{by} at {at}"),
        "staff.voids": ("申诉作废的评价", "Votes voided on appeal"),
        "staff.no_voids": ("本年无作废的评价。", "No votes voided this year."),
        "staff.void_month": ("评价月份", "Month of the vote"),
        "staff.void_reason": ("原因", "Reason"),
        "staff.void_at": ("作废日期", "Voided on"),
        "staff.reason.malicious": ("恶意评价", "Malicious"),
        "staff.reason.not_about_staff": ("与本人无关", "Not about the staff member"),
        "staff.reason.duplicate": ("重复评价", "Duplicate"),
        "staff.status.raised": ("已发出", "Raised"),
        "staff.status.acknowledged": ("已确认", "Acknowledged"),
        "staff.status.actioned": ("已处理", "Actioned"),
        "staff.status.closed": ("已关闭", "Closed"),
        "staff.unknown": ("目录中无此工作人员。", "No such staff member in the directory."),
        "staff.no_account": (
            "您的账号未关联工作人员。",
            "Your account is not linked to a staff member.",
        ),
    }
)

add(NavEntry("console_staff.index", "nav.staff", frozenset(VIEWERS)))
add(NavEntry("console_staff.mine", "nav.my_page", frozenset({"staff"})))


@dataclass(frozen=True, slots=True)
class Month:
    """One month of the page: shown (its figures, dimensions and comments) or withheld."""

    point: Point
    shown: bool
    dimensions: StaffDimensions | None
    dimensions_svg: Markup | None
    comments: list[str]


@bp.get("/")
@requires(*VIEWERS)
def index() -> ResponseReturnValue:
    """The staff the viewer may open (a department head: their department's)."""
    department = department_scope()
    directory = hub_config().directory
    people = [
        (staff, entry)
        for staff, entry in directory.staff.items()
        if department is None or entry.department == department
    ]
    return render_template(
        "console/staff_list.html", people=people, departments=directory.departments
    )


@bp.get("/me")
@requires("staff")
def mine() -> ResponseReturnValue:
    """A staff user's own page."""
    staff = user().staff
    if not staff:
        abort(403, description=t("staff.no_account"))
    return redirect(url_for("console_staff.page", staff=staff))


@bp.get("/<staff>")
@requires("staff", *VIEWERS)
def page(staff: str) -> ResponseReturnValue:
    """One staff member's page, for the viewers the module's rule lets open it."""
    who = user()
    config = hub_config()
    entry = config.directory.staff.get(staff)
    if who.role == "staff":
        if staff != who.staff:
            abort(403)
    elif who.role == "dept_head" and (entry is None or entry.department != who.department):
        abort(403)
    if entry is None and who.role != "staff":
        abort(404, description=t("staff.unknown"))
    year = picked("year", "year")
    conn = get_db().conn
    hall_calendar = calendar()
    min_votes = config.console.staff_min_votes
    this_month = current("month")
    months = []
    for point in staff_store.months(conn, staff, year):
        shown = point.period < this_month and point.votes >= min_votes
        if not shown:
            months.append(Month(point, False, None, None, []))
            continue
        dims = analytics.staff_dimensions(conn, config, staff, point.period, min_votes=min_votes)
        svg = None
        if dims.votes and not dims.withheld:
            svg = Markup(charts.dimensions_chart(dims))  # SVG text escaped by hub.charts
        found = staff_store.comments(conn, hall_calendar, staff, point.period)
        months.append(Month(point, True, dims, svg, found))
    shown_points = [m.point if m.shown else Point(m.point.period, 0, 0) for m in months]
    name = entry.name if entry else staff
    trend = charts.trend_chart(
        shown_points, t("staff.trend", year=year), style="bar", warn_below=config.console.red_below
    )
    votes = sum(p.votes for p in shown_points)
    bad = sum(p.dissatisfied for p in shown_points)
    return render_template(
        "console/staff.html",
        staff=staff,
        name=name,
        department=getattr(config.directory.departments.get(entry.department), "name", None)
        if entry and entry.department
        else None,
        year=year,
        months=months,
        trend=Markup(trend),  # SVG text escaped by hub.charts
        year_total=Point(year, votes, bad),
        warnings=staff_store.warnings(conn, staff),
        voids=staff_store.voids(conn, hall_calendar, staff, year),
        appeals=_appeals(conn, hall_calendar.zone, staff),
        min_votes=min_votes,
        percent=charts.percent,
        appeal_url=_warnings_page(),
    )


def _appeals(conn: sqlite3.Connection, zone: ZoneInfo, staff: str) -> list[dict[str, Any]]:
    """The staff member's appeals with the hall's local times and their warning's page."""
    linked = "console_warnings.warning" in current_app.view_functions
    rows = []
    for found in staff_store.appeals(conn, staff):
        item = {name: getattr(found, name) for name in found.__slots__}
        item["filed_local"] = local_time(found.filed_at, zone)
        item["decided_local"] = local_time(found.decided_at, zone) if found.decided_at else None
        item["url"] = (
            url_for("console_warnings.warning", ident=found.warning_id) if linked else None
        )
        rows.append(item)
    return rows


def _warnings_page() -> str | None:
    """The warnings page (where a staff member appeals), when the console has one."""
    for rule in current_app.url_map.iter_rules():
        if rule.rule.rstrip("/") == "/console/warnings" and "GET" in (rule.methods or ()):
            return "/console/warnings/" if rule.rule.endswith("/") else "/console/warnings"
    return None
