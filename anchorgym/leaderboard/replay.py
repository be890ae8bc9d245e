"""Replay verification: re-run each submitted episode's actions in the real environment.

For deterministic environments, an episode is fully determined by its task,
its env seed and its actions. Replaying checks, at every step, that the state
acted from has the recorded anchor and observation, and that the reward and
done flags match; at the end, that ``won`` and ``score`` match.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

# Envs whose episodes are a pure function of (task, seed, actions). Tool-QA only replays
# with an in-process index (a remote retrieval server may change under us).
REPLAYABLE_ENVS = {"anchorgym/Sokoban-v0", "anchorgym/ALFWorld-v0", "anchorgym/WebShop-v0", "anchorgym/ToolQA-v0"}
REWARD_TOLERANCE = 1e-9


def replayable(env_id: str, env_kwargs: dict[str, Any]) -> str | None:
    """Return why an env cannot be replay-verified, or None when it can."""
    if env_id not in REPLAYABLE_ENVS:
        return f"{env_id} is not deterministic enough to replay"
    if env_kwargs.get("retrieval_url"):
        return "episodes used a remote retrieval server"
    return None


def replay_episode(env: Any, record: dict[str, Any]) -> str | None:
    """Replay one episode on ``env``; return the first mismatch, or None when it matches."""
    where = f"seed {record['seed']}, task {record['task_id']!r}"
    observation, info = env.reset(seed=record.get("env_seed"), options={"task_id": record["task_id"]})
    for number, step in enumerate(record["steps"], start=1):
        if info["anchor"] != step["anchor"] or observation != step["observation"]:
            return f"{where}, step {number}: the state acted from differs from the recorded one"
        observation, reward, terminated, truncated, info = env.step(step["action"])
        if abs(reward - float(step["reward"])) > REWARD_TOLERANCE:
            return f"{where}, step {number}: reward {reward} but {step['reward']} was recorded"
        if (terminated, truncated) != (step["terminated"], step["truncated"]):
            return f"{where}, step {number}: done flags differ from the recorded ones"
    if bool(info["won"]) != bool(record["won"]) or not math.isclose(info["score"], float(record["score"])):
        return f"{where}: the replay ends with won={info['won']}, score={info['score']}, not the recorded outcome"
    return None


def replay_entry(result: dict[str, Any], episodes_file: Path) -> tuple[str, str]:
    """Replay every episode of an entry; return ``(status, detail)``.

    Status is ``verified``, ``failed`` (with the first mismatch) or ``not-replayable`` (with why).
    """
    from anchorgym.envs.registry import make
    from anchorgym.harness.specs import load_benchmark

    spec = load_benchmark(result["benchmark"]["id"])  # its hash was checked on submission
    reason = replayable(spec.env_id, spec.env_kwargs)
    if reason:
        return "not-replayable", reason
    env = make(spec.env_id, split=spec.split, max_steps=spec.max_steps, **spec.env_kwargs)
    count = 0
    try:
        with episodes_file.open(encoding="utf-8") as handle:
            for line in handle:
                mismatch = replay_episode(env, json.loads(line))
                if mismatch:
                    return "failed", mismatch
                count += 1
    finally:
        env.close()
    return "verified", f"{count} episodes replayed with identical anchors, observations, rewards and outcomes"
