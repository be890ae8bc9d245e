"""Re-run verification: the operator re-evaluates a random sample of an entry's (task, seed) pairs.

Replay proves the recorded actions produce the recorded outcomes; it cannot tell which policy chose the
actions. A re-run plays the sampled pairs again through :func:`anchorgym.harness.evaluate` with the policy
the entry names, which catches episodes copied between seeds and mislabelled policies:

* ``exact``: the ``random`` policy (its whole pass of each sampled seed is played with the submission's
  batch size, so its per-batch reseeding repeats, and every episode of those passes is compared), the
  ``expert`` and greedy model policies (temperature 0, only the sampled tasks) must reproduce each
  compared episode's actions, success and score;
* ``distribution``: sampling model policies must not win the sampled pairs more often than the re-run
  beyond chance (one-sided two-proportion z-test at 1%).

Only ``expert``, ``random`` and the model policy specs the operator allows are run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from anchorgym.errors import ConfigError
from anchorgym.leaderboard.storage import Entry, audit, episodes_path

ALWAYS_ALLOWED = ("expert", "random")
Z_CRITICAL = 2.326  # one-sided 1% point of the standard normal
Key = tuple[int, str, int]  # (seed, task_id, episode)


def _outcomes(path: Path) -> dict[Key, dict[str, Any]]:
    """Each episode's actions, success and score, keyed by (seed, task_id, episode)."""
    found = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            key = (record["seed"], record["task_id"], record["episode"])
            found[key] = {
                "actions": [s["action"] for s in record["steps"]],
                "won": bool(record["won"]),
                "score": float(record["score"]),
            }
    return found


def _mode(policy: dict[str, Any]) -> str:
    generation = policy.get("generation") or {}
    if policy.get("spec") == "random":
        return "exact-pass"
    if policy.get("spec") == "expert" or generation.get("temperature") == 0:
        return "exact"
    return "distribution"


def _play(spec: Any, policy: dict[str, Any], seed: int, tasks: list[str] | None, batch_size: int, out: Path) -> dict:
    from anchorgym.harness import evaluate
    from anchorgym.policies.base import GenerationConfig

    if tasks is not None:  # only the sampled tasks: the policy's choices do not depend on the batch
        spec = dataclasses.replace(spec, tasks=tasks, raw={**spec.raw, "tasks": tasks})
    generation = policy.get("generation")
    evaluate(
        spec,
        policy["spec"],
        seeds=[seed],
        out=out,
        progress=False,
        batch_size=batch_size if tasks is None else None,
        generation=GenerationConfig(**generation) if isinstance(generation, dict) else None,
    )
    return _outcomes(out / "episodes.jsonl")


def _compare(mode: str, submitted: dict[Key, dict], replayed: dict[Key, dict], keys: list[Key]) -> tuple[str, str]:
    if mode != "distribution":
        differ = [k for k in keys if submitted[k] != replayed[k]]
        if differ:
            seed, task, episode = differ[0]
            return "flagged", (
                f"{len(differ)} of {len(keys)} re-run episodes differ from the submitted ones, e.g. seed {seed}, "
                f"task {task!r}: the policy named does not reproduce them"
            )
        return "verified", f"{len(keys)} sampled episodes re-run with identical actions and outcomes"
    n = len(keys)
    p_submitted = sum(submitted[k]["won"] for k in keys) / n
    p_rerun = sum(replayed[k]["won"] for k in keys) / n
    pooled = (p_submitted + p_rerun) / 2
    z = 0.0 if pooled in (0.0, 1.0) else (p_submitted - p_rerun) / math.sqrt(2 * pooled * (1 - pooled) / n)
    detail = f"sampled success {p_submitted:.3f} submitted vs {p_rerun:.3f} re-run over {n} episodes (z = {z:.2f})"
    return ("flagged" if z > Z_CRITICAL else "verified"), detail


def rerun_entry(
    sessions: sessionmaker[Session],
    storage: str | Path,
    entry_id: int,
    sample: int,
    allowed: list[str] | tuple[str, ...] = (),
    seed: int | None = None,
) -> tuple[str, str]:
    """Re-run ``sample`` (task, seed) pairs of entry ``entry_id``; record and return ``(status, detail)``.

    Raises:
        ConfigError: no such entry, a sample below 1, or a policy the operator does not allow.
    """
    from anchorgym.harness.specs import load_benchmark

    with sessions() as session:
        entry = session.get(Entry, entry_id)
    if entry is None:
        raise ConfigError(f"No entry {entry_id} in this leaderboard.")
    if sample < 1:
        raise ConfigError(f"--sample must be at least 1, got {sample}.")
    result = json.loads(entry.result_json)
    policy = result["policy"]
    if policy.get("spec") not in (*ALWAYS_ALLOWED, *allowed):
        raise ConfigError(
            f"Entry {entry_id} names policy {policy.get('spec')!r}, which this server does not run: "
            f"pass --allow-policy {policy.get('spec')} to re-run it (expert and random are always allowed)."
        )
    spec, submitted = load_benchmark(result["benchmark"]["id"]), _outcomes(episodes_path(Path(storage), entry_id))
    pairs = sorted({(s, t) for s, t, _ in submitted})
    chosen = random.Random(seed).sample(pairs, min(sample, len(pairs)))
    replayed, mode = {}, _mode(policy)
    if mode == "exact-pass":  # whole passes are played anyway: every episode of their seeds is compared
        keys = sorted(k for k in submitted if k[0] in {s for s, _ in chosen})
    else:
        keys = sorted(k for k in submitted if (k[0], k[1]) in set(chosen))
    with tempfile.TemporaryDirectory(prefix="anchorgym-rerun-") as folder:
        for number, run_seed in enumerate(sorted({s for s, _ in chosen})):
            tasks = None if mode == "exact-pass" else sorted({t for s, t in chosen if s == run_seed})
            out = Path(folder) / str(number)
            replayed.update(_play(spec, policy, run_seed, tasks, int(result["run"]["batch_size"]), out))
    status, detail = _compare(mode, submitted, replayed, keys)
    with sessions.begin() as session:
        row = session.get(Entry, entry_id)
        row.rerun_status, row.rerun_detail = status, detail
        audit(session, "admin", f"rerun-{status}", entry_id, detail)
    return status, detail
