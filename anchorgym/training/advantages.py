"""GRPO-family advantage estimators, vectorised over a flat batch of agent steps.

One row per agent step. Every estimator sees the same five columns:

* ``group_ids``: the episode group (all trajectories that started from one task and seed);
* ``traj_ids``: the trajectory the step belongs to;
* ``step_ids``: the step's position in its trajectory (only the order matters);
* ``rewards``: the step's reward ``r_t`` (with ``penalty_mode: reward`` the invalid-action penalty is folded in);
* ``anchors``: ``info["anchor"]`` of the state the step acted *from* (str digests or int codes);

and optionally ``penalties``: a per-row amount subtracted *after* returns, from that row's own
episode score and step return only (verl-agent's ``apply_invalid_action_penalty``).

Returns ``R(tau) = sum_t r_t`` are undiscounted at the episode level; step-level
estimators (GiGPO, HGPO) use the discounted return ``R_t = r_t + gamma * R_{t+1}``.
Group standard deviations are sample (``ddof=1``) deviations, as ``torch.std`` in
verl-agent's GRPO and GiGPO; HGPO's recipe uses the population deviation (``ddof=0``,
``torch.std(unbiased=False)``), its default here. A group of one member gets advantage 0.

Episode statistics, option ``stats``:

* ``"trajectory"`` (default): the group mean/std/median are taken over one value
  per trajectory, so every trajectory counts once.
* ``"step"``: taken over every step row (each row carries its trajectory's
  return), verl-agent's behaviour; long trajectories then weigh more in the
  baseline, which biases it towards the returns of long (often failed) episodes.
  Per-row ``penalties`` need ``"step"``: with them each row carries its own score.

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
HGPO_LEVELS = ("prefix", "start_marker")  # recipe: levels k <= t + 1 only; ours: pad with start markers
HGPO_ZERO = ("drop", "keep")  # recipe: a level whose advantage is exactly 0 leaves the weights; ours: kept
HGPO_EPISODE = ("none", "add", "level")  # recipe default none; base_group=True is level; ours was add
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
        penalty: amount subtracted from each sorted row's own scores after returns (0: none).
    """

    order: np.ndarray
    group: np.ndarray
    traj: np.ndarray
    rewards: np.ndarray
    anchors: np.ndarray | None
    position: np.ndarray
    traj_group: np.ndarray
    penalty: np.ndarray

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


def group_stats(x: np.ndarray, group: np.ndarray, ddof: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return per-row (count, mean, std) of ``x`` within each row's group (``ddof=1``: sample std)."""
    count = np.bincount(group)
    mean = np.bincount(group, x) / count
    sq = np.bincount(group, (x - mean[group]) ** 2)
    std = np.sqrt(sq / np.maximum(count - ddof, 1))
    return count[group], mean[group], std[group]


def group_median(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Return, per row, the median of ``x`` within the row's group (mean of the two middles if even)."""
    order = np.lexsort((x, group))
    count = np.bincount(group)
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    sorted_x = x[order]
    median = (sorted_x[start + (count - 1) // 2] + sorted_x[start + count // 2]) / 2
    return median[group]


def normalize(x: np.ndarray, group: np.ndarray, mode: str, center: str = "mean", ddof: int = 1) -> np.ndarray:
    """Group-relative advantage of ``x``: ``x - baseline`` (``mean_norm``) or divided by ``std + EPS``.

    ``center`` picks the baseline: ``"mean"`` (GRPO), ``"median"`` (MC-GRPO) or
    ``"loo"`` (RLOO, the mean of the *other* members). Singleton groups get 0.
    """
    count, mean, std = group_stats(x, group, ddof)
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


def step_returns(batch: StepBatch, gamma: float) -> np.ndarray:
    """The step-level score of each sorted row: ``R_t`` less the row's own penalty (verl-agent's order)."""
    return discounted_returns(batch, gamma) - batch.penalty


def episode_advantage(batch: StepBatch, mode: str, stats: str, center: str = "mean") -> np.ndarray:
    """Episode-level advantage per sorted row, statistics per trajectory or per step (see module docs).

    With ``stats="step"`` each row's score is ``R(tau) - penalty_row``, as verl-agent's
    ``episode_norm_reward`` reads it from the row's penalised reward tensor.
    """
    returns = episode_returns(batch)
    if stats == "trajectory":
        if batch.penalty.any():
            raise ConfigError(
                "Per-row invalid-action penalties (invalid_action_penalty_mode: row, verl-agent's way) give each "
                "row its own score: set estimator_options stats: step, or use invalid_action_penalty_mode: reward."
            )
        return normalize(returns, batch.traj_group, mode, center)[batch.traj]
    return normalize(returns[batch.traj] - batch.penalty, batch.group, mode, center)


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
    step_advantage = normalize(step_returns(batch, gamma), step_group, mode)
    return episode_advantage(batch, mode, stats) + omega * step_advantage


def hgpo(
    batch: StepBatch,
    gamma: float,
    mode: str = "mean_std_norm",
    stats: str = "trajectory",
    history: int = 2,
    alpha: float = 1.0,
    omega: float = 1.0,
    episode: str = "none",
    levels: str = "prefix",
    zero_levels: str = "drop",
    ddof: int = 0,
) -> np.ndarray:
    """HGPO (He et al. 2026, arXiv 2602.22817): hierarchy-of-groups step advantages.

    Level ``k = 1..K+1`` (``K = history``, the prompt's ``history_length`` in the
    authors' recipe) groups the steps of one episode group whose last ``k`` anchors
    match. ``A_k`` normalises ``R_t`` within that group (std with ``ddof``), and::

        A^H = sum_k w_k A_k / (sum_k w_k + 1e-6),   w_k = (k+1)^alpha over the levels kept

    A level is kept when its group has two or more members and, with
    ``zero_levels="drop"``, when ``A_k != 0``. The defaults are the authors' recipe
    (verl-agent ``recipe/hgpo``): ``levels="prefix"`` (a step at position ``t`` has
    levels ``k <= t + 1`` only), ``zero_levels="drop"``, ``ddof=0`` and
    ``episode="none"`` (``A = omega A^H``). ``episode="level"`` (the recipe's
    ``base_group=True``) adds the episode advantage as level 0 with weight 1;
    ``episode="add"`` gives ``A = A^E + omega A^H``. ``levels="start_marker"``
    pads the missing history before step 0 with a start marker instead.
    """
    _check_hgpo(history, episode, levels, zero_levels, ddof)
    returns = step_returns(batch, gamma)
    anchors = _require_anchors(batch, "hgpo")
    total, weights = np.zeros(len(returns)), np.zeros(len(returns))
    base = episode_advantage(batch, mode, stats) if episode != "none" else np.zeros(len(returns))
    if episode == "level":
        _add_level(total, weights, base, np.ones(len(returns), dtype=bool), 1.0, zero_levels)
    key = batch.group
    for k in range(1, history + 2):
        # dense codes times (anchor codes + start marker): one hash pass per level, not three
        key = _codes(key * (int(anchors.max(initial=0)) + 2) + _lagged(anchors, batch.position, k - 1) + 1)
        rows = batch.position >= k - 1 if levels == "prefix" else np.ones(len(returns), dtype=bool)
        value, present = _level(returns, key, rows, mode, ddof)
        _add_level(total, weights, value, present, (k + 1.0) ** alpha, zero_levels)
    hierarchical = np.divide(total, weights + EPS, out=np.zeros_like(total), where=weights > 0)
    if episode == "add":
        return base + omega * hierarchical
    return omega * hierarchical


def _level(
    returns: np.ndarray, key: np.ndarray, rows: np.ndarray, mode: str, ddof: int
) -> tuple[np.ndarray, np.ndarray]:
    """One HGPO level: ``A_k`` per row and whether the row's group there has two or more members.

    Only ``rows`` take part (the others get 0 and are absent). ``key`` codes are dense over all rows,
    so a code no member of ``rows`` holds has count 0; its NaN statistics are never read.
    """
    if rows.all():
        return normalize(returns, key, mode, ddof=ddof), np.bincount(key)[key] > 1
    sub = key[rows]
    value, present = np.zeros(len(returns)), np.zeros(len(returns), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        value[rows] = normalize(returns[rows], sub, mode, ddof=ddof)
    present[rows] = np.bincount(sub)[sub] > 1
    return value, present


def _add_level(
    total: np.ndarray, weights: np.ndarray, value: np.ndarray, present: np.ndarray, weight: float, zero_levels: str
) -> None:
    """Add one HGPO level's weighted advantage where the level is kept (see :func:`hgpo`)."""
    kept = present & (value != 0) if zero_levels == "drop" else present
    total += np.where(kept, weight * value, 0.0)
    weights += np.where(kept, weight, 0.0)


def _check_hgpo(history: int, episode: str, levels: str, zero_levels: str, ddof: int) -> None:
    if history < 0:
        raise ConfigError(f"hgpo history must be >= 0, got {history}.")
    for name, value, allowed in (
        ("episode", episode, HGPO_EPISODE),
        ("levels", levels, HGPO_LEVELS),
        ("zero_levels", zero_levels, HGPO_ZERO),
    ):
        if value not in allowed:
            raise ConfigError(f"hgpo {name} must be one of {allowed}, got {value!r}.{suggest(str(value), allowed)}")
    if ddof not in (0, 1):
        raise ConfigError(f"hgpo ddof must be 0 (population std, the recipe's) or 1 (sample std), got {ddof!r}.")


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
    penalties: Sequence[float] | np.ndarray | None = None,
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
        penalties: per-row amounts subtracted after returns from the row's own episode
            score and step return (verl-agent's invalid-action penalty); None: none.
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
    batch = make_batch(group_ids, traj_ids, step_ids, rewards, anchors, penalties)
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


def make_batch(
    group_ids: Any, traj_ids: Any, step_ids: Any, rewards: Any, anchors: Any | None, penalties: Any | None = None
) -> StepBatch:
    """Validate the columns and sort rows by (trajectory, step); see :class:`StepBatch`."""
    columns = {"group_ids": group_ids, "traj_ids": traj_ids, "step_ids": step_ids, "rewards": rewards}
    if anchors is not None:
        columns["anchors"] = anchors
    if penalties is not None:
        columns["penalties"] = penalties
    arrays = {name: np.asarray(value) for name, value in columns.items()}
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1 or any(a.ndim != 1 for a in arrays.values()):
        raise ConfigError(f"All columns must be 1-D and of equal length, got lengths {lengths}.")
    reward = arrays["rewards"].astype(np.float64)
    penalty = arrays["penalties"].astype(np.float64) if penalties is not None else np.zeros(len(reward))
    if not (np.isfinite(reward).all() and np.isfinite(penalty).all()):
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
    return StepBatch(order, group[order], traj_sorted, reward[order], codes, position, traj_group, penalty[order])


def step_group_sizes(group_ids: Any, anchors: Any) -> np.ndarray:
    """Return the size of every GiGPO step group (steps of one episode group with equal anchors)."""
    key = factorize(np.asarray(group_ids), np.asarray(anchors))
    return np.bincount(key)
