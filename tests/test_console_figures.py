"""The console's charts, reports and staff pages: who sees what, and figures equal to analytics.

Votes of two departments (civil: w01–w02, s01–s02; tax: w03, s03, s98) go
through the hub's real store and counting into a real SQLite file, some with
comments, a few voided on appeal; the pages are opened through Flask's test
client as each role, and what they show (and the files they send) is checked
against :mod:`hub.analytics` on the same database and against a recount.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import random
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook

from device_agent.storage import write_transaction
from hub import analytics, exports
from hub.app import create_app
from hub.config import load_hub_config
from hub.console import accounts
from hub.counting import Counting
from hub.store import Store, StoredVote
from tests.stored_votes import Clock, CountingHub
from tests.test_analytics import HOSTILE, MONTH, TwoDepartments, _votes, counted_votes
from tests.test_console import log_in

PASSWORD = "correct horse 1"
MIN_STAFF_VOTES = 20
MIN_RANK_VOTES = 10
SETTINGS = f"[console]\nstaff_min_votes = {MIN_STAFF_VOTES}\nrank_min_votes = {MIN_RANK_VOTES}\n"


def _with_comment(stored: StoredVote, text: str) -> StoredVote:
    vote = dataclasses.replace(stored.vote, comment=text)
    return StoredVote(vote, stored.cast_at, stored.received_at, stored.flags)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CountingHub]:
    hall = TwoDepartments(tmp_path_factory.mktemp("figures") / "hall", port=1883, windows=3)
    config = load_hub_config(hall.hub_config(extra=SETTINGS))
    clock = Clock(datetime(2027, 1, 5, 4, 0, tzinfo=UTC))
    counting = Counting(config, now=clock)
    store = Store(config.database, counting=counting, rules=counting.rules)
    hub = CountingHub(hall, config, store, counting, clock)
    votes = _votes(random.Random(13))
    votes = [
        _with_comment(v, f"评论{i}号 comment {i}") if i % 5 == 1 else v for i, v in enumerate(votes)
    ]
    for i in range(0, len(votes), 40):
        hub.add(*votes[i : i + 40])
    for stored in votes[1:60:10]:  # upheld appeals, of votes with comments
        hub.void(stored.vote.id)
    with write_transaction(store.db) as conn:
        for name, role, extra in (
            ("boss", "manager", {}),
            ("head", "dept_head", {"department": "civil"}),
            ("office", "office", {}),
            ("clerk", "staff", {"staff": "s01"}),
            ("taxman", "staff", {"staff": "s03"}),
        ):
            accounts.add_user(conn, name, PASSWORD, role=role, **extra)
    yield hub
    hub.close()


@pytest.fixture(scope="module")
def app(hub: CountingHub) -> Flask:
    return create_app(hub.config)


@pytest.fixture
def conn(hub: CountingHub) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(hub.config.database)
    yield connection
    connection.close()


def client_of(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    assert log_in(client, name, PASSWORD).status_code == 302
    return client


def cells(text: str, table_id: str) -> list[list[str]]:
    """The text of each body row's cells of the table ``table_id``."""
    table = text.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        found = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        rows.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in found])
    return rows


def test_the_charts_page_draws_the_analytics_figures_for_the_hall(app, hub, conn):
    page = client_of(app, "boss").get(
        f"/console/charts/?month={MONTH}&year=2026&kind=staff&grain=month"
    )
    assert page.status_code == 200
    assert page.text.count("<svg") == 5
    assert "每日满意率" in page.text and "星期 × 时段" in page.text and "周一 Mon" in page.text
    heat = analytics.month_heatmap(conn, hub.config, MONTH)
    assert f"合计 total {heat.total_dissatisfied} ·" in page.text
    ranked = analytics.rank(conn, hub.config, "staff", MONTH, min_votes=MIN_RANK_VOTES)
    shown = cells(page.text, "ranking-table")
    assert [row[1] for row in shown] == [r.name or r.subject for r in ranked]
    assert [row[0] for row in shown] == [str(r.rank) if r.rank else "—" for r in ranked]
    assert [int(row[2]) for row in shown] == [r.votes for r in ranked]
    daily = analytics.daily_trend(conn, hub.config, MONTH)
    busiest = max(daily, key=lambda p: p.votes)
    assert f"{busiest.period}: " in page.text  # the chart's description names each day


def test_a_department_head_sees_only_their_department(app, hub, conn):
    client = client_of(app, "head")
    page = client.get(f"/console/charts/?month={MONTH}&kind=window&grain=month")
    assert page.status_code == 200
    assert "民政" in page.text  # the department's name in the heading
    civil_heat = analytics.month_heatmap(conn, hub.config, MONTH, department="civil")
    hall_heat = analytics.month_heatmap(conn, hub.config, MONTH)
    assert civil_heat.total_dissatisfied < hall_heat.total_dissatisfied
    assert f"合计 total {civil_heat.total_dissatisfied} ·" in page.text
    assert [row[1] for row in cells(page.text, "ranking-table")] == ["1号窗口", "2号窗口"]
    tally = client.get(f"/console/reports/tally?month={MONTH}")
    names = [row[0] for row in cells(tally.text, "report-table")]
    assert sorted(names) == ["s01", "s02"]
    monthly = client.get(f"/console/reports/monthly.csv?month={MONTH}")
    lines = list(csv.reader(io.StringIO(monthly.data.decode("utf-8-sig"))))
    assert [line[0] for line in lines[1:]] == ["civil", hub.config.hall]
    # Their department's staff pages only.
    assert client.get("/console/staff/s01").status_code == 200
    assert client.get("/console/staff/s03").status_code == 403


def test_the_reports_pages_and_files_equal_the_analytics_rows(app, hub, conn):
    client = client_of(app, "office")
    rows = analytics.month_end_tally(conn, hub.config, MONTH)
    page = client.get(f"/console/reports/tally?month={MONTH}")
    shown = cells(page.text, "report-table")
    assert [[r[0], int(r[3]), int(r[4])] for r in shown] == [
        [r["staff"], r["votes"], r["dissatisfied"]] for r in rows
    ]
    assert client.get(f"/console/reports/tally.csv?month={MONTH}").data == exports.tally_csv(rows)
    xlsx = client.get(f"/console/reports/tally.xlsx?month={MONTH}")
    assert xlsx.headers["Content-Type"] == exports.XLSX_TYPE
    assert 'filename="hallrate-tally-2026-11.xlsx"' in xlsx.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert [[c.value for c in row[:5]] for row in sheet.iter_rows(min_row=3)] == [
        [r["staff"], r["name"], r["department"], r["votes"], r["dissatisfied"]] for r in rows
    ]
    # The recount: every counted vote of November by staff member.
    recount: dict[str, int] = {}
    for v in counted_votes(hub.config.database):
        if v.local.strftime("%Y-%m") == MONTH and v.staff:
            recount[v.staff] = recount.get(v.staff, 0) + 1
    assert {r["staff"]: r["votes"] for r in rows if r["votes"]} == recount

    week = analytics.weekly_ranking(conn, hub.config, "2026-W47", min_votes=MIN_RANK_VOTES)
    page = client.get("/console/reports/ranking?week=2026-W47")
    assert [(r[0], r[2]) for r in cells(page.text, "report-table")] == [
        (r["kind"], r["subject"]) for r in week
    ]
    assert client.get("/console/reports/ranking.csv?week=2026-W47").data == exports.ranking_csv(
        week
    )
    report = analytics.monthly_report(conn, hub.config, MONTH, min_votes=MIN_RANK_VOTES)
    page = client.get(f"/console/reports/monthly?month={MONTH}")
    assert [r[0] for r in cells(page.text, "report-table")] == [
        *(d.department for d in report.departments),
        hub.config.hall,
    ]
    assert client.get(f"/console/reports/monthly.xlsx?month={MONTH}").data[:2] == b"PK"


def test_bad_periods_answer_400_and_staff_may_not_open_reports(app):
    client = client_of(app, "boss")
    assert client.get("/console/charts/?month=2026-13").status_code == 400
    assert client.get("/console/reports/ranking?week=2026-W60").status_code == 400
    assert client.get(f"/console/reports/tally.pdf?month={MONTH}").status_code == 404
    clerk = client_of(app, "clerk")
    assert clerk.get("/console/reports/").status_code == 403
    assert clerk.get("/console/charts/").status_code == 403


def test_a_staff_member_sees_their_own_page_only(app, hub, conn):
    client = client_of(app, "clerk")
    mine = client.get("/console/staff/me")
    assert mine.status_code == 302 and mine.headers["Location"] == "/console/staff/s01"
    page = client.get("/console/staff/s01?year=2026")
    assert page.status_code == 200
    nov = conn.execute(
        "SELECT total, dissatisfied FROM counts WHERE scope = 'staff' AND subject = 's01'"
        " AND period = ?",
        (MONTH,),
    ).fetchone()
    assert nov[0] >= MIN_STAFF_VOTES
    block = page.text.split(f'data-month="{MONTH}"', 1)[1].split('class="month-block"', 1)[0]
    assert f'<span data-field="votes">{nov[0]}</span>' in block
    assert f'<span data-field="dissatisfied">{nov[1]}</span>' in block
    # Comments as text only: of counted, not voided votes of November, none of who or when.
    expected = sorted(
        comment
        for (comment,) in conn.execute(
            "SELECT v.comment FROM votes_readable v WHERE v.staff = 's01' AND v.counted = 1"
            " AND v.comment IS NOT NULL AND v.id NOT IN (SELECT vote_id FROM vote_voids)"
            " AND v.cast_at >= '2026-10-31T16:00' AND v.cast_at < '2026-11-30T16:00'"
        )
    )
    assert expected
    assert re.findall(r"<li>(评论\d+号 comment \d+)</li>", block) == expected
    voids = "SELECT comment FROM votes_readable JOIN vote_voids ON vote_id = id"
    voided = {c for (c,) in conn.execute(voids)}
    assert voided and not any(f"<li>{c}</li>" in page.text for c in voided)
    assert not re.search(r"\bT\d+\b", page.text)  # no ticket
    assert "kiosk-01" not in page.text and "w01-eval" not in page.text
    # Another's page: refused, even by guessing its address.
    assert client.get("/console/staff/s02").status_code == 403
    assert client.get("/console/staff/").status_code == 403


def test_a_month_with_too_few_votes_shows_nothing(app, hub, conn):
    client = client_of(app, "boss")
    votes = conn.execute(
        "SELECT total FROM counts WHERE scope = 'staff' AND subject = 's98' AND period = ?",
        (MONTH,),
    ).fetchone()[0]
    assert 0 < votes < MIN_STAFF_VOTES
    page = client.get("/console/staff/s98?year=2026")
    assert page.status_code == 200
    assert 'data-month="' not in page.text
    assert "不足 20 票" in page.text
    assert '<dd data-total="votes">0</dd>' in page.text
    assert "<li>评论" not in page.text
    # A manager opens anyone's page from the list.
    listing = client.get("/console/staff/")
    assert all(f'data-staff="{s}"' in listing.text for s in ("s01", "s02", "s03", "s98"))


def test_a_staff_name_written_as_markup_stays_text_in_the_charts_and_tables(app):
    """The pages put hub.charts' SVG in as Markup: every name inside it must be escaped."""
    client = client_of(app, "boss")
    charts_page = client.get(f"/console/charts/?month={MONTH}&year=2026&kind=staff&grain=month")
    staff_page = client.get("/console/staff/s98?year=2026")
    escaped = html.escape(HOSTILE.replace("'", ""), quote=True)  # s98's name in the directory
    for page in (charts_page, staff_page):
        assert page.status_code == 200
        assert "<script>" not in page.text
    # The ranking draws s98 in its SVG (through Markup) and in its table (autoescaped);
    # the staff page names them in its heading, beside its SVG trend.
    ranking_svg = charts_page.text.split('id="chart-ranking"', 1)[1].split("</svg>", 1)[0]
    assert escaped in ranking_svg
    assert escaped in staff_page.text and "<svg" in staff_page.text
