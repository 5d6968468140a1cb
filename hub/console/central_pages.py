"""The console of a hub in central role: every hall's warnings, satisfaction and people.

Shown only when ``[central] enabled``: elsewhere the pages answer 404 and the
menu leaves them out. The efficiency office and administrators at central see
every hall; the queries are in :mod:`hub.console.central_store`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue

from hub.console import central_store
from hub.console.messages import register
from hub.console.nav import NavEntry, add
from hub.console.web import console_blueprint, requires
from hub.db import get_db, hub_config

bp = console_blueprint("central_console", __name__, "/central", template_folder="templates")

CENTRAL_ROLES = ("office", "admin")


def central_enabled() -> bool:
    """Whether this hub runs as central."""
    return hub_config().central.enabled


def _central() -> None:
    if not central_enabled():
        abort(404)


@bp.get("/")
@requires(*CENTRAL_ROLES)
def overview() -> ResponseReturnValue:
    """Warnings across halls, county warnings per person, per-hall satisfaction."""
    _central()
    data = central_store.overview(get_db().conn, hub_config(), datetime.now(UTC))
    return render_template("console/central.html", **data)


@bp.get("/people")
@requires(*CENTRAL_ROLES)
def people() -> ResponseReturnValue:
    """Each person's figures in a period, added across the halls they work in."""
    _central()
    try:
        data = central_store.people(
            get_db().conn, hub_config(), request.args.get("period") or None, datetime.now(UTC)
        )
    except ValueError:
        abort(400)
    return render_template("console/central_people.html", **data)


add(NavEntry("central_console.overview", "nav.central", frozenset(CENTRAL_ROLES), central_enabled))
add(
    NavEntry(
        "central_console.people", "nav.central_people", frozenset(CENTRAL_ROLES), central_enabled
    )
)

register(
    {
        "nav.central": ("全县大厅", "County halls"),
        "nav.central_people": ("全县人员", "County staff"),
        "central.title": ("全县大厅总览", "County overview"),
        "central.halls": ("各大厅满意度", "Satisfaction by hall"),
        "central.hall": ("大厅", "Hall"),
        "central.today": ("今日", "Today"),
        "central.month": ("本月", "This month"),
        "central.votes": ("评价", "Votes"),
        "central.satisfaction": ("满意率", "Satisfaction"),
        "central.dissatisfied": ("不满意", "Dissatisfied"),
        "central.open": ("未结预警", "Open warnings"),
        "central.updated": ("数据时间", "As of"),
        "central.none": ("—", "—"),
        "central.silent": ("尚未收到数据：{halls}", "Nothing received yet from: {halls}"),
        "central.no_halls": ("尚无大厅上报数据。", "No hall has reported yet."),
        "central.warnings": ("各大厅预警", "Warnings across halls"),
        "central.no_warnings": ("各大厅暂无未撤销的预警。", "No standing warning in any hall."),
        "central.more": (
            "另有 {n} 条未列出。",
            "{n} more not listed.",
        ),
        "central.staff": ("工作人员", "Staff"),
        "central.level": ("等级", "Level"),
        "central.period": ("期间", "Period"),
        "central.status": ("状态", "Status"),
        "central.raised": ("产生时间", "Raised"),
        "central.status_raised": ("待确认", "Raised"),
        "central.status_acknowledged": ("已确认", "Acknowledged"),
        "central.status_actioned": ("已处理", "Actioned"),
        "central.status_closed": ("已关闭", "Closed"),
        "central.withdrawn": ("已撤销", "withdrawn"),
        "central.person_warnings": ("全县人员预警（跨大厅合计）", "County warnings per person"),
        "central.person_rule": (
            "预警阈值按人计算：同一人在各大厅的不满意评价合并计数。",
            "Thresholds count per person: a person's dissatisfied votes in every hall add up.",
        ),
        "central.per_hall_only": (
            "本中心配置为按大厅计算阈值（count_per_person = false）。",
            "This central counts thresholds per hall (count_per_person = false).",
        ),
        "central.no_person_warnings": (
            "暂无人员达到全县预警阈值。",
            "No person has reached a county threshold.",
        ),
        "central.person": ("人员", "Person"),
        "central.where": ("各大厅", "By hall"),
        "central.across": ("跨大厅", "Across halls"),
        "central.action": ("处理", "Action"),
        "central.people_title": ("全县人员评价（{period}）", "County staff figures ({period})"),
        "central.show": ("查看", "Show"),
        "central.period_label": ("期间（年、月或日）", "Period (year, month or day)"),
        "central.no_people": ("该期间暂无评价。", "No votes in this period."),
        "central.levels": ("各等级（1–5）", "By level (1–5)"),
    }
)
