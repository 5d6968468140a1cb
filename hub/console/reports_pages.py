"""The reports: the month-end dissatisfied tally, the weekly ranking, the monthly report.

Each is a page (printable: the print stylesheet leaves the menu and the
pickers off), a CSV download and an XLSX download, all from the same rows of
:mod:`hub.analytics` through :mod:`hub.exports`, so the page, the files and
``hallrate report`` agree. A department head gets their department's rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, abort, render_template
from flask.typing import ResponseReturnValue

from hub import analytics, exports
from hub.console import messages
from hub.console.nav import NavEntry, add
from hub.console.periods_picker import department_scope, picked, picked_week, previous_week
from hub.console.web import audit, console_blueprint, requires
from hub.db import get_db, hub_config

bp = console_blueprint("console_reports", __name__, "/reports")

ROLES = ("manager", "dept_head", "office", "admin")
FORMATS = ("csv", "xlsx")

messages.register(
    {
        "nav.reports": ("报表", "Reports"),
        "reports.title": ("报表", "Reports"),
        "reports.tally": ("月末不满意票统计", "Month-end dissatisfied tally"),
        "reports.tally_about": (
            "每位工作人员当月的有效票和不满意票（不满意、非常不满意），按不满意票从多到少。",
            "Each staff member's counted and dissatisfied votes in the month,"
            " most dissatisfied first.",
        ),
        "reports.ranking": ("周排名", "Weekly ranking"),
        "reports.ranking_about": (
            "窗口和部门按满意率的威尔逊下限（95%）排名；少于 {votes} 票不排名。",
            "Windows and departments by the Wilson lower bound (95%) of satisfaction;"
            " fewer than {votes} votes: not ranked.",
        ),
        "reports.monthly": ("月度报告（报县领导）", "Monthly report to county leaders"),
        "reports.monthly_about": (
            "各部门有效票、满意率、不满意票、预警；"
            "最佳和最末工作人员按威尔逊下限，至少 {votes} 票。",
            "Each department's votes, satisfaction, dissatisfied votes and warnings;"
            " top and bottom staff by Wilson lower bound, at least {votes} votes.",
        ),
        "reports.open": ("查看", "Open"),
        "reports.month": ("月份", "Month"),
        "reports.week": ("周", "Week"),
        "reports.show": ("显示", "Show"),
        "reports.print": ("打印 / 存为 PDF", "Print / save as PDF"),
        "reports.csv": ("下载 CSV", "Download CSV"),
        "reports.xlsx": ("下载 Excel (XLSX)", "Download Excel (XLSX)"),
        "reports.scope": ("部门：{name}", "Department: {name}"),
        "reports.none": ("本期无数据。", "No figures for this period."),
        "reports.hall_total": ("全大厅合计", "Hall total"),
    }
)

add(NavEntry("console_reports.index", "nav.reports", frozenset(ROLES)))


@bp.get("/")
@requires(*ROLES)
def index() -> ResponseReturnValue:
    """The three reports, each with its period picker."""
    return render_template(
        "console/reports.html",
        report=None,
        month=picked("month", "month"),
        week=picked_week(default=previous_week()),
        min_votes=hub_config().console.rank_min_votes,
    )


def _tally() -> tuple[str, list[dict[str, Any]]]:
    month = picked("month", "month")
    rows = analytics.month_end_tally(
        get_db().conn, hub_config(), month, department=department_scope()
    )
    return month, rows


def _ranking() -> tuple[str, list[dict[str, Any]]]:
    week = picked_week(default=previous_week())
    rows = analytics.weekly_ranking(
        get_db().conn,
        hub_config(),
        week,
        min_votes=hub_config().console.rank_min_votes,
        department=department_scope(),
    )
    return week, rows


def _monthly() -> tuple[str, analytics.MonthlyReport]:
    month = picked("month", "month")
    report = analytics.monthly_report(
        get_db().conn,
        hub_config(),
        month,
        min_votes=hub_config().console.rank_min_votes,
        department=department_scope(),
    )
    return month, report


@bp.get("/tally")
@requires(*ROLES)
def tally() -> ResponseReturnValue:
    """The month-end tally as a page."""
    month, rows = _tally()
    return _page("tally", month, rows=rows, columns=exports.TALLY_COLUMNS)


@bp.get("/ranking")
@requires(*ROLES)
def ranking() -> ResponseReturnValue:
    """The weekly ranking as a page."""
    week, rows = _ranking()
    return _page("ranking", week, rows=rows, columns=exports.RANKING_COLUMNS)


@bp.get("/monthly")
@requires(*ROLES)
def monthly() -> ResponseReturnValue:
    """The monthly report to county leaders as a page."""
    month, report = _monthly()
    rows = exports.report_rows(report)
    return _page("monthly", month, rows=rows, columns=exports.REPORT_COLUMNS)


@bp.get("/<name>.<fmt>")
@requires(*ROLES)
def download(name: str, fmt: str) -> ResponseReturnValue:
    """A report as a CSV or XLSX file: the same rows as its page."""
    makers: dict[str, Callable[[str], tuple[str, bytes]]] = {
        "tally": _tally_file,
        "ranking": _ranking_file,
        "monthly": _monthly_file,
    }
    if name not in makers or fmt not in FORMATS:
        abort(404)
    period, body = makers[name](fmt)
    audit("report_download", target=f"{name}:{period}", note=department_scope())
    kind = exports.CSV_TYPE if fmt == "csv" else exports.XLSX_TYPE
    response = Response(body, mimetype=None, content_type=kind)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{exports.filename(name, period, fmt)}"'
    )
    return response


def _tally_file(fmt: str) -> tuple[str, bytes]:
    month, rows = _tally()
    return month, exports.tally_csv(rows) if fmt == "csv" else exports.tally_xlsx(rows, month)


def _ranking_file(fmt: str) -> tuple[str, bytes]:
    week, rows = _ranking()
    if fmt == "csv":
        return week, exports.ranking_csv(rows)
    return week, exports.ranking_xlsx(rows, week, min_votes=hub_config().console.rank_min_votes)


def _monthly_file(fmt: str) -> tuple[str, bytes]:
    month, report = _monthly()
    if fmt == "csv":
        return month, exports.monthly_report_csv(report)
    return month, exports.monthly_report_xlsx(report)


def _page(name: str, period: str, **values: Any) -> ResponseReturnValue:
    department = department_scope()
    scope = None
    if department is not None:
        entry = hub_config().directory.departments.get(department)
        scope = getattr(entry, "name", None) or department
    return render_template(
        "console/reports.html",
        report=name,
        period=period,
        month=period if name != "ranking" else picked("month", "month"),
        week=period if name == "ranking" else picked_week(default=previous_week()),
        min_votes=hub_config().console.rank_min_votes,
        scope=scope,
        shares=("satisfaction", "wilson_lower", "top_score", "bottom_score"),
        numbers=("votes", "dissatisfied", "level_1", "level_2", "warnings", "rank"),
        **values,
    )
