"""A bar chart drawn on the server as SVG (no chart library, no script)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from xml.sax.saxutils import escape

from adapters.console.web import VN

WIDTH, HEIGHT = 680, 200
LEFT, BOTTOM, TOP = 36, 24, 12


def bars_svg(
    slots: Sequence[datetime],
    series: Sequence[tuple[str, str, Sequence[int]]],
    *,
    title: str,
) -> str:
    """Grouped bars per hour: ``series`` is (label, CSS class, values) for each group."""
    peak = max([1, *(v for _, _, values in series for v in values)])
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot_w = plot_w / max(1, len(slots))
    bar_w = max(1.0, (slot_w - 2) / max(1, len(series)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - 8}" y2="{y:.1f}" class="grid"/>')
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" class="axis">'
            f"{round(peak * fraction)}</text>"
        )
    for i, slot in enumerate(slots):
        x0 = LEFT + i * slot_w + 1
        for j, (label, css, values) in enumerate(series):
            value = values[i]
            h = plot_h * value / peak
            hour = slot.astimezone(VN).strftime("%d/%m %H:00")
            parts.append(
                f'<rect x="{x0 + j * bar_w:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" class="{css}">'
                f"<title>{escape(label)} {hour}: {value}</title></rect>"
            )
        if i % 3 == 0:
            parts.append(
                f'<text x="{x0 + slot_w / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" '
                f'class="axis">{slot.astimezone(VN):%H}h</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
