"""The charts page: satisfaction trends, the heat map of dissatisfied votes, dimensions, rankings.

Every figure comes from :mod:`hub.analytics` (the kept counts) and every
chart from :mod:`hub.charts` (SVG drawn on the server, each value written as
text); this module only reads the period pickers and the viewer's scope. A
department head sees their department's figures only.
"""

from __future__ import annotations

import re

from flask import render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from device_agent.protocol import DIMENSIONS
from hub import analytics, charts
from hub.analytics import DimensionCount, HeatMap, StaffDimensions
from hub.console import messages
from hub.console.nav import NavEntry, add
from hub.console.periods_picker import (
    department_scope,
    picked,
    picked_choice,
    picked_week,
)
from hub.console.web import console_blueprint, requires, t
from hub.db import get_db, hub_config

bp = console_blueprint("console_charts", __name__, "/charts")

ROLES = ("manager", "dept_head", "office", "admin")
GRAINS = ("month", "week", "day", "year")
# A chart wider than this keeps its size on a phone and scrolls in its box; a
# narrower one shrinks to the screen's width.
WIDE = 640
# The heat map's columns when the month has no votes: a hall's usual opening hours.
OPENING_HOURS = (8, 18)

messages.register(
    {
        "nav.charts": ("统计图表", "Charts"),
        "charts.title": ("统计图表", "Charts"),
        "charts.scope_hall": ("全大厅", "Whole hall"),
        "charts.scope_department": ("本部门：{name}", "Department: {name}"),
        "charts.month": ("月份", "Month"),
        "charts.year": ("年份", "Year"),
        "charts.day": ("日期", "Day"),
        "charts.week": ("周", "Week"),
        "charts.kind": ("排名对象", "Rank"),
        "charts.grain": ("排名周期", "Ranking period"),
        "charts.kind.staff": ("工作人员", "Staff"),
        "charts.kind.window": ("窗口", "Windows"),
        "charts.kind.department": ("部门", "Departments"),
        "charts.grain.day": ("日", "Day"),
        "charts.grain.week": ("周", "Week"),
        "charts.grain.month": ("月", "Month"),
        "charts.grain.year": ("年", "Year"),
        "charts.show": ("显示", "Show"),
        "charts.print": ("打印", "Print"),
        "charts.daily": ("{month} 每日满意率", "Satisfaction by day, {month}"),
        "charts.monthly": ("{year} 年每月满意率", "Satisfaction by month, {year}"),
        "charts.heatmap": (
            "{month} 不满意票：星期 × 时段",
            "Dissatisfied votes by weekday and hour, {month}",
        ),
        "charts.dimensions": (
            "{period} 分项评价（评价器）",
            "Ratings by dimension (kiosks), {period}",
        ),
        "charts.dimensions_hall": ("合计", "All staff"),
        "charts.ranking": (
            "{period} 排名：{kind}（威尔逊下限，至少 {votes} 票）",
            "Ranking of {kind}, {period} (Wilson lower bound, at least {votes} votes)",
        ),
        "charts.rank": ("名次", "Rank"),
        "charts.name": ("名称", "Name"),
        "charts.votes": ("有效票", "Votes"),
        "charts.dissatisfied": ("不满意", "Dissatisfied"),
        "charts.satisfaction": ("满意率", "Satisfaction"),
        "charts.wilson": ("威尔逊下限", "Wilson lower bound"),
        "charts.unranked": ("票数不足，不排名", "too few votes: not ranked"),
        "charts.none": ("本期无数据。", "No figures for this period."),
        "charts.staff": ("工作人员", "Staff"),
        "charts.mean": ("均分", "Mean"),
    }
)

add(NavEntry("console_charts.index", "nav.charts", frozenset(ROLES)))


@bp.get("/")
@requires(*ROLES)
def index() -> ResponseReturnValue:
    """Every chart for the picked month, year and ranking period, in the viewer's scope."""
    config = hub_config()
    conn = get_db().conn
    department = department_scope()
    month = picked("month", "month")
    year = picked("year", "year", default=month[:4])
    grain = picked_choice("grain", GRAINS)
    kind = picked_choice("kind", analytics.KINDS)
    day = picked("day", "day")
    week = picked_week()
    window = {"month": month, "week": week, "day": day, "year": year}[grain]
    warn = config.console.red_below
    min_votes = config.console.rank_min_votes

    daily = analytics.daily_trend(conn, config, month, department=department)
    monthly = analytics.monthly_trend(conn, config, year, department=department)
    heat = analytics.month_heatmap(conn, config, month, department=department)
    people = analytics.dimensions(conn, config, month, department=department)
    ranked = analytics.rank(conn, config, kind, window, min_votes=min_votes, department=department)
    kind_name = t(f"charts.kind.{kind}")
    svgs = {
        "daily": charts.trend_chart(daily, t("charts.daily", month=month), warn_below=warn),
        "monthly": charts.trend_chart(
            monthly, t("charts.monthly", year=year), style="bar", warn_below=warn
        ),
        "heatmap": charts.heatmap_chart(
            heat, t("charts.heatmap", month=month), hours=_open_hours(heat)
        ),
        "dimensions": charts.dimensions_chart(
            _all_staff(people), t("charts.dimensions", period=month)
        ),
        "ranking": charts.ranking_chart(
            ranked,
            t("charts.ranking", period=window, kind=kind_name, votes=min_votes),
            warn_below=warn,
        ),
    }
    directory = config.directory
    scope_name = (
        t("charts.scope_hall")
        if department is None
        else t(
            "charts.scope_department",
            name=getattr(directory.departments.get(department), "name", None) or department,
        )
    )
    return render_template(
        "console/charts.html",
        svgs={name: Markup(svg) for name, svg in svgs.items()},  # SVG text escaped by hub.charts
        wide={name for name, svg in svgs.items() if _width(svg) > WIDE},
        month=month,
        year=year,
        day=day,
        week=week,
        grain=grain,
        kind=kind,
        grains=GRAINS,
        kinds=analytics.KINDS,
        window=window,
        ranked=ranked,
        people=people,
        dimension_names=DIMENSIONS,
        dimension_labels=analytics.DIMENSION_LABELS,
        min_votes=min_votes,
        scope_name=scope_name,
        percent=charts.percent,
    )


def _all_staff(people: list[StaffDimensions]) -> StaffDimensions:
    """Every listed staff member's ratings of each dimension added up (the chart's bars)."""
    summed = {}
    for name in DIMENSIONS:
        counts = [p.dimensions[name] for p in people]
        levels = tuple(sum(c.levels[i] for c in counts) for i in range(5))
        summed[name] = DimensionCount(
            (levels[0], levels[1], levels[2], levels[3], levels[4]),
            sum(c.votes for c in counts),
            sum(c.dissatisfied for c in counts),
        )
    return StaffDimensions("*", t("charts.dimensions_hall"), None, summed)


def _open_hours(heat: HeatMap) -> tuple[int, int]:
    """The hours from the first to the last with any vote in the range (the hall's open hours)."""
    busy = [hour for hour in range(24) if any(row[hour] for row in heat.votes)]
    return (busy[0], busy[-1] + 1) if busy else OPENING_HOURS


def _width(svg: str) -> int:
    found = re.search(r'width="([0-9]+)"', svg)
    return int(found[1]) if found else 0
