"""Issue 15, finding 12: the SVG charts (lakestacks.plots) are standalone, small, well-formed
XML with one mark per point or cell, escaped text and no external references."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from lakestacks.plots import Series, heatmap, line_chart, scatter_chart

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    assert root.tag == f"{NS}svg"
    assert "href" not in svg and "<script" not in svg and "url(" not in svg  # standalone
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


def test_line_chart_draws_one_polyline_per_series_with_every_point() -> None:
    roc = [(i / 199, math.sqrt(i / 199)) for i in range(200)]
    svg = line_chart(
        [Series("model", roc), Series("chance", [(0, 0), (1, 1)], dashed=True)],
        title="ROC <v1> & co",
        x_label="false positive rate",
        y_label="true positive rate",
        x_range=(0, 1),
        y_range=(0, 1),
    )
    root = parse(svg)
    lines = [p for p in root.iter(f"{NS}polyline") if p.get("class") == "series"]
    assert [p.get("data-name") for p in lines] == ["model", "chance"]
    assert [len(p.get("points", "").split()) for p in lines] == [200, 2]
    assert lines[1].get("stroke-dasharray")
    # the first point is the bottom-left corner of the plot, the last the top-right
    first = [float(v) for v in lines[0].get("points", "").split()[0].split(",")]
    last = [float(v) for v in lines[0].get("points", "").split()[-1].split(",")]
    assert first[0] < last[0] and first[1] > last[1]
    shown = texts(root)
    assert "ROC <v1> & co" in shown  # escaped in the file, intact once parsed
    assert {"false positive rate", "true positive rate", "model", "chance"} <= set(shown)
    assert {"0.0", "0.2", "0.4", "1.0"} <= set(shown)  # round ticks
    assert len(svg) < 8_000


def test_non_finite_and_out_of_range_points_are_left_out() -> None:
    svg = line_chart(
        [Series("s", [(0, 0), (0.5, math.nan), (0.7, math.inf), (2.0, 0.5), (1, 1)])],
        title="t",
        x_label="x",
        y_label="y",
        x_range=(0, 1),
    )
    [line] = parse(svg).iter(f"{NS}polyline")
    assert len(line.get("points", "").split()) == 2


def test_scatter_draws_a_circle_per_point_and_the_reference_line() -> None:
    points = [(float(i), (-1) ** i * i / 10) for i in range(500)]
    svg = scatter_chart(
        [Series("", points)],
        title="residuals",
        x_label="prediction",
        y_label="actual - prediction",
        reference_y=0.0,
    )
    root = parse(svg)
    assert len(list(root.iter(f"{NS}circle"))) == 500
    [reference] = [e for e in root.iter(f"{NS}line") if e.get("class") == "reference"]
    assert reference.get("y1") == reference.get("y2")
    assert len(svg) < 25_000


def test_heatmap_has_a_cell_and_its_number_for_each_value() -> None:
    matrix = [[1234, 56], [7, 890]]
    svg = heatmap(
        matrix,
        title="confusion matrix",
        row_labels=["0", "1"],
        col_labels=["0", "1"],
        x_label="predicted",
        y_label="actual",
    )
    root = parse(svg)
    cells = [r for r in root.iter(f"{NS}rect") if r.get("class") == "cell"]
    values = [t.text for t in root.iter(f"{NS}text") if t.get("class") == "value"]
    assert [(c.get("data-row"), c.get("data-col")) for c in cells] == [
        ("0", "0"), ("0", "1"), ("1", "0"), ("1", "1"),
    ]  # fmt: skip
    assert values == ["1,234", "56", "7", "890"]
    # the largest count is the darkest cell
    fills = [c.get("fill") for c in cells]
    assert fills[0] != fills[2] and fills[0] == "rgb(0,114,178)"


def test_heatmap_refuses_labels_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="2x3 heatmap"):
        heatmap([[1, 2], [3, 4]], title="t", row_labels=["a", "b"], col_labels=["x", "y", "z"])


def test_a_constant_series_still_gets_axes() -> None:
    svg = line_chart([Series("flat", [(0, 5), (1, 5)])], title="t", x_label="x", y_label="y")
    [line] = parse(svg).iter(f"{NS}polyline")
    ys = {p.split(",")[1] for p in line.get("points", "").split()}
    assert len(ys) == 1
