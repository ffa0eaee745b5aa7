"""A small inline SVG line chart of one image's size over its runs: no script, no stylesheet
beyond the page's own, each point with its date and size as a tooltip (``<title>``)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from buildahpy.build.sizes import human_size
from buildahpy.fleet.history import Point

WIDTH, HEIGHT = 360, 120
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 24


def _y(size: int, low: int, high: int) -> float:
    span = high - low
    inner = HEIGHT - TOP - BOTTOM
    return TOP + (inner / 2 if span == 0 else inner * (high - size) / span)


def _x(index: int, count: int) -> float:
    inner = WIDTH - LEFT - RIGHT
    return LEFT + (inner / 2 if count == 1 else inner * index / (count - 1))


def _when(point: Point) -> str:
    """'2026-12-01 23:37' of '2026-12-01T23:37:06Z': runs of one day still tell apart."""
    return point.created[:16].replace("T", " ")


def size_chart(points: Sequence[Point], label: str) -> str:
    """The chart, or "" for no points. ``label`` names the image (the chart's accessible name)."""
    if not points:
        return ""
    low, high = min(p.size for p in points), max(p.size for p in points)
    xy = [(_x(i, len(points)), _y(p.size, low, high)) for i, p in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" data-size="{p.size}" '
        f'data-created="{escape(p.created)}"><title>{escape(p.created)}: '
        f"{escape(human_size(p.size))} ({p.size} bytes, {escape(p.status)})</title></circle>"
        for (x, y), p in zip(xy, points, strict=True)
    )
    axis_y = HEIGHT - BOTTOM
    return (
        f'<svg class="chart" role="img" aria-label="size history of {escape(label)}" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'xmlns="http://www.w3.org/2000/svg">'
        f'<line class="axis" x1="{LEFT}" y1="{axis_y}" x2="{WIDTH - RIGHT}" y2="{axis_y}"/>'
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{axis_y}"/>'
        f'<text x="{LEFT - 6}" y="{_y(high, low, high) + 4:.1f}" text-anchor="end">'
        f"{escape(human_size(high))}</text>"
        + (
            f'<text x="{LEFT - 6}" y="{_y(low, low, high) + 4:.1f}" text-anchor="end">'
            f"{escape(human_size(low))}</text>"
            if low != high
            else ""
        )
        + f'<text x="{LEFT}" y="{HEIGHT - 6}">{escape(_when(points[0]))}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end">'
        f"{escape(_when(points[-1]))}</text>"
        f'<polyline class="line" points="{path}"/>{dots}</svg>'
    )
