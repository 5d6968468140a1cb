"""Cases (issue 14): every source becomes a case, walked along its chain on working-day deadlines.

The chain runs on a real hub: kiosk complaints arrive over the session's
Mosquitto, staff act through the JSON API with tokens of their roles, and
the citizen looks the complaint up with its code and password.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from device_agent.configfile import ConfigError
from device_agent.storage import write_transaction
from hub.app import create_app
from hub.cases import chain
from hub.cases.calendar import WorkCalendar, read_override
from hub.cases.chain import Cases
from hub.cases.settings import CaseSettings
from hub.config import load_hub_config
from hub.service import HubService
from hub.store import Store
from hub.tokens import create_token
from tests import test_kiosk_hub_api
from tests.hall import query, wait_until
from tests.kiosk_hall import KioskHall
from tests.stored_votes import counting_hub, make_vote
from tests.test_kiosk_hub_api import file_complaint, look_up

# The kiosk hall, its hub and the kiosk's outbox sender, as test_kiosk_hub_api has them.
hall = test_kiosk_hub_api.hall
hub = test_kiosk_hub_api.hub
device = test_kiosk_hub_api.device


def tokens(hall: KioskHall) -> dict[str, str]:
    """One token per person: the office, a leader, two responsible people, a reader."""
    store = Store(hall.database)
    try:
        with write_transaction(store.db) as conn:
            return {
                name: create_token(conn, name, role)
                for name, role in (
                    ("office-li", "office"),
                    ("leader-wang", "manager"),
                    ("zhang", "handler"),
                    ("zhao", "handler"),
                    ("viewer", "reader"),
                )
            }
    finally:
        store.close()


class Api:
    """The cases API as each person uses it."""

    def __init__(self, hub: HubService, tokens: dict[str, str]) -> None:
        self.url = hub.api_url
        self.tokens = tokens

    def call(self, who: str, method: str, path: str, body: object = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = Request(f"{self.url}{path}", data=data, headers=headers, method=method)
        try:
            with urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read())

    def act(self, who: str, case: int, action: str, **body: object) -> tuple[int, dict]:
        return self.call(who, "POST", f"/api/v1/cases/{case}/{action}", body)

    def ok(self, who: str, case: int, action: str, **body: object) -> dict:
        status, document = self.act(who, case, action, **body)
        assert status == 200, (action, document)
        return document

    def register(self, case_class: str | None = None, **body: object) -> tuple[int, dict]:
        """The office registers a complaint from another channel."""
        if case_class is not None:
            body["class"] = case_class
        return self.call("office-li", "POST", "/api/v1/cases", body)

    def get(self, case: int) -> dict:
        status, document = self.call("viewer", "GET", f"/api/v1/cases/{case}")
        assert status == 200, document
        return document


@pytest.fixture
def api(hub: HubService, hall: KioskHall) -> Api:
    return Api(hub, tokens(hall))


def case_of(hall: KioskHall, complaint_id: str) -> int:
    rows = wait_until(
        lambda: query(
            hall.database,
            "SELECT case_id FROM case_sources WHERE kind = 'kiosk' AND ref = ?",
            (complaint_id,),
        ),
        message="the complaint's case",
    )
    return rows[0][0]


def test_a_kiosk_complaint_is_walked_through_the_whole_chain_to_archive(hub, hall, device, api):
    kiosk = device(hall.kiosk_id(1))
    ident = file_complaint(kiosk, "12345674", "246813", department="civil")
    case = case_of(hall, ident)

    listed = api.call("viewer", "GET", "/api/v1/cases?status=registered")[1]["cases"]
    assert [(c["id"], c["class"], c["department"], c["received_on"]) for c in listed] == [
        (case, "ordinary", "civil", "2026-11-22")
    ]
    registered = api.get(case)
    assert registered["due_on"] == "2026-12-01"  # 7 working days after Sunday 22 November
    assert [(s["kind"], s["ref"], s["has_contact"]) for s in registered["sources"]] == [
        ("kiosk", ident, True)
    ]
    assert "13900000000" not in json.dumps(registered)

    # A step out of order is refused, saying why, and changes nothing.
    status, refused = api.act("office-li", case, "archive")
    assert status == 409
    assert refused["detail"] == f"case {case} is registered; to archive it must be checked"
    assert api.act("viewer", case, "assign", department="civil", assignee="zhang")[0] == 403
    assert api.act("office-li", case, "assign", department="civil")[0] == 400

    api.ok("office-li", case, "assign", department="civil", assignee="zhang", note="请三日内核实")
    # Exactly one responsible person: someone else may not take it on.
    status, other = api.act("zhao", case, "start")
    assert (status, other["detail"]) == (403, f"case {case} is assigned to 'zhang', not 'zhao'")
    api.ok("zhang", case, "start")
    api.ok("zhang", case, "draft", answer="已核实，窗口已增派人手。")
    # An ordinary case needs no leader; this one is approved all the same.
    assert api.act("zhang", case, "approve")[0] == 403
    api.ok("leader-wang", case, "approve", note="同意")
    answered = api.ok("zhang", case, "answer")
    assert (answered["status"], answered["answer"]) == ("answered", "已核实，窗口已增派人手。")
    assert answered["stage_due_on"] is None and not answered["overdue"]

    status, seen = look_up(hub, {"code": "12345674", "password": "246813"})
    assert status == 200
    assert (seen["status"], seen["answer"]) == ("answered", "已核实，窗口已增派人手。")
    assert seen["case"]["step"] == "answered"
    assert [s["step"] for s in seen["case"]["steps"]] == [
        "registered",
        "assigned",
        "in_progress",
        "answered",
    ]
    assert seen["case"]["steps"][0]["on"] == "2026-11-22"
    # Notes and names stay inside the office.
    assert "请三日内核实" not in json.dumps(seen) and "zhang" not in json.dumps(seen)

    api.ok("office-li", case, "check", rating="satisfied", by_citizen=True)
    archived = api.ok("office-li", case, "archive", note="销号")
    assert archived["status"] == "archived"
    assert [(s["event"], s["to_status"], s["by"], s["note"]) for s in archived["steps"]] == [
        ("registered", "registered", "kiosk", None),
        ("assign", "assigned", "office-li", "请三日内核实"),
        ("start", "in_progress", "zhang", None),
        ("draft", "drafted", "zhang", None),
        ("approve", "approved", "leader-wang", "同意"),
        ("answer", "answered", "zhang", None),
        ("check", "checked", "office-li", None),
        ("archive", "archived", "office-li", "销号"),
    ]
    assert archived["steps"][6]["detail"] == {"by": "citizen", "rating": "satisfied"}
    assert all(s["at"].endswith("+00:00") for s in archived["steps"])
    # A case is never deleted, not even by hand in the database.
    with pytest.raises(Exception, match="a case is never deleted"):
        store = Store(hall.database)
        try:
            with write_transaction(store.db) as conn:
                conn.execute("DELETE FROM cases WHERE id = ?", (case,))
        finally:
            store.close()
    assert look_up(hub, {"code": "12345674", "password": "246813"})[1]["case"]["step"] == (
        "archived"
    )


def test_a_sent_back_draft_and_a_rejected_answer_go_back_to_the_handler(hub, api):
    status, case = api.register(
        channel="hotline",
        ref="12345-20251103-0042",
        received_on="2025-11-03",
        case_class="important",
        text="来电反映：社保窗口午间无人值守。",
    )
    assert status == 201, case
    assert (case["status"], case["class"], case["approval"]) == ("registered", "important", True)
    assert case["due_on"] == "2025-11-06"  # 3 working days
    ident = case["id"]
    # The same 12345 ticket twice is one case, not two.
    again = api.register(
        channel="hotline",
        ref="12345-20251103-0042",
        received_on="2025-11-03",
        text="重复来电",
    )
    assert again[0] == 409

    api.ok("office-li", ident, "assign", department="civil", assignee="zhao")
    api.ok("zhao", ident, "start")
    api.ok("zhao", ident, "draft", answer="已安排。")
    status, refused = api.act("zhao", ident, "answer")
    assert (status, refused["detail"]) == (
        409,
        f"case {ident}: a important case's answer needs a leader's approval first",
    )
    assert api.act("leader-wang", ident, "send_back")[0] == 400  # a note is required
    back = api.ok("leader-wang", ident, "send_back", note="答复过于简单，请写明整改措施")
    assert back["status"] == "in_progress"
    api.ok("zhao", ident, "draft", answer="已安排午间轮岗，并在窗口公示值守人员。")
    api.ok("leader-wang", ident, "approve")
    api.ok("zhao", ident, "answer")
    assert api.act("office-li", ident, "check", rating="dissatisfied")[0] == 400
    redo = api.ok(
        "office-li", ident, "check", rating="dissatisfied", by_citizen=True, note="仍无人值守"
    )
    assert redo["status"] == "in_progress"
    assert redo["answer"] == "已安排午间轮岗，并在窗口公示值守人员。"
    assert [(s["event"], s["from_status"], s["to_status"]) for s in redo["steps"][-5:]] == [
        ("send_back", "drafted", "in_progress"),
        ("draft", "in_progress", "drafted"),
        ("approve", "drafted", "approved"),
        ("answer", "approved", "answered"),
        ("redo", "answered", "in_progress"),
    ]
    events = [(s["event"], s["note"]) for s in redo["steps"]]
    assert ("send_back", "答复过于简单，请写明整改措施") in events
    assert events[-1] == ("redo", "仍无人值守")
    # The redo is a new stage: due again 3 working days from the day it was sent back.
    assert redo["stage_due_on"] is not None and redo["stage_due_on"] > "2025-11-06"

    overdue = api.call("viewer", "GET", "/api/v1/cases?overdue=1")[1]["cases"]
    assert overdue == []  # its new deadline is ahead


def test_a_merge_keeps_every_source_and_the_merged_code_shows_the_surviving_case(
    hub, hall, device, api
):
    kiosk = device(hall.kiosk_id(1))
    first = case_of(hall, file_complaint(kiosk, "12345674", "111111"))
    second = case_of(hall, file_complaint(kiosk, "55555553", "222222"))
    api.ok("office-li", first, "assign", department="civil", assignee="zhang")

    assert api.act("office-li", second, "merge", into=second)[0] == 409
    merged = api.ok("office-li", second, "merge", into=first, note="同一事项")
    assert merged["id"] == first and merged["status"] == "assigned"  # its chain goes on
    assert len(merged["sources"]) == 2
    assert {s["first_case"] for s in merged["sources"]} == {first, second}
    gone = api.get(second)
    assert (gone["status"], gone["merged_into"]) == ("merged", first)
    assert gone["steps"][-1]["event"] == "merge_into"
    # Nothing more happens to the merged case.
    assert api.act("office-li", second, "assign", department="civil", assignee="zhao")[0] == 409

    api.ok("zhang", first, "start")
    api.ok("zhang", first, "draft", answer="两件投诉一并办理。")
    api.ok("zhang", first, "answer")
    status, seen = look_up(hub, {"code": "55555553", "password": "222222"})
    assert status == 200
    assert (seen["case"]["id"], seen["answer"]) == (first, "两件投诉一并办理。")
    by_status = api.call("viewer", "GET", "/api/v1/cases?status=merged")[1]["cases"]
    assert [c["id"] for c in by_status] == [second]


def test_received_on_30_september_2025_an_ordinary_case_is_due_on_16_october(hub, api):
    """National Day: 1-8 October off, Saturday 11 October worked (调休)."""
    status, case = api.register(channel="letter", received_on="2025-09-30", text="来信反映办证难。")
    assert status == 201, case
    assert (case["class"], case["received_on"], case["due_on"]) == (
        "ordinary",
        "2025-09-30",
        "2025-10-16",
    )
    major = api.register(
        channel="website", received_on="2025-09-30", case_class="major", text="重大"
    )[1]
    # 一三一: claimed by 9 October, an approved opinion by Monday the 13th (Saturday the
    # 11th is worked), answered by the 14th.
    assert (major["current_stage"]["name"], major["stage_due_on"], major["due_on"]) == (
        "claim",
        "2025-10-09",
        "2025-10-14",
    )
    overdue = api.call("viewer", "GET", "/api/v1/cases?overdue=1&class=major")[1]
    assert [c["id"] for c in overdue["cases"]] == [major["id"]]
    assert overdue["cases"][0]["overdue"] is True
    bad = api.register(channel="fax", text="x", received_on="2025-09-30")
    assert bad == (400, {"error": "Bad Request", "detail": bad[1]["detail"]})
    assert bad[1]["detail"].startswith("channel: must be one of phone, letter, hotline")


def test_a_year_the_library_does_not_know_counts_weekdays_and_says_so(caplog):
    calendar = WorkCalendar()
    assert calendar.coverage(2025) == "official"
    assert calendar.coverage(2099) == "weekends"
    with caplog.at_level(logging.WARNING, logger="hub.cases.calendar"):
        # Friday 30 January 2099: Monday 2 February, then on to Wednesday.
        assert calendar.add_workdays(date(2099, 1, 30), 3) == date(2099, 2, 4)
        calendar.add_workdays(date(2099, 3, 2), 1)
    assert calendar.fallback_years() == [2099]
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 1 and logged[0].startswith("no official calendar for 2099")

    book = Cases(CaseSettings(), now=lambda: datetime(2099, 1, 5, 2, 0, tzinfo=UTC))
    warnings = book.calendar_warnings()
    assert [w[:4] for w in warnings] == ["2099", "2100"]
    assert "按周一至周五计算" in warnings[0] and "Monday to Friday" in warnings[0]


def test_an_override_file_adds_the_years_official_days(tmp_path, caplog):
    (tmp_path / "workdays.toml").write_text(
        "# 2099: Spring Festival, and the Saturday worked for it\n"
        "holidays = [2099-02-02, 2099-02-03]\n"
        "workdays = [2099-02-07]\n"
    )
    override, problems = read_override(tmp_path / "workdays.toml")
    assert problems == []
    calendar = WorkCalendar(override)
    assert calendar.coverage(2099) == "override"
    with caplog.at_level(logging.WARNING, logger="hub.cases.calendar"):
        # After Friday 30 January: 4, 5, 6 February, then Saturday the 7th counts.
        assert calendar.add_workdays(date(2099, 1, 30), 4) == date(2099, 2, 7)
    assert caplog.records == [] and calendar.fallback_years() == []
    book = Cases(CaseSettings(override=override), now=lambda: datetime(2099, 1, 5, tzinfo=UTC))
    assert [w[:4] for w in book.calendar_warnings()] == ["2100"]

    (tmp_path / "bad.toml").write_text('holidays = ["2099-02-02"]\nworkday = []\n')
    assert read_override(tmp_path / "bad.toml")[1] == [
        f"{tmp_path / 'bad.toml'}: workday: unknown key",
        f"{tmp_path / 'bad.toml'}: holidays: must be a list of dates (2027-01-01, unquoted)",
    ]


def test_the_cases_section_configures_classes_and_the_override(tmp_path, mosquitto):
    hall = KioskHall(tmp_path / "hall", mosquitto.port)
    (hall.root / "workdays.toml").write_text("holidays = [2099-02-02]\n")
    extra = (
        '[cases]\ndefault_class = "quick"\ncalendar_override = "workdays.toml"\n\n'
        '[[cases.classes]]\nname = "quick"\nlabel = "快办"\n'
        'stages = [{ name = "reply", until = "answered", days = 2 }]\n\n'
        '[[cases.classes]]\nname = "important"\napproval = true\n'
        'stages = [{ name = "reply", until = "answered", days = 3 }]\n'
    )
    config = load_hub_config(hall.hub_config(extra=extra))
    assert [c.name for c in config.cases.classes] == ["quick", "important"]
    assert config.cases.override.holidays == frozenset({date(2099, 2, 2)})
    assert config.cases.case_class("quick").stages[0].days == 2

    wrong = '[cases]\ndefault_class = "none"\n[[cases.classes]]\nname = "x"\nstages = []\n'
    with pytest.raises(ConfigError) as problems:
        load_hub_config(hall.hub_config(extra=wrong))
    text = str(problems.value)
    assert "cases.classes[0].stages: a class needs at least one stage" in text
    assert "cases.default_class: no class 'none'; classes: x" in text


def test_a_warnings_notice_opens_a_case_with_its_deadline(tmp_path):
    hub = counting_hub(tmp_path / "hall")
    try:
        hub.add(*[make_vote("2026-11-05T10:00:00+08:00") for _ in range(10)])
        app = create_app(hub.config)
        client = app.test_client()
        with write_transaction(hub.store.db) as conn:
            office = create_token(conn, "office-li", "office")
        auth = {"Authorization": f"Bearer {office}"}
        url = "/api/v1/warnings/s01-III-2026-11"
        assert client.post(f"{url}/acknowledge", headers=auth).status_code == 200
        done = client.post(f"{url}/action", headers=auth, json={"what": "发出预警告知函"})
        assert done.status_code == 200
        # A second action on the same warning adds no second case.
        client.post(f"{url}/action", headers=auth, json={"what": "当面谈话"})
        cases = client.get("/api/v1/cases", headers=auth).get_json()["cases"]
        assert [(c["class"], c["department"], c["status"]) for c in cases] == [
            ("important", "civil", "registered")
        ]
        case = client.get(f"/api/v1/cases/{cases[0]['id']}", headers=auth).get_json()
        assert [(s["kind"], s["ref"], s["registered_by"]) for s in case["sources"]] == [
            ("warning", "s01-III-2026-11", "office-li")
        ]
        assert "限期整改" in case["text"] and "发出预警告知函" in case["text"]
        assert case["due_on"] is not None
    finally:
        hub.close()


def test_due_cases_are_what_the_reminders_will_send(tmp_path):
    hub = counting_hub(tmp_path / "hall")
    try:
        now = datetime(2025, 10, 13, 2, 0, tzinfo=UTC)  # Monday 13 October 2025, 10:00
        book = Cases(hub.config.cases, hub.config.timezone, now=lambda: now)
        clerk = chain.Actor("office-li", "office")
        with write_transaction(hub.store.db) as conn:
            late = chain.register(
                book, conn, clerk, channel="phone", received_on=date(2025, 9, 25), text="早"
            )
            soon = chain.register(
                book, conn, clerk, channel="phone", received_on=date(2025, 9, 30), text="近"
            )
            later = chain.register(
                book, conn, clerk, channel="phone", received_on=date(2025, 10, 13), text="新"
            )
        with write_transaction(hub.store.db) as conn:
            # Received 25 September: due Saturday 11 October (worked), past; the 30th: the 16th.
            assert [c["id"] for c in chain.overdue(book, conn)] == [late]
            assert [c["id"] for c in chain.due_cases(book, conn, within=3)] == [late, soon]
            assert later not in [c["id"] for c in chain.due_cases(book, conn, within=5)]
    finally:
        hub.close()
