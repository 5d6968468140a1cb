"""The monthly case bulletin (issue 14): its figures equal a recount of the stored steps.

Cases are walked along their chain on the hub's real database at chosen
moments of October 2025; the bulletin is read through the JSON API (and as
CSV and XLSX), and recounted here from the ``cases`` and ``case_events``
rows the chain wrote: statuses, each case's last ``answer`` step against
the deadline it records, and each case's last 回访 rating.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from device_agent.storage import write_transaction
from hub.app import create_app
from hub.cases import chain
from hub.cases.chain import Cases
from hub.tokens import create_token
from tests.hall import query
from tests.stored_votes import counting_hub

OFFICE = chain.Actor("office-li", "office")
ZHANG = chain.Actor("zhang", "handler")
BEIJING = ZoneInfo("Asia/Shanghai")


def at(day: str) -> datetime:
    d = date.fromisoformat(day)
    return datetime(d.year, d.month, d.day, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def recount(database: Any, month: str, today: str) -> dict[str | None, dict[str, int]]:
    """The bulletin's counts, from the stored rows, by department."""
    cases = query(
        database,
        "SELECT id, department, status, stage_due_on, received_on FROM cases ORDER BY id",
    )
    events = query(database, "SELECT case_id, event, at, detail FROM case_events ORDER BY seq")
    counts: dict[str | None, dict[str, int]] = {}
    for case_id, department, status, stage_due, received in cases:
        if not received.startswith(month) or status == "merged":
            continue
        row = counts.setdefault(department, {})
        own = [(e, a, json.loads(d)) for c, e, a, d in events if c == case_id]
        answers = [(a, d["due"]) for e, a, d in own if e == "answer"]
        ratings = [d["rating"] for e, _, d in own if e in ("check", "redo")]
        answered = status in ("answered", "checked", "archived")
        late = answered and (
            datetime.fromisoformat(answers[-1][0]).astimezone(BEIJING).date().isoformat()
            > answers[-1][1]
        )
        for name, yes in (
            ("received", True),
            ("answered", answered),
            ("answered_on_time", answered and not late),
            ("overdue", late or (not answered and stage_due is not None and stage_due < today)),
            ("archived", status == "archived"),
            ("rated", bool(ratings)),
            ("satisfied", bool(ratings) and ratings[-1] != "dissatisfied"),
        ):
            row[name] = row.get(name, 0) + int(yes)
    return counts


def test_the_monthly_bulletin_equals_a_recount_of_the_cases_and_their_steps(tmp_path):
    hub = counting_hub(tmp_path / "hall")
    moment = {"now": at("2025-10-09")}
    book = Cases(hub.config.cases, hub.config.timezone, now=lambda: moment["now"])

    def on(day: str) -> None:
        moment["now"] = at(day)

    try:
        with write_transaction(hub.store.db) as conn:

            def new(received: str, text: str, department: str | None = "civil") -> int:
                case = chain.register(
                    book,
                    conn,
                    OFFICE,
                    channel="phone",
                    received_on=date.fromisoformat(received),
                    text=text,
                )
                if department:
                    chain.assign(book, conn, case, OFFICE, department=department, assignee="zhang")
                return case

            def answer(case: int) -> None:
                chain.start(book, conn, case, ZHANG)
                chain.draft(book, conn, case, ZHANG, answer="已处理")
                chain.answer(book, conn, case, ZHANG)

            on("2025-09-29")
            september = new("2025-09-29", "九月")  # another month: not in October's bulletin
            on("2025-10-09")
            quick = new("2025-10-09", "按期办结")
            late = new("2025-10-09", "超期答复")
            redone = new("2025-10-09", "回访不满意")
            duplicate = new("2025-10-09", "重复")
            waiting = new("2025-10-09", "超期未答复")
            fresh_unassigned = new("2025-10-09", "未交办", department=None)
            chain.merge(book, conn, duplicate, OFFICE, into=quick)
            answer(quick)
            chain.check(book, conn, quick, OFFICE, rating="satisfied", by_citizen=True)
            chain.archive(book, conn, quick, OFFICE)
            answer(redone)
            chain.check(
                book, conn, redone, OFFICE, rating="dissatisfied", by_citizen=True, note="没解决"
            )
            # Received the 9th: due the 20th (7 working days); answered the 28th, late.
            on("2025-10-28")
            answer(late)
            chain.check(book, conn, late, OFFICE, rating="basically_satisfied", by_citizen=False)
            on("2025-10-30")
            later = new("2025-10-30", "月底收到")
            answer(september)
            office = create_token(conn, "office-li", "office")
        assert query(hub.config.database, "SELECT status FROM cases ORDER BY id") == [
            ("answered",),
            ("archived",),
            ("checked",),
            ("in_progress",),
            ("merged",),
            ("assigned",),
            ("registered",),
            ("assigned",),
        ]
        del waiting, fresh_unassigned, later

        client = create_app(hub.config).test_client()
        auth = {"Authorization": f"Bearer {office}"}
        bulletin = client.get("/api/v1/bulletins?month=2025-10", headers=auth).get_json()
        counted = recount(hub.config.database, "2025-10", bulletin["as_of"])
        names = ("received", "answered", "answered_on_time", "overdue", "archived", "rated")
        shown = {
            row["department"]: {name: row[name] for name in (*names, "satisfied")}
            for row in bulletin["departments"]
            if row["received"]
        }
        expected = {
            department: {name: counts.get(name, 0) for name in (*names, "satisfied")}
            for department, counts in counted.items()
        }
        assert shown == expected
        # What the recount says, spelled out: civil received 6 (the duplicate merged
        # away), answered 2 (the redone one is back in progress), 1 late.
        civil = next(r for r in bulletin["departments"] if r["department"] == "civil")
        assert (civil["received"], civil["answered"], civil["answered_on_time"]) == (5, 2, 1)
        assert civil["reply_rate"] == round(2 / 5, 4)
        assert civil["completion_rate"] == round(1 / 5, 4)
        assert (civil["rated"], civil["satisfied"], civil["satisfaction"]) == (3, 2, 0.6667)
        assert bulletin["hall"]["received"] == 6
        assert (
            civil["alerts"]
            == query(hub.config.database, "SELECT count(*) FROM supervision_alerts")[0][0]
        )

        csv_reply = client.get("/api/v1/bulletins?month=2025-10&format=csv", headers=auth)
        text = csv_reply.data.decode("utf-8")
        assert text.startswith("\ufeff部门 Department,名称 Name,受理 Received")
        assert "civil,民政,5,2,1," in text
        assert "hallrate-bulletin-2025-10.csv" in csv_reply.headers["Content-Disposition"]
        xlsx = client.get("/api/v1/bulletins?month=2025-10&format=xlsx", headers=auth)
        sheet = load_workbook(io.BytesIO(xlsx.data)).active
        assert sheet is not None
        cells = [[c.value for c in r] for r in sheet.iter_rows(min_row=3, max_col=4)]
        assert ["civil", "民政", 5, 2] in cells
        assert client.get("/api/v1/bulletins?month=2025-13", headers=auth).status_code == 400
    finally:
        hub.close()
