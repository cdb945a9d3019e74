"""The recovery dashboard's chart, drawn on the server as inline SVG (no script, no external asset,
no inline style: the admin's Content-Security-Policy allows none; colours are SVG attributes)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from baskets.selectors.recovery_report import DayFigures

WIDTH, HEIGHT = 720, 200
LEFT, BOTTOM, TOP = 36, 24, 12
ABANDONED_COLOUR = "#9aa5b1"
RECOVERED_COLOUR = "#1e7b45"


def recovery_chart_svg(days: Sequence[DayFigures]) -> SafeString:
    """Bars per day: baskets abandoned (grey) and recovered (green), with a scale and day labels.

    Accessible: a <title> and <desc> summarise it, each bar has its own <title> (a tooltip)."""
    peak = max([1, *(day.abandoned for day in days), *(day.recovered for day in days)])
    plot_height = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(len(days), 1)
    bar = max(slot / 2 - 1, 1)
    bars = []
    for index, day in enumerate(days):
        x = LEFT + index * slot
        for offset, count, colour, what in (
            (0.0, day.abandoned, ABANDONED_COLOUR, "abandoned"),
            (bar, day.recovered, RECOVERED_COLOUR, "recovered"),
        ):
            height = plot_height * count / peak
            bars.append(
                (
                    f"{x + offset:.1f}",
                    f"{TOP + plot_height - height:.1f}",
                    f"{bar:.1f}",
                    f"{height:.1f}",
                    colour,
                    f"{day.day:%d %b}: {count} {what}",
                )
            )
    # A label every week, counted back from the last day (today), so the labels never collide.
    last = len(days) - 1
    labels = [
        (f"{LEFT + index * slot + bar:.1f}", f"{HEIGHT - 6}", f"{day.day:%d %b}")
        for index, day in enumerate(days)
        if (last - index) % 7 == 0
    ]
    total_abandoned = sum(day.abandoned for day in days)
    total_recovered = sum(day.recovered for day in days)
    return format_html(
        '<svg class="recovery-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" '
        'height="{h}" role="img" aria-labelledby="recovery-chart-title recovery-chart-desc">'
        '<title id="recovery-chart-title">Abandoned and recovered baskets per day, last {n} days</title>'
        '<desc id="recovery-chart-desc">{a} abandoned, {r} recovered; highest day {peak}.</desc>'
        '<line x1="{left}" y1="{base}" x2="{w}" y2="{base}" stroke="#767676" stroke-width="1"/>'
        '<text x="{tx}" y="{top_label}" font-size="11" text-anchor="end" fill="#444">{peak}</text>'
        '<text x="{tx}" y="{base}" font-size="11" text-anchor="end" fill="#444">0</text>'
        "{bars}{labels}</svg>",
        w=WIDTH,
        h=HEIGHT,
        n=len(days),
        a=total_abandoned,
        r=total_recovered,
        peak=peak,
        left=LEFT,
        base=TOP + plot_height,
        tx=LEFT - 4,
        top_label=TOP + 10,
        bars=format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
            bars,
        ),
        labels=format_html_join(
            "", '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#444">{}</text>', labels
        ),
    )
