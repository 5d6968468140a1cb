"""The console's votes list (``/console/votes``) and its rules' summary (``.../filters``).

The list is searchable by window, staff, department, level, channel, a range
of days in the hall's time zone, counted or filtered, the rule that filtered
it, and with a comment only; its pages go forward and back by rowid (keyset,
never ``OFFSET``). A department head sees their department's votes only; staff
members do not open this list. The reads are in :mod:`hub.console.votes_list`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue

from hub.console import messages, nav
from hub.console.votes_list import (
    CHANNELS,
    KNOWN_RULES,
    MAX_SUMMARY_DAYS,
    BadFilter,
    VoteFilters,
    filter_summary,
    parse_filters,
    read_votes,
)
from hub.console.web import console_blueprint, requires, user
from hub.db import get_db, hub_config

bp = console_blueprint("console_votes", __name__, "/votes")

ROLES = ("manager", "dept_head", "office", "admin")

nav.add(nav.NavEntry("console_votes.index", "nav.votes", frozenset(ROLES)))


def _scope() -> str | None:
    who = user()
    return who.department if who.role == "dept_head" else None


def _filters() -> VoteFilters:
    config = hub_config()
    today = datetime.now(UTC).astimezone(ZoneInfo(config.timezone)).date()
    try:
        return parse_filters(request.args, config, today=today, department=_scope())
    except PermissionError as exc:
        abort(403, description=str(exc))
    except BadFilter as exc:
        abort(400, description=str(exc))


def _choices() -> dict[str, object]:
    """What the form's lists offer: the directory's entries in the reader's scope."""
    directory = hub_config().directory
    scope = _scope()
    return {
        "departments": [d for d in directory.departments.values() if scope in (None, d.id)],
        "windows": [w for w in directory.windows.values() if scope in (None, w.department)],
        "staff": [s for s in directory.staff.values() if scope in (None, s.department)],
        "channels": CHANNELS,
        "rules": KNOWN_RULES,
        "names": {
            "window": {w.id: w.name for w in directory.windows.values()},
            "staff": {s.id: s.name for s in directory.staff.values()},
        },
        "scope": scope,
        "zone": hub_config().timezone,
    }


@bp.get("/")
@requires(*ROLES)
def index() -> ResponseReturnValue:
    """One page of the filtered votes; ``after``/``before`` move by rowid."""
    filters = _filters()
    after = request.args.get("after", 0, type=int)
    before = request.args.get("before", type=int)
    page = read_votes(get_db().conn, hub_config(), filters, after=max(0, after), before=before)
    return render_template(
        "console/votes.html", filters=filters, args=filters.as_args(), page=page, **_choices()
    )


@bp.get("/filters")
@requires(*ROLES)
def summary() -> ResponseReturnValue:
    """The presses each rule filtered in the range, with counts and what each rule means."""
    filters = _filters()
    try:
        found = filter_summary(
            get_db().conn,
            hub_config(),
            first=filters.first,
            last=filters.last,
            department=filters.department,
        )
    except BadFilter as exc:
        abort(400, description=str(exc))
    return render_template(
        "console/votes_filters.html",
        filters=filters,
        args=filters.as_args(),
        summary=found,
        max_days=MAX_SUMMARY_DAYS,
        **_choices(),
    )


messages.register(
    {
        "nav.votes": ("评价记录", "Votes"),
        "votes.title": ("评价记录", "Votes"),
        "votes.filters_title": ("过滤规则统计", "Filter rules"),
        "votes.search": ("查询", "Search"),
        "votes.reset": ("清除条件", "Clear"),
        "votes.from": ("起始日期", "From"),
        "votes.until": ("截止日期", "Until"),
        "votes.window": ("窗口", "Window"),
        "votes.staff": ("工作人员", "Staff"),
        "votes.department": ("部门", "Department"),
        "votes.level": ("评价等级", "Level"),
        "votes.channel": ("渠道", "Channel"),
        "votes.status": ("计入情况", "Counted"),
        "votes.rule": ("过滤规则", "Rule"),
        "votes.comment_only": ("仅看有留言的", "With a comment only"),
        "votes.any": ("全部", "Any"),
        "votes.counted": ("已计入", "Counted"),
        "votes.filtered": ("已过滤", "Filtered"),
        "votes.channel.window": ("窗口评价器", "Window evaluator"),
        "votes.channel.kiosk": ("自助终端", "Kiosk"),
        "votes.level.1": ("非常不满意", "Very dissatisfied"),
        "votes.level.2": ("不满意", "Dissatisfied"),
        "votes.level.3": ("基本满意", "Fairly satisfied"),
        "votes.level.4": ("满意", "Satisfied"),
        "votes.level.5": ("非常满意", "Very satisfied"),
        "votes.cast": ("评价时间", "Cast"),
        "votes.device": ("设备", "Device"),
        "votes.comment": ("留言", "Comment"),
        "votes.reasons": ("原因", "Reasons"),
        "votes.outcome": ("结果", "Outcome"),
        "votes.by_device": ("设备过滤", "filtered by the device"),
        "votes.by_hub": ("中心过滤", "filtered by the hub"),
        "votes.version": ("第 {version} 版", "version {version}"),
        "votes.none": ("没有符合条件的评价。", "No vote matches."),
        "votes.next": ("下一页", "Next page"),
        "votes.previous": ("上一页", "Previous page"),
        "votes.first": ("第一页", "First page"),
        "votes.searched": (
            "为保持速度，本页只查找到第 {rowid} 条记录为止；点击翻页继续查找。",
            "To stay fast, this page searched as far as record {rowid}: page on to search on.",
        ),
        "votes.times": (
            "时间均为大厅所在时区 {zone}。",
            "Times are in the hall's time zone, {zone}.",
        ),
        "votes.to_summary": ("过滤规则统计", "Filter rule summary"),
        "votes.to_list": ("返回评价记录", "Back to the votes"),
        "votes.counted_total": ("计入评价", "Counted"),
        "votes.filtered_total": ("被过滤", "Filtered"),
        "votes.rule_name": ("规则", "Rule"),
        "votes.rule_count": ("过滤次数", "Presses filtered"),
        "votes.rule_meaning": ("说明", "What it catches"),
        "votes.rule_versions": ("规则版本", "Rule versions"),
        "votes.show_votes": ("查看这些评价", "Show these votes"),
        "votes.no_filtered": ("此期间没有被过滤的按键。", "No press was filtered in this range."),
        "votes.summary_range": (
            "一次最多统计 {days} 天。",
            "At most {days} days at a time.",
        ),
        "votes.rule.one_per_service": (
            "同一次服务只计一次评价，重复按键被过滤。",
            "One vote per service: a repeat press for the same service.",
        ),
        "votes.rule.cooldown": (
            "上一次评价后冷却时间内的按键。",
            "A press within the cooldown after the previous vote.",
        ),
        "votes.rule.no_service": (
            "窗口没有进行中的服务时的按键（按设置过滤）。",
            "A press while no service was open at the window (set to be filtered).",
        ),
        "votes.rule.device_window": (
            "设备为其他窗口投票，或设备类型不符。",
            "A window vote for a window its device does not serve, or from another kind of device.",
        ),
        "votes.rule.unknown_window": (
            "自助终端评价了名录中没有的窗口。",
            "A kiosk vote naming a window the directory does not list.",
        ),
        "votes.rule.unknown_staff": (
            "评价的工作人员不在名录中。",
            "A vote naming a staff member the directory does not list.",
        ),
        "votes.rule.not_on_duty": (
            "评价的工作人员当时未在该窗口签到。",
            "A vote naming someone not signed in at that window.",
        ),
        "votes.rule.future_cast": (
            "评价时间晚于到达时间，超出允许的时钟误差。",
            "A cast time later than its arrival by more than the allowed clock skew.",
        ),
        "votes.rule.closed_period": (
            "到达时所属月份已结账，待效能办确认后计入。",
            "Cast in a month already closed when it arrived: held for the office to accept.",
        ),
        "votes.rule.ticket_repeat": (
            "同一号票当天已被评价过。",
            "A ticket (one service) already rated that day.",
        ),
        "votes.rule.kiosk_burst": (
            "同一自助终端短时间内对同一人连续给出不满意评价。",
            "A dissatisfied kiosk vote for someone the same kiosk"
            " rated dissatisfied minutes before.",
        ),
        "votes.rule.unexplained": ("未计入，未记录规则。", "Not counted, no rule recorded."),
    }
)
