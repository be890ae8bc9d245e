"""Seed statistics of a learning run: 95% t-intervals per iteration, paired differences, band plots.

Reads the per-seed results ``run.py`` writes (``runs[estimator][seed]`` = success per iteration)
and reports, per estimator and iteration, the mean over seeds with its 95% Student-t interval,
and for every estimator against a baseline the *paired* difference (same seeds: same initial
model, tasks and sampling stream) of the mean success over an iteration window, with its 95%
interval and the paired t-test's two-sided p-value. Usage:

    python benchmarks/learning/stats.py RESULTS.json [--window 4 6] [--baseline grpo] [--plot OUT.png]

Prints a markdown table of the curves and one ``PAIRED`` line per comparison.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t interval of ``values`` (half-width nan for one value).

    >>> mean, half = interval(np.array([0.0, 1.0, 2.0]))
    >>> round(mean, 3), round(half, 3)
    (1.0, 2.484)
    """
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, math.nan
    sem = float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return mean, float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1)) * sem


def curves(runs: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, list[float]]]:
    """Per estimator: ``mean``, ``low`` and ``high`` per iteration over its seeds."""
    out = {}
    for name, per_seed in runs.items():
        table = np.array(list(per_seed.values()), dtype=float)  # [seeds, iterations]
        pairs = [interval(table[:, i]) for i in range(table.shape[1])]
        out[name] = {
            "mean": [m for m, _ in pairs],
            "low": [m - h for m, h in pairs],
            "high": [m + h for m, h in pairs],
        }
    return out


def paired(runs: dict[str, dict[str, list[float]]], name: str, baseline: str, window: tuple[int, int]) -> dict:
    """Paired difference ``name - baseline`` of each seed's mean success over iterations ``window`` (1-based)."""
    seeds = sorted(set(runs[name]) & set(runs[baseline]), key=int)
    first, last = window
    diffs = np.array(
        [np.mean(runs[name][s][first - 1 : last]) - np.mean(runs[baseline][s][first - 1 : last]) for s in seeds]
    )
    mean, half = interval(diffs)
    p = float(stats.ttest_1samp(diffs, 0.0).pvalue) if len(diffs) > 1 and np.std(diffs) > 0 else math.nan
    return {
        "estimator": name,
        "baseline": baseline,
        "window": list(window),
        "seeds": len(seeds),
        "mean": mean,
        "low": mean - half,
        "high": mean + half,
        "p_value": p,
    }


def plot_bands(bands: dict[str, dict[str, list[float]]], path: Path, title: str, seeds: int) -> None:
    """Mean curve and shaded 95% interval per estimator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, band in bands.items():
        x = range(1, len(band["mean"]) + 1)
        (line,) = ax.plot(x, band["mean"], label=name)
        ax.fill_between(x, band["low"], band["high"], color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"training success (mean of {seeds} seeds, 95% CI)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def table(bands: dict[str, dict[str, list[float]]]) -> str:
    """Markdown: one row per estimator, ``mean [low, high]`` per iteration."""
    width = len(next(iter(bands.values()))["mean"])
    lines = ["| iteration | " + " | ".join(str(i) for i in range(1, width + 1)) + " |", "|---" * (width + 1) + "|"]
    for name, band in bands.items():
        cells = [
            f"{m:.2f} [{lo:.2f}, {hi:.2f}]" for m, lo, hi in zip(band["mean"], band["low"], band["high"], strict=True)
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summarize(payload: dict[str, Any], window: tuple[int, int], baseline: str) -> dict[str, Any]:
    """Curves with intervals and the paired comparisons against ``baseline``."""
    runs = {name: {str(s): v for s, v in per_seed.items()} for name, per_seed in payload["runs"].items() if per_seed}
    comparisons = [paired(runs, name, baseline, window) for name in runs if name != baseline and baseline in runs]
    return {"curves": curves(runs), "paired": comparisons, "seeds": {k: sorted(v, key=int) for k, v in runs.items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", type=Path)
    parser.add_argument("--window", type=int, nargs=2, default=None, help="first and last iteration (1-based)")
    parser.add_argument("--baseline", default="grpo")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    payload = json.loads(args.results.read_text())
    iterations = int(payload["iterations"])
    window = tuple(args.window) if args.window else (max(1, iterations - iterations // 2 + 1), iterations)
    summary = summarize(payload, window, args.baseline)
    print(table(summary["curves"]))
    for c in summary["paired"]:
        first, last = c["window"]
        print(
            f"PAIRED {c['estimator']}-{c['baseline']} iterations {first}-{last} over {c['seeds']} seeds: "
            f"{c['mean']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}] p={c['p_value']:.2f}"
        )
    if args.plot:
        seeds = max(len(v) for v in summary["seeds"].values())
        plot_bands(summary["curves"], args.plot, args.title or str(payload.get("task", "")), seeds)


if __name__ == "__main__":
    main()
