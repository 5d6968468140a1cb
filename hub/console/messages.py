"""Every sentence the console shows, in simplified Chinese (the default) and English.

As in the kiosk (``kiosk/messages.py``): templates call ``t("key", name=...)``
and get plain text, escaped by Jinja like any other value. A page module
adds its own sentences with :func:`register` (keys prefixed with its page's
name), so pages built later need not edit this file. A key missing from the
catalogue shows as the key itself, which ``tests/test_console.py`` catches.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("zh", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    # The frame of every page.
    "console.title": ("服务评价管理台", "Service rating console"),
    "console.skip": ("跳到正文", "Skip to content"),
    "console.menu": ("菜单", "Menu"),
    "console.language": ("English", "中文"),
    "console.logout": ("退出登录", "Log out"),
    "console.notices": ("通知", "Notices"),
    "console.dismiss": ("知道了", "Dismiss"),
    "console.offline": ("与中心的连接已断开，正在重连…", "Connection lost, reconnecting…"),
    "notice.warning": (
        "新预警：{staff}（{department}）{level}，本期不满意 {count} 次",
        "New warning: {staff} ({department}) {level}, {count} dissatisfied this period",
    ),
    "notice.open": ("查看", "Open"),
    # Roles.
    "role.manager": ("大厅负责人", "Hall manager"),
    "role.dept_head": ("部门负责人", "Department head"),
    "role.office": ("效能办", "Efficiency office"),
    "role.staff": ("工作人员", "Staff"),
    "role.admin": ("系统管理员", "Administrator"),
    # Navigation.
    "nav.live": ("实时大厅", "Live hall"),
    # Login.
    "login.title": ("登录", "Log in"),
    "login.user": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": ("用户名或密码不正确。", "Wrong user name or password."),
    "login.limited": (
        "登录失败次数过多，请在 {minutes} 分钟后再试。",
        "Too many failed logins: try again in {minutes} minutes.",
    ),
    "login.expired": ("登录已过期，请重新登录。", "Your session has ended: please log in again."),
    "login.logged_out": ("已退出登录。", "You have logged out."),
    # Errors.
    "error.title": ("无法打开", "Cannot open this page"),
    "error.403": ("您的账号无权查看此页面。", "Your account may not open this page."),
    "error.400": (
        "表单已过期或来源不明，请返回后重试。",
        "The form was stale or did not come from this console: go back and try again.",
    ),
    "error.404": ("找不到此页面。", "This page does not exist."),
    "error.other": ("出错了：{detail}", "Something went wrong: {detail}"),
    "error.home": ("返回首页", "Back to the console"),
    # The live hall.
    "live.title": ("实时大厅", "Live hall"),
    "live.today": ("今日 {day}", "Today, {day}"),
    "live.updated": ("更新于 {time}", "Updated {time}"),
    "live.hall_votes": ("今日评价", "Votes today"),
    "live.hall_satisfaction": ("满意率", "Satisfaction"),
    "live.hall_response": ("参评率", "Response rate"),
    "live.hall_red": ("需关注窗口", "Windows to watch"),
    "live.window": ("窗口", "Window"),
    "live.department": ("部门", "Department"),
    "live.on_duty": ("在岗人员", "On duty"),
    "live.votes": ("评价数", "Votes"),
    "live.satisfaction": ("满意率", "Satisfaction"),
    "live.dissatisfied": ("不满意", "Dissatisfied"),
    "live.response": ("参评率", "Response rate"),
    "live.response_detail": ("{rated}/{ended} 次服务", "{rated} of {ended} services"),
    "live.device": ("评价器", "Evaluator"),
    "live.online": ("在线", "Online"),
    "live.offline": ("离线", "Offline"),
    "live.unknown": ("未上报", "Not heard"),
    "live.no_device": ("无设备", "No device"),
    "live.last_seen": ("最后上报 {time}", "Last seen {time}"),
    "live.outbox": ("待发 {depth}", "Outbox {depth}"),
    "live.nobody": ("无人在岗", "Nobody"),
    "live.paused": ("暂停服务", "Paused"),
    "live.red": ("满意率低于 {threshold}", "Satisfaction below {threshold}"),
    "live.red_rule": (
        "红色标记：今日评价不少于 {votes} 条且满意率低于 {threshold} 的窗口",
        "Red: a window with at least {votes} votes today and satisfaction below {threshold}",
    ),
    "live.none": ("—", "—"),
    "live.no_windows": ("目录中没有窗口。", "The directory lists no windows."),
}


def register(messages: Mapping[str, tuple[str, str]]) -> None:
    """Add a page module's sentences; a key already taken is a programming error."""
    taken = sorted(set(messages) & set(MESSAGES))
    if taken:
        raise ValueError(f"console message keys already taken: {taken}")
    MESSAGES.update(messages)


def translate(key: str, language: str, **values: object) -> str:
    """The sentence ``key`` in ``language``, with ``{name}`` fields filled in."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[0] if language == "zh" else pair[1]
    return text.format(**values) if values else text
