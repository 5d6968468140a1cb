"""The console's warnings queue, a warning's page, its lifecycle forms and appeals.

Warnings are raised by votes committed through the real store with counting on
(as ingest commits them); the pages are driven through Flask's test client with
their forms' tokens, as a browser would.
"""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hub.app import create_app
from hub.console import accounts
from hub.store import StoredVote
from tests.hall import query
from tests.stored_votes import CountingHub, counting_hub, make_vote
from tests.test_console import PASSWORD, form_token, log_in, transaction

# Two dissatisfied votes a month raise level III, four raise level II.
SETTINGS = (
    '[warnings]\n[[warnings.rules]]\nlevel = "III"\nmonthly = 2\naction = "效能告诫"\n\n'
    '[[warnings.rules]]\nlevel = "II"\nmonthly = 4\naction = "效能谈话"\n'
)
NOV = "2026-11-2{day}T10:0{minute}:00+08:00"
W1 = "s01-III-2026-11"
W2 = "s02-III-2026-11"


def commented(stored: StoredVote, comment: str) -> StoredVote:
    """The vote with a citizen's comment and a reason, as a device sends them."""
    vote = dataclasses.replace(stored.vote, comment=comment, reasons=["long-wait", "kiosk-queue"])
    return dataclasses.replace(stored, vote=vote)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[CountingHub]:
    hub = counting_hub(tmp_path / "hall", extra=SETTINGS)
    # s02: two dissatisfied votes on the 21st (level III); s01: two on the 22nd, raised later.
    hub.clock.now = datetime(2026, 11, 21, 2, 2, tzinfo=UTC)
    hub.add(
        *[
            make_vote(NOV.format(day=1, minute=m), level=1, staff="s02", window="w02")
            for m in (1, 2)
        ]
    )
    hub.clock.now = datetime(2026, 11, 22, 2, 2, tzinfo=UTC)
    hub.add(
        commented(make_vote(NOV.format(day=2, minute=1), level=1), "<b>排队太久</b>"),
        make_vote(NOV.format(day=2, minute=2), level=2),
    )
    with transaction(hub.config) as conn:
        accounts.add_user(conn, "boss", PASSWORD, role="manager")
        accounts.add_user(conn, "head", PASSWORD, role="dept_head", department="civil")
        accounts.add_user(conn, "other_head", PASSWORD, role="dept_head", department="tax")
        accounts.add_user(conn, "office", PASSWORD, role="office")
        accounts.add_user(conn, "clerk", PASSWORD, role="staff", staff="s01")
        accounts.add_user(conn, "root", PASSWORD, role="admin")
    yield hub
    hub.close()


@pytest.fixture
def app(hub: CountingHub) -> Flask:
    return create_app(hub.config)


def client_for(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    assert log_in(client, name).status_code == 302
    return client


def post(client: FlaskClient, url: str, page: str, **data: object):
    """Submit a form of the page at ``page`` (its token) to ``url``."""
    token = form_token(client.get(page).text)
    return client.post(url, data={"csrf_token": token, **data})


def rows(hub: CountingHub, sql: str, *params: object) -> list[tuple]:
    return query(hub.config.database, sql, params)


def listed(html: str) -> list[str]:
    return re.findall(r'data-warning="([^"]+)"', html)


def test_the_queue_puts_open_severe_old_first_and_filters(hub, app):
    # Two more for s02 raise level II, on the 23rd.
    hub.clock.now = datetime(2026, 11, 23, 2, 2, tzinfo=UTC)
    hub.add(
        *[
            make_vote(NOV.format(day=3, minute=m), level=1, staff="s02", window="w02")
            for m in (1, 2)
        ]
    )
    office = client_for(app, "office")
    page = office.get("/console/warnings/")
    assert page.status_code == 200
    # Level II first (most severe, though newest); then the two level III, oldest first.
    assert listed(page.text) == ["s02-II-2026-11", W2, W1]
    assert "效能谈话" in page.text and "职员1" in page.text and "民政" in page.text
    assert "2026-11-22 10:02:00" in page.text, "raised at the hall's local time"
    assert listed(office.get("/console/warnings/?level=III").text) == [W2, W1]
    assert listed(office.get("/console/warnings/?period=2026-10").text) == []
    assert listed(office.get("/console/warnings/?department=tax").text) == []
    assert listed(office.get("/console/warnings/?state=closed").text) == []
    assert listed(office.get("/console/warnings/?state=raised&level=II").text) == ["s02-II-2026-11"]


def test_a_department_head_sees_their_department_and_staff_only_their_own(hub, app):
    head = client_for(app, "head")
    assert listed(head.get("/console/warnings/").text) == [W2, W1]
    # Another department's head sees none of them, not even by asking.
    other = client_for(app, "other_head")
    assert listed(other.get("/console/warnings/?department=civil").text) == []
    assert other.get(f"/console/warnings/{W1}").status_code == 404
    clerk = client_for(app, "clerk")
    page = clerk.get("/console/warnings/")
    assert listed(page.text) == [W1]
    assert "仅供查看" in page.text
    assert clerk.get(f"/console/warnings/{W2}").status_code == 404
    own = clerk.get(f"/console/warnings/{W1}")
    assert own.status_code == 200
    assert 'data-form="acknowledge"' not in own.text and 'data-form="close"' not in own.text
    # Staff may not act on a warning, even their own.
    refused = post(clerk, f"/console/warnings/{W1}/acknowledge", f"/console/warnings/{W1}")
    assert refused.status_code == 403
    assert rows(hub, "SELECT status FROM warnings WHERE id = ?", W1) == [("raised",)]


def test_a_warning_page_shows_its_votes_in_the_halls_time_and_its_history(hub, app):
    page = client_for(app, "boss").get(f"/console/warnings/{W1}")
    assert page.status_code == 200
    text = page.text
    # 10:01 in Shanghai, as cast; the window's name, the channel, the level.
    assert "2026-11-22 10:01:00" in text and "2026-11-22 10:02:00" in text
    assert "1号窗口" in text and "窗口评价器" in text and "非常不满意" in text
    assert "等候时间长、kiosk-queue" in text, "a preset reason in words, another as sent"
    # The citizen's words, escaped.
    assert "&lt;b&gt;排队太久&lt;/b&gt;" in text and "<b>排队太久" not in text
    assert text.count('data-vote="') == 2
    assert 'data-event="raised"' in text and "触发预警" in text
    # A manager may acknowledge, not record the notice nor close.
    assert 'data-form="acknowledge"' in text
    assert 'data-form="notice"' not in text and 'data-form="close"' not in text


def test_the_lifecycle_from_the_console_with_the_notice_opening_a_case(hub, app):
    boss = client_for(app, "boss")
    url = f"/console/warnings/{W1}"
    # A manager acknowledges, with a note; may not record an action or close.
    done = post(boss, f"{url}/acknowledge", url, note="已阅，请效能办处理")
    assert done.status_code == 302
    for action in ("notice", "action", "close"):
        assert post(boss, f"{url}/{action}", url, what="x").status_code == 403
    office = client_for(app, "office")
    # Closing before any action is refused, and says why.
    early = post(office, f"{url}/close", url)
    assert early.status_code == 409 and "acknowledged" in early.text
    # The notice with a deadline: an action through the engine, and its case opened.
    notice = post(office, f"{url}/notice", url, deadline="2026-12-15", note="书面告知")
    assert notice.status_code == 302
    (case,) = rows(hub, "SELECT c.id, c.title FROM cases c")
    assert case[1] == f"预警整改 {W1}"
    page = office.get(url).text
    assert f"案件 {case[0]}" in page
    assert 'data-form="notice"' not in page, "one notice, one case"
    again = post(office, f"{url}/action", url, what="效能告诫书已当面送达")
    assert again.status_code == 302
    assert post(office, f"{url}/close", url, note="整改完成").status_code == 302
    assert rows(hub, "SELECT status FROM warnings WHERE id = ?", W1) == [("closed",)]
    events = rows(
        hub, "SELECT event, by, detail FROM warning_events WHERE warning_id = ? ORDER BY seq", W1
    )
    assert [(e, b) for e, b, _ in events] == [
        ("raised", "hub"),
        ("acknowledged", "boss"),
        ("action", "office"),
        ("action", "office"),
        ("closed", "office"),
    ]
    assert "限期整改至 2026-12-15" in events[2][2] and "书面告知" in events[2][2]
    audit = rows(hub, "SELECT user, action, target FROM console_audit WHERE action LIKE 'warn%'")
    assert audit == [
        ("boss", "warning_acknowledge", W1),
        ("office", "warning_notice", W1),
        ("office", "warning_action", W1),
        ("office", "warning_close", W1),
    ]
    closed = office.get(url).text
    assert "已办结" in closed and "整改完成" in closed and "效能告诫书已当面送达" in closed
    assert 'data-form="close"' not in closed
    # Closed warnings leave the open queue.
    assert listed(office.get("/console/warnings/").text) == [W2]
    assert W1 in listed(office.get("/console/warnings/?state=closed").text)


def test_a_form_without_its_token_changes_nothing(hub, app):
    office = client_for(app, "office")
    answer = office.post(f"/console/warnings/{W1}/acknowledge", data={"note": "x"})
    assert answer.status_code == 400
    assert rows(hub, "SELECT status FROM warnings WHERE id = ?", W1) == [("raised",)]


def test_an_accepted_appeal_voids_the_votes_and_withdraws_the_warning(hub, app):
    clerk = client_for(app, "clerk")
    url = f"/console/warnings/{W1}"
    votes = [v for (v,) in rows(hub, "SELECT vote_id FROM warning_votes WHERE warning_id = ?", W1)]
    # Staff may not appeal another's warning, nor contest a vote not behind theirs.
    other = post(clerk, f"/console/warnings/{W2}/appeal", url, vote=votes[0], text="x")
    assert other.status_code == 404
    (foreign,) = rows(hub, "SELECT vote_id FROM warning_votes WHERE warning_id = ? LIMIT 1", W2)
    wrong = post(clerk, f"{url}/appeal", url, vote=foreign[0], reason="malicious", text="x")
    assert wrong.status_code == 409 and "only the votes behind" in wrong.text
    assert post(clerk, f"{url}/appeal", url, reason="malicious", text="x").status_code == 409
    filed = post(
        clerk, f"{url}/appeal", url, vote=votes[0], reason="not_about_staff", text="评的是排队"
    )
    assert filed.status_code == 302
    page = clerk.get(url).text
    assert "待裁定" in page and "评的是排队" in page and "非本人服务" in page
    # Staff and a manager may not decide; the office accepts.
    (number,) = rows(hub, "SELECT id FROM warning_appeals")[0]
    decide = f"/console/warnings/appeals/{number}/decide"
    assert post(clerk, decide, url, decision="accept").status_code == 403
    assert post(client_for(app, "boss"), decide, url, decision="accept").status_code == 403
    office = client_for(app, "office")
    assert hub.count("staff", "s01", "2026-11") == 2
    accepted = post(office, decide, "/console/warnings/appeals", decision="accept", note="属实")
    assert accepted.status_code == 302
    # The vote is voided exactly as hub.appeals does it: counts and the warning follow.
    assert hub.count("staff", "s01", "2026-11") == 1
    assert hub.count("staff", "s01", "2026-11", "voided") == 1
    assert rows(hub, "SELECT reason, by FROM vote_voids") == [("not_about_staff", "office")]
    assert hub.warnings()[W1][4] == 1, "withdrawn"
    assert hub.events(W1)[-1] == "withdrawn"
    page = office.get(url).text
    assert "已撤销" in page and "已采纳" in page and "属实" in page
    assert "已作废（非本人服务）" in page
    assert re.search(r'data-field="current">1<', page), "one dissatisfied vote left"
    # Withdrawn: out of the open queue, in the withdrawn one; the appeal is kept, decided once.
    assert listed(office.get("/console/warnings/").text) == [W2]
    assert listed(office.get("/console/warnings/?state=withdrawn").text) == [W1]
    twice = post(office, decide, url, decision="reject", note="no")
    assert twice.status_code == 409
    assert rows(hub, "SELECT status, decided_by FROM warning_appeals") == [("accepted", "office")]
    audit = rows(hub, "SELECT user, action FROM console_audit WHERE action LIKE 'appeal%'")
    assert audit == [("clerk", "appeal_file"), ("office", "appeal_accept")]


def test_a_rejected_appeal_needs_a_note_and_changes_no_count(hub, app):
    head = client_for(app, "head")
    url = f"/console/warnings/{W2}"
    (vote,) = rows(hub, "SELECT vote_id FROM warning_votes WHERE warning_id = ? LIMIT 1", W2)[0]
    filed = post(head, f"{url}/appeal", url, vote=vote, reason="duplicate", text="同一事项评了两次")
    assert filed.status_code == 302
    office = client_for(app, "office")
    listing = office.get("/console/warnings/appeals")
    assert "同一事项评了两次" in listing.text and "待裁定" in listing.text
    (number,) = rows(hub, "SELECT id FROM warning_appeals")[0]
    decide = f"/console/warnings/appeals/{number}/decide"
    bare = post(office, decide, "/console/warnings/appeals", decision="reject", note=" ")
    assert bare.status_code == 409
    rejected = post(
        office, decide, "/console/warnings/appeals", decision="reject", note="票号不同", back="list"
    )
    assert rejected.status_code == 302
    assert rejected.headers["Location"] == "/console/warnings/appeals"
    assert hub.count("staff", "s02", "2026-11") == 2
    assert rows(hub, "SELECT count(*) FROM vote_voids") == [(0,)]
    assert hub.warnings()[W2][4] == 0
    # Both states stay on record: the page shows the appeal rejected with its note.
    page = head.get(url).text
    assert "已驳回" in page and "票号不同" in page
    listing = head.get("/console/warnings/appeals?state=rejected").text
    assert "票号不同" in listing
    # Another department's head sees none of it.
    assert "同一事项" not in client_for(app, "other_head").get("/console/warnings/appeals").text


def test_appeals_are_never_deleted(hub, app):
    clerk = client_for(app, "clerk")
    url = f"/console/warnings/{W1}"
    (vote,) = rows(hub, "SELECT vote_id FROM warning_votes WHERE warning_id = ? LIMIT 1", W1)[0]
    post(clerk, f"{url}/appeal", url, vote=vote, reason="malicious", text="恶意")
    conn = sqlite3.connect(hub.config.database)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="appeals are kept"):
            conn.execute("DELETE FROM warning_appeals")
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("name", "allowed", "after"),
    [
        ("boss", {"acknowledge"}, "acknowledged"),
        ("head", set(), "raised"),
        ("clerk", set(), "raised"),
        ("office", {"acknowledge", "notice", "action", "close"}, "closed"),
        ("root", {"acknowledge", "notice", "action", "close"}, "closed"),
    ],
)
def test_who_may_take_each_step(hub, app, name, allowed, after):
    """The roles of hub/tokens.py: a manager acknowledges; the office and admin do it all."""
    client = client_for(app, name)
    url = f"/console/warnings/{W1}"
    fields = {"note": "n", "what": "效能告诫已送达", "deadline": "2099-01-31"}
    for step in ("acknowledge", "notice", "action", "close"):
        answer = post(client, f"{url}/{step}", url, **fields)
        assert (answer.status_code != 403) == (step in allowed), (name, step)
    assert rows(hub, "SELECT status FROM warnings WHERE id = ?", W1) == [(after,)]


def test_a_notice_needs_a_deadline_and_a_withdrawn_warning_takes_no_step(hub, app):
    office = client_for(app, "office")
    url = f"/console/warnings/{W1}"
    post(office, f"{url}/acknowledge", url)
    bad = post(office, f"{url}/notice", url, deadline="next week")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    assert rows(hub, "SELECT count(*) FROM cases") == [(0,)]
    (vote,) = rows(hub, "SELECT vote_id FROM warning_votes WHERE warning_id = ? LIMIT 1", W1)[0]
    hub.void(vote)
    page = office.get(url).text
    assert 'data-form="notice"' not in page and 'data-form="action"' not in page
    refused = post(office, f"{url}/action", url, what="谈话")
    assert refused.status_code == 409 and "withdrawn" in refused.text
    # Nor may anyone appeal it any more.
    clerk = client_for(app, "clerk")
    assert 'data-form="appeal"' not in clerk.get(url).text


def test_the_pages_speak_english_at_the_switch_with_no_key_left_untranslated(hub, app):
    office = client_for(app, "office")
    office.set_cookie("hallrate_lang", "en", path="/console")
    url = f"/console/warnings/{W1}"
    post(office, f"{url}/acknowledge", url, note="seen")
    clerk = client_for(app, "clerk")
    (vote,) = rows(hub, "SELECT vote_id FROM warning_votes WHERE warning_id = ? LIMIT 1", W1)[0]
    post(clerk, f"{url}/appeal", url, vote=vote, reason="duplicate", text="twice")
    pages = [office.get(p).text for p in ("/console/warnings/", url, "/console/warnings/appeals")]
    assert "Efficiency warnings" in pages[0] and "Level III · 效能告诫" in pages[0]
    assert "The votes behind it" in pages[1] and "Acknowledged" in pages[1]
    assert "Long wait" in pages[1] and "Awaiting decision" in pages[2]
    keys = re.compile(r">\s*(warnings|warning|appeal|state|event|channel|vote)\.[a-z_.]+\s*<")
    for page in pages:
        assert not keys.search(page), keys.search(page)


def test_the_staff_page_lists_the_persons_appeals_linked_to_their_warnings(hub, app):
    clerk = client_for(app, "clerk")
    url = f"/console/warnings/{W1}"
    (vote,) = rows(hub, "SELECT vote_id FROM warning_votes WHERE warning_id = ? LIMIT 1", W1)[0]
    post(clerk, f"{url}/appeal", url, vote=vote, reason="duplicate", text="同一事项评了两次")
    (number,) = rows(hub, "SELECT id FROM warning_appeals")[0]
    office = client_for(app, "office")
    decide = f"/console/warnings/appeals/{number}/decide"
    assert post(office, decide, url, decision="reject", note="票号不同").status_code == 302
    page = clerk.get("/console/staff/s01?year=2026").text
    section = page[page.index('id="staff-appeals"') : page.index('id="staff-voids"')]
    assert f'data-appeal="{number}"' in section
    assert f'href="{url}"' in section
    assert "重复评价：同一事项评了两次" in section and "clerk" in section
    assert "已驳回" in section and "office 于 2026-" in section and "票号不同" in section
    # Another's page lists none of s01's appeals.
    other = office.get("/console/staff/s02?year=2026").text
    assert "同一事项" not in other and "无申诉。" in other
