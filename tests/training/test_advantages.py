from __future__ import annotations

import math
import random

import numpy as np
import pytest

from anchorgym.errors import ConfigError, UnknownNameError
from anchorgym.training import advantages as adv
from anchorgym.training.advantages import compute, step_group_sizes

from .reference import random_rows, random_rows_with_validity, reference, verl_agent

EPS = 1e-6


def run(estimator, rows, **options):
    cols = {k: [r[k] for r in rows] for k in ("group", "traj", "step", "reward", "anchor")}
    return compute(estimator, cols["group"], cols["traj"], cols["step"], cols["reward"], cols["anchor"], **options)


# Two trajectories in one group: A has two steps (return 1), B one step (return 0).
GROUP2 = dict(group_ids=[0, 0, 0], traj_ids=[10, 10, 11], step_ids=[0, 1, 0], rewards=[0.0, 1.0, 0.0], anchors=None)


def test_grpo_mean_std_norm_by_trajectory():
    a = compute("grpo", **GROUP2)
    expected = 0.5 / (math.sqrt(0.5) + EPS)
    assert a.tolist() == pytest.approx([expected, expected, -expected], rel=1e-12)


def test_grpo_step_stats_weight_long_trajectories():
    # rows carry returns [1, 1, 0]: mean 2/3, sample std sqrt(1/3)
    a = compute("grpo", **GROUP2, stats="step")
    std = math.sqrt(1 / 3)
    assert a.tolist() == pytest.approx([(1 / 3) / (std + EPS)] * 2 + [(-2 / 3) / (std + EPS)], rel=1e-12)
    assert compute("grpo", **GROUP2, stats="step", mode="mean_norm").tolist() == pytest.approx([1 / 3, 1 / 3, -2 / 3])


def test_singleton_groups_get_zero():
    a = compute("grpo", [0, 1, 1], [0, 1, 2], [0, 0, 0], [5.0, 1.0, 0.0], None, mode="mean_norm")
    assert a.tolist() == [0.0, 0.5, -0.5]
    assert compute("rloo", [0], [0], [0], [3.0], None).tolist() == [0.0]


def test_rloo_leave_one_out():
    a = compute("rloo", [0, 0, 0], [0, 1, 2], [0, 0, 0], [3.0, 1.0, 2.0], None)
    assert a.tolist() == [1.5, -1.5, 0.0]


def test_mc_grpo_median_baseline():
    even = compute("mc_grpo", [0] * 4, [0, 1, 2, 3], [0] * 4, [0.0, 0.0, 1.0, 5.0], None, mode="mean_norm")
    assert even.tolist() == [-0.5, -0.5, 0.5, 4.5]
    odd = compute("mc_grpo", [0] * 3, [0, 1, 2], [0] * 3, [1.0, 2.0, 10.0], None)
    std = np.std([1.0, 2.0, 10.0], ddof=1)
    assert odd.tolist() == pytest.approx([-1 / (std + EPS), 0.0, 8 / (std + EPS)], rel=1e-12)


def test_gigpo_hand_computed():
    # A: s0 -> s1 (reward 1); B: s0 -> s2 -> s1 (reward 1). Same episode return, so A^E = 0;
    # at s0, A's discounted return 0.5 beats B's 0.25 (gamma 0.5); s1 ties; s2 is a singleton.
    args = ([0] * 5, ["A", "A", "B", "B", "B"], [0, 1, 0, 1, 2], [0, 1, 0, 0, 1], ["s0", "s1", "s0", "s2", "s1"])
    a = compute("gigpo", *args, gamma=0.5, mode="mean_norm")
    assert a.tolist() == [0.125, 0.0, -0.125, 0.0, 0.0]
    assert compute("gigpo", *args, gamma=0.5, mode="mean_norm", omega=2.0).tolist() == [0.25, 0.0, -0.25, 0.0, 0.0]


def test_gigpo_default_gamma_is_published_095():
    args = ([0] * 4, [0, 0, 1, 1], [0, 1, 0, 1], [0, 1, 0, 0], ["x", "y", "x", "z"])
    a = compute("gigpo", *args, mode="mean_norm")
    episode = 0.5
    assert a[0] == pytest.approx(episode + (0.95 - 0.95 / 2))


HGPO_ARGS = ([0] * 6, [1, 1, 2, 2, 3, 3], [0, 1] * 3, [0, 1, 0, 0, 0, 0], ["a", "b", "c", "b", "a", "b"])


def test_hgpo_hand_computed():
    # K=1: level 1 groups by the current anchor, level 2 by (previous, current); weights 2 and 3.
    ours = dict(levels="start_marker", zero_levels="keep", ddof=1)
    a = compute("hgpo", *HGPO_ARGS, gamma=1.0, mode="mean_norm", history=1, **ours)
    expected = [0.5, 17 / 30, 0.0, -1 / 3, -0.5, -13 / 30]
    assert a.tolist() == pytest.approx(expected, abs=1e-6)
    with_episode = compute("hgpo", *HGPO_ARGS, gamma=1.0, mode="mean_norm", history=1, episode="add", **ours)
    episode = [2 / 3, 2 / 3, -1 / 3, -1 / 3, -1 / 3, -1 / 3]
    assert with_episode.tolist() == pytest.approx([e + x for e, x in zip(episode, expected, strict=True)], abs=1e-6)


def test_hgpo_alpha_zero_weights_levels_equally():
    ours = dict(levels="start_marker", zero_levels="keep", ddof=1)
    a = compute("hgpo", *HGPO_ARGS, gamma=1.0, mode="mean_norm", history=1, alpha=0.0, **ours)
    assert a[1] == pytest.approx((2 / 3 + 0.5) / 2, abs=1e-6)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "estimator,options",
    [
        ("grpo", {}),
        ("grpo", {"mode": "mean_norm", "stats": "step"}),
        ("rloo", {}),
        ("rloo", {"stats": "step"}),
        ("mc_grpo", {}),
        ("mc_grpo", {"mode": "mean_norm", "stats": "step"}),
        ("gigpo", {"gamma": 0.9}),
        ("gigpo", {"mode": "mean_norm", "omega": 0.5, "stats": "step"}),
        ("hgpo", {}),
        ("hgpo", {"history": 3, "alpha": 2.0, "mode": "mean_norm", "episode": "level", "stats": "step"}),
        ("hgpo", {"history": 0, "gamma": 0.8, "stats": "step", "episode": "add"}),
        ("hgpo", {"levels": "start_marker", "zero_levels": "keep", "ddof": 1, "episode": "add"}),
        ("hgpo", {"history": 3, "levels": "start_marker", "mode": "mean_norm", "zero_levels": "keep"}),
    ],
)
def test_matches_reference_on_random_batches(seed, estimator, options):
    rows = random_rows(random.Random(seed))
    fast = run(estimator, rows, **options)
    ref_options = dict(options)
    ref_options.setdefault("gamma", adv.DEFAULT_GAMMA.get(estimator, 1.0))
    if "episode" in ref_options:
        ref_options["episode_term"] = ref_options.pop("episode")
    slow = reference(estimator, rows, **ref_options)
    assert fast.tolist() == pytest.approx(slow, rel=1e-9, abs=1e-9)


def test_discounted_returns_long_trajectory():
    n = 300
    rewards = np.random.default_rng(0).normal(size=n)
    a = compute("gigpo", [0] * n, [0] * n, np.arange(n)[::-1], rewards[::-1], np.arange(n))
    batch = adv.make_batch([0] * n, [0] * n, np.arange(n), rewards, None)
    expected, running = np.zeros(n), 0.0
    for t in reversed(range(n)):
        running = rewards[t] + 0.95 * running
        expected[t] = running
    assert adv.discounted_returns(batch, 0.95) == pytest.approx(expected, rel=1e-10)
    assert np.all(a == 0.0)  # one trajectory: every group is a singleton


def test_int_and_str_anchors_agree():
    rows = random_rows(random.Random(11))
    as_int = [dict(r, anchor=int(r["anchor"][1:])) for r in rows]
    assert run("gigpo", rows).tolist() == pytest.approx(run("gigpo", as_int).tolist())


def test_step_group_sizes():
    assert sorted(step_group_sizes([0, 0, 0, 1], ["a", "a", "b", "a"]).tolist()) == [1, 1, 2]


def test_errors_are_clear():
    with pytest.raises(UnknownNameError, match="Did you mean 'grpo'"):
        compute("grpoo", **GROUP2)
    with pytest.raises(ConfigError, match="Unknown option 'omga' for gigpo. Did you mean 'omega'"):
        compute("gigpo", [0], [0], [0], [1.0], ["a"], omga=1)
    with pytest.raises(ConfigError, match="mode must be one of"):
        compute("grpo", **GROUP2, mode="std")
    with pytest.raises(ConfigError, match="equal length"):
        compute("grpo", [0, 0], [0], [0], [1.0], None)
    with pytest.raises(ConfigError, match="NaN"):
        compute("grpo", [0], [0], [0], [float("nan")], None)
    with pytest.raises(ConfigError, match="pass the info\\['anchor'\\]"):
        compute("gigpo", [0], [0], [0], [1.0], None)
    with pytest.raises(ConfigError, match="gamma must be in"):
        compute("gigpo", [0], [0], [0], [1.0], ["a"], gamma=1.5)


# T1: a -> b (rewards 0, 1); T2: a -> b (0, 1); T3: c -> b (0, 0). Returns (gamma 1): T1 1, 1; T2 1, 1; T3 0, 0.
RECIPE_ARGS = ([0] * 6, [1, 1, 2, 2, 3, 3], [0, 1] * 3, [0, 1, 0, 1, 0, 0], ["a", "b", "a", "b", "c", "b"])


def test_hgpo_recipe_hand_computed():
    # level 1: {a: 1, 1} -> 0, 0 (dropped: exactly 0); {b: 1, 1, 0} -> 1/3, 1/3, -2/3; c alone.
    # level 2 exists for step 1 only: {(a, b): 1, 1} -> 0, 0 (dropped); (c, b) alone. Weights (k+1): 2, 3.
    a = compute("hgpo", *RECIPE_ARGS, gamma=1.0, mode="mean_norm", history=1)
    third = 2 * (1 / 3) / (2 + EPS)
    assert a.tolist() == pytest.approx([0.0, third, 0.0, third, 0.0, -2 * third], abs=1e-15)
    # our former variant keeps the zero levels and pads with start markers: (2 * 1/3 + 3 * 0) / 5 at T1's step 1
    ours = compute("hgpo", *RECIPE_ARGS, gamma=1.0, mode="mean_norm", history=1, zero_levels="keep")
    assert ours[1] == pytest.approx(2 * (1 / 3) / (5 + EPS), abs=1e-15)


def test_hgpo_recipe_population_std():
    # level 1 at b: returns 1, 1, 0, population std sqrt(2)/3 (sample std would be sqrt(1/3))
    a = compute("hgpo", *RECIPE_ARGS, gamma=1.0, history=0)
    std = math.sqrt(2) / 3
    assert a[1] == pytest.approx((1 / 3) / (std + EPS) * 2 / (2 + EPS), abs=1e-12)
    sample = compute("hgpo", *RECIPE_ARGS, gamma=1.0, history=0, ddof=1)
    assert sample[1] == pytest.approx((1 / 3) / (math.sqrt(1 / 3) + EPS) * 2 / (2 + EPS), abs=1e-12)


def test_hgpo_episode_as_a_level_and_added():
    # episode advantage over step rows (mean_norm): scores 1, 1, 1, 1, 0, 0 -> mean 2/3: T1, T2 +1/3; T3 -2/3.
    level = compute("hgpo", *RECIPE_ARGS, gamma=1.0, mode="mean_norm", history=1, episode="level", stats="step")
    # T1 step 0: episode level 1/3 (weight 1), level 1 is 0 and dropped; step 1: (1/3 + 2 * 1/3) / 3
    assert level.tolist() == pytest.approx(
        [1 / 3 / (1 + EPS), 1 / (3 + EPS)] * 2 + [-2 / 3 / (1 + EPS), -2 / (3 + EPS)], abs=1e-15
    )
    added = compute("hgpo", *RECIPE_ARGS, gamma=1.0, mode="mean_norm", history=1, episode="add", stats="step")
    alone = compute("hgpo", *RECIPE_ARGS, gamma=1.0, mode="mean_norm", history=1)
    assert added.tolist() == pytest.approx((alone + np.array([1 / 3] * 4 + [-2 / 3] * 2)).tolist(), abs=1e-15)


# One group, gamma 0.5, penalty 0.1. T1: s0 (r 0) -> s1 (r 0, invalid) -> s2 (r 1); T2: s0 (r 0) -> s3 (r 0).
PENALTY_ARGS = ([0] * 5, [1, 1, 1, 2, 2], [0, 1, 2, 0, 1], ["s0", "s1", "s2", "s0", "s3"])
VALID = [True, False, True, True, True]


def test_penalty_off_the_invalid_row_after_returns():
    group, traj, step, anchors = PENALTY_ARGS
    rewards = [0.0, 0.0, 1.0, 0.0, 0.0]
    penalties = [0.1 * (not v) for v in VALID]
    a = compute(
        "gigpo", group, traj, step, rewards, anchors, gamma=0.5, mode="mean_norm", stats="step", penalties=penalties
    )
    # episode scores 1, 0.9, 1, 0, 0 (mean 0.58); step group s0: returns 0.25 and 0 -> +-0.125
    assert a.tolist() == pytest.approx([0.42 + 0.125, 0.32, 0.42, -0.58 - 0.125, -0.58], abs=1e-12)
    folded = [r - p for r, p in zip(rewards, penalties, strict=True)]
    b = compute("gigpo", group, traj, step, folded, anchors, gamma=0.5, mode="mean_norm", stats="step")
    # folded: T1 returns 0.2, 0.4, 1 and R(T1) = 0.9: the valid rows of T1 move too
    assert b.tolist() == pytest.approx([0.36 + 0.1, 0.36, 0.36, -0.54 - 0.1, -0.54], abs=1e-12)


def test_penalties_need_step_statistics():
    group, traj, step, anchors = PENALTY_ARGS
    with pytest.raises(ConfigError, match="set estimator_options stats: step"):
        compute("grpo", group, traj, step, [0.0] * 5, anchors, penalties=[0, 0.1, 0, 0, 0])


@pytest.mark.parametrize("seed", range(18))
@pytest.mark.parametrize(
    "estimator,mode,options",
    [
        ("grpo", "mean_std_norm", {}),
        ("gigpo", "mean_norm", {}),
        ("gigpo", "mean_std_norm", {"omega": 0.5}),
        ("hgpo", "mean_std_norm", {"history": 2}),
        ("hgpo", "mean_norm", {"history": 4, "alpha": 0.5}),
        ("hgpo", "mean_std_norm", {"history": 1, "episode": "level"}),
    ],
)
def test_matches_verl_agent_with_its_penalty(seed, estimator, mode, options):
    rows = [r for r in random_rows_with_validity(random.Random(seed)) if r["traj"] % 5]  # no one-row groups
    penalties = [0.1 * (not r["valid"]) for r in rows]
    cols = {k: [r[k] for r in rows] for k in ("group", "traj", "step", "reward", "anchor")}
    ours = compute(estimator, *cols.values(), gamma=0.9, mode=mode, stats="step", penalties=penalties, **options)
    ref_options = {("episode_term" if k == "episode" else k): v for k, v in options.items()}
    if estimator == "hgpo":
        ref_options.setdefault("episode_term", "none")
    theirs = verl_agent(estimator, rows, 0.9, mode, 0.1, **ref_options)
    assert ours.tolist() == pytest.approx(theirs, rel=1e-9, abs=1e-9)


def test_hgpo_option_errors():
    args = ([0, 0], [0, 1], [0, 0], [1.0, 0.0], ["a", "a"])
    with pytest.raises(ConfigError, match="hgpo levels must be one of .* Did you mean 'prefix'"):
        compute("hgpo", *args, levels="prefx")
    with pytest.raises(ConfigError, match="hgpo ddof must be 0"):
        compute("hgpo", *args, ddof=2)
    with pytest.raises(ConfigError, match="hgpo episode must be one of"):
        compute("hgpo", *args, episode=True)
