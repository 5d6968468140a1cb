"""The console's case pages: every step's role rules, scope, audit, filters, the calendar banner.

The hub's Flask app on a real SQLite file, driven through Flask's test client
as a browser drives it: the forms a user sees, posted with their tokens.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hub.app import create_app
from hub.cases.api import CASES_KEY
from hub.cases.chain import Actor
from hub.config import HubConfig, load_hub_config
from hub.console.accounts import User
from hub.console.cases_pages import case_actor, roles_for
from tests.hall import Hall, query
from tests.test_console import add_user, form_token, log_in

TAX = (
    '\n[[departments]]\nid = "tax"\nname = "税务"\n\n'
    '[[staff]]\nid = "t01"\nname = "税务员甲"\ndepartment = "tax"\n'
)
USERS = {
    "office": ("office", {}),
    "boss": ("manager", {"display_name": "王经理"}),
    "head": ("dept_head", {"department": "civil"}),
    "taxhead": ("dept_head", {"department": "tax"}),
    "clerk": ("staff", {"staff": "s01"}),
    "other": ("staff", {"staff": "s02"}),
    "root": ("admin", {}),
}
# 2025-11-20 10:00 in the hall: a Thursday of a month without holidays.
NOW = datetime(2025, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> HubConfig:
    hall = Hall(tmp_path / "hall", 2)
    hall.directory_path.write_text(hall.directory_text() + TAX)
    config = load_hub_config(hall.hub_config())
    for name, (role, fields) in USERS.items():
        add_user(config, name, role, **fields)
    return config


@pytest.fixture
def app(config: HubConfig) -> Flask:
    app = create_app(config)
    app.extensions[CASES_KEY].now = lambda: NOW
    return app


def client_of(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    assert log_in(client, name).status_code == 302
    return client


def post(client: FlaskClient, url: str, **data: str):
    token = form_token(client.get("/console/cases/").text)
    return client.post(url, data={"csrf_token": token, **data})


def register(client: FlaskClient, **fields: str) -> int:
    form = {
        "channel": "phone",
        "received_on": "2025-11-17",
        "text": "来电反映：社保窗口午间无人。",
        "class": "ordinary",
        **fields,
    }
    answer = post(client, "/console/cases/new", **form)
    assert answer.status_code == 302, answer.text
    found = re.fullmatch(r"/console/cases/(\d+)\?done=register", answer.headers["Location"])
    assert found, answer.headers["Location"]
    return int(found[1])


def forms(client: FlaskClient, case_id: int) -> list[str]:
    page = client.get(f"/console/cases/{case_id}")
    assert page.status_code == 200
    return re.findall(r'class="action" data-action="(\w+)"', page.text)


def steps(config: HubConfig, case_id: int) -> list[tuple]:
    return query(
        config.database,
        "SELECT event, to_status, by, note FROM case_events WHERE case_id = ? ORDER BY seq",
        (case_id,),
    )


def test_console_roles_map_to_the_chains_actors():
    """The mapping the pages rely on: a staff user acts as the responsible person by staff id."""
    assert case_actor(User("wang", None, "manager")) == Actor("wang", "manager")
    assert case_actor(User("li", None, "office")) == Actor("li", "office")
    assert case_actor(User("root", None, "admin")) == Actor("root", "admin")
    assert case_actor(User("head", None, "dept_head", department="civil")) == Actor(
        "head", "reader"
    )
    assert case_actor(User("zhang", None, "staff", staff="s01")) == Actor("s01", "handler")
    assert case_actor(User("nobody", None, "staff")) == Actor("nobody", "reader")
    assert {a: roles_for(a) for a in ("register", "assign", "start", "approve", "check")} == {
        "register": ("office", "admin"),
        "assign": ("office", "admin"),
        "start": ("office", "staff", "admin"),
        "approve": ("manager", "admin"),
        "check": ("office", "admin"),
    }


def test_each_step_is_offered_and_allowed_only_to_who_may_take_it(app, config):
    clients = {name: client_of(app, name) for name in USERS}
    case = register(clients["office"], **{"class": "important", "department": "civil"})

    def offered(action: str) -> set[str]:
        return {name for name, client in clients.items() if action in forms_or_none(client, case)}

    def refused_to(action: str, names: set[str], **data: str) -> None:
        before = steps(config, case)
        for name in names:
            answer = post(clients[name], f"/console/cases/{case}/{action}", **data)
            assert answer.status_code == 403, (action, name)
        assert steps(config, case) == before

    # 交办: the office and the admin; the person is one of the department's staff.
    assert offered("assign") == {"office", "root"}
    refused_to("assign", {"boss", "head", "clerk"}, department="civil", assignee="s01")
    wrong = post(
        clients["office"], f"/console/cases/{case}/assign", department="civil", assignee="t01"
    )
    assert wrong.status_code == 400 and "choose one person of that department" in wrong.text
    done = post(
        clients["office"],
        f"/console/cases/{case}/assign",
        department="civil",
        assignee="s01",
        note="请一周内回复",
    )
    assert done.status_code == 302
    # The responsible person, the office on their behalf, the admin; not another staff member.
    assert offered("start") == {"office", "clerk", "root"}
    refused_to("start", {"other", "boss", "head"})
    assert post(clients["clerk"], f"/console/cases/{case}/start").status_code == 302
    assert offered("draft") == {"office", "clerk", "root"}
    refused_to("draft", {"other", "boss"}, answer="x")
    assert (
        post(
            clients["clerk"], f"/console/cases/{case}/draft", answer="已加派午间值守。"
        ).status_code
        == 302
    )
    # An important case: the answer waits for a leader; only leaders approve or send back.
    assert offered("answer") == set()
    assert offered("approve") == {"boss", "root"}
    assert offered("send_back") == {"boss", "root"}
    refused_to("approve", {"office", "clerk", "head"})
    empty = post(clients["boss"], f"/console/cases/{case}/send_back", note=" ")
    assert empty.status_code == 400 and "note: required" in empty.text
    assert (
        post(clients["boss"], f"/console/cases/{case}/send_back", note="请写明值守时间").status_code
        == 302
    )
    redraft = post(
        clients["clerk"], f"/console/cases/{case}/draft", answer="每日12:00-14:00有人值守。"
    )
    assert redraft.status_code == 302
    assert post(clients["boss"], f"/console/cases/{case}/approve").status_code == 302
    assert offered("answer") == {"office", "clerk", "root"}
    assert post(clients["clerk"], f"/console/cases/{case}/answer").status_code == 302
    # 回访 and 归档: the office (and the admin).
    assert offered("check") == {"office", "root"}
    refused_to("check", {"boss", "clerk"}, rating="satisfied")
    assert (
        post(clients["office"], f"/console/cases/{case}/check", rating="satisfied").status_code
        == 302
    )
    assert offered("archive") == {"office", "root"}
    refused_to("archive", {"boss", "clerk", "head"})
    assert post(clients["office"], f"/console/cases/{case}/archive").status_code == 302
    assert all(forms_or_none(client, case) == [] for client in clients.values())
    # A step the state does not allow is refused with a page that says why.
    again = post(clients["office"], f"/console/cases/{case}/archive")
    assert again.status_code == 409 and "is archived" in again.text

    assert steps(config, case) == [
        ("registered", "registered", "office", None),
        ("assign", "assigned", "office", "请一周内回复"),
        ("start", "in_progress", "s01", None),
        ("draft", "drafted", "s01", None),
        ("send_back", "in_progress", "boss", "请写明值守时间"),
        ("draft", "drafted", "s01", None),
        ("approve", "approved", "boss", None),
        ("answer", "answered", "s01", None),
        ("check", "checked", "office", None),
        ("archive", "archived", "office", None),
    ]
    audited = query(
        config.database,
        "SELECT user, action, target FROM console_audit WHERE action LIKE 'case_%' ORDER BY rowid",
    )
    assert audited == [
        ("office", "case_register", f"case:{case}"),
        ("office", "case_assign", f"case:{case}"),
        ("clerk", "case_start", f"case:{case}"),
        ("clerk", "case_draft", f"case:{case}"),
        ("boss", "case_send_back", f"case:{case}"),
        ("clerk", "case_draft", f"case:{case}"),
        ("boss", "case_approve", f"case:{case}"),
        ("clerk", "case_answer", f"case:{case}"),
        ("office", "case_check", f"case:{case}"),
        ("office", "case_archive", f"case:{case}"),
    ]
    # The page shows every step with who (the staff member by name) and the note.
    page = clients["boss"].get(f"/console/cases/{case}").text
    assert "职员1" in page and "请写明值守时间" in page and "每日12:00-14:00有人值守。" in page


def forms_or_none(client: FlaskClient, case_id: int) -> list[str]:
    page = client.get(f"/console/cases/{case_id}")
    if page.status_code == 403:
        return []
    assert page.status_code == 200
    return re.findall(r'class="action" data-action="(\w+)"', page.text)


def test_scope_department_heads_see_their_department_staff_their_own_cases(app):
    office = client_of(app, "office")
    civil = register(office, department="civil", text="民政来件")
    tax = register(office, department="tax", text="税务来件")
    assert (
        post(
            office, f"/console/cases/{civil}/assign", department="civil", assignee="s01"
        ).status_code
        == 302
    )
    head, taxhead = client_of(app, "head"), client_of(app, "taxhead")
    assert re.findall(r'data-case="(\d+)"', head.get("/console/cases/").text) == [str(civil)]
    assert re.findall(r'data-case="(\d+)"', taxhead.get("/console/cases/").text) == [str(tax)]
    assert taxhead.get(f"/console/cases/{civil}").status_code == 403
    # A department head reads: no form at all.
    assert forms(head, civil) == []
    clerk, other = client_of(app, "clerk"), client_of(app, "other")
    assert re.findall(r'data-case="(\d+)"', clerk.get("/console/cases/").text) == [str(civil)]
    assert re.findall(r'data-case="(\d+)"', other.get("/console/cases/").text) == []
    assert other.get(f"/console/cases/{civil}").status_code == 403


def test_a_dissatisfied_check_sends_it_back_and_a_duplicate_merges_into_the_case(app, config):
    office, clerk = client_of(app, "office"), client_of(app, "clerk")
    case = register(office, department="civil", channel="hotline", ref="12345-0042")
    duplicate = register(office, department="civil", channel="letter", text="来信：同一问题")
    merged = post(office, f"/console/cases/{case}/merge", duplicate=str(duplicate), note="同一事项")
    assert merged.status_code == 302
    page = office.get(f"/console/cases/{case}").text
    assert f'data-merged="{duplicate}"' in page and "来信：同一问题" in page
    assert office.get(f"/console/cases/{duplicate}").text.count('class="action"') == 0
    post(office, f"/console/cases/{case}/assign", department="civil", assignee="s01")
    for action, data in (("start", {}), ("draft", {"answer": "已处理"}), ("answer", {})):
        assert post(clerk, f"/console/cases/{case}/{action}", **data).status_code == 302
    refused = post(office, f"/console/cases/{case}/check", rating="dissatisfied")
    assert refused.status_code == 400 and "say what is not good enough" in refused.text
    redo = post(
        office, f"/console/cases/{case}/check", rating="dissatisfied", note="未解决", by="office"
    )
    assert redo.status_code == 302
    assert steps(config, case)[-1] == ("redo", "in_progress", "office", "未解决")
    assert "draft" in forms(clerk, case)
    assert query(
        config.database, "SELECT action, target FROM console_audit WHERE action = 'case_merge'"
    ) == [("case_merge", f"case:{duplicate}→{case}")]


def test_the_list_filters_counts_working_days_and_marks_overdue_red(app):
    office = client_of(app, "office")
    late = register(office, channel="letter", received_on="2025-11-03")
    fresh = register(office, channel="hotline", received_on="2025-11-19")
    page = office.get("/console/cases/").text
    # Received Monday 3 November, 7 working days: due 12 November; today is the 20th.
    late_row = re.search(rf'<tr data-case="{late}" class="overdue-row">(.*?)</tr>', page, re.S)
    assert late_row and "2025-11-12 · " in late_row[1] and "超期 6 个工作日" in late_row[1]
    fresh_row = re.search(rf'<tr data-case="{fresh}">(.*?)</tr>', page, re.S)
    assert fresh_row and "2025-11-28 · 剩 6 个工作日" in fresh_row[1]

    def listed(query_string: str) -> list[str]:
        return re.findall(r'data-case="(\d+)"', office.get(f"/console/cases/?{query_string}").text)

    assert listed("overdue=1") == [str(late)]
    assert listed("channel=hotline") == [str(fresh)]
    assert listed("channel=letter&status=registered") == [str(late)]
    assert listed("class=important") == []
    assert listed("department=civil") == []


def test_the_register_form_refuses_a_future_day_and_keeps_what_was_typed(app):
    office = client_of(app, "office")
    answer = post(
        office, "/console/cases/new", channel="website", received_on="2025-11-21", text="网上留言"
    )
    assert answer.status_code == 400
    assert "is in the future" in answer.text and "网上留言" in answer.text
    assert client_of(app, "boss").get("/console/cases/new").status_code == 403


def test_a_due_date_in_a_year_the_calendar_does_not_know_shows_a_banner(app):
    office = client_of(app, "office")
    assert "data-calendar-warning" not in office.get("/console/cases/").text
    # Late December 2026: the next year's holidays are not in the library.
    app.extensions[CASES_KEY].now = lambda: datetime(2026, 12, 28, 2, 0, tzinfo=UTC)
    case = register(office, received_on="2026-12-28")
    for url in ("/console/cases/", f"/console/cases/{case}", "/console/cases/new"):
        banner = re.search(r"data-calendar-warning>(.*?)</div>", office.get(url).text, re.S)
        assert banner and "2027 年的法定节假日未知" in banner[1], url


def contact_audits(config: HubConfig) -> list[tuple]:
    return query(
        config.database,
        "SELECT user, target FROM console_audit WHERE action = 'case_contact_viewed'"
        " ORDER BY rowid",
    )


def test_the_callback_contact_is_shown_to_who_handles_the_case_and_each_view_audited(app, config):
    clients = {name: client_of(app, name) for name in USERS}
    case = register(clients["office"], contact="13800138000", department="civil")
    assert contact_audits(config) == []
    done = post(
        clients["office"], f"/console/cases/{case}/assign", department="civil", assignee="s01"
    )
    assert done.status_code == 302
    assert contact_audits(config) == [], "a step is no view of the contact"
    # The office, the administrator and the responsible person read it; each view is kept.
    for name in ("office", "root", "clerk", "clerk"):
        page = clients[name].get(f"/console/cases/{case}").text
        assert "<span data-contact>13800138000</span>" in page, name
    assert contact_audits(config) == [
        ("office", f"case:{case}"),
        ("root", f"case:{case}"),
        ("clerk", f"case:{case}"),
        ("clerk", f"case:{case}"),
    ]
    # Never anyone else, and never in a list.
    for name in ("boss", "head"):
        page = clients[name].get(f"/console/cases/{case}").text
        assert "13800138000" not in page and "data-contact" not in page, name
    assert clients["other"].get(f"/console/cases/{case}").status_code == 403
    for name in ("office", "root", "clerk"):
        assert "13800138000" not in clients[name].get("/console/cases/").text
    assert len(contact_audits(config)) == 4


def test_steps_show_display_and_directory_names_instead_of_logins(app, config):
    clients = {name: client_of(app, name) for name in ("office", "boss", "clerk")}
    case = register(clients["office"], **{"class": "important", "department": "civil"})
    url = f"/console/cases/{case}"
    post(clients["office"], f"{url}/assign", department="civil", assignee="s01")
    assert post(clients["clerk"], f"{url}/start").status_code == 302
    assert post(clients["clerk"], f"{url}/draft", answer="已加派值守。").status_code == 302
    assert post(clients["boss"], f"{url}/approve").status_code == 302
    page = clients["office"].get(url).text
    by = re.findall(r'data-field="by">([^<]*)<', page)
    assert by == ["office", "office", "职员1", "职员1", "王经理"]
