"""The console's figures, charts and exports equal a recount from the raw votes.

Votes of two departments are stored through the hub's real store and counting
(window votes, kiosk votes rating three dimensions, presses the evaluator
filtered, votes voided on appeal) in a real SQLite file. Every figure
:mod:`hub.analytics` gives — trends, the heat map, the dimensions, rankings,
the month-end tally and the monthly report — is checked against an
independent recount of the ``votes`` table here; the XLSX files are opened
with openpyxl and their cells checked against the same recount; the SVG is
parsed as XML and its written numbers read back.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sqlite3
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils
from openpyxl import load_workbook

from device_agent.protocol import Vote, VoteFilter
from hub import analytics, charts, exports
from hub.aggregates import wilson_lower_bound
from hub.config import load_hub_config
from hub.console.live import read_live_hall
from hub.counting import Counting
from hub.store import Store, StoredVote
from tests.hall import Hall, query
from tests.recount import SHANGHAI
from tests.stored_votes import NO_PAUSE, Clock, CountingHub, make_vote

HOSTILE = "<script>alert('x')</script> & =1+1"
MONTH = "2026-11"


@dataclass
class TwoDepartments(Hall):
    """Windows w01–w02 in civil, w03 in tax; a kiosk; a staff member named like markup."""

    def directory_text(self) -> str:
        text = super().directory_text()
        text = text.replace(
            'name = "3号窗口"\ndepartment = "civil"', 'name = "3号窗口"\ndepartment = "tax"'
        )
        text = text.replace(
            'name = "职员3"\ndepartment = "civil"', 'name = "职员3"\ndepartment = "tax"'
        )
        return (
            text
            + '\n[[departments]]\nid = "tax"\nname = "税务"\n'
            + '\n[[devices]]\nid = "kiosk-01"\nkind = "kiosk"\n'
            + f'\n[[staff]]\nid = "s98"\nname = "{HOSTILE.replace(chr(39), "")}"\n'
            + 'department = "tax"\n'
        )


def _hub(root: Path) -> CountingHub:
    hall = TwoDepartments(root, port=1883, windows=3)
    config = load_hub_config(hall.hub_config())
    clock = Clock(datetime(2027, 1, 5, 4, 0, tzinfo=UTC))
    counting = Counting(config, now=clock)
    store = Store(config.database, counting=counting, rules=counting.rules)
    return CountingHub(hall, config, store, counting, clock)


def _votes(rng: random.Random) -> list[StoredVote]:
    votes = []
    start = datetime(2026, 10, 31, 20, tzinfo=UTC)  # 04:00 on 1 November in the hall
    for n in range(420):
        cast = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 45))
        level = rng.choice([1, 2, 2, 3, 4, 5, 5, 5])
        if n % 6 == 0:
            staff = rng.choice(["s01", "s02", "s03", "s98"])
            dims = {k: rng.randint(1, 5) for k in ("attitude", "efficiency", "style")}
            stored = make_vote(
                cast.isoformat(), channel="kiosk", window=None, staff=staff, level=level, dims=dims
            )
        else:
            k = rng.randint(1, 3)
            stored = make_vote(cast.isoformat(), window=f"w0{k}", staff=f"s0{k}", level=level)
        if n % 17 == 0:  # a press the evaluator itself filtered
            fields = {f: getattr(stored.vote, f) for f in stored.vote.__dataclass_fields__}
            vote = Vote(**{**fields, "filter": VoteFilter("repeat", 1)})
            stored = StoredVote(vote, stored.cast_at, stored.received_at, stored.flags)
        votes.append(stored)
    return votes


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CountingHub]:
    hub = _hub(tmp_path_factory.mktemp("analytics") / "hall")
    votes = _votes(random.Random(13))
    for i in range(0, len(votes), 40):
        hub.add(*votes[i : i + 40])
    for stored in votes[3:60:9]:  # a few upheld appeals
        hub.void(stored.vote.id)
    yield hub
    hub.close()


@pytest.fixture
def conn(hub: CountingHub) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(hub.config.database)
    yield connection
    connection.close()


# The recount: straight from the votes table, knowing nothing of the counters.


@dataclass(frozen=True)
class Raw:
    local: datetime
    window: str | None
    staff: str | None
    level: int
    dims: dict[str, int] | None
    department: str | None


DEPARTMENT = {"w01": "civil", "w02": "civil", "w03": "tax"}
STAFF_DEPARTMENT = {"s01": "civil", "s02": "civil", "s03": "tax", "s98": "tax"}


def counted_votes(database: Path) -> list[Raw]:
    """Votes that count: not filtered by any rule, not voided."""
    voided = {r[0] for r in query(database, "SELECT vote_id FROM vote_voids")}
    found = []
    for ident, window, staff, level, counted, cast_at, dims in query(
        database,
        "SELECT id, window, staff, level, counted, cast_at, dims FROM votes_readable",
    ):
        if not counted or ident in voided:
            continue
        department = DEPARTMENT.get(window) if window else STAFF_DEPARTMENT.get(staff)
        local = datetime.fromisoformat(cast_at).astimezone(SHANGHAI)
        found.append(
            Raw(local, window, staff, level, json.loads(dims) if dims else None, department)
        )
    return found


def _share(votes: int, bad: int) -> float | None:
    return None if votes == 0 else (votes - bad) / votes


def test_the_votes_include_what_must_not_count(hub):
    database = hub.config.database
    assert query(database, "SELECT count(*) FROM votes WHERE counted = 0")[0][0] > 10
    assert query(database, "SELECT count(*) FROM vote_voids")[0][0] >= 5
    kiosk = query(database, "SELECT count(*) FROM votes WHERE dims IS NOT NULL AND counted = 1")
    assert kiosk[0][0] > 30


@pytest.mark.parametrize("department", [None, "civil", "tax"])
def test_daily_and_monthly_trends_equal_a_recount(hub, conn, department):
    raw = [v for v in counted_votes(hub.config.database) if department in (None, v.department)]
    by_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_month: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for v in raw:
        for key, into in (
            (v.local.date().isoformat(), by_day),
            (v.local.strftime("%Y-%m"), by_month),
        ):
            into[key][0] += 1
            into[key][1] += v.level <= 2
    days = analytics.daily_trend(conn, hub.config, MONTH, department=department)
    assert [p.period for p in days] == [f"2026-11-{d:02d}" for d in range(1, 31)]
    assert {p.period: [p.votes, p.dissatisfied] for p in days if p.votes} == {
        k: v for k, v in by_day.items() if k.startswith(MONTH)
    }
    months = analytics.monthly_trend(conn, hub.config, "2026", department=department)
    assert len(months) == 12
    assert {p.period: [p.votes, p.dissatisfied] for p in months if p.votes} == {
        k: v for k, v in by_month.items() if k.startswith("2026")
    }
    assert months[10].satisfaction == _share(*by_month["2026-11"])


@pytest.mark.parametrize("department", [None, "tax"])
def test_the_heat_map_counts_dissatisfied_votes_by_weekday_and_hour(hub, conn, department):
    raw = counted_votes(hub.config.database)
    expected = [[0] * 24 for _ in range(7)]
    for v in raw:
        if department in (None, v.department) and v.local.strftime("%Y-%m") == MONTH:
            expected[v.local.weekday()][v.local.hour] += v.level <= 2
    heat = analytics.month_heatmap(conn, hub.config, MONTH, department=department)
    assert [list(row) for row in heat.dissatisfied] == expected
    assert heat.total_dissatisfied == sum(map(sum, expected)) > 0
    # A week's range keeps to its days.
    week = analytics.heatmap(conn, hub.config, "2026-11-09", "2026-11-15", department=department)
    inside = sum(
        v.level <= 2
        for v in raw
        if department in (None, v.department)
        and date(2026, 11, 9) <= v.local.date() <= date(2026, 11, 15)
    )
    assert week.total_dissatisfied == inside


def expected_dimensions(database: Path, period: str) -> dict[str, dict[str, list[int]]]:
    found: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * 5))
    for v in counted_votes(database):
        if v.dims is None or v.staff is None or not v.local.strftime("%Y-%m").startswith(period):
            continue
        for name, level in v.dims.items():
            found[v.staff][name][level - 1] += 1
    return {s: {n: list(c) for n, c in d.items()} for s, d in found.items()}


def test_each_dimension_is_counted_per_staff_member_and_month(hub, conn):
    for period in (MONTH, "2026-12", "2026"):
        expected = expected_dimensions(hub.config.database, period)
        got = {
            person.staff: {n: list(c.levels) for n, c in person.dimensions.items() if c.votes}
            for person in analytics.dimensions(conn, hub.config, period)
        }
        assert got == expected
        assert len(expected) >= 3
    tax = analytics.dimensions(conn, hub.config, MONTH, department="tax")
    assert {p.staff for p in tax} <= {"s03", "s98"} and tax
    one = analytics.staff_dimensions(conn, hub.config, "s01", MONTH)
    levels = expected_dimensions(hub.config.database, MONTH)["s01"]["attitude"]
    assert list(one.dimensions["attitude"].levels) == levels
    rated = one.votes
    assert rated > 0 and not one.withheld
    shy = analytics.staff_dimensions(conn, hub.config, "s01", MONTH, min_votes=rated + 1)
    assert shy.withheld and shy.votes == 0
    assert all(d.levels == (0, 0, 0, 0, 0) for d in shy.dimensions.values())
    enough = analytics.staff_dimensions(conn, hub.config, "s01", MONTH, min_votes=rated)
    assert not enough.withheld and enough.votes == rated
    assert one.dimensions["attitude"].mean == pytest.approx(
        sum((i + 1) * n for i, n in enumerate(levels)) / sum(levels)
    )


def test_a_rebuild_gives_the_same_dimension_and_hour_counts(hub, tmp_path):
    # An upgraded hub starts with the new table empty; the rebuild fills it from the votes.
    database = tmp_path / "copy.sqlite"
    with sqlite3.connect(hub.config.database) as source, sqlite3.connect(database) as target:
        source.backup(target)
    before = query(database, "SELECT * FROM breakdown_counts ORDER BY 1, 2, 3")
    assert before
    with sqlite3.connect(database) as emptied:
        emptied.execute("DELETE FROM breakdown_counts")
    config = load_hub_config(hub.hall.hub_config())
    object.__setattr__(config, "database", database)
    store = Store(database)
    try:
        rebuilt = Counting(config, now=hub.clock).rebuild(store.db, pacing=NO_PAUSE)
    finally:
        store.close()
    assert len(rebuilt.counts.changed) == len(before)
    assert query(database, "SELECT * FROM breakdown_counts ORDER BY 1, 2, 3") == before
    # And on the intact database the rebuild finds nothing to correct.
    store = Store(hub.config.database)
    try:
        again = hub.counting.rebuild(store.db, pacing=NO_PAUSE)
    finally:
        store.close()
    assert again.counts.identical


def test_a_void_moves_the_dimension_counts(tmp_path):
    hub = _hub(tmp_path / "hall")
    try:
        dims = {"attitude": 1, "efficiency": 4, "style": 5}
        vote = make_vote(
            "2026-11-10T10:00:00+08:00", channel="kiosk", window=None, staff="s01", dims=dims
        )
        hub.add(vote)
        conn = sqlite3.connect(hub.config.database)
        person = analytics.staff_dimensions(conn, hub.config, "s01", MONTH)
        assert person.dimensions["attitude"].dissatisfied == 1
        assert person.dimensions["style"].levels == (0, 0, 0, 0, 1)
        hub.void(vote.vote.id)
        person = analytics.staff_dimensions(conn, hub.config, "s01", MONTH)
        assert person.votes == 0
        assert analytics.month_heatmap(conn, hub.config, MONTH).total_dissatisfied == 0
        conn.close()
    finally:
        hub.close()


def expected_staff(database: Path, month: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for v in counted_votes(database):
        if v.staff and v.local.strftime("%Y-%m") == month:
            row = found[v.staff]
            row[0] += 1
            row[1] += v.level <= 2
            row[2] += v.level == 2
            row[3] += v.level == 1
    return found


def test_the_staff_ranking_orders_by_wilson_bound_with_a_minimum(hub, conn):
    expected = expected_staff(hub.config.database, MONTH)
    floor = sorted(row[0] for row in expected.values())[1] + 1  # leaves some unranked
    ranked = analytics.rank(conn, hub.config, "staff", MONTH, min_votes=floor)
    scores = {
        s: wilson_lower_bound(r[0] - r[1], r[0]) for s, r in expected.items() if r[0] >= floor
    }
    assert [r.subject for r in ranked if r.rank] == sorted(
        scores, key=lambda s: (-scores[s], -expected[s][0], s)
    )
    assert all(r.votes < floor for r in ranked if r.rank is None)
    assert any(r.rank is None for r in ranked)
    tax = analytics.rank(conn, hub.config, "window", "2026-W47", min_votes=1, department="tax")
    assert [r.subject for r in tax] == ["w03"]


def test_the_month_end_tally_exports_equal_a_recount(hub, conn):
    expected = expected_staff(hub.config.database, MONTH)
    rows = analytics.month_end_tally(conn, hub.config, MONTH)
    assert {
        r["staff"]: [r["votes"], r["dissatisfied"], r["level_2"], r["level_1"]]
        for r in rows
        if r["votes"]
    } == expected
    book = load_workbook(io.BytesIO(exports.tally_xlsx(rows, MONTH)))
    sheet = book.active
    assert "月末" in sheet["A1"].value
    headings = [c.value for c in sheet[2]]
    assert headings[0] == "工号 Staff"
    cells = {r[0]: list(r[3:7]) for r in sheet.iter_rows(min_row=3, values_only=True) if r[3]}
    assert cells == expected
    # The hostile name is text in both files, never a formula or markup.
    names = [r[1] for r in sheet.iter_rows(min_row=3, values_only=True)]
    assert any(n and n.startswith("<script>") for n in names)
    text = exports.tally_csv(rows).decode("utf-8")
    assert text.startswith("\ufeff工号 Staff,姓名 Name")
    parsed = list(csv.reader(io.StringIO(text[1:])))
    assert {r[0]: [int(x) for x in r[3:7]] for r in parsed[1:] if r[3] != "0"} == expected
    civil = analytics.month_end_tally(conn, hub.config, MONTH, department="civil")
    assert {r["staff"] for r in civil} == {"s01", "s02"}


def test_the_weekly_ranking_exports_equal_a_recount(hub, conn):
    week_days = {date(2026, 11, 16) + timedelta(days=i) for i in range(7)}
    per_window: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for v in counted_votes(hub.config.database):
        if v.window and v.local.date() in week_days:
            per_window[v.window][0] += 1
            per_window[v.window][1] += v.level <= 2
    rows = analytics.weekly_ranking(conn, hub.config, "2026-W47", min_votes=1)
    windows = [r for r in rows if r["kind"] == "window"]
    assert {r["subject"]: [r["votes"], r["dissatisfied"]] for r in windows} == per_window
    book = load_workbook(io.BytesIO(exports.ranking_xlsx(rows, "2026-W47", min_votes=1)))
    cells = [r for r in book.active.iter_rows(min_row=3, values_only=True) if r[0] == "window"]
    assert {r[2]: [r[4], r[5]] for r in cells} == per_window
    best = max(
        per_window,
        key=lambda w: wilson_lower_bound(per_window[w][0] - per_window[w][1], per_window[w][0]),
    )
    assert cells[0][1] == 1 and cells[0][2] == best
    tax = analytics.weekly_ranking(conn, hub.config, "2026-W47", min_votes=1, department="tax")
    assert {(r["kind"], r["subject"]) for r in tax} == {("window", "w03"), ("department", "tax")}


def test_the_monthly_report_for_county_leaders_equals_a_recount(hub, conn):
    raw = [v for v in counted_votes(hub.config.database) if v.local.strftime("%Y-%m") == MONTH]
    per_department: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for v in raw:
        if v.department:
            per_department[v.department][0] += 1
            per_department[v.department][1] += v.level <= 2
    warned = query(
        hub.config.database,
        "SELECT staff FROM warnings WHERE grain = 'month' AND period = ? AND withdrawn_at IS NULL",
        (MONTH,),
    )
    report = analytics.monthly_report(conn, hub.config, MONTH, min_votes=5)
    assert report.votes == len(raw)
    assert report.dissatisfied == sum(v.level <= 2 for v in raw)
    assert report.warnings == len(warned)
    got = {d.department: [d.votes, d.dissatisfied] for d in report.departments}
    assert got == per_department
    civil = next(d for d in report.departments if d.department == "civil")
    staff = expected_staff(hub.config.database, MONTH)
    ranked = sorted(
        (s for s in ("s01", "s02") if staff[s][0] >= 5),
        key=lambda s: (-wilson_lower_bound(staff[s][0] - staff[s][1], staff[s][0]), s),
    )
    assert civil.top is not None and civil.top.subject == ranked[0]
    book = load_workbook(io.BytesIO(exports.monthly_report_xlsx(report)))
    rows = list(book.active.iter_rows(min_row=3, values_only=True))
    assert {r[0]: [r[2], r[4]] for r in rows[:-1]} == per_department
    assert rows[-1][2] == len(raw) and rows[-1][3] == pytest.approx(
        _share(report.votes, report.dissatisfied), abs=1e-4
    )
    assert book.active.cell(row=3, column=4).number_format == "0.0%"
    text = exports.monthly_report_csv(report).decode("utf-8")
    assert text.startswith("\ufeff部门 Department") and "合计 Hall total" in text


def _svg(text: str) -> ET.Element:
    root = ET.fromstring(text)  # well-formed: every label escaped
    assert root.get("role") == "img"
    assert root.find("{http://www.w3.org/2000/svg}title") is not None
    return root


def _texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_the_heat_map_chart_writes_each_number_with_labels_and_a_legend(hub, conn):
    heat = analytics.month_heatmap(conn, hub.config, MONTH)
    root = _svg(charts.heatmap_chart(heat, f"{MONTH} 不满意热力图 <Dissatisfied>"))
    texts = _texts(root)
    assert "周一 Mon" in texts and "周日 Sun" in texts
    assert "00" in texts and "23" in texts
    assert any(t.startswith("图例 Legend") for t in texts)
    cells = [
        int(t.text or "")
        for t in root.iter("{http://www.w3.org/2000/svg}text")
        if t.get("class") == "v"
    ]
    assert sum(cells) == heat.total_dissatisfied and max(cells) == heat.peak
    assert "<Dissatisfied>" in root.find("{http://www.w3.org/2000/svg}title").text


def test_trend_and_bar_charts_print_their_values_and_escape_labels(hub, conn):
    points = analytics.daily_trend(conn, hub.config, MONTH)
    for style in ("line", "bar"):
        root = _svg(charts.trend_chart(points, "满意率 Satisfaction", style=style, warn_below=0.9))
        texts = _texts(root)
        for p in points:
            if p.satisfaction is not None:
                shown = f"{p.satisfaction * 100:.1f}"
                assert shown in texts or f"!{shown}" in texts
        assert any(t.startswith("!") for t in texts) == any(
            p.satisfaction is not None and p.satisfaction < 0.9 for p in points
        )
    person = analytics.staff_dimensions(conn, hub.config, "s98", MONTH)
    chart = charts.dimensions_chart(person)
    assert "<script>" not in chart and "&lt;script&gt;" in chart
    texts = _texts(_svg(chart))
    assert any(t.startswith("服务态度 Attitude") for t in texts)
    ranked = analytics.rank(conn, hub.config, "staff", MONTH, min_votes=1)
    texts = _texts(_svg(charts.ranking_chart(ranked, "排名 Ranking")))
    first = ranked[0]
    assert any(t.startswith("1. ") for t in texts)
    assert any(f"{first.votes} 票 votes" in t for t in texts)
    assert charts.esc("a\x00b<") == "ab&lt;"


def test_the_live_hall_shows_each_window_today(hub, conn):
    # The console's live hall (hub.console.live) over the counters these tests fill;
    # its response rate is tested with real service events in tests/test_console_live.py.
    now = datetime(2026, 11, 10, 12, 0, tzinfo=SHANGHAI)
    per_window: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for v in counted_votes(hub.config.database):
        if v.window and v.local.date() == now.date():
            per_window[v.window][0] += 1
            per_window[v.window][1] += v.level <= 2
    db = sqlite_utils.Database(conn)
    live = read_live_hall(db, hub.config, now=now)
    assert live.day == "2026-11-10"
    shown = {w.id: [w.tally.total, w.tally.dissatisfied] for w in live.windows if w.tally.total}
    assert shown == per_window
    assert [list(w.on_duty) for w in live.windows] == [["s01"], ["s02"], ["s03"]]  # seated there
    assert live.windows[0].devices[0].id == "w01-eval"
    tax = read_live_hall(db, hub.config, now=now, department="tax")
    assert [w.id for w in tax.windows] == ["w03"]
    assert tax.total.total == per_window["w03"][0]


def test_bad_periods_are_refused(hub, conn):
    with pytest.raises(ValueError):
        analytics.daily_trend(conn, hub.config, "2026-13")
    with pytest.raises(ValueError):
        analytics.heatmap(conn, hub.config, "2026-11", "2026-11-30")
    with pytest.raises(ValueError):
        analytics.rank(conn, hub.config, "hall", MONTH)
    assert exports.filename("monthly", "2026-11/../x", "xlsx") == "hallrate-monthly-2026-11x.xlsx"


def test_a_name_typed_as_a_formula_stays_text_in_both_files():
    rows = [{"staff": "s01", "name": '=HYPERLINK("http://x","点我")', "votes": 3}]
    text = exports.tally_csv(rows).decode("utf-8")
    line = list(csv.reader(io.StringIO(text[1:])))[1]
    assert line[1] == '\'=HYPERLINK("http://x","点我")'
    cell = load_workbook(io.BytesIO(exports.tally_xlsx(rows, MONTH))).active["B3"]
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")
