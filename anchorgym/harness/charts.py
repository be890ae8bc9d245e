"""Chart geometry for the HTML report: plain numbers that ``templates/charts.svg.j2`` draws as inline SVG.

The report needs two small charts, so they are laid out here in a few lines of arithmetic
instead of a plotting library: the report then works on a bare install and the page stays
self-contained (no scripts, fonts or images from the network).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from anchorgym.harness.metrics import success_interval

HEIGHT = 300  # px, both charts
PLOT_TOP, PLOT_BOTTOM = 40, 220  # y of the 100% line and of the 0 line
LEFT = 56  # px left of the plot area (axis labels)
CHAR_WIDTH = 6.6  # px, a generous average glyph width at the charts' 11 px font (labels must not be cut)
LABEL_ANGLE = 30  # degrees the task type names under the bars are turned


def nice_step(span: float, max_ticks: int) -> int:
    """Return the smallest of 1, 2, 5, 10, 20, 50, ... that cuts ``span`` into at most ``max_ticks`` parts.

    >>> nice_step(7, 6), nice_step(40, 6), nice_step(0, 6)
    (2, 10, 1)
    """
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if span / (factor * magnitude) <= max_ticks:
                return factor * magnitude
        magnitude *= 10


def _y(fraction: float) -> float:
    """The y pixel of ``fraction`` (0..1) of the plot height."""
    return round(PLOT_BOTTOM - fraction * (PLOT_BOTTOM - PLOT_TOP), 1)


def _label_extent(names: Sequence[str]) -> tuple[float, float]:
    """Return how far (x, y) in px the longest task type name reaches once turned by :data:`LABEL_ANGLE`."""
    length = CHAR_WIDTH * max((len(name) for name in names), default=0)
    angle = math.radians(LABEL_ANGLE)
    return length * math.cos(angle), length * math.sin(angle)


def task_type_bars(per_task_type: dict[str, Any]) -> dict[str, Any]:
    """Lay out the success-per-task-type bar chart: bars, value labels, 95% CI whiskers and axis ticks.

    The whisker is the Wilson 95% interval of the type's episodes (:func:`~anchorgym.harness.metrics.
    success_interval`). Width and height leave room for the turned names under the bars, so no label
    is cut at the edge of the image.

    Args:
        per_task_type: ``result.json``'s ``metrics.per_task_type``.

    Returns:
        ``width``, ``height``, ``bars`` (x, y, w, h, label, value text, episodes, whisker or None),
        ``ticks`` ((y, text) of the percentage axis) and ``angle`` (of the names).
    """
    reach_x, reach_y = _label_extent(list(per_task_type))
    plot_width = max(360 - LEFT - 16, 96 * len(per_task_type))  # at least the title's width
    slot = plot_width / max(len(per_task_type), 1)
    bar = min(60.0, slot - 24)
    width = round(max(LEFT + plot_width + 16, LEFT + plot_width - slot / 2 + reach_x + 8), 1)
    bars = []
    for index, (name, metrics) in enumerate(per_task_type.items()):
        rate = metrics["success_rate"]
        x = round(LEFT + index * slot + (slot - bar) / 2, 1)
        top = _y(rate["mean"])
        interval = success_interval(rate, metrics["episodes"])
        whisker = [_y(interval["low"]), _y(interval["high"])] if interval else None
        bars.append({"x": x, "y": top, "w": bar, "h": round(PLOT_BOTTOM - top, 1), "name": name,
                     "value": f"{100 * rate['mean']:.1f}%", "episodes": f"(n={metrics['episodes']})",
                     "whisker": whisker, "label_y": min(top, whisker[1] if whisker else top) - 20})  # fmt: skip
    ticks = [(_y(p / 100), f"{p}%") for p in (0, 25, 50, 75, 100)]
    height = max(HEIGHT, math.ceil(PLOT_BOTTOM + 14 + reach_y + 12))
    return {"width": width, "height": height, "left": LEFT, "bars": bars, "ticks": ticks, "bottom": PLOT_BOTTOM,
            "plot_right": round(LEFT + plot_width, 1), "angle": LABEL_ANGLE}  # fmt: skip


def _count_ticks(highest: int) -> tuple[int, list[int]]:
    step = nice_step(highest, 5)
    top = max(step, math.ceil(highest / step) * step)
    return top, list(range(0, top + 1, step))


def steps_histogram(episodes: Sequence[dict[str, Any]], max_steps: int) -> dict[str, Any]:
    """Lay out episode lengths by outcome (stacked bars) and the success rate within k steps (step line).

    Args:
        episodes: episode records (``length``, ``won``).
        max_steps: the benchmark's step limit (the x axis runs 1..max_steps).

    Returns:
        ``width``, ``height``, ``columns`` (x, w and the won/not-won rectangles), ``line`` (SVG points of
        the won-within-k line, right axis), ``x_ticks``, ``count_ticks`` and ``rate_ticks``.
    """
    max_steps = max(int(max_steps), 1)
    column = max(8.0, min(32.0, 420 / max_steps))
    width = LEFT + column * max_steps + 64
    won = [sum(1 for e in episodes if e["won"] and e["length"] == k) for k in range(1, max_steps + 1)]
    lost = [sum(1 for e in episodes if not e["won"] and e["length"] == k) for k in range(1, max_steps + 1)]
    top, counts = _count_ticks(max(w + lost_k for w, lost_k in zip(won, lost, strict=True)))
    columns = []
    for k in range(max_steps):
        x = round(LEFT + k * column, 1)
        won_top, lost_top = _y(won[k] / top), _y((won[k] + lost[k]) / top)
        columns.append({"x": x, "w": round(column - 1, 1), "won": (won_top, round(PLOT_BOTTOM - won_top, 1)),
                        "lost": (lost_top, round(won_top - lost_top, 1)), "count_won": won[k],
                        "count_lost": lost[k], "k": k + 1})  # fmt: skip
    total, cumulative, points = max(len(episodes), 1), 0, []
    for k in range(max_steps):
        cumulative += won[k]
        rate = cumulative / total
        points += [(round(LEFT + k * column, 1), _y(rate)), (round(LEFT + (k + 1) * column, 1), _y(rate))]
    x_step = nice_step(max_steps, 12)
    x_ticks = [(round(LEFT + (k - 0.5) * column, 1), k) for k in range(1, max_steps + 1) if k % x_step == 0]
    return {
        "width": round(width, 1),
        "height": HEIGHT,
        "left": LEFT,
        "right": round(LEFT + column * max_steps, 1),
        "bottom": PLOT_BOTTOM,
        "columns": columns,
        "line": " ".join(f"{x},{y}" for x, y in points),
        "x_ticks": x_ticks,
        "count_ticks": [(_y(c / top), c) for c in counts],
        "rate_ticks": [(_y(p / 100), p) for p in (0, 25, 50, 75, 100)],
    }
