"""The console's reports as files: CSV that Excel opens in Chinese, and XLSX.

CSV is UTF-8 with a byte-order mark: without it Excel (and WPS) read the file
as the system code page and show 姓名 as mojibake. A text cell that begins
with ``= + - @`` (or a tab or carriage return) is written with a leading
``'`` in CSV and stored as text in XLSX, so a staff name or note typed as a
formula is never run by the spreadsheet (CSV injection).

Each report has one function per format taking what :mod:`hub.analytics`
returns and giving the file's bytes; a page sends them with the
:data:`CSV_TYPE` / :data:`XLSX_TYPE` media type and :func:`filename`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.utils import get_column_letter

from hub.analytics import MonthlyReport, Ranked

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# (key in the row, column heading): Chinese first, English second.
Columns = Sequence[tuple[str, str]]
TALLY_COLUMNS: Columns = (
    ("staff", "工号 Staff"),
    ("name", "姓名 Name"),
    ("department", "部门 Department"),
    ("votes", "有效票 Votes"),
    ("dissatisfied", "不满意 Dissatisfied"),
    ("level_2", "不满意(2) Level 2"),
    ("level_1", "非常不满意(1) Level 1"),
    ("satisfaction", "满意率 Satisfaction"),
    ("warnings", "预警 Warnings"),
)
RANKING_COLUMNS: Columns = (
    ("kind", "类别 Kind"),
    ("rank", "名次 Rank"),
    ("subject", "编号 Id"),
    ("name", "名称 Name"),
    ("votes", "有效票 Votes"),
    ("dissatisfied", "不满意 Dissatisfied"),
    ("satisfaction", "满意率 Satisfaction"),
    ("wilson_lower", "威尔逊下限 Wilson lower bound"),
)
REPORT_COLUMNS: Columns = (
    ("department", "部门 Department"),
    ("name", "名称 Name"),
    ("votes", "有效票 Votes"),
    ("satisfaction", "满意率 Satisfaction"),
    ("dissatisfied", "不满意 Dissatisfied"),
    ("warnings", "预警 Warnings raised"),
    ("warning_levels", "预警级别 Levels"),
    ("top", "最佳 Top staff"),
    ("top_score", "最佳得分 Top score"),
    ("bottom", "最末 Bottom staff"),
    ("bottom_score", "最末得分 Bottom score"),
)
_SHARES = {
    "satisfaction",
    "wilson_lower",
    "top_score",
    "bottom_score",
    "reply_rate",
    "completion_rate",
}


def filename(report: str, period: str, extension: str) -> str:
    """``hallrate-monthly-2026-11.xlsx``: a download's name (ASCII, no path)."""
    safe = "".join(c for c in f"{report}-{period}" if c.isascii() and (c.isalnum() or c in "-_"))
    return f"hallrate-{safe}.{extension}"


def _csv_text(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def csv_bytes(columns: Columns, rows: Sequence[dict[str, Any]]) -> bytes:
    """Rows as CSV: a BOM, a heading line, a line per row (UTF-8, CRLF as Excel writes)."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out)
    writer.writerow([heading for _, heading in columns])
    for row in rows:
        writer.writerow([_csv_text(row.get(key)) for key, _ in columns])
    return out.getvalue().encode("utf-8")


def xlsx_bytes(sheets: Sequence[tuple[str, str, Columns, Sequence[dict[str, Any]]]]) -> bytes:
    """A workbook of ``(sheet title, caption, columns, rows)``: caption in A1, headings in row 2.

    Shares are stored as numbers with a percent format, so a sum or chart in
    the spreadsheet works on them.
    """
    book = Workbook()
    first = True
    for title, caption, columns, rows in sheets:
        sheet = book.active if first else book.create_sheet()
        first = False
        assert sheet is not None
        sheet.title = title[:31]
        _put(sheet.cell(row=1, column=1), caption)
        for j, (_, heading) in enumerate(columns, start=1):
            _put(sheet.cell(row=2, column=j), heading)
            sheet.column_dimensions[get_column_letter(j)].width = max(12, len(heading) + 4)
        for i, row in enumerate(rows, start=3):
            for j, (key, _) in enumerate(columns, start=1):
                cell = sheet.cell(row=i, column=j)
                _put(cell, row.get(key))
                if key in _SHARES and isinstance(cell.value, float):
                    cell.number_format = "0.0%"
        sheet.freeze_panes = "A3"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _put(cell: Cell, value: Any) -> None:
    cell.value = value
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # text, never a formula


def tally_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    """The month-end tally (:func:`hub.analytics.month_end_tally`) as CSV."""
    return csv_bytes(TALLY_COLUMNS, rows)


def tally_xlsx(rows: Sequence[dict[str, Any]], month: str) -> bytes:
    """The month-end tally as XLSX."""
    caption = f"{month} 月末不满意票统计 Month-end dissatisfied tally"
    return xlsx_bytes([(f"tally {month}", caption, TALLY_COLUMNS, rows)])


def ranking_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    """The weekly ranking (:func:`hub.analytics.weekly_ranking`) as CSV."""
    return csv_bytes(RANKING_COLUMNS, rows)


def ranking_xlsx(rows: Sequence[dict[str, Any]], week: str, *, min_votes: int) -> bytes:
    """The weekly ranking as XLSX."""
    caption = (
        f"{week} 周排名 Weekly ranking · 威尔逊下限排序 by Wilson lower bound (95%)"
        f" · 少于 {min_votes} 票不排名 fewer than {min_votes} votes unranked"
    )
    return xlsx_bytes([(f"ranking {week}", caption, RANKING_COLUMNS, rows)])


def _who(entry: Ranked | None) -> str | None:
    if entry is None:
        return None
    return f"{entry.name} ({entry.subject})" if entry.name else entry.subject


def report_rows(report: MonthlyReport) -> list[dict[str, Any]]:
    """The monthly report's departments as rows of :data:`REPORT_COLUMNS`, the hall last."""
    rows = []
    for d in report.departments:
        rows.append(
            {
                "department": d.department,
                "name": d.name,
                "votes": d.votes,
                "satisfaction": _round(d.satisfaction),
                "dissatisfied": d.dissatisfied,
                "warnings": d.warnings,
                "warning_levels": d.warning_levels,
                "top": _who(d.top),
                "top_score": _round(d.top.wilson_lower) if d.top else None,
                "bottom": _who(d.bottom),
                "bottom_score": _round(d.bottom.wilson_lower) if d.bottom else None,
            }
        )
    rows.append(
        {
            "department": report.hall,
            "name": f"{report.hall_name} 合计 Hall total",
            "votes": report.votes,
            "satisfaction": _round(report.satisfaction),
            "dissatisfied": report.dissatisfied,
            "warnings": report.warnings,
        }
    )
    return rows


def monthly_report_csv(report: MonthlyReport) -> bytes:
    """The monthly report to county leaders as CSV."""
    return csv_bytes(REPORT_COLUMNS, report_rows(report))


def monthly_report_xlsx(report: MonthlyReport) -> bytes:
    """The monthly report to county leaders as XLSX."""
    caption = (
        f"{report.hall_name} {report.month} 月度报告 Monthly report · 最佳/最末按威尔逊下限,"
        f"至少 {report.min_votes} 票 top/bottom by Wilson lower bound, at least"
        f" {report.min_votes} votes"
    )
    return xlsx_bytes([(f"report {report.month}", caption, REPORT_COLUMNS, report_rows(report))])


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# The monthly case bulletin (hub.cases.bulletins.monthly_bulletin), a row per department.
BULLETIN_COLUMNS: Columns = (
    ("department", "部门 Department"),
    ("name", "名称 Name"),
    ("received", "受理 Received"),
    ("answered", "已答复 Answered"),
    ("answered_on_time", "按期答复 On time"),
    ("overdue", "超期 Overdue"),
    ("reply_rate", "答复率 Reply rate"),
    ("completion_rate", "办结率 Completion rate"),
    ("rated", "回访 Rated"),
    ("satisfaction", "回访满意率 Satisfaction"),
    ("alerts", "督查预警 Supervision alerts"),
    ("alerts_red", "确认红色 Confirmed red"),
)


def bulletin_rows(bulletin: dict[str, Any]) -> list[dict[str, Any]]:
    """The bulletin's department rows, then the hall's totals (named 合计 Total)."""
    total = {**bulletin["hall"], "department": "合计 Total"}
    return [*bulletin["departments"], total]


def bulletin_csv(bulletin: dict[str, Any]) -> bytes:
    """The monthly case bulletin as CSV."""
    return csv_bytes(BULLETIN_COLUMNS, bulletin_rows(bulletin))


def bulletin_xlsx(bulletin: dict[str, Any]) -> bytes:
    """The monthly case bulletin as XLSX."""
    month = bulletin["month"]
    caption = f"{month} 案件办理通报 Case bulletin (截至 as of {bulletin['as_of']})"
    return xlsx_bytes([(f"bulletin {month}", caption, BULLETIN_COLUMNS, bulletin_rows(bulletin))])
