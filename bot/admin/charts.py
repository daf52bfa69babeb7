"""Inline SVG charts drawn on the server: no script, no external asset, nothing to load.

Every piece of text goes through `Markup.format`, which escapes it, so a provider name or a
fiche title cannot inject markup. Colours come from CSS classes (admin.css), not inline
styles, so the page's Content-Security-Policy can forbid inline styles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

WIDTH = 920
BAR_HEIGHT = 220
MARGIN_LEFT = 56
MARGIN_RIGHT = 8
MARGIN_TOP = 12
MARGIN_BOTTOM = 26
ROW_HEIGHT = 26
LABEL_WIDTH = 340
LABEL_CHARS = 46  # past this a label is cut (the full text stays in the tooltip)


@dataclass(frozen=True)
class Bar:
    """One bar: its axis label, value, and the tooltip shown on hover."""

    label: str
    value: float
    tooltip: str


@dataclass(frozen=True)
class Segment:
    """One part of a 100 % bar: its legend text, count and CSS class."""

    label: str
    count: int
    css_class: str


def nice_ticks(maximum: float, *, count: int = 4, integer: bool = False) -> list[float]:
    """Round tick values from 0 to at least `maximum` (1-2-5 steps, about `count` of them)."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    exponent = math.floor(math.log10(raw))
    fraction = raw / 10**exponent
    step = next(n for n in (1, 2, 5, 10) if fraction <= n) * 10**exponent
    if integer:
        step = max(1.0, math.ceil(step))
    top = math.ceil(maximum / step - 1e-9) * step
    return [round(step * n, 12) for n in range(round(top / step) + 1)]


def _svg(width: int, height: int, title: str, body: Sequence[Markup]) -> Markup:
    head = Markup(
        '<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img"'
        ' aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>'
    ).format(w=width, h=height, t=title)
    return head + Markup("").join(body) + Markup("</svg>")


def _shorten(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _grid(
    ticks: Sequence[float], y_of: Callable[[float], float], fmt: Callable[[float], str]
) -> list[Markup]:
    parts = []
    for tick in ticks:
        y = y_of(tick)
        parts.append(
            Markup(
                '<line class="grid" x1="{x1}" x2="{x2}" y1="{y:.1f}" y2="{y:.1f}"/>'
                '<text class="axis" x="{xt}" y="{yt:.1f}" text-anchor="end">{label}</text>'
            ).format(
                x1=MARGIN_LEFT,
                x2=WIDTH - MARGIN_RIGHT,
                y=y,
                xt=MARGIN_LEFT - 6,
                yt=y + 4,
                label=fmt(tick),
            )
        )
    return parts


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    css_class: str,
    axis_format: Callable[[float], str],
    label_every: int = 5,
    integer: bool = False,
) -> Markup:
    """Vertical bars (one per day, say), labelled every `label_every` bars and on the last."""
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = BAR_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    ticks = nice_ticks(max((b.value for b in bars), default=0.0), integer=integer)
    top = ticks[-1]

    def y_of(value: float) -> float:
        return MARGIN_TOP + plot_h * (1 - value / top)

    parts = _grid(ticks, y_of, axis_format)
    slot = plot_w / max(len(bars), 1)
    for n, bar in enumerate(bars):
        x = MARGIN_LEFT + slot * n
        if bar.value > 0:
            height = max(plot_h * bar.value / top, 1.0)
            parts.append(
                Markup(
                    '<rect class="{c}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}">'
                    "<title>{tip}</title></rect>"
                ).format(
                    c=css_class,
                    x=x + slot * 0.14,
                    y=MARGIN_TOP + plot_h - height,
                    w=slot * 0.72,
                    h=height,
                    tip=bar.tooltip,
                )
            )
        if n % label_every == 0 or n == len(bars) - 1:
            parts.append(
                Markup(
                    '<text class="axis" x="{x:.1f}" y="{y}" text-anchor="middle">{label}</text>'
                ).format(x=x + slot / 2, y=BAR_HEIGHT - 8, label=bar.label)
            )
    return _svg(WIDTH, BAR_HEIGHT, title, parts)


def share_bar(segments: Sequence[Segment], *, title: str) -> Markup:
    """One horizontal bar split in proportion to the counts, with the percent inside parts
    wide enough to hold it."""
    height = 36
    total = sum(s.count for s in segments)
    parts: list[Markup] = []
    x = 0.0
    for segment in segments:
        if not segment.count:
            continue
        width = WIDTH * segment.count / total
        percent = f"{round(100 * segment.count / total)} %"
        parts.append(
            Markup(
                '<rect class="{c}" x="{x:.1f}" y="0" width="{w:.1f}" height="{h}">'
                "<title>{label} : {n} ({p})</title></rect>"
            ).format(
                c=segment.css_class,
                x=x,
                w=width,
                h=height,
                label=segment.label,
                n=segment.count,
                p=percent,
            )
        )
        if width >= 48:
            parts.append(
                Markup(
                    '<text class="inside" x="{x:.1f}" y="{y}" text-anchor="middle">{p}</text>'
                ).format(x=x + width / 2, y=height / 2 + 5, p=percent)
            )
        x += width
    if not total:
        parts.append(
            Markup('<rect class="empty" x="0" y="0" width="{w}" height="{h}"/>').format(
                w=WIDTH, h=height
            )
        )
    return _svg(WIDTH, height, title, parts)


def hbar_chart(bars: Sequence[Bar], *, title: str, css_class: str) -> Markup:
    """Horizontal bars, one row each: the label on the left, the tooltip's value on the right."""
    height = ROW_HEIGHT * len(bars) + 4
    value_room = 110
    plot_w = WIDTH - LABEL_WIDTH - value_room
    top = max((b.value for b in bars), default=0.0) or 1.0
    parts = []
    for n, bar in enumerate(bars):
        y = 2 + ROW_HEIGHT * n
        width = max(plot_w * bar.value / top, 1.0)
        parts.append(
            Markup(
                '<text class="label" x="{xl}" y="{yt}" text-anchor="end">{label}'
                "<title>{full}</title></text>"
                '<rect class="{c}" x="{xb}" y="{yb}" width="{w:.1f}" height="{h}">'
                "<title>{full} : {tip}</title></rect>"
                '<text class="axis" x="{xv:.1f}" y="{yt}">{tip}</text>'
            ).format(
                xl=LABEL_WIDTH - 8,
                yt=y + ROW_HEIGHT / 2 + 3,
                label=_shorten(bar.label),
                full=bar.label,
                c=css_class,
                xb=LABEL_WIDTH,
                yb=y + 4,
                w=width,
                h=ROW_HEIGHT - 8,
                tip=bar.tooltip,
                xv=LABEL_WIDTH + width + 6,
            )
        )
    return _svg(WIDTH, height, title, parts)
