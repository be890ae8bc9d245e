"""Plain-Python reference implementations of the advantage estimators (loops, dicts, statistics module).

Written straight from the formulas in anchorgym.training.advantages' docstrings, to check the vectorised code.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

EPS = 1e-6


def _normalize(values, keys, mode, center="mean"):
    members = defaultdict(list)
    for i, key in enumerate(keys):
        members[key].append(i)
    out = [0.0] * len(values)
    for idx in members.values():
        if len(idx) < 2:
            continue
        xs = [values[i] for i in idx]
        mean = sum(xs) / len(xs)
        std = statistics.stdev(xs)
        for i in idx:
            if center == "median":
                base = statistics.median(xs)
            elif center == "loo":
                base = (sum(xs) - values[i]) / (len(xs) - 1)
            else:
                base = mean
            adv = values[i] - base
            out[i] = adv / (std + EPS) if mode == "mean_std_norm" else adv
    return out


def _trajectories(rows):
    """traj key -> list of row indices sorted by step."""
    trajs = defaultdict(list)
    for i, row in enumerate(rows):
        trajs[(row["group"], row["traj"])].append(i)
    for idx in trajs.values():
        idx.sort(key=lambda i: rows[i]["step"])
    return trajs


def _episode(rows, mode, stats, center="mean"):
    trajs = _trajectories(rows)
    ret = {key: sum(rows[i]["reward"] for i in idx) for key, idx in trajs.items()}
    out = [0.0] * len(rows)
    if stats == "trajectory":
        keys = list(trajs)
        adv = _normalize([ret[k] for k in keys], [k[0] for k in keys], mode, center)
        for key, a in zip(keys, adv, strict=True):
            for i in trajs[key]:
                out[i] = a
        return out
    values = [ret[(r["group"], r["traj"])] for r in rows]
    return _normalize(values, [r["group"] for r in rows], mode, center)


def _discounted(rows, gamma):
    out = [0.0] * len(rows)
    for idx in _trajectories(rows).values():
        running = 0.0
        for i in reversed(idx):
            running = rows[i]["reward"] + gamma * running
            out[i] = running
    return out


def reference(estimator, rows, gamma=1.0, mode="mean_std_norm", stats="trajectory", **opt):
    if estimator == "grpo":
        return _episode(rows, mode, stats)
    if estimator == "rloo":
        return _episode(rows, "mean_norm", stats, "loo")
    if estimator == "mc_grpo":
        return _episode(rows, mode, stats, "median")
    returns = _discounted(rows, gamma)
    episode = _episode(rows, mode, stats)
    if estimator == "gigpo":
        step = _normalize(returns, [(r["group"], r["anchor"]) for r in rows], mode)
        return [e + opt.get("omega", 1.0) * s for e, s in zip(episode, step, strict=True)]
    return _hgpo(rows, returns, episode, mode, **opt)


def _hgpo(
    rows,
    returns,
    episode,
    mode,
    history=2,
    alpha=1.0,
    omega=1.0,
    episode_term="none",
    levels="prefix",
    zero_levels="drop",
    ddof=0,
):
    """HGPO as its docstring reads: per step, the list of (weight, level advantage) items, then their mean."""
    trajs = _trajectories(rows)
    context = {}
    for idx in trajs.values():
        for t, i in enumerate(idx):
            context[i] = [rows[idx[t - j]]["anchor"] if t - j >= 0 else None for j in range(history + 1)]
    items = defaultdict(list)
    if episode_term == "level":
        for i in range(len(rows)):
            items[i].append((1.0, episode[i]))
    for k in range(1, history + 2):
        members = defaultdict(list)
        for i, r in enumerate(rows):
            if levels == "prefix" and None in context[i][:k]:
                continue
            members[(r["group"], tuple(context[i][:k]))].append(i)
        for idx in members.values():
            if len(idx) < 2:
                continue
            xs = [returns[i] for i in idx]
            mean = sum(xs) / len(xs)
            std = statistics.pstdev(xs) if ddof == 0 else statistics.stdev(xs)
            for i in idx:
                a = returns[i] - mean
                items[i].append(((k + 1) ** alpha, a / (std + EPS) if mode == "mean_std_norm" else a))
    hier = []
    for i in range(len(rows)):
        kept = [(w, a) for w, a in items[i] if zero_levels == "keep" or a != 0]
        hier.append(sum(w * a for w, a in kept) / (sum(w for w, _ in kept) + EPS) if kept else 0.0)
    if episode_term == "add":
        return [b + omega * h for b, h in zip(episode, hier, strict=True)]
    return [omega * h for h in hier]


def random_rows(rng, num_groups=5, max_group=5, max_len=7, num_anchors=4):
    rows = []
    traj_id = 0
    for g in range(num_groups):
        for _ in range(rng.randint(1, max_group)):
            for t in range(rng.randint(1, max_len)):
                reward = rng.choice([0.0, 0.0, 1.0, -0.1, rng.random()])
                anchor = f"s{rng.randint(0, num_anchors)}"
                rows.append({"group": g * 7, "traj": traj_id, "step": t * 3, "reward": reward, "anchor": anchor})
            traj_id += 1
    rng.shuffle(rows)
    return rows


assert math.isfinite(EPS)


# ------------------------------------------------------------------ verl-agent's reading, loop by loop
def _torch_like_normalize(values, keys, mode, singleton_mean_zero):
    """Group scores as verl-agent does: sample std; a one-row group gets mean 0 (episode) or its own value (step)."""
    members = defaultdict(list)
    for i, key in enumerate(keys):
        members[key].append(i)
    out = [0.0] * len(values)
    for idx in members.values():
        xs = [values[i] for i in idx]
        if len(xs) == 1:
            mean, std = (0.0 if singleton_mean_zero else xs[0]), 1.0
        else:
            mean, std = sum(xs) / len(xs), statistics.stdev(xs)
        for i in idx:
            out[i] = (values[i] - mean) / (std + EPS) if mode == "mean_std_norm" else values[i] - mean
    return out


def verl_agent(estimator, rows, gamma, mode, penalty, omega=1.0, **hgpo_options):
    """Advantages the way verl-agent's trainer produces them, with its invalid-action penalty.

    Each row's episode score is its trajectory's summed env reward less ``penalty`` if the row's
    action was invalid; its step score is the discounted env-reward return less the same amount.
    Episode statistics run over every row of the group (``compute_mean_std_cross_steps=True``).
    ``rows`` need ``valid`` besides the fields of :func:`random_rows`.
    """
    trajs = _trajectories(rows)
    total = {key: sum(rows[i]["reward"] for i in idx) for key, idx in trajs.items()}
    cut = [penalty * (not r["valid"]) for r in rows]
    scores = [total[(r["group"], r["traj"])] - c for r, c in zip(rows, cut, strict=True)]
    returns = [x - c for x, c in zip(_discounted(rows, gamma), cut, strict=True)]
    groups = [r["group"] for r in rows]
    episode = _torch_like_normalize(scores, groups, mode, singleton_mean_zero=True)
    if estimator == "grpo":
        return episode
    if estimator == "gigpo":
        keys = [(r["group"], r["anchor"]) for r in rows]
        step = _torch_like_normalize(returns, keys, mode, singleton_mean_zero=False)
        return [e + omega * s for e, s in zip(episode, step, strict=True)]
    return _hgpo(rows, returns, episode, mode, omega=omega, **hgpo_options)


def random_rows_with_validity(rng, **kwargs):
    """:func:`random_rows` with an action-validity flag per row (about one in four invalid)."""
    return [dict(r, valid=rng.random() > 0.25) for r in random_rows(rng, **kwargs)]
