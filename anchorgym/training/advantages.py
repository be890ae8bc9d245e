"""GRPO-family advantage estimators, vectorised over a flat batch of agent steps.

One row per agent step. Every estimator sees the same five columns:

* ``group_ids``: the episode group (all trajectories that started from one task and seed);
* ``traj_ids``: the trajectory the step belongs to;
* ``step_ids``: the step's position in its trajectory (only the order matters);
* ``rewards``: the step's reward ``r_t`` (shaping such as the invalid-action penalty already folded in);
* ``anchors``: ``info["anchor"]`` of the state the step acted *from* (str digests or int codes).

Returns ``R(tau) = sum_t r_t`` are undiscounted at the episode level; step-level
estimators (GiGPO, HGPO) use the discounted return ``R_t = r_t + gamma * R_{t+1}``.
Group standard deviations are sample (``ddof=1``) deviations, as ``torch.std``
in verl / verl-agent; a group of one member gets advantage 0.

Episode statistics, option ``stats``:

* ``"trajectory"`` (default): the group mean/std/median are taken over one value
  per trajectory, so every trajectory counts once.
* ``"step"``: taken over every step row (each row carries its trajectory's
  return), verl-agent's behaviour; long trajectories then weigh more in the
  baseline, which biases it towards the returns of long (often failed) episodes.

>>> import numpy as np
>>> compute("grpo", [0, 0, 0], [0, 0, 1], [0, 1, 0], [0.0, 1.0, 0.0], None, mode="mean_norm").tolist()
[0.5, 0.5, -0.5]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from anchorgym.errors import ConfigError, suggest, unknown

EPS = 1e-6  # added to the std, as in GRPO implementations
MODES = ("mean_norm", "mean_std_norm")
STATS = ("trajectory", "step")
DEFAULT_GAMMA = {"gigpo": 0.95, "hgpo": 0.95}  # GiGPO paper, Sec. 5.1; other estimators: 1.0


@dataclass(frozen=True)
class StepBatch:
    """Validated, factorised columns, rows sorted by (trajectory, step).

    Attributes:
        order: ``order[i]`` is the input row at sorted position ``i``.
        group: dense episode-group index per sorted row.
        traj: dense trajectory index per sorted row.
        rewards: rewards per sorted row.
        anchors: dense anchor code per sorted row (None when no anchors were given).
        position: index of the row within its trajectory (0, 1, ...).
        traj_group: episode group of each trajectory.
    """

    order: np.ndarray
    group: np.ndarray
    traj: np.ndarray
    rewards: np.ndarray
    anchors: np.ndarray | None
    position: np.ndarray
    traj_group: np.ndarray

    @property
    def num_traj(self) -> int:
        """Number of trajectories."""
        return len(self.traj_group)


# ----------------------------------------------------------------- grouping
def factorize(*keys: np.ndarray) -> np.ndarray:
    """Return dense codes ``0..G-1`` for the distinct tuples of ``keys`` (row-wise).

    >>> factorize(np.array([5, 5, 7]), np.array(["a", "b", "a"])).tolist()
    [0, 1, 2]
    """
    codes = _codes(np.asarray(keys[0]))
    for key in keys[1:]:
        key_codes = _codes(np.asarray(key))
        codes = _codes(codes * (int(key_codes.max(initial=0)) + 1) + key_codes)
    return codes


def _codes(values: np.ndarray) -> np.ndarray:
    """Dense int codes for one column: hash-based via pandas when installed (far faster than sorting)."""
    try:
        import pandas as pd
    except ImportError:
        kind_ok = values.dtype.kind in "iub"
        return np.unique(values if kind_ok else values.astype(str), return_inverse=True)[1].reshape(-1)
    return pd.factorize(values)[0].astype(np.int64)


def group_stats(x: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return per-row (count, mean, sample std) of ``x`` within each row's group."""
    count = np.bincount(group)
    mean = np.bincount(group, x) / count
    sq = np.bincount(group, (x - mean[group]) ** 2)
    std = np.sqrt(sq / np.maximum(count - 1, 1))
    return count[group], mean[group], std[group]


def group_median(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Return, per row, the median of ``x`` within the row's group (mean of the two middles if even)."""
    order = np.lexsort((x, group))
    count = np.bincount(group)
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    sorted_x = x[order]
    median = (sorted_x[start + (count - 1) // 2] + sorted_x[start + count // 2]) / 2
    return median[group]


def normalize(x: np.ndarray, group: np.ndarray, mode: str, center: str = "mean") -> np.ndarray:
    """Group-relative advantage of ``x``: ``x - baseline`` (``mean_norm``) or divided by ``std + EPS``.

    ``center`` picks the baseline: ``"mean"`` (GRPO), ``"median"`` (MC-GRPO) or
    ``"loo"`` (RLOO, the mean of the *other* members). Singleton groups get 0.
    """
    count, mean, std = group_stats(x, group)
    if center == "median":
        baseline = group_median(x, group)
    elif center == "loo":
        baseline = (mean * count - x) / np.maximum(count - 1, 1)
    else:
        baseline = mean
    advantage = x - baseline
    if mode == "mean_std_norm":
        advantage = advantage / (std + EPS)
    return np.where(count > 1, advantage, 0.0)


# ------------------------------------------------------------------ returns
def episode_returns(batch: StepBatch) -> np.ndarray:
    """Return ``R(tau) = sum_t r_t`` for each trajectory."""
    return np.bincount(batch.traj, batch.rewards, minlength=batch.num_traj)


def discounted_returns(batch: StepBatch, gamma: float) -> np.ndarray:
    """Return ``R_t = r_t + gamma * R_{t+1}`` per sorted row, within each trajectory.

    A segmented suffix scan (Hillis-Steele): after the pass with shift ``s`` each
    row holds the discounted sum of the next ``2s`` rewards of its trajectory,
    so ``ceil(log2(T))`` vectorised passes suffice.
    """
    returns = batch.rewards.astype(np.float64).copy()
    n, shift = len(returns), 1
    longest = int(batch.position.max(initial=0)) + 1
    while shift < longest:
        same = batch.traj[shift:] == batch.traj[: n - shift]
        ahead = np.where(same, returns[shift:], 0.0)
        returns[: n - shift] = returns[: n - shift] + gamma**shift * ahead
        shift *= 2
    return returns


def episode_advantage(batch: StepBatch, mode: str, stats: str, center: str = "mean") -> np.ndarray:
    """Episode-level advantage per sorted row, statistics per trajectory or per step (see module docs)."""
    returns = episode_returns(batch)
    if stats == "trajectory":
        return normalize(returns, batch.traj_group, mode, center)[batch.traj]
    return normalize(returns[batch.traj], batch.group, mode, center)


# --------------------------------------------------------------- estimators
def grpo(batch: StepBatch, gamma: float, mode: str = "mean_std_norm", stats: str = "trajectory") -> np.ndarray:
    """GRPO (Shao et al. 2024, arXiv 2402.03300): ``A = (R(tau) - mean_G) / (std_G + 1e-6)``.

    ``mode="mean_norm"`` drops the division (Dr. GRPO, Liu et al. 2025).
    """
    return episode_advantage(batch, mode, stats)


def rloo(batch: StepBatch, gamma: float, stats: str = "trajectory") -> np.ndarray:
    """RLOO (Ahmadian et al. 2024, arXiv 2402.14740): ``A_i = R_i - (1/(n-1)) sum_{j != i} R_j``."""
    return episode_advantage(batch, "mean_norm", stats, center="loo")


def mc_grpo(batch: StepBatch, gamma: float, mode: str = "mean_std_norm", stats: str = "trajectory") -> np.ndarray:
    """MC-GRPO (Kim 2026, arXiv 2601.22582): ``A = (R(tau) - median_G) / (std_G + 1e-6)``.

    The median baseline resists outlier returns in small groups; with an odd
    group the median member gets advantage 0 (the paper's pivot rollout).
    ``mode="mean_norm"`` gives ``R(tau) - median_G``.
    """
    return episode_advantage(batch, mode, stats, center="median")


def gigpo(
    batch: StepBatch, gamma: float, mode: str = "mean_std_norm", stats: str = "trajectory", omega: float = 1.0
) -> np.ndarray:
    """GiGPO (Feng et al. 2025, arXiv 2505.10978): ``A = A^E(tau) + omega * A^S(a_t)``.

    ``A^E`` is GRPO's episode advantage. Step groups are the steps of one
    episode group that act from the same anchor state; ``A^S`` normalises the
    discounted return ``R_t = r_t + gamma R_{t+1}`` within each step group
    (same ``mode``; 0 for singleton step groups). Published defaults: omega 1, gamma 0.95.
    """
    step_group = factorize(batch.group, _require_anchors(batch, "gigpo"))
    step_advantage = normalize(discounted_returns(batch, gamma), step_group, mode)
    return episode_advantage(batch, mode, stats) + omega * step_advantage


def hgpo(
    batch: StepBatch,
    gamma: float,
    mode: str = "mean_std_norm",
    stats: str = "trajectory",
    history: int = 2,
    alpha: float = 1.0,
    omega: float = 1.0,
    episode: bool = True,
) -> np.ndarray:
    """HGPO (He et al. 2026, arXiv 2602.22817): hierarchy-of-groups step advantages.

    For ``k = 1..K+1`` (``K = history``), ``G_k`` holds the steps of one episode
    group whose last ``k`` anchors match (missing history before step 0 counts as
    a start marker). ``A_k`` normalises ``R_t`` within ``G_k``; levels whose group
    has at least two members *exist*, and::

        A^H = sum_k w_k A_k / sum_k w_k,   w_k = (k+1)^alpha over existing levels (0 if none)
        A   = A^E(tau) + omega * A^H       (A^E dropped when episode=False)
    """
    if history < 0:
        raise ConfigError(f"hgpo history must be >= 0, got {history}.")
    returns = discounted_returns(batch, gamma)
    anchors = _require_anchors(batch, "hgpo")
    key, total, weights = batch.group, np.zeros(len(returns)), np.zeros(len(returns))
    for k in range(1, history + 2):
        key = factorize(key, _lagged(anchors, batch.position, k - 1))
        weight = (k + 1.0) ** alpha * (np.bincount(key)[key] > 1)
        total += weight * normalize(returns, key, mode)
        weights += weight
    hierarchical = np.divide(total, weights, out=np.zeros_like(total), where=weights > 0)
    base = episode_advantage(batch, mode, stats) if episode else 0.0
    return base + omega * hierarchical


def _lagged(codes: np.ndarray, position: np.ndarray, lag: int) -> np.ndarray:
    """The anchor ``lag`` steps back in the same trajectory, -1 before the episode start."""
    if lag == 0:
        return codes
    shifted = np.concatenate((np.full(lag, -1), codes[:-lag]))[: len(codes)]
    return np.where(position >= lag, shifted, -1)


def _require_anchors(batch: StepBatch, name: str) -> np.ndarray:
    if batch.anchors is None:
        raise ConfigError(f"The {name} estimator groups steps by anchor state: pass the info['anchor'] of each step.")
    return batch.anchors


Estimator = Callable[..., np.ndarray]
ESTIMATORS: dict[str, Estimator] = {"grpo": grpo, "rloo": rloo, "mc_grpo": mc_grpo, "gigpo": gigpo, "hgpo": hgpo}


# ------------------------------------------------------------- entry point
def compute(
    estimator: str,
    group_ids: Sequence[Any] | np.ndarray,
    traj_ids: Sequence[Any] | np.ndarray,
    step_ids: Sequence[int] | np.ndarray,
    rewards: Sequence[float] | np.ndarray,
    anchors: Sequence[Any] | np.ndarray | None,
    *,
    gamma: float | None = None,
    **options: Any,
) -> np.ndarray:
    """Return one advantage per step row, in the input order.

    Args:
        estimator: one of :data:`ESTIMATORS` (``grpo``, ``rloo``, ``mc_grpo``, ``gigpo``, ``hgpo``).
        group_ids: episode group of each step.
        traj_ids: trajectory of each step.
        step_ids: order of the step within its trajectory.
        rewards: reward of each step.
        anchors: anchor of the state each step acted from (required by gigpo and hgpo).
        gamma: discount for step-level returns; None uses the estimator's
            published default (0.95 for gigpo/hgpo, else 1.0).
        **options: estimator options, e.g. ``mode``, ``stats``, ``omega``, ``history``, ``alpha``.

    Raises:
        UnknownNameError: for an unknown estimator.
        ConfigError: for mismatched columns, bad options or non-finite rewards.
    """
    if estimator not in ESTIMATORS:
        raise unknown("advantage estimator", estimator, ESTIMATORS)
    function = ESTIMATORS[estimator]
    _check_options(estimator, function, options)
    gamma = DEFAULT_GAMMA.get(estimator, 1.0) if gamma is None else float(gamma)
    if not 0.0 <= gamma <= 1.0:
        raise ConfigError(f"gamma must be in [0, 1], got {gamma}.")
    batch = make_batch(group_ids, traj_ids, step_ids, rewards, anchors)
    result = np.empty(len(batch.order))
    result[batch.order] = function(batch, gamma, **options)
    return result


def _check_options(name: str, function: Estimator, options: dict[str, Any]) -> None:
    allowed = [p for p in function.__code__.co_varnames[2 : function.__code__.co_argcount]]
    for key, value in options.items():
        if key not in allowed:
            raise ConfigError(f"Unknown option {key!r} for {name}.{suggest(key, allowed)} Options: {allowed}.")
        if key == "mode" and value not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {value!r}.{suggest(str(value), MODES)}")
        if key == "stats" and value not in STATS:
            raise ConfigError(f"stats must be one of {STATS}, got {value!r}.{suggest(str(value), STATS)}")


def make_batch(group_ids: Any, traj_ids: Any, step_ids: Any, rewards: Any, anchors: Any | None) -> StepBatch:
    """Validate the columns and sort rows by (trajectory, step); see :class:`StepBatch`."""
    columns = {"group_ids": group_ids, "traj_ids": traj_ids, "step_ids": step_ids, "rewards": rewards}
    if anchors is not None:
        columns["anchors"] = anchors
    arrays = {name: np.asarray(value) for name, value in columns.items()}
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1 or any(a.ndim != 1 for a in arrays.values()):
        raise ConfigError(f"All columns must be 1-D and of equal length, got lengths {lengths}.")
    reward = arrays["rewards"].astype(np.float64)
    if not np.isfinite(reward).all():
        raise ConfigError("rewards contain NaN or inf; check the env's reward and the shaping penalty.")
    group = factorize(arrays["group_ids"])
    traj = factorize(group, arrays["traj_ids"])
    order = np.lexsort((arrays["step_ids"], traj))
    traj_sorted = traj[order]
    first = np.flatnonzero(np.r_[True, traj_sorted[1:] != traj_sorted[:-1]])
    position = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
    traj_group = np.zeros(len(first), dtype=np.int64)
    traj_group[traj_sorted[first]] = group[order][first]
    codes = None if anchors is None else factorize(arrays["anchors"])[order]
    return StepBatch(order, group[order], traj_sorted, reward[order], codes, position, traj_group)


def step_group_sizes(group_ids: Any, anchors: Any) -> np.ndarray:
    """Return the size of every GiGPO step group (steps of one episode group with equal anchors)."""
    key = factorize(np.asarray(group_ids), np.asarray(anchors))
    return np.bincount(key)
