"""The SVG charts: well-formed, escaped, proportional."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bot.admin import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


@pytest.mark.parametrize(
    ("maximum", "integer", "expected"),
    [
        (7, True, [0, 2, 4, 6, 8]),
        (3, True, [0, 1, 2, 3]),
        (0.037, False, [0, 0.01, 0.02, 0.03, 0.04]),
        (100, False, [0, 50, 100]),
        (0, False, [0, 1]),
    ],
)
def test_nice_ticks(maximum: float, integer: bool, expected: list[float]) -> None:
    assert charts.nice_ticks(maximum, integer=integer) == pytest.approx(expected)


def test_bar_chart_draws_non_zero_bars_to_scale() -> None:
    bars = [
        charts.Bar(f"{n:02d}/05", value, f"{value} réponses") for n, value in enumerate([2, 0, 4])
    ]
    svg = parse(charts.bar_chart(bars, title="Réponses", css_class="bar-x", axis_format=str))
    rects = svg.findall(f"{SVG}rect")
    assert [r.get("class") for r in rects] == ["bar-x", "bar-x"]
    heights = [float(r.get("height", "0")) for r in rects]
    assert heights[1] == pytest.approx(2 * heights[0])
    assert [t.text for t in svg.iter(f"{SVG}title")] == ["Réponses", "2 réponses", "4 réponses"]


def test_text_is_escaped() -> None:
    evil = '<script>alert(1)</script>"'
    bar = charts.bar_chart([charts.Bar(evil, 1, evil)], title=evil, css_class="c", axis_format=str)
    assert "<script>" not in bar
    assert [t.text for t in parse(bar).iter(f"{SVG}title")][1] == evil
    assert "<script>" not in charts.hbar_chart(
        [charts.Bar(evil, 1, evil)], title="t", css_class="c"
    )
    assert "<script>" not in charts.share_bar([charts.Segment(evil, 1, "c")], title=evil)


def test_share_bar_splits_the_width_and_skips_empty_parts() -> None:
    segments = [
        charts.Segment("IA", 3, "mode-llm"),
        charts.Segment("hors ligne", 1, "mode-offline"),
        charts.Segment("dégradé", 0, "mode-degraded"),
    ]
    svg = parse(charts.share_bar(segments, title="Modes"))
    widths = {r.get("class"): float(r.get("width", "0")) for r in svg.findall(f"{SVG}rect")}
    full = charts.WIDTH
    assert widths == {
        "mode-llm": pytest.approx(full * 0.75),
        "mode-offline": pytest.approx(full / 4),
    }
    assert [t.text for t in svg.findall(f"{SVG}text")] == ["75 %", "25 %"]


def test_hbar_chart_shortens_long_labels_but_keeps_them_in_the_tooltip() -> None:
    long = "Guide : mener un pilote de deux semaines sur les messages des clients du salon"
    svg = parse(charts.hbar_chart([charts.Bar(long, 3, "3 réponses")], title="t", css_class="c"))
    label = svg.find(f"{SVG}text")
    assert label is not None and label.text is not None
    assert label.text.endswith("…") and len(label.text) <= charts.LABEL_CHARS
    tooltip = label.find(f"{SVG}title")
    assert tooltip is not None and tooltip.text == long
