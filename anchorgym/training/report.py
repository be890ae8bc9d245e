"""A training run's curves as one offline HTML page: ``anchorgym report RUN_DIR``.

Reads ``metrics.csv`` of one run, or of every run under a folder (one per seed, e.g. the runs of
``benchmarks/learning``), and draws one chart per metric: success, return, advantages, KL, entropy,
the sampler/learner log-prob gap, anchor aliasing and throughput. With several runs each chart shows
their mean over seeds and a band from the lowest to the highest run. The charts are inline SVG laid
out here and drawn by ``templates/training.html.j2``: no plotting library, no scripts, no network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anchorgym.errors import ResultError
from anchorgym.training.metrics import METRICS_FILE, read_metrics

CHARTS = (  # (metric key, title); a chart is drawn when some run logged its key
    ("rollout/success", "training success"),
    ("eval/success", "evaluation success"),
    ("rollout/return", "episode return"),
    ("rollout/length", "episode length (steps)"),
    ("rollout/invalid", "invalid actions"),
    ("advantage/abs_mean", "mean |advantage|"),
    ("loss/kl", "KL to the reference"),
    ("approx_kl/old", "approx. KL to pi_old"),
    ("loss/entropy", "entropy"),
    ("rollout/logp_gap_mean", "sampler vs learner log-prob gap"),
    ("anchors/aliasing", "text anchors: aliasing"),
    ("anchors/splitting", "text anchors: splitting"),
    ("step_group/size_mean", "mean step-group size"),
    ("rollout/tokens_per_s", "rollout tokens/s"),
    ("update/tokens_per_s", "update tokens/s"),
    ("update/lr", "learning rate"),
)
WIDTH, HEIGHT = 420, 220
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 28, 184  # plot area inside the SVG (left: room for "-2.4e-04")


def find_runs(path: str | Path) -> list[Path]:
    """Return the run directories at ``path``: itself when it holds ``metrics.csv``, else its sub-folders that do.

    Raises:
        ResultError: no ``metrics.csv`` there.
    """
    folder = Path(path)
    if (folder / METRICS_FILE).is_file():
        return [folder]
    runs = sorted(p.parent for p in folder.glob(f"*/{METRICS_FILE}")) if folder.is_dir() else []
    if not runs:
        raise ResultError(
            f"{folder} holds no training run: no {METRICS_FILE} there or in its sub-folders. Point at the "
            "output_dir of `anchorgym train` (or a folder of such runs, one per seed)."
        )
    return runs


def series(rows: Sequence[dict[str, str]], key: str) -> dict[int, float]:
    """The ``iteration -> value`` points of ``key`` (empty cells skipped)."""
    points = {}
    for row in rows:
        value = row.get(key, "")
        if value not in ("", None):
            points[int(float(row["iteration"]))] = float(value)
    return points


def band(runs: Sequence[dict[int, float]]) -> list[tuple[int, float, float, float]]:
    """Per iteration logged by every run that has it: ``(iteration, mean, low, high)`` over the runs.

    >>> band([{1: 0.0, 2: 1.0}, {1: 1.0, 2: 1.0}])
    [(1, 0.5, 0.0, 1.0), (2, 1.0, 1.0, 1.0)]
    """
    iterations = sorted({i for run in runs for i in run})
    out = []
    for i in iterations:
        values = [run[i] for run in runs if i in run]
        out.append((i, sum(values) / len(values), min(values), max(values)))
    return out


def _scale(lo: float, hi: float) -> tuple[float, float]:
    if not math.isfinite(lo) or not math.isfinite(hi):
        return 0.0, 1.0
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.1 or 1.0
        return lo - pad, hi + pad
    return lo, hi


def chart(title: str, points: list[tuple[int, float, float, float]], runs: int) -> dict[str, Any]:
    """Lay out one line chart (mean line, low-high band when ``runs > 1``) in SVG coordinates."""
    xs = [p[0] for p in points]
    y_lo, y_hi = _scale(min(p[2] for p in points), max(p[3] for p in points))
    x_lo, x_hi = min(xs), max(max(xs), min(xs) + 1)

    def x(i: float) -> float:
        return round(LEFT + (i - x_lo) / (x_hi - x_lo) * (WIDTH - LEFT - RIGHT), 1)

    def y(v: float) -> float:
        return round(BOTTOM - (v - y_lo) / (y_hi - y_lo) * (BOTTOM - TOP), 1)

    line = " ".join(f"{x(i)},{y(m)}" for i, m, _, _ in points)
    upper = [f"{x(i)},{y(h)}" for i, _, _, h in points]
    lower = [f"{x(i)},{y(lo)}" for i, _, lo, _ in reversed(points)]
    y_ticks = [(y(y_lo + k * (y_hi - y_lo) / 4), _fmt(y_lo + k * (y_hi - y_lo) / 4)) for k in range(5)]
    x_ticks = sorted({x_lo, x_hi, round((x_lo + x_hi) / 2)})
    return {
        "title": title,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": BOTTOM,
        "line": line,
        "band": " ".join(upper + lower) if runs > 1 else "",
        "y_ticks": y_ticks,
        "x_ticks": [(x(i), i) for i in x_ticks],
        "last": _fmt(points[-1][1]),
    }


def _fmt(value: float) -> str:
    """A short tick label.

    >>> [_fmt(v) for v in (0, 0.5625, 12345.6, -0.000241)]
    ['0', '0.562', '12,346', '-2.4e-04']
    """
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) < 1e-3:
        return f"{value:.1e}"
    return f"{value:.3g}"


def training_report(path: str | Path) -> Path:
    """Write ``training_report.html`` into ``path`` (one run, or a folder of runs); return the page's path.

    Raises:
        ResultError: no training run at ``path``.
    """
    import jinja2

    runs = find_runs(path)
    tables = [read_metrics(run / METRICS_FILE) for run in runs]
    charts = []
    for key, title in CHARTS:
        curves = [s for s in (series(rows, key) for rows in tables) if s]
        if curves:
            charts.append({**chart(title, band(curves), len(curves)), "key": key})
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("anchorgym.training", "templates"), autoescape=True, trim_blocks=True
    )
    page = environment.get_template("training.html.j2").render(
        title=Path(path).resolve().name,
        runs=[str(run) for run in runs],
        iterations=max((len(t) for t in tables), default=0),
        charts=charts,
    )
    out = Path(path) / "training_report.html"
    from anchorgym.harness.records import write_text_atomic

    write_text_atomic(out, page)
    return out
