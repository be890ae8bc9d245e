"""Metric maths against hand-computed values: means over seeds, SE, t-intervals, per task type."""

from __future__ import annotations

import math

import pytest

from anchorgym.harness.metrics import estimate, summarize, t_critical


def test_estimate_three_seeds_by_hand():
    # mean 0.6; deviations -0.1, 0.1, 0 -> sd 0.1; se 0.1/sqrt(3); half-width t(0.975, 2) = 4.302653 times se
    result = estimate([0.5, 0.7, 0.6])
    assert result["mean"] == 0.6
    assert result["se"] == pytest.approx(0.057735, abs=1e-6)
    assert result["ci95"] == pytest.approx([0.6 - 0.248414, 0.6 + 0.248414], abs=1e-6)
    assert result["n_seeds"] == 3 and result["per_seed"] == [0.5, 0.7, 0.6]


def test_estimate_single_seed_has_no_interval():
    assert estimate([0.25]) == {"mean": 0.25, "se": None, "ci95": None, "n_seeds": 1, "per_seed": [0.25]}


def test_t_critical_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in list(range(1, 61)) + [100, 1000, 10_000]:
        assert t_critical(df) == pytest.approx(stats.t.ppf(0.975, df), abs=2e-5), df


def _episode(seed, task_index, task_type, won, score, length, invalid, unparsed, tokens):
    return {
        "seed": seed, "task_index": task_index, "episode": 0, "task_type": task_type, "won": won, "score": score,
        "length": length, "return": 10.0 * won - 0.1 * length, "invalid_actions": invalid,
        "parse_failures": unparsed, "tokens_in": tokens[0], "tokens_out": tokens[1],
    }  # fmt: skip


EPISODES = [
    _episode(1, 1, "y", True, 1.0, 1, 0, 0, (40, 4)),
    _episode(0, 0, "x", True, 1.0, 2, 1, 0, (10, 1)),
    _episode(0, 1, "y", False, 0.5, 4, 0, 1, (20, 2)),
    _episode(1, 0, "x", True, 1.0, 3, 0, 0, (30, 3)),
]


def test_summarize_by_hand():
    metrics = summarize(EPISODES)
    assert metrics["episodes"] == 4
    # success per seed: seed 0 = 1/2, seed 1 = 2/2 -> mean 0.75, sd = sqrt(2 * 0.25^2 / 1), se = sd / sqrt(2) = 0.25
    success = metrics["success_rate"]
    assert (success["mean"], success["se"], success["per_seed"]) == (0.75, 0.25, [0.5, 1.0])
    assert success["ci95"] == pytest.approx([0.75 - 12.706205 * 0.25, 0.75 + 12.706205 * 0.25], abs=1e-6)
    assert (metrics["score"]["mean"], metrics["score"]["se"]) == (0.875, 0.125)  # seeds: 0.75, 1.0
    assert (metrics["steps"]["mean"], metrics["steps"]["se"]) == (2.5, 0.5)  # seeds: 3, 2
    # invalid actions are a rate over steps within each seed: seed 0 = 1/6, seed 1 = 0/4
    assert metrics["invalid_action_rate"]["per_seed"] == [round(1 / 6, 6), 0.0]
    assert metrics["invalid_action_rate"]["mean"] == round(1 / 12, 6)
    assert metrics["parse_failure_rate"]["per_seed"] == [round(1 / 6, 6), 0.0]
    assert metrics["return"]["mean"] == pytest.approx(((10 - 0.2 - 0.4) + (20 - 0.3 - 0.1)) / 4, abs=1e-6)
    assert metrics["tokens"] == {"in_total": 100, "out_total": 10, "in_per_step": 10.0, "out_per_step": 1.0,
                                 "steps_counted": 10}  # fmt: skip


def test_per_task_type_is_a_mean_over_seeds_within_the_type():
    per_type = summarize(EPISODES)["per_task_type"]
    assert set(per_type) == {"x", "y"}
    assert per_type["x"]["episodes"] == 2 and per_type["x"]["success_rate"]["mean"] == 1.0
    assert per_type["x"]["success_rate"]["se"] == 0.0
    y = per_type["y"]["success_rate"]
    assert (y["per_seed"], y["mean"], y["se"]) == ([0.0, 1.0], 0.5, 0.5)
    assert per_type["y"]["score"]["per_seed"] == [0.5, 1.0]


def test_summary_ignores_record_order():
    assert summarize(EPISODES) == summarize(list(reversed(EPISODES)))


def test_mean_of_seed_means_is_not_the_pooled_mean_when_seeds_differ_in_size():
    # 3 episodes in seed 0 (1 won), 1 in seed 1 (won): mean of seed means = (1/3 + 1) / 2, pooled = 2/4
    episodes = [_episode(0, i, "x", i == 0, float(i == 0), 1, 0, 0, (None, None)) for i in range(3)]
    episodes.append(_episode(1, 0, "x", True, 1.0, 1, 0, 0, (None, None)))
    metrics = summarize(episodes)
    assert metrics["success_rate"]["mean"] == round((1 / 3 + 1) / 2, 6)
    assert metrics["tokens"] is None
    assert math.isclose(metrics["success_rate"]["per_seed"][0], 1 / 3, abs_tol=1e-6)


def test_wilson_interval_matches_the_published_values():
    from anchorgym.harness.metrics import wilson_interval

    # Brown, Cai & DasGupta (2001) / Newcombe (1998): 5 of 10 -> [0.2366, 0.7634]; 0 of 10 -> [0, 0.2775]
    assert wilson_interval(5, 10) == [0.236593, 0.763407]
    assert wilson_interval(0, 10) == [0.0, 0.277533]
    assert wilson_interval(10, 10) == [0.722467, 1.0]
    with pytest.raises(ValueError, match="got 3 of 2"):
        wilson_interval(3, 2)


def test_wilson_interval_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    from anchorgym.harness.metrics import wilson_interval

    for k, n in [(0, 1), (1, 2), (7, 13), (40, 50), (300, 300)]:
        low, high = stats.binomtest(k, n).proportion_ci(method="wilson")
        assert wilson_interval(k, n) == pytest.approx([low, high], abs=2e-6), (k, n)


def test_two_seeds_of_a_rate_stay_within_zero_and_one():
    from anchorgym.harness.compare import fmt_estimate, summary_row
    from anchorgym.harness.metrics import success_interval

    # 2 seeds of 8 episodes, 2 and 6 won: the t-interval is 0.5 ± 12.706 * 0.25 = [-2.68, 3.68] (the old "± 317.7")
    rate = estimate([0.25, 0.75])
    assert rate["ci95"] == [-2.676551, 3.676551]
    assert success_interval(rate, 16) == {"low": 0.279996, "high": 0.720004, "successes": 8, "episodes": 16, "seeds": 2}
    result = {"policy": {"spec": "p", "class": "P"}, "seeds": [0, 1], "metrics": {
        "episodes": 16, "success_rate": rate, "score": rate, "steps": estimate([3.0, 5.0]),
        "invalid_action_rate": estimate([0.0, 0.1])}}  # fmt: skip
    row = summary_row(result)
    assert row == ["p", "50.0% [28.0, 72.0]", "50.0% [0.0, 100.0]", "4.00 ± 12.71", "5.0% [0.0, 68.5]", "2", "16"]
    assert "317" not in " ".join(row) and fmt_estimate(estimate([0.25])) == "25.0%"


def test_one_seed_of_a_rate_gets_a_wilson_interval():
    from anchorgym.harness.compare import fmt_success

    assert fmt_success(estimate([0.5]), 10) == "50.0% [23.7, 76.3]"
