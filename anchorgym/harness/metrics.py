"""Evaluation metrics: means over seeds, standard errors and t-intervals.

Each evaluation seed is one full pass over a benchmark's tasks. For a metric
``m`` (success, score, steps...) the harness reports:

* the per-seed value ``m_s``: the mean over that seed's episodes (for rates over
  steps, e.g. the invalid-action rate, invalid steps / steps of that seed);
* ``mean = (1/n) * sum_s m_s`` over the ``n`` seeds (the mean of per-seed means;
  never the best seed: no peak-vs-mean confusion);
* ``se = sd / sqrt(n)`` with the sample standard deviation
  ``sd = sqrt(sum_s (m_s - mean)^2 / (n - 1))``; None for a single seed;
* the 95% interval ``mean ± t_{0.975, n-1} * se`` (Student t with ``n - 1``
  degrees of freedom); None for a single seed.

Per task type the same is done on each seed's episodes of that type. The SE
measures seed-to-seed variation of the whole evaluation (policy sampling and
env seeds), not task-sampling error: the task list is fixed by the benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any


def t_critical(df: int) -> float:
    """Return ``t_{0.975, df}``, Student's t two-sided 95% critical value, rounded to 6 decimals.

    It is ``scipy.stats.t.ppf(0.975, df)`` (imported here, so ``import anchorgym`` stays light). The
    rounding makes results identical across scipy versions and platforms; for ``df <= 30`` it equals the
    6-decimal tables that anchorgym 0.1.0 used, so results of up to 31 seeds are unchanged.

    Raises:
        ValueError: ``df < 1``.

    >>> t_critical(2), t_critical(30), t_critical(1000)
    (4.302653, 2.042272, 1.962339)
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    from scipy.stats import t

    return round(float(t.ppf(0.975, df)), 6)


def estimate(per_seed: Sequence[float]) -> dict[str, Any]:
    """Summarise per-seed values: mean, SE and 95% t-interval (see the module docs).

    >>> estimate([0.5, 0.7, 0.6])["se"]
    0.057735
    """
    n = len(per_seed)
    if n == 0:
        return {"mean": None, "se": None, "ci95": None, "n_seeds": 0, "per_seed": []}
    mean = math.fsum(per_seed) / n
    se = ci = None
    if n > 1:
        sd = math.sqrt(math.fsum((x - mean) ** 2 for x in per_seed) / (n - 1))
        se = sd / math.sqrt(n)
        half = t_critical(n - 1) * se
        ci = [_round(mean - half), _round(mean + half)]
    return {"mean": _round(mean), "se": _round(se), "ci95": ci, "n_seeds": n, "per_seed": [_round(x) for x in per_seed]}


def _round(value: float | None) -> float | None:
    """Round to 6 decimals so results are readable and identical across platforms."""
    return None if value is None else round(value + 0.0, 6)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def by_seed(episodes: Iterable[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Group episode records by their ``seed`` (sorted), keeping a fixed order within each seed."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for episode in sorted(episodes, key=lambda e: (e["seed"], e["task_index"], e["episode"])):
        groups.setdefault(int(episode["seed"]), []).append(episode)
    return dict(sorted(groups.items()))


PerSeed = Callable[[list[dict[str, Any]]], float]

EPISODE_METRICS: dict[str, PerSeed] = {
    "success_rate": lambda eps: math.fsum(float(e["won"]) for e in eps) / len(eps),
    "score": lambda eps: math.fsum(float(e["score"]) for e in eps) / len(eps),
    "steps": lambda eps: math.fsum(e["length"] for e in eps) / len(eps),
    "return": lambda eps: math.fsum(e["return"] for e in eps) / len(eps),
    "invalid_action_rate": lambda eps: _ratio(sum(e["invalid_actions"] for e in eps), sum(e["length"] for e in eps)),
    "parse_failure_rate": lambda eps: _ratio(sum(e["parse_failures"] for e in eps), sum(e["length"] for e in eps)),
}
"""Metric name -> its per-seed value from that seed's episode records."""


def _mean_of(episodes: list[dict[str, Any]], name: str) -> float:
    """Mean of ``metrics[name]`` over a seed's episodes (0 for an episode without it)."""
    return math.fsum(float((e.get("metrics") or {}).get(name, 0.0)) for e in episodes) / len(episodes)


def _estimates(groups: dict[int, list[dict[str, Any]]], names: Sequence[str]) -> dict[str, Any]:
    return {name: estimate([EPISODE_METRICS[name](eps) for eps in groups.values() if eps]) for name in names}


def token_totals(episodes: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Total and per-step prompt/response tokens over the episodes whose policy reported them."""
    known = [e for e in episodes if e.get("tokens_in") is not None]
    if not known:
        return None
    steps = sum(e["length"] for e in known)
    tokens_in, tokens_out = sum(e["tokens_in"] for e in known), sum(e["tokens_out"] or 0 for e in known)
    return {
        "in_total": tokens_in,
        "out_total": tokens_out,
        "in_per_step": _round(_ratio(tokens_in, steps)),
        "out_per_step": _round(_ratio(tokens_out, steps)),
        "steps_counted": steps,
    }


def summarize(episodes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Compute every metric of ``result.json`` from episode records.

    Args:
        episodes: records with ``seed``, ``task_index``, ``episode``, ``task_type``, ``won``,
            ``score``, ``length``, ``return``, ``invalid_actions``, ``parse_failures`` and
            optional ``tokens_in``/``tokens_out``.

    Returns:
        ``episodes`` (count), one :func:`estimate` per name in :data:`EPISODE_METRICS`,
        ``tokens`` and ``per_task_type`` (success rate and score per type). Errored episodes (an
        ``error`` key: their env failed) are left out of every metric and counted in ``errored``,
        present only when there are some; ``extra``, one :func:`estimate` per ``metrics`` key of the
        records (the spec's ``metrics.extra``), present only when the records carry some.
    """
    errored = sum(1 for e in episodes if e.get("error"))
    episodes = [e for e in episodes if not e.get("error")]
    groups = by_seed(episodes)
    metrics: dict[str, Any] = {"episodes": len(episodes), **_estimates(groups, list(EPISODE_METRICS))}
    if errored:
        metrics["errored"] = errored
    extra = sorted({name for e in episodes for name in e.get("metrics") or {}})
    if extra:  # the spec's metrics.extra (e.g. tool-QA's subem), present only when the spec declares some
        metrics["extra"] = {name: estimate([_mean_of(eps, name) for eps in groups.values() if eps]) for name in extra}
    metrics["tokens"] = token_totals(episodes)
    types = sorted({str(e["task_type"]) for e in episodes})
    metrics["per_task_type"] = {
        task_type: {
            "episodes": sum(1 for e in episodes if e["task_type"] == task_type),
            **_estimates(
                {s: [e for e in eps if e["task_type"] == task_type] for s, eps in groups.items()},
                ["success_rate", "score"],
            ),
        }
        for task_type in types
    }
    return metrics
