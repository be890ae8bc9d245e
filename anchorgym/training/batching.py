"""Batch shaping around the advantage step: reward shaping, dynamic sampling and padding.

Order matters: shape rewards, compute advantages, drop zero-variance groups,
then pad. Padding comes *after* advantages so padded copies never enter a
group's statistics, and padded rows carry weight 0 so they never move the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from anchorgym.errors import ConfigError
from anchorgym.training.advantages import factorize

INVALID_ACTION_PENALTY = 0.1  # GiGPO / verl-agent default


def shape_rewards(
    rewards: Sequence[float] | np.ndarray,
    action_valid: Sequence[bool] | np.ndarray,
    penalty: float = INVALID_ACTION_PENALTY,
) -> np.ndarray:
    """Fold the invalid-action penalty into the step reward: ``r_t - penalty * [action invalid]``.

    >>> shape_rewards([1.0, 0.0], [True, False]).tolist()
    [1.0, -0.1]
    """
    if penalty < 0:
        raise ConfigError(f"invalid_action_penalty must be >= 0 (it is subtracted), got {penalty}.")
    valid = np.asarray(action_valid, dtype=bool)
    return np.asarray(rewards, dtype=np.float64) - penalty * (~valid)


def penalised_rewards(
    rewards: np.ndarray, action_valid: np.ndarray, penalty: float, mode: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """The rewards and per-row penalties the estimators get, for ``invalid_action_penalty_mode``.

    ``reward`` folds the penalty into ``r_t`` (:func:`shape_rewards`), so the discounted
    return carries it back to earlier steps; ``row`` leaves ``r_t`` alone and returns
    ``penalty * [invalid]`` per row, which :func:`~anchorgym.training.advantages.compute`
    subtracts from that row's own episode score and step return after the returns, as
    verl-agent's ``apply_invalid_action_penalty`` does.

    >>> penalised_rewards(np.array([0.0, 1.0]), np.array([False, True]), 0.1, "row")
    (array([0., 1.]), array([0.1, 0. ]))
    """
    if mode == "reward":
        return shape_rewards(rewards, action_valid, penalty), None
    shape_rewards(rewards, action_valid, penalty)  # the same check on the penalty
    invalid = ~np.asarray(action_valid, dtype=bool)
    return np.asarray(rewards, dtype=np.float64), penalty * invalid.astype(np.float64)


def nonzero_variance_groups(
    group_ids: np.ndarray, traj_ids: np.ndarray, rewards: np.ndarray, tol: float = 1e-12
) -> np.ndarray:
    """DAPO dynamic sampling (Yu et al. 2025): mask of rows whose group's episode returns differ.

    A group whose trajectories all earn the same return gives every step a zero
    episode advantage and no learning signal; its rows are dropped.

    >>> nonzero_variance_groups(np.array([0, 0, 1, 1]), np.array([0, 1, 2, 3]), np.array([1.0, 0, 1, 1])).tolist()
    [True, True, False, False]
    """
    group = factorize(np.asarray(group_ids))
    traj = factorize(group, np.asarray(traj_ids))
    returns = np.bincount(traj, np.asarray(rewards, dtype=np.float64))
    traj_group = np.zeros(len(returns), dtype=np.int64)
    traj_group[traj] = group
    low = np.full(group.max() + 1, np.inf)
    high = np.full(group.max() + 1, -np.inf)
    np.minimum.at(low, traj_group, returns)
    np.maximum.at(high, traj_group, returns)
    return (high - low > tol)[group]


def pad_to_multiple(num_rows: int, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices padded to a multiple of ``multiple`` by repeating rows, and their 0/1 loss weights.

    >>> idx, weight = pad_to_multiple(5, 4)
    >>> idx.tolist(), weight.tolist()
    ([0, 1, 2, 3, 4, 0, 1, 2], [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    """
    if multiple < 1 or num_rows < 1:
        raise ConfigError(f"pad_to_multiple needs rows >= 1 and multiple >= 1, got {num_rows} and {multiple}.")
    total = -(-num_rows // multiple) * multiple
    indices = np.arange(total) % num_rows
    weights = (np.arange(total) < num_rows).astype(np.float64)
    return indices, weights


def episode_columns(episodes: Sequence[Any]) -> dict[str, np.ndarray]:
    """Flatten harness episodes into per-step columns for :func:`~anchorgym.training.advantages.compute`.

    Returns a dict of equal-length arrays: ``group``, ``traj``, ``step``,
    ``reward`` (env reward), ``valid`` (action validity) and ``anchor``.
    """
    rows = [(e.group_id, e.traj_id, s.step, s.reward, s.action_valid, s.anchor) for e in episodes for s in e.steps]
    if not rows:
        raise ConfigError("The rollout produced no steps; check the env and max_steps.")
    group, traj, step, reward, valid, anchor = zip(*rows, strict=True)
    return {
        "group": np.asarray(group, dtype=np.int64),
        "traj": np.asarray(traj, dtype=np.int64),
        "step": np.asarray(step, dtype=np.int64),
        "reward": np.asarray(reward, dtype=np.float64),
        "valid": np.asarray(valid, dtype=bool),
        "anchor": np.asarray(anchor, dtype=object),
    }
