"""Line charts, scatter charts and heatmaps as standalone SVG documents.

Coordinates are rounded to a tenth of a pixel and text is escaped, so a chart of a few
hundred points is a few KB of plain XML that any browser, and MLflow's artifact viewer,
shows as is. Non-finite points are left out rather than drawn off the chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Series", "heatmap", "line_chart", "scatter_chart"]

# Colour-blind-safe (Okabe-Ito), in the order series are drawn.
_PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
_MARGIN = {"left": 64, "right": 16, "top": 34, "bottom": 46}


@dataclass(frozen=True)
class Series:
    """One named series of ``(x, y)`` points.

    Attributes:
        name: Shown in the legend; an empty name is left out of it.
        points: The points, drawn in this order (a line joins them in line charts).
        dashed: Draw the line dashed (a reference such as a ROC chart's diagonal).
        color: A CSS colour; by default the next one of a colour-blind-safe palette.
    """

    name: str
    points: Sequence[tuple[float, float]]
    dashed: bool = False
    color: str | None = None


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _num(value: float) -> str:
    """A coordinate: a tenth of a pixel, no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _ticks(lo: float, hi: float, count: int = 5) -> tuple[list[float], int]:
    """Round tick values covering [lo, hi], and the decimals that show them."""
    span = hi - lo
    raw = span / max(count, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    decimals = max(0, -math.floor(math.log10(step)) + (1 if step / magnitude == 2.5 else 0))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, decimals + 2))
        value += step
    return ticks, decimals


def _range(values: Sequence[float], given: tuple[float, float] | None) -> tuple[float, float]:
    if given is not None:
        return float(given[0]), float(given[1])
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if lo == hi:
        pad = abs(lo) * 0.1 or 0.5
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.04
    return lo - pad, hi + pad


class _Frame:
    """A plot area with its axes: maps data to pixels and draws ticks, labels and a title."""

    def __init__(
        self,
        width: int,
        height: int,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
    ) -> None:
        self.width, self.height = width, height
        self.left, self.top = _MARGIN["left"], _MARGIN["top"]
        self.right = width - _MARGIN["right"]
        self.bottom = height - _MARGIN["bottom"]
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)

    def inside(self, x: float, y: float) -> bool:
        return (
            math.isfinite(x)
            and math.isfinite(y)
            and self.x0 <= x <= self.x1
            and self.y0 <= y <= self.y1
        )

    def axes(self, title: str, x_label: str, y_label: str) -> list[str]:
        out = [
            f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" '
            f'height="{self.bottom - self.top}" fill="#ffffff" stroke="#444444"/>'
        ]
        xs, x_decimals = _ticks(self.x0, self.x1)
        for tick in xs:
            px = _num(self.x(tick))
            out.append(
                f'<line class="tick" x1="{px}" y1="{self.bottom}" x2="{px}" y2="{self.top}" '
                'stroke="#e5e5e5"/>'
                f'<text x="{px}" y="{self.bottom + 14}" text-anchor="middle">'
                f"{tick:.{x_decimals}f}</text>"
            )
        ys, y_decimals = _ticks(self.y0, self.y1)
        for tick in ys:
            py = _num(self.y(tick))
            out.append(
                f'<line class="tick" x1="{self.left}" y1="{py}" x2="{self.right}" y2="{py}" '
                'stroke="#e5e5e5"/>'
                f'<text x="{self.left - 5}" y="{py}" text-anchor="end" dominant-baseline="middle">'
                f"{tick:.{y_decimals}f}</text>"
            )
        middle_x = _num((self.left + self.right) / 2)
        middle_y = _num((self.top + self.bottom) / 2)
        out.append(
            f'<text class="title" x="{_num(self.width / 2)}" y="20" text-anchor="middle" '
            f'font-size="13" font-weight="bold">{escape(title)}</text>'
            f'<text class="x-label" x="{middle_x}" y="{self.height - 10}" '
            f'text-anchor="middle">{escape(x_label)}</text>'
            f'<text class="y-label" x="14" y="{middle_y}" text-anchor="middle" '
            f'transform="rotate(-90 14 {middle_y})">{escape(y_label)}</text>'
        )
        return out

    def legend(self, series: Sequence[tuple[Series, str]]) -> list[str]:
        named = [(s, color) for s, color in series if s.name]
        out = []
        for i, (s, color) in enumerate(named):
            y = self.top + 14 + i * 15
            x = self.right - 150
            dash = ' stroke-dasharray="4 3"' if s.dashed else ""
            out.append(
                f'<g class="legend"><line x1="{x}" y1="{y}" x2="{x + 18}" y2="{y}" '
                f'stroke="{_attr(color)}" stroke-width="2"{dash}/>'
                f'<text x="{x + 23}" y="{y}" dominant-baseline="middle">{escape(s.name)}</text></g>'
            )
        return out


def _document(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _colored(series: Sequence[Series]) -> list[tuple[Series, str]]:
    return [(s, s.color or _PALETTE[i % len(_PALETTE)]) for i, s in enumerate(series)]


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    width: int = 480,
    height: int = 360,
) -> str:
    """Series drawn as lines over shared axes, with a legend.

    Args:
        series: The lines; each is one ``<polyline class="series">``.
        title, x_label, y_label: Text above the chart and along its axes.
        x_range, y_range: Axis ranges; by default the data's, padded a little.
        width, height: The chart's size in pixels.

    Returns:
        A standalone SVG document.

    Example:
        >>> svg = line_chart([Series("roc", [(0, 0), (0.2, 0.7), (1, 1)])],
        ...                  title="ROC", x_label="FPR", y_label="TPR")
        >>> svg.startswith("<svg")
        True
    """
    frame = _Frame(
        width,
        height,
        _range([x for s in series for x, _ in s.points], x_range),
        _range([y for s in series for _, y in s.points], y_range),
    )
    body = frame.axes(title, x_label, y_label)
    colored = _colored(series)
    for s, color in colored:
        points = " ".join(
            f"{_num(frame.x(x))},{_num(frame.y(y))}" for x, y in s.points if frame.inside(x, y)
        )
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        body.append(
            f'<polyline class="series" data-name="{_attr(s.name)}" points="{points}" '
            f'fill="none" stroke="{_attr(color)}" stroke-width="{1 if s.dashed else 2}"{dash}/>'
        )
    body.extend(frame.legend(colored))
    return _document(width, height, title, body)


def scatter_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    reference_y: float | None = None,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    width: int = 480,
    height: int = 360,
) -> str:
    """Series drawn as points (a ``<circle>`` each, in a ``<g class="series">``), with an
    optional horizontal reference line (e.g. zero residual).

    Example:
        >>> svg = scatter_chart([Series("", [(1, 0.5), (2, -0.3)])], title="Residuals",
        ...                     x_label="prediction", y_label="residual", reference_y=0)
        >>> svg.count("<circle ")
        2
    """
    ys = [y for s in series for _, y in s.points]
    frame = _Frame(
        width,
        height,
        _range([x for s in series for x, _ in s.points], x_range),
        _range([*ys, reference_y] if reference_y is not None else ys, y_range),
    )
    body = frame.axes(title, x_label, y_label)
    if reference_y is not None and frame.y0 <= reference_y <= frame.y1:
        py = _num(frame.y(reference_y))
        body.append(
            f'<line class="reference" x1="{frame.left}" y1="{py}" x2="{frame.right}" y2="{py}" '
            'stroke="#888888" stroke-dasharray="4 3"/>'
        )
    colored = _colored(series)
    for s, color in colored:
        body.append(
            f'<g class="series" data-name="{_attr(s.name)}" fill="{_attr(color)}" '
            'fill-opacity="0.6">'
        )
        body.extend(
            f'<circle cx="{_num(frame.x(x))}" cy="{_num(frame.y(y))}" r="2"/>'
            for x, y in s.points
            if frame.inside(x, y)
        )
        body.append("</g>")
    body.extend(frame.legend(colored))
    return _document(width, height, title, body)


def _cell_text(value: float) -> str:
    if math.isfinite(value) and value == int(value):
        return f"{int(value):,}"
    return f"{value:.3g}"


def heatmap(
    values: Sequence[Sequence[float]],
    *,
    title: str,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    x_label: str = "",
    y_label: str = "",
    width: int = 360,
    height: int = 340,
) -> str:
    """A matrix as shaded cells with their numbers (``<rect class="cell">`` and
    ``<text class="value">`` per cell, row by row), e.g. a confusion matrix.

    Args:
        values: Rows of numbers; every row as long as ``col_labels``.
        title, x_label, y_label: Text above the chart, below it (columns) and beside it (rows).
        row_labels, col_labels: One label per row and per column.
        width, height: The chart's size in pixels.

    Raises:
        ValueError: The labels do not match the matrix's shape.

    Example:
        >>> svg = heatmap([[50, 3], [7, 40]], title="Confusion matrix",
        ...               row_labels=["0", "1"], col_labels=["0", "1"])
        >>> svg.count('class="cell"')
        4
    """
    if len(values) != len(row_labels) or any(len(row) != len(col_labels) for row in values):
        raise ValueError(
            f"a {len(row_labels)}x{len(col_labels)} heatmap needs as many rows and columns; "
            f"got rows of {[len(row) for row in values]}"
        )
    left, top = _MARGIN["left"], _MARGIN["top"]
    right, bottom = width - _MARGIN["right"], height - _MARGIN["bottom"]
    rows, cols = len(row_labels), len(col_labels)
    cell_w = (right - left) / max(cols, 1)
    cell_h = (bottom - top) / max(rows, 1)
    finite = [v for row in values for v in row if math.isfinite(v)]
    peak = max((abs(v) for v in finite), default=0.0) or 1.0
    body = [
        f'<text class="title" x="{_num(width / 2)}" y="20" text-anchor="middle" '
        f'font-size="13" font-weight="bold">{escape(title)}</text>'
    ]
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            share = abs(value) / peak if math.isfinite(value) else 0.0
            # White to the first palette colour (0, 114, 178) as the value grows.
            r, g, b = (round(255 - share * (255 - c)) for c in (0, 114, 178))
            x, y = left + j * cell_w, top + i * cell_h
            ink = "#ffffff" if share > 0.55 else "#000000"
            body.append(
                f'<rect class="cell" data-row="{i}" data-col="{j}" x="{_num(x)}" y="{_num(y)}" '
                f'width="{_num(cell_w)}" height="{_num(cell_h)}" fill="rgb({r},{g},{b})" '
                'stroke="#ffffff"/>'
                f'<text class="value" x="{_num(x + cell_w / 2)}" y="{_num(y + cell_h / 2)}" '
                f'text-anchor="middle" dominant-baseline="middle" font-size="14" '
                f'fill="{ink}">{escape(_cell_text(value))}</text>'
            )
    for j, label in enumerate(col_labels):
        body.append(
            f'<text x="{_num(left + (j + 0.5) * cell_w)}" y="{bottom + 14}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for i, label in enumerate(row_labels):
        body.append(
            f'<text x="{left - 6}" y="{_num(top + (i + 0.5) * cell_h)}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(label)}</text>'
        )
    middle_x, middle_y = _num((left + right) / 2), _num((top + bottom) / 2)
    body.append(
        f'<text class="x-label" x="{middle_x}" y="{height - 10}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text class="y-label" x="14" y="{middle_y}" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle_y})">{escape(y_label)}</text>'
    )
    return _document(width, height, title, body)
