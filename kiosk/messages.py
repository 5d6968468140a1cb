"""Every sentence the kiosk shows, in simplified Chinese (the default) and English.

Templates call ``t("key", name=...)``; the result is plain text, escaped by
Jinja like any other value, so a staff name inside a sentence stays text.
A key missing from the catalogue shows as the key itself, which a test
catches (``tests/test_kiosk_app.py``).
"""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    # Frame of every page.
    "hall.fallback": ("政务服务中心", "Government Service Centre"),
    "nav.home": ("首页", "Home"),
    "nav.back": ("返回", "Back"),
    "nav.elderly_on": ("大字模式", "Large text"),
    "nav.elderly_off": ("标准字体", "Standard text"),
    "nav.language": ("English", "中文"),
    "footer.updated": ("信息更新于 {time}", "Information as of {time}"),
    "footer.offline": (
        "暂时连不上中心，显示的是本机保存的信息。评价和投诉照常保存。",
        "The centre is out of reach: showing the information saved here. "
        "Ratings and complaints are still saved.",
    ),
    "footer.never": ("正在获取大厅信息，请稍候。", "Fetching the hall's information, please wait."),
    "submitting": ("正在提交…", "Sending…"),
    # Home.
    "home.welcome": ("欢迎来到{hall}", "Welcome to {hall}"),
    "home.prompt": ("请点按您要办的事", "Tap what you would like to do"),
    "home.rate": ("评价工作人员", "Rate a staff member"),
    "home.rate_hint": ("服务态度 · 办事效率 · 工作作风", "Attitude · Efficiency · Work style"),
    "home.departments": ("部门与工作人员", "Departments and staff"),
    "home.windows": ("窗口与在岗人员", "Windows and who is on duty"),
    "home.services": ("办事指南", "Service guide"),
    "home.services_hint": ("要带什么材料、多久办好", "What to bring, how long it takes"),
    "home.announcements": ("通知公告", "Announcements"),
    "home.complaints": ("投诉与查询", "Complaints"),
    "home.complaints_hint": ("提交投诉、查询办理进度", "File a complaint, follow it up"),
    # Departments, windows, staff.
    "departments.title": ("部门与工作人员", "Departments and staff"),
    "departments.none": ("暂无部门信息。", "No departments listed yet."),
    "department.windows": ("窗口", "Windows"),
    "department.staff": ("工作人员", "Staff"),
    "department.services": ("办理事项", "Services"),
    "windows.title": ("窗口与在岗人员", "Windows and who is on duty"),
    "window.on_duty": ("当前在岗", "On duty now"),
    "window.nobody": ("暂无人员在岗", "Nobody on duty"),
    "window.department": ("所属部门", "Department"),
    "staff.gender": ("性别", "Gender"),
    "staff.post": ("职务", "Post"),
    "staff.duties": ("工作职责", "Duties"),
    "staff.department": ("所在部门", "Department"),
    "staff.window": ("所在窗口", "Window"),
    "staff.rate": ("评价TA的服务", "Rate this person's service"),
    "staff.complain": ("投诉", "Complain"),
    "staff.photo": ("{name}的照片", "Photo of {name}"),
    # Service items.
    "services.title": ("办事指南", "Service guide"),
    "services.none": ("暂无办事指南。", "No services listed yet."),
    "service.department": ("办理部门", "Department"),
    "service.materials": ("所需材料", "What to bring"),
    "service.time_limit": ("办理时限", "Time limit"),
    "service.fees": ("收费标准", "Fees"),
    "service.where": ("办理窗口", "Where to go"),
    "service.notes": ("温馨提示", "Good to know"),
    "service.none": ("无", "None"),
    # Announcements.
    "announcements.title": ("通知公告", "Announcements"),
    "announcements.none": ("目前没有公告。", "No announcements at the moment."),
    "announcement.published": ("发布日期", "Published"),
    # Rating.
    "rate.title": ("评价工作人员", "Rate a staff member"),
    "rate.how": ("怎样找到要评价的工作人员？", "How would you like to find them?"),
    "rate.by_department": ("按部门找", "By department"),
    "rate.by_window": ("按窗口找", "By window"),
    "rate.scan": ("扫窗口二维码", "Scan the window's QR code"),
    "rate.pick": ("请点按要评价的工作人员", "Tap the person you want to rate"),
    "rate.scan_title": ("请把窗口上的二维码对准扫码口", "Hold the window's QR code to the scanner"),
    "rate.scan_field": ("扫码结果", "Scanned code"),
    "rate.scan_bad": (
        "没有认出这个二维码。请再扫一次，或按窗口查找。",
        "That code was not recognised. Scan again, or find the window in the list.",
    ),
    "rate.form_title": ("为 {name} 评价", "Rate {name}"),
    "rate.form_hint": (
        "每一项请点按一个表情",
        "Tap one face for each line",
    ),
    "dim.attitude": ("服务态度", "Service attitude"),
    "dim.efficiency": ("办事效率", "Efficiency"),
    "dim.style": ("工作作风", "Work style"),
    "level.5": ("非常满意", "Very satisfied"),
    "level.4": ("满意", "Satisfied"),
    "level.3": ("基本满意", "Basically satisfied"),
    "level.2": ("不满意", "Dissatisfied"),
    "level.1": ("非常不满意", "Very dissatisfied"),
    "rate.reasons": ("想说的话（可多选，也可不选）", "Anything to add? (optional, pick any)"),
    "rate.comment": ("其他意见（可不填）", "Other comments (optional)"),
    "rate.privacy": ("是否匿名", "Anonymous?"),
    "rate.anonymous": ("匿名评价", "Anonymous"),
    "rate.named": ("不匿名", "Not anonymous"),
    "rate.anonymous_hint": (
        "匿名时不记录任何能认出您的信息（包括办件号）。",
        "Anonymous: nothing that could identify you is kept (not even your ticket).",
    ),
    "rate.ticket": ("办件号 {ticket}", "Ticket {ticket}"),
    "rate.submit": ("提交评价", "Submit rating"),
    "rate.missing": (
        "还有未选的项目：请为每一项点按一个表情。",
        "Something is missing: tap one face on every line.",
    ),
    "rate.stale": (
        "页面已刷新，您的选择都还在。请再按一次「提交评价」。",
        "The page was refreshed and your choices are kept. Please tap “Submit rating” again.",
    ),
    "rate.thanks": ("感谢您的评价！", "Thank you for your rating!"),
    "rate.thanks_for": ("您对 {name} 的评价已保存。", "Your rating of {name} is saved."),
    "rate.reference": ("评价编号", "Reference"),
    "rate.repeat_ahead": (
        "您刚才已经评价过这位工作人员。再评一次也会保存，但只有第一次的评价计入统计。",
        "You rated this person a moment ago. Another rating is saved too, "
        "but only your first one counts.",
    ),
    "rate.repeat_saved": (
        "您刚才已经评价过这位工作人员。这次的评价也已保存，但不重复计入统计。谢谢您！",
        "You rated this person a moment ago. This rating is saved too, "
        "but it is not counted a second time. Thank you!",
    ),
    "rate.enough": (
        "您这次已经提交了多条评价，谢谢！如需继续，请稍后再来。",
        "You have sent several ratings already. Thank you! Please come back later for more.",
    ),
    "busy": (
        "提交太频繁了，请稍等一分钟再试。",
        "Too many submissions just now. Please wait a minute and try again.",
    ),
    "store_failed": (
        "系统暂时无法保存，请告诉大厅工作人员。",
        "This could not be saved just now. Please tell a member of staff.",
    ),
    "returning": ("{seconds} 秒后自动回到首页", "Back to the home page in {seconds} seconds"),
    # Complaints.
    "complaints.title": ("投诉与查询", "Complaints"),
    "complaints.new": ("我要投诉", "File a complaint"),
    "complaints.new_hint": ("不用打字，点按选择即可", "No typing needed: just tap"),
    "complaints.lookup": ("查询办理进度", "Follow up a complaint"),
    "complaints.lookup_hint": ("凭投诉编号和密码", "With its code and password"),
    "complaints.results": ("办理结果公开", "Published answers"),
    "complaints.results_hint": ("已答复的投诉（不含个人信息）", "Answered complaints, anonymised"),
    # The public results (网上公布).
    "results.title": ("办理结果公开", "Published answers"),
    "results.case": ("案件 {id}", "Case {id}"),
    "results.department": ("办理部门", "Department"),
    "results.received": ("受理日期", "Received"),
    "results.answered": ("答复日期", "Answered"),
    "results.question": ("反映问题", "The complaint"),
    "results.answer": ("答复", "Answer"),
    "results.none": ("暂无已答复的投诉。", "No answered complaints yet."),
    "results.not_published": (
        "本大厅暂未公开办理结果。",
        "This hall does not publish its answers.",
    ),
    "results.unavailable": (
        "暂时连不上中心，请稍后再看。",
        "The centre is out of reach: please try again later.",
    ),
    "complaint.title": ("我要投诉", "File a complaint"),
    "complaint.about": ("投诉对象：{name}", "About: {name}"),
    "complaint.category": ("1. 投诉什么？", "1. What is it about?"),
    "complaint.details": ("2. 遇到了什么问题？（可多选）", "2. What happened? (pick any)"),
    "complaint.text": ("补充说明（可不填）", "More details (optional)"),
    "complaint.department": ("涉及哪个部门？（可不选）", "Which department? (optional)"),
    "complaint.no_department": ("不确定", "Not sure"),
    "complaint.identity": ("3. 是否匿名？", "3. Anonymous?"),
    "complaint.anonymous": ("匿名投诉", "Anonymous"),
    "complaint.named": ("留下联系电话", "Leave a phone number"),
    "complaint.anonymous_hint": (
        "匿名投诉不记录任何能认出您的信息。我们同样会认真处理。",
        "An anonymous complaint keeps nothing that identifies you. It is handled all the same.",
    ),
    "complaint.contact": ("联系电话", "Phone number"),
    "complaint.password": (
        "4. 设置查询密码（6位数字，请记住）",
        "4. Choose a password (6 digits, remember it)",
    ),
    "complaint.submit": ("提交投诉", "Submit complaint"),
    "complaint.need_category": ("请选择投诉什么。", "Please choose what it is about."),
    "complaint.need_details": (
        "请至少点按一个遇到的问题。",
        "Please tap at least one thing that happened.",
    ),
    "complaint.need_contact": (
        "请输入联系电话（6到20位数字），或选择匿名。",
        "Please enter a phone number (6 to 20 digits), or choose anonymous.",
    ),
    "complaint.need_password": ("请设置6位数字密码。", "Please choose a 6-digit password."),
    "complaint.stale": (
        "页面已刷新，您填写的内容都还在。请再按一次「提交投诉」。",
        "The page was refreshed and everything you entered is kept. "
        "Please tap “Submit complaint” again.",
    ),
    "complaint.thanks": ("投诉已提交", "Your complaint is filed"),
    "complaint.code": ("投诉编号", "Complaint code"),
    "complaint.remember": (
        "请记下投诉编号，并记住您设置的密码。凭编号和密码，可在任意一台查询机查看办理进度。",
        "Write down the code and remember your password: with both you can follow "
        "the complaint up at any kiosk.",
    ),
    "complaint.enough": (
        "您这次已经提交过投诉了。如还有问题，请稍后再来或联系大厅工作人员。",
        "You have already filed a complaint. For more, please come back later "
        "or ask a member of staff.",
    ),
    # Lookup.
    "lookup.title": ("查询投诉办理进度", "Follow up a complaint"),
    "lookup.code": ("投诉编号（8位数字）", "Complaint code (8 digits)"),
    "lookup.password": ("查询密码（6位数字）", "Password (6 digits)"),
    "lookup.submit": ("查询", "Look up"),
    "lookup.bad_code": (
        "投诉编号不对，请核对后重新输入。",
        "That code is not right. Please check it and try again.",
    ),
    "lookup.not_found": (
        "编号或密码不正确，请核对后重试。",
        "The code or password is not right. Please check and try again.",
    ),
    "lookup.unavailable": (
        "暂时查询不了，请稍后再试。",
        "Looking up is not possible just now. Please try again later.",
    ),
    "lookup.pending": (
        "您的投诉已保存在本机，正在转交中心，请稍后再查。",
        "Your complaint is saved on this kiosk and on its way to the centre. Check again later.",
    ),
    "lookup.too_many": (
        "查询次数太多了，请稍后再试。",
        "Too many lookups. Please try again later.",
    ),
    "lookup.result": ("办理进度", "Progress"),
    "lookup.status": ("办理状态", "Status"),
    "lookup.category": ("投诉类别", "About"),
    "lookup.filed": ("提交时间", "Filed"),
    "lookup.updated": ("最近更新", "Last update"),
    "lookup.answer": ("答复", "Answer"),
    "lookup.no_answer": ("还没有答复，请耐心等待。", "No answer yet."),
    "lookup.another": ("查询其他投诉", "Look up another"),
    "status.received": ("已受理", "Received"),
    "status.handling": ("办理中", "Being handled"),
    "status.answered": ("已答复", "Answered"),
    "status.closed": ("已办结", "Closed"),
    "status.merged": ("已合并办理", "Merged with a similar complaint"),
    "status.forwarding": ("正在转交", "Being forwarded"),
    # Issue 14: the steps of a complaint's case, as the lookup shows them.
    "lookup.steps": ("办理过程", "Steps"),
    "lookup.due": ("办理期限", "Due by"),
    "step.registered": ("已受理", "Received"),
    "step.assigned": ("已交办", "Assigned"),
    "step.in_progress": ("办理中", "Being handled"),
    "step.answered": ("已答复", "Answered"),
    "step.checked": ("已回访", "Followed up"),
    "step.archived": ("已办结", "Closed"),
    "step.merged": ("已合并办理", "Merged with a similar complaint"),
    # The on-screen keypad.
    "keypad.delete": ("退格", "Delete"),
    "keypad.clear": ("清空", "Clear"),
    # Errors.
    "error.not_found": ("没有找到这一页。", "This page does not exist."),
    "error.bad_request": (
        "这一步没有成功，请从首页重新开始。",
        "That did not work. Please start again.",
    ),
    "error.generic": (
        "出了点问题。请回到首页重新开始，或告诉大厅工作人员。",
        "Something went wrong. Please start again from the home page, or tell a member of staff.",
    ),
}


def translate(key: str, language: str, **params: object) -> str:
    """The sentence ``key`` in ``language``, with ``params`` filled in."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[1] if language == "en" else pair[0]
    return text.format(**params) if params else text
