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

A t-interval over two or three seeds can reach far outside [0, 1] (``50.0% ± 317.7``),
so tables and charts show a success rate with the Wilson score interval of its pooled
episodes instead (:func:`success_interval`): ``k`` won of ``N`` episodes over every seed,
always within [0, 1] and defined for a single seed too. ``result.json`` keeps the
per-seed estimate above unchanged, so results stay comparable and verifiable.
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


def z_critical() -> float:
    """Return ``z_{0.975}``, the two-sided 95% normal quantile, rounded to 6 decimals like :func:`t_critical`.

    >>> z_critical()
    1.959964
    """
    from scipy.stats import norm

    return round(float(norm.ppf(0.975)), 6)


def wilson_interval(successes: int, trials: int) -> list[float]:
    """Return the 95% Wilson score interval ``[low, high]`` of ``successes`` out of ``trials``.

    With ``p = k / n`` and ``z = z_{0.975}`` it is
    ``(p + z^2/2n ± z * sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)``, which lies within [0, 1]
    and is not degenerate at ``p = 0`` or ``p = 1`` (Wilson 1927; Brown, Cai & DasGupta 2001).

    Raises:
        ValueError: ``trials < 1`` or ``successes`` outside ``0..trials``.

    >>> wilson_interval(5, 10), wilson_interval(0, 10)
    ([0.236593, 0.763407], [0.0, 0.277533])
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes} of {trials}")
    z, n = z_critical(), trials
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [_round(max(centre - half, 0.0)), _round(min(centre + half, 1.0))]


def success_interval(rate: dict[str, Any], episodes: int) -> dict[str, Any] | None:
    """Return the pooled-episode Wilson interval of a ``success_rate`` estimate from ``result.json``.

    Every seed plays the same task list, so each seed has ``episodes / n_seeds`` episodes and the
    mean of per-seed rates is the pooled rate: ``k = round(mean * episodes)`` episodes were won
    (when some episodes errored the seeds differ slightly and ``k`` is the nearest count).

    Args:
        rate: a :func:`estimate` of success (``mean``, ``n_seeds``).
        episodes: the episodes it was computed over (``metrics.episodes``, or a task type's).

    Returns:
        ``low``, ``high``, ``successes``, ``episodes`` and ``seeds``; None when there are no episodes.

    >>> success_interval({"mean": 0.5, "n_seeds": 2}, 10)
    {'low': 0.236593, 'high': 0.763407, 'successes': 5, 'episodes': 10, 'seeds': 2}
    """
    if not episodes or rate.get("mean") is None:
        return None
    successes = min(max(round(rate["mean"] * episodes), 0), episodes)
    low, high = wilson_interval(successes, episodes)
    return {"low": low, "high": high, "successes": successes, "episodes": episodes, "seeds": rate.get("n_seeds")}


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
