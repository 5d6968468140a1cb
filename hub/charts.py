"""The console's charts as SVG text, drawn on the server: no script, no CDN, readable on paper.

Each chart is an ``<svg role="img">`` with a ``<title>`` and ``<desc>`` (what
a screen reader says), and every figure is written as text beside its bar,
point or cell, so a chart printed in black and white still tells its numbers:
colour only repeats what the text says. Every label is escaped (a staff
name is data, not markup). A page puts the string in its template with
``|safe`` (or ``markupsafe.Markup``); the functions at the end take what
:mod:`hub.analytics` returns, so a page is a few lines.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from hub.analytics import (
    DIMENSION_LABELS,
    WEEKDAYS,
    HeatMap,
    Point,
    Ranked,
    StaffDimensions,
)

_FAMILIES = "'Noto Sans CJK SC','WenQuanYi Micro Hei','Microsoft YaHei','PingFang SC',sans-serif"
FONT = f'font-family="{_FAMILIES}"'
INK = "#222"
GRID = "#ccc"
BAR = "#2b6cb0"
LOW = "#c53030"  # a share under the warning line: also marked with "!" in text
# Heat map shades, lightest to darkest; a cell's number is always written in it.
SHADES = ("#ffffff", "#fde2e1", "#f9b4b0", "#f0766f", "#d63a33", "#9b1c17")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def esc(value: object) -> str:
    """Text safe inside SVG/XML: markup escaped, characters XML cannot hold dropped."""
    return html.escape(_CONTROL.sub("", str(value)), quote=True)


def percent(value: float | None) -> str:
    """A share as text: ``93.5%``, or ``—`` when there is none."""
    return "—" if value is None else f"{value * 100:.1f}%"


def _open(width: int, height: int, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" aria-labelledby="t d" {FONT} font-size="12">',
        f'<title id="t">{esc(title)}</title>',
        f'<desc id="d">{esc(desc)}</desc>',
        f'<text x="8" y="18" font-size="14" font-weight="bold" fill="{INK}">{esc(title)}</text>',
    ]


def trend_chart(
    points: Sequence[Point],
    title: str,
    *,
    style: str = "line",
    warn_below: float | None = None,
) -> str:
    """Satisfaction per period as a line (``style="line"``) or bars, each value written.

    The x axis names each period (its last part: the day or month number);
    ``warn_below`` draws a dashed line at that share and marks points under it with "!".
    Bars stand on 0 %; a line's axis starts at the 5 % step below its lowest
    point (and the warning line), so a change of a point or two shows. A
    period without votes breaks the line.
    """
    if style not in ("line", "bar"):
        raise ValueError("style: 'line' or 'bar'")
    left, top, plot_h, step = 48, 36, 180, 34
    width = left + step * max(1, len(points)) + 16
    height = top + plot_h + 56
    desc = "; ".join(f"{p.period}: {percent(p.satisfaction)} ({p.votes})" for p in points)
    out = _open(width, height, title, desc or "no votes")

    shares = [p.satisfaction for p in points if p.satisfaction is not None]
    if warn_below is not None:
        shares.append(warn_below)
    base = 0.0
    if style == "line" and shares:
        base = max(0.0, math.floor((min(shares) - 0.01) * 20) / 20)

    def y_of(share: float) -> float:
        return top + plot_h * (1 - (share - base) / (1 - base))

    for tick in [base + (1 - base) * k / 4 for k in range(5)]:
        y = y_of(tick)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        out.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{INK}">'
            f"{tick * 100:.4g}%</text>"
        )
    if warn_below is not None:
        y = y_of(warn_below)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="{LOW}"'
            ' stroke-dasharray="6 3"/>'
        )
    lines: list[list[str]] = [[]]  # runs of periods with votes
    marks: list[str] = []  # drawn over the line
    for i, p in enumerate(points):
        x = left + step * i + step / 2
        label = p.period.rsplit("-", 1)[-1]
        out.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="{INK}">'
            f"{esc(label)}</text>"
        )
        out.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 30}" text-anchor="middle" fill="#555"'
            f' font-size="9">{p.votes}</text>'
        )
        share = p.satisfaction
        if share is None:
            lines.append([])
            continue
        low = warn_below is not None and share < warn_below
        colour = LOW if low else BAR
        y = y_of(share)
        if style == "bar":
            marks.append(
                f'<rect x="{x - step * 0.35:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}"'
                f' height="{top + plot_h - y:.1f}" fill="{colour}"/>'
            )
        else:
            lines[-1].append(f"{x:.1f},{y:.1f}")
            marks.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
        mark = "!" if low else ""
        marks.append(
            f'<text x="{x:.1f}" y="{y - 6:.1f}" text-anchor="middle" font-size="9"'
            f' fill="{INK}">{mark}{share * 100:.1f}</text>'
        )
    for run in lines:
        if len(run) > 1:
            out.append(
                f'<polyline points="{" ".join(run)}" fill="none" stroke="{BAR}" stroke-width="2"/>'
            )
    out += marks
    out.append(
        f'<text x="8" y="{height - 8}" fill="#555" font-size="10">'
        "满意率 % (数字为票数) · satisfied share % (small figures: votes)</text>"
    )
    out.append("</svg>")
    return "\n".join(out)


def _shade(value: int, peak: int) -> str:
    if value <= 0 or peak <= 0:
        return SHADES[0]
    index = 1 + min(len(SHADES) - 2, (value * (len(SHADES) - 1) - 1) // peak)
    return SHADES[index]


def heatmap_chart(heat: HeatMap, title: str, *, hours: tuple[int, int] = (0, 24)) -> str:
    """Dissatisfied votes by weekday (rows) and hour (columns); each cell writes its number.

    ``hours`` crops the columns to opening hours (``(8, 18)``) when the hall wants it;
    the legend says which shade means how many.
    """
    first, end = hours
    cell_w, cell_h, left, top = 30, 26, 86, 40
    columns = list(range(first, end))
    # Wide enough for the legend and the footnote below the grid, however few the hours.
    width = max(left + cell_w * len(columns) + 16, 540)
    height = top + cell_h * 7 + 100
    peak = heat.peak
    desc = (
        f"{heat.first_day}–{heat.last_day}: {heat.total_dissatisfied} dissatisfied votes; "
        + "; ".join(
            f"{WEEKDAYS[d]} {h:02d}:00 {heat.dissatisfied[d][h]}"
            for d in range(7)
            for h in columns
            if heat.dissatisfied[d][h]
        )
    )
    out = _open(width, height, title, desc)
    for j, hour in enumerate(columns):
        x = left + cell_w * j + cell_w / 2
        out.append(
            f'<text x="{x:.1f}" y="{top - 6}" text-anchor="middle" font-size="10"'
            f' fill="{INK}">{hour:02d}</text>'
        )
    for day in range(7):
        y = top + cell_h * day
        out.append(
            f'<text x="{left - 6}" y="{y + cell_h / 2 + 4:.1f}" text-anchor="end"'
            f' fill="{INK}">{esc(WEEKDAYS[day])}</text>'
        )
        for j, hour in enumerate(columns):
            value = heat.dissatisfied[day][hour]
            x = left + cell_w * j
            shade = _shade(value, peak)
            ink = "#fff" if shade in SHADES[4:] else INK
            out.append(
                f'<rect x="{x}" y="{y}" width="{cell_w}" height="{cell_h}" fill="{shade}"'
                f' stroke="{GRID}"><title>{esc(WEEKDAYS[day])} {hour:02d}:00 —'
                f" {value} 不满意 dissatisfied / {heat.votes[day][hour]}</title></rect>"
            )
            if value:
                out.append(
                    f'<text x="{x + cell_w / 2:.1f}" y="{y + cell_h / 2 + 4:.1f}"'
                    f' text-anchor="middle" font-size="11" fill="{ink}" class="v">{value}</text>'
                )
    legend_y = top + cell_h * 7 + 20
    out.append(
        f'<text x="8" y="{legend_y + 12}" fill="{INK}" font-size="11">'
        "图例 Legend (不满意票 dissatisfied):</text>"
    )
    bounds = _legend_bounds(peak)
    for i, (low, high) in enumerate(bounds):
        x = 8 + i * 70
        shade = _shade(high, peak) if high else SHADES[0]
        text = "0" if high == 0 else (f"{low}" if low == high else f"{low}–{high}")
        out.append(
            f'<rect x="{x}" y="{legend_y + 22}" width="16" height="16" fill="{shade}"'
            f' stroke="{GRID}"/><text x="{x + 20}" y="{legend_y + 34}" font-size="10"'
            f' fill="{INK}">{text}</text>'
        )
    out.append(
        f'<text x="8" y="{legend_y + 60}" fill="#555" font-size="10">'
        f"{esc(heat.first_day)} – {esc(heat.last_day)} · 合计 total"
        f" {heat.total_dissatisfied} · 格内数字为票数 numbers in cells are votes</text>"
    )
    out.append("</svg>")
    return "\n".join(out)


def _legend_bounds(peak: int) -> list[tuple[int, int]]:
    """Value ranges of each shade that occurs: ``[(0, 0), (1, 2), ...]``."""
    bounds: list[tuple[int, int]] = [(0, 0)]
    by_shade: dict[str, list[int]] = {}
    for value in range(1, peak + 1):
        by_shade.setdefault(_shade(value, peak), []).append(value)
    bounds += [(values[0], values[-1]) for values in by_shade.values()]
    return bounds


@dataclass(frozen=True, slots=True)
class Bar:
    """One horizontal bar: its label, a share (0–1) for its length, the text written beside it."""

    label: str
    share: float | None
    text: str
    low: bool = False


def bars_chart(bars: Sequence[Bar], title: str, *, label_width: int = 170) -> str:
    """Horizontal bars with their labels and values written out (dimensions, rankings)."""
    row_h, top, plot_w = 26, 34, 300
    # Room for the longest value text (a CJK character is about 12 px, Latin about 7).
    longest = max((sum(12 if ord(c) > 0x2E80 else 7 for c in b.text) for b in bars), default=0)
    width = label_width + plot_w + max(190, longest + 20)
    height = top + row_h * max(1, len(bars)) + 14
    desc = "; ".join(f"{b.label}: {b.text}" for b in bars) or "no data"
    out = _open(width, height, title, desc)
    for i, bar in enumerate(bars):
        y = top + row_h * i
        out.append(
            f'<text x="{label_width - 6}" y="{y + 16}" text-anchor="end" fill="{INK}">'
            f"{esc(bar.label)}</text>"
        )
        out.append(
            f'<rect x="{label_width}" y="{y + 4}" width="{plot_w}" height="16" fill="none"'
            f' stroke="{GRID}"/>'
        )
        if bar.share is not None:
            length = max(0.0, min(1.0, bar.share)) * plot_w
            out.append(
                f'<rect x="{label_width}" y="{y + 4}" width="{length:.1f}" height="16"'
                f' fill="{LOW if bar.low else BAR}"/>'
            )
        mark = "! " if bar.low else ""
        out.append(
            f'<text x="{label_width + plot_w + 6}" y="{y + 16}" fill="{INK}">'
            f"{esc(mark + bar.text)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


def dimensions_chart(person: StaffDimensions, title: str | None = None) -> str:
    """A staff member's satisfied share per dimension, with mean level and number of ratings."""
    bars = []
    for name, counts in person.dimensions.items():
        mean = "—" if counts.mean is None else f"{counts.mean:.2f}"
        bars.append(
            Bar(
                DIMENSION_LABELS.get(name, name),
                counts.satisfaction,
                f"{percent(counts.satisfaction)} · 均分 mean {mean} · {counts.votes} 票 votes",
            )
        )
    who = person.name or person.staff
    return bars_chart(bars, title or f"{who} 分项评价 Ratings by dimension")


def ranking_chart(
    ranked: Sequence[Ranked], title: str, *, limit: int = 20, warn_below: float | None = None
) -> str:
    """The first ``limit`` ranked entries: bar = Wilson lower bound, text = rank, share, votes."""
    bars = []
    for item in [r for r in ranked if r.rank is not None][:limit]:
        share = item.satisfaction
        bars.append(
            Bar(
                f"{item.rank}. {item.name or item.subject}",
                item.wilson_lower,
                f"{percent(item.wilson_lower)} (满意 {percent(share)}, {item.votes} 票 votes)",
                low=warn_below is not None and share is not None and share < warn_below,
            )
        )
    return bars_chart(bars, title)
