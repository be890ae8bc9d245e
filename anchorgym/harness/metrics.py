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

# Two-sided 95% critical values of Student's t, t_{0.975, df}, df = 1..30 (standard tables).
T_975 = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
    2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
    2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)  # fmt: skip
Z_975 = 1.959963984540054


def t_critical(df: int) -> float:
    """Return ``t_{0.975, df}``: tabulated up to 30 degrees of freedom, Cornish-Fisher beyond (error < 1e-5).

    >>> round(t_critical(2), 3), round(t_critical(1000), 3)
    (4.303, 1.962)
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(T_975):
        return T_975[df - 1]
    z = Z_975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


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
        present only when there are some.
    """
    errored = sum(1 for e in episodes if e.get("error"))
    episodes = [e for e in episodes if not e.get("error")]
    groups = by_seed(episodes)
    metrics: dict[str, Any] = {"episodes": len(episodes), **_estimates(groups, list(EPISODE_METRICS))}
    if errored:
        metrics["errored"] = errored
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
