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


def _hgpo(rows, returns, episode, mode, history=2, alpha=1.0, omega=1.0, episode_term=True):
    trajs = _trajectories(rows)
    context = {}
    for idx in trajs.values():
        for t, i in enumerate(idx):
            context[i] = [rows[idx[t - j]]["anchor"] if t - j >= 0 else None for j in range(history + 1)]
    total = [0.0] * len(rows)
    weights = [0.0] * len(rows)
    for k in range(1, history + 2):
        keys = [(r["group"], tuple(context[i][:k])) for i, r in enumerate(rows)]
        adv = _normalize(returns, keys, mode)
        sizes = defaultdict(int)
        for key in keys:
            sizes[key] += 1
        for i, key in enumerate(keys):
            if sizes[key] > 1:
                total[i] += (k + 1) ** alpha * adv[i]
                weights[i] += (k + 1) ** alpha
    hier = [t / w if w > 0 else 0.0 for t, w in zip(total, weights, strict=True)]
    base = episode if episode_term else [0.0] * len(rows)
    return [b + omega * h for b, h in zip(base, hier, strict=True)]


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
