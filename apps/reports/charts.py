"""Charts drawn on the server as SVG, and their data as CSV.

The site's content security policy (style-src 'self', script-src 'self') forbids inline styles
and scripts, so the SVG carries neither: geometry in attributes, colours in classes that the
static stylesheet reports/dashboards.css defines, each value's exact number in a <title> (the
browser shows it on hover). A chart is data first (Chart); `chart_svg` and `chart_csv` are two
views of the same data, so the picture and the download never disagree.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 26, 56
PALETTE_SIZE = 8  # .chart__series-0 … -7 in the stylesheet
Number = int | float | Decimal | None


@dataclass
class Series:
    name: str
    values: list[Number]


@dataclass
class Chart:
    """`kind` "line" (one point per label and series) or "bar" (a bar per label and series)."""

    key: str
    title: str
    kind: str
    labels: list[str]
    series: list[Series] = field(default_factory=list)
    unit: str = ""
    target: float | None = None
    target_label: str = ""

    @property
    def empty(self) -> bool:
        return not self.labels or all(value is None for series in self.series for value in series.values)


def _fmt(value: Number, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:,.1f}"
    else:
        text = f"{value:,}"
    return f"{text} {unit}".strip()


def _nice_top(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _scale(chart: Chart) -> tuple[float, float, float]:
    values = [float(value) for series in chart.series for value in series.values if value is not None]
    top = _nice_top(max(values + ([chart.target] if chart.target is not None else []) + [0]))
    return top, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


def _y(value: float, top: float, height: float) -> float:
    return TOP + height - (value / top) * height


def _axes(chart: Chart, top: float, width: float, height: float) -> list[str]:
    parts = []
    for tick in (0, top / 2, top):
        y = _y(tick, top, height)
        parts.append(f'<line class="chart__grid" x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + width}" y2="{y:.1f}"/>')
        label = _fmt(int(tick) if float(tick).is_integer() else tick)
        parts.append(f'<text class="chart__tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    if chart.unit:
        parts.append(f'<text class="chart__tick" x="4" y="12">{escape(chart.unit)}</text>')
    count = len(chart.labels)
    shown = sorted({0, count // 2, count - 1}) if chart.kind == "line" and count > 8 else range(count)
    for index in shown:
        x = _x(chart, index, width)
        # The axis' first and last labels sit inside the frame: a date is wider than its margin.
        anchor = "middle" if chart.kind == "bar" or 0 < index < count - 1 else ("start" if index == 0 else "end")
        parts.append(f'<text class="chart__tick" x="{x:.1f}" y="{TOP + height + 16}" text-anchor="{anchor}">'
                     f'{escape(chart.labels[index][:18])}</text>')
    if chart.target is not None:
        y = _y(chart.target, top, height)
        parts.append(f'<line class="chart__target" x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + width}" y2="{y:.1f}">'
                     f'<title>{escape(chart.target_label)}: {escape(_fmt(chart.target, chart.unit))}</title></line>')
    return parts


def _x(chart: Chart, index: int, width: float) -> float:
    count = len(chart.labels)
    if chart.kind == "bar":
        return LEFT + (index + 0.5) * width / count
    return LEFT + (width / 2 if count == 1 else index * width / (count - 1))


def _lines(chart: Chart, top: float, width: float, height: float) -> list[str]:
    parts = []
    for number, series in enumerate(chart.series):
        colour = f"chart__series-{number % PALETTE_SIZE}"
        points = [(_x(chart, index, width), _y(float(value), top, height), index, value)
                  for index, value in enumerate(series.values) if value is not None]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        parts.append(f'<g class="chart__line {colour}" data-series="{escape(series.name)}">')
        parts.append(f'<polyline points="{path}"/>')
        for x, y, index, value in points:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(series.name)}, '
                         f'{escape(chart.labels[index])}: {escape(_fmt(value, chart.unit))}</title></circle>')
        parts.append("</g>")
    return parts


def _bars(chart: Chart, top: float, width: float, height: float) -> list[str]:
    parts = []
    slot = width / max(len(chart.labels), 1)
    bar = slot * 0.8 / max(len(chart.series), 1)
    for number, series in enumerate(chart.series):
        colour = f"chart__series-{number % PALETTE_SIZE}"
        parts.append(f'<g class="chart__bars {colour}" data-series="{escape(series.name)}">')
        for index, value in enumerate(series.values):
            if value is None:
                continue
            x = LEFT + index * slot + slot * 0.1 + number * bar
            y = _y(float(value), top, height)
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{TOP + height - y:.1f}">'
                         f'<title>{escape(series.name)}, {escape(chart.labels[index])}: '
                         f'{escape(_fmt(value, chart.unit))}</title></rect>')
        parts.append("</g>")
    return parts


def _legend(chart: Chart) -> list[str]:
    parts, x = [], LEFT
    for number, series in enumerate(chart.series):
        colour = f"chart__series-{number % PALETTE_SIZE}"
        parts.append(f'<rect class="chart__key {colour}" x="{x}" y="{HEIGHT - 18}" width="10" height="10"/>')
        parts.append(f'<text class="chart__legend" x="{x + 14}" y="{HEIGHT - 9}">{escape(series.name[:24])}</text>')
        x += 24 + 7 * min(len(series.name), 24)
    return parts


def chart_svg(chart: Chart) -> SafeString:
    """The chart as an inline <svg> element (no style attribute, no script)."""
    top, width, height = _scale(chart)
    body = _axes(chart, top, width, height)
    body += _bars(chart, top, width, height) if chart.kind == "bar" else _lines(chart, top, width, height)
    body += _legend(chart)
    return mark_safe(
        f'<svg class="chart" id="chart-{escape(chart.key)}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" aria-label="{escape(chart.title)}">'
        f'<title>{escape(chart.title)}</title>{"".join(body)}</svg>'
    )


def _cell(text: str) -> str:
    """A name as a spreadsheet reads it: never as a formula (a campaign called "=HYPERLINK(...)")."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def chart_csv(chart: Chart) -> str:
    """One row per label, one column per series: the numbers the chart draws."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["label", *(_cell(series.name) for series in chart.series)])
    for index, label in enumerate(chart.labels):
        writer.writerow([_cell(label), *("" if series.values[index] is None else series.values[index]
                                  for series in chart.series)])
    if chart.target is not None:
        writer.writerow([chart.target_label or "target", *(chart.target for _ in chart.series)])
    return buffer.getvalue()
