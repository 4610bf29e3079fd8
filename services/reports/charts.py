"""Charts as inline SVG, written by hand: no script, no library, no external resource.

Two charts per centre: recovery (g/t) of each run against time, a scatter with one mark per
run (a circle within the bounds, a cross outside them, a diamond for a statistical outlier:
never colour alone) and the configured bounds as dashed lines; and the ore stock against
time, a step line. Each SVG has `role="img"`, a `<title>` and a `<desc>` that says what it
shows in words; each mark has its own `<title>` (the run, the time, the value). Styling is
by presentation attributes only, which a strict Content-Security-Policy allows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Final
from xml.sax.saxutils import escape, quoteattr

from services.reports.periods import ULAANBAATAR, Period, instant

WIDTH: Final = 640
HEIGHT: Final = 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 48
SVG_NS: Final = "http://www.w3.org/2000/svg"
INK, MUTED, MARK, ALERT = "#1a1a1a", "#6b6b6b", "#1f4e99", "#b00020"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _scale(value: float) -> tuple[float, float]:
    """A round axis top at or above `value` and its tick step: the smallest step of
    1, 2 or 5 x 10^k that covers `value` in at most five steps."""
    value = max(value, 1.0)
    power = 10.0 ** math.floor(math.log10(value / 5))
    for mult in (1, 2, 5, 10):
        step = mult * power
        if math.ceil(value / step - 1e-9) <= 5:
            return step * math.ceil(value / step - 1e-9), step
    return 10 * value, 2 * value  # not reached


def _fmt(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


class _Frame:
    """Scales from (time, value) to the drawing area."""

    def __init__(self, t0: datetime, t1: datetime, top: float) -> None:
        if t1 <= t0:
            t0, t1 = t0 - timedelta(days=1), t1 + timedelta(days=1)
        self.t0, self.t1 = t0, t1
        self.ymax, self.step = _scale(top)
        self.w, self.h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(self, t: datetime) -> float:
        span = (self.t1 - self.t0).total_seconds()
        return round(LEFT + self.w * (t - self.t0).total_seconds() / span, 2)

    def y(self, v: float) -> float:
        return round(TOP + self.h * (1 - v / self.ymax), 2)

    def axes(self, y_label: str) -> list[str]:
        bottom, right = TOP + self.h, LEFT + self.w
        parts = [
            '<g class="axes" fill="none" stroke="' + INK + '" stroke-width="1">',
            f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/>',
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>',
            "</g>",
            f'<g class="ticks" fill="{INK}" font-size="11" font-family="sans-serif">',
        ]
        for i in range(round(self.ymax / self.step) + 1):
            v = self.step * i
            y = self.y(v)
            parts.append(
                f'<line x1="{LEFT - 4}" y1="{y}" x2="{LEFT}" y2="{y}" stroke="{INK}"/>'
                f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{_fmt(v)}</text>'
            )
        days = max(1, (self.t1 - self.t0).days)
        for i in range(5):
            t = self.t0 + timedelta(days=days * i / 4)
            x = self.x(t)
            anchor = "end" if i == 4 else "middle"
            parts.append(
                f'<line x1="{x}" y1="{bottom}" x2="{x}" y2="{bottom + 4}" stroke="{INK}"/>'
                f'<text x="{x}" y="{bottom + 16}" text-anchor="{anchor}">'
                f"{t.astimezone(ULAANBAATAR).date().isoformat()}</text>"
            )
        parts.append(
            f'<text x="{LEFT + self.w / 2}" y="{HEIGHT - 6}" text-anchor="middle">'
            "day (UTC+8)</text>"
            f'<text x="12" y="{TOP + self.h / 2}" text-anchor="middle" '
            f'transform="rotate(-90 12 {TOP + self.h / 2})">{escape(y_label)}</text>'
        )
        parts.append("</g>")
        return parts


def _domain(period: Period, times: Sequence[datetime]) -> tuple[datetime, datetime]:
    t0 = (
        datetime.combine(period.start, datetime.min.time(), ULAANBAATAR)
        if period.start is not None
        else min(times, default=None)
    )
    t1 = period.end_instant() or max(times, default=None)
    if t0 is None or t1 is None:
        today = datetime.combine(date(2000, 1, 1), datetime.min.time(), ULAANBAATAR)
        return t0 or t1 or today, t1 or t0 or today
    return t0, t1


def _open(kind: str, centre: str, title: str, desc: str) -> list[str]:
    ident = f"{kind}-{slug(centre)}"
    return [
        f'<svg xmlns="{SVG_NS}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" class="chart {kind}" '
        f'aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(desc)}</desc>',
    ]


def recovery_chart(
    centre: str, runs: Sequence[dict[str, Any]], period: Period, bounds: tuple[float, float]
) -> str:
    """Recovery (g/t) of each run of `centre` against time: one mark per run."""
    points = [r for r in runs if r["recovery_g_per_t"] is not None]
    times = [instant(r["occurred_at"]) for r in points]
    low, high = bounds
    top = max([r["recovery_g_per_t"] for r in points] + [high], default=high)
    frame = _Frame(*_domain(period, times), top * 1.05)
    outside = sum(1 for r in points if r["out_of_bounds"])
    odd = sum(1 for r in points if r["statistical_outlier"] and not r["out_of_bounds"])
    desc = (
        f"Scatter plot of {len(points)} processing runs at {centre}: grams of gold per tonne "
        f"of ore against the day. {outside} outside the bounds {_fmt(low)}-{_fmt(high)} g/t "
        f"(drawn as crosses), {odd} further statistical outliers (diamonds); the others are "
        "circles. The same figures are in the table of runs."
    )
    parts = _open("recovery", centre, f"Recovery per run at {centre} (g/t)", desc)
    parts += frame.axes("g/t")
    parts.append(
        f'<g class="bounds" stroke="{ALERT}" stroke-dasharray="6 4" fill="{ALERT}" '
        'font-size="10" font-family="sans-serif">'
    )
    for label, v in (("min", low), ("max", high)):
        if 0 <= v <= frame.ymax:
            y = frame.y(v)
            parts.append(
                f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}"/>'
                f'<text x="{WIDTH - RIGHT}" y="{y - 3}" text-anchor="end" stroke="none">'
                f"{label} {_fmt(v)} g/t</text>"
            )
    parts.append("</g>")
    parts.append(f'<g class="points" fill="{MARK}" stroke="{MARK}">')
    for r, t in zip(points, times, strict=True):
        x, y = frame.x(t), frame.y(float(r["recovery_g_per_t"]))
        label = escape(
            f"{r['run']} (entry {r['index']}), {t.date().isoformat()}: "
            f"{_fmt(r['recovery_g_per_t'])} g/t"
        )
        attrs = f'data-run={quoteattr(r["run"])} data-index="{r["index"]}"'
        if r["out_of_bounds"]:
            d = f"M{x - 5} {y - 5} L{x + 5} {y + 5} M{x - 5} {y + 5} L{x + 5} {y - 5}"
            parts.append(
                f'<path class="run out-of-bounds" {attrs} d="{d}" stroke="{ALERT}" '
                f'stroke-width="2"><title>{label}, outside the bounds</title></path>'
            )
        elif r["statistical_outlier"]:
            d = f"M{x} {y - 6} L{x + 6} {y} L{x} {y + 6} L{x - 6} {y} Z"
            parts.append(
                f'<path class="run outlier" {attrs} d="{d}" fill="none" stroke-width="1.5">'
                f"<title>{label}, a statistical outlier</title></path>"
            )
        else:
            parts.append(
                f'<circle class="run" {attrs} cx="{x}" cy="{y}" r="3.5" fill-opacity="0.7">'
                f"<title>{label}</title></circle>"
            )
    parts.append("</g></svg>")
    return "\n".join(parts)


def stock_chart(centre: str, stock: Sequence[dict[str, Any]], period: Period, opening: int) -> str:
    """Ore stock of `centre` (kg) against time, as a step line from the opening stock."""
    times = [instant(r["occurred_at"]) for r in stock]
    levels = [opening] + [int(r["stock_g"]) for r in stock]
    t0, t1 = _domain(period, times)
    t0, t1 = min([t0, *times]), max([t1, *times])
    top_kg = max(max(levels) / 1000, 1.0)
    frame = _Frame(t0, t1, top_kg * 1.05)
    low_kg = min(levels) / 1000
    desc = (
        f"Step line of the ore stock at {centre} in kilograms: {_fmt(opening / 1000)} kg at "
        f"the start, {len(stock)} changes (deliveries up, runs down), "
        f"{_fmt(levels[-1] / 1000)} kg at the end"
        + (f"; it falls below zero ({_fmt(low_kg)} kg)" if low_kg < 0 else "")
        + ". The same figures are in the stock table."
    )
    parts = _open("stock", centre, f"Ore stock at {centre} (kg)", desc)
    parts += frame.axes("kg of ore")
    y = frame.y(max(opening / 1000, 0))
    d = [f"M{frame.x(frame.t0)} {y}"]
    for r, t in zip(stock, times, strict=True):
        d.append(f"H{frame.x(t)} V{frame.y(max(int(r['stock_g']) / 1000, 0))}")
    d.append(f"H{frame.x(frame.t1)}")
    parts.append(
        f'<path class="stock-line" d="{" ".join(d)}" fill="none" stroke="{MARK}" '
        f'stroke-width="2" data-steps="{len(stock)}"/>'
    )
    parts.append("</svg>")
    return "\n".join(parts)
