"""Verification of a submission before it is stored.

A submission (``result.json`` + ``episodes.jsonl``) is accepted only when:

1. ``result.json`` matches the result schema;
2. its benchmark id names a known benchmark whose current spec hash equals the declared one;
3. ``episodes.jsonl`` is byte-identical to the file the result describes (its SHA-256);
4. the episodes cover exactly the spec's tasks x episodes-per-task for each declared seed, with no
   extra, missing or duplicate episode, and each record's task id is the spec's task at that index;
5. each episode's summary fields (length, return, invalid actions, parse failures) match its steps;
6. the metrics recomputed from the episodes equal the declared metrics.

Each failure raises :class:`~anchorgym.errors.ResultError` with the precise reason.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from anchorgym.errors import AnchorGymError, ResultError

SUMMARY_TOLERANCE = 1e-9


def parse_episodes(text: str) -> list[dict[str, Any]]:
    """Parse an episodes file; every non-empty line must be a JSON object."""
    episodes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ResultError(f"episodes.jsonl line {number} is not valid JSON: {error}") from error
        if not isinstance(record, dict):
            raise ResultError(f"episodes.jsonl line {number} is not a JSON object.")
        episodes.append(record)
    return episodes


def expected_tasks(spec: Any) -> list[str]:
    """Return the spec's exact task list (making the env only when the spec names a range)."""
    if isinstance(spec.tasks, list):
        return [str(task) for task in spec.tasks]
    from anchorgym.envs.registry import make

    env = make(spec.env_id, split=spec.split, **spec.env_kwargs)
    try:
        return spec.resolve_tasks([str(t) for t in env.task_ids()])
    finally:
        env.close()


def _check_coverage(episodes: list[dict[str, Any]], tasks: list[str], seeds: list[int], per_task: int) -> None:
    wanted = {(s, t, e) for s in seeds for t in range(len(tasks)) for e in range(per_task)}
    seen: set[tuple[int, int, int]] = set()
    for record in episodes:
        try:
            key = (int(record["seed"]), int(record["task_index"]), int(record["episode"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ResultError(f"An episode record lacks a valid seed/task_index/episode ({error}).") from error
        if key in seen:
            raise ResultError(f"Duplicate episode (seed, task_index, episode) = {key}.")
        if key not in wanted:
            raise ResultError(f"Episode {key} is not part of the benchmark for the declared seeds {seeds}.")
        if str(record.get("task_id")) != tasks[key[1]]:
            task = record.get("task_id")
            raise ResultError(f"Episode {key} plays task {task!r}; the spec's task is {tasks[key[1]]!r}.")
        seen.add(key)
    if seen != wanted:
        missing = sorted(wanted - seen)
        raise ResultError(f"{len(missing)} episodes are missing, e.g. (seed, task_index, episode) = {missing[0]}.")


def _check_summaries(episodes: list[dict[str, Any]]) -> None:
    for record in episodes:
        steps = record.get("steps")
        if not isinstance(steps, list):
            raise ResultError(f"Episode of task {record.get('task_id')!r} has no steps list.")
        derived = {
            "length": len(steps),
            "return": math.fsum(float(s["reward"]) for s in steps),
            "invalid_actions": sum(not s["action_valid"] for s in steps),
            "parse_failures": sum(not s["parsed"] for s in steps),
        }
        for name, value in derived.items():
            if abs(float(record.get(name, math.nan)) - value) > SUMMARY_TOLERANCE:
                raise ResultError(
                    f"Episode (seed {record['seed']}, task {record['task_id']!r}) declares {name}={record.get(name)} "
                    f"but its steps give {value}."
                )


def _check_metrics(result: dict[str, Any], episodes: list[dict[str, Any]]) -> None:
    from anchorgym.harness.metrics import summarize

    recomputed = json.loads(json.dumps(summarize(episodes)))
    declared = result.get("metrics", {})
    for name in sorted(set(recomputed) | set(declared)):
        if recomputed.get(name) != declared.get(name):
            raise ResultError(
                f"Declared metric {name!r} = {declared.get(name)} differs from the value recomputed from the "
                f"episodes: {recomputed.get(name)}."
            )


def verify_submission(result: dict[str, Any], episodes_text: str) -> dict[str, Any]:
    """Verify a submission; return the columns of its leaderboard entry.

    Raises:
        ResultError: the precise reason the submission is rejected.
    """
    from anchorgym.harness.results import validate_result
    from anchorgym.harness.specs import load_benchmark

    validate_result(result, "result.json")
    declared = result["benchmark"]
    try:
        spec = load_benchmark(declared["id"])
    except AnchorGymError as error:
        raise ResultError(f"Unknown benchmark: {error}") from error
    if spec.content_hash() != declared["spec_hash"]:
        raise ResultError(
            f"Spec hash {declared['spec_hash']} does not match benchmark {spec.id} ({spec.content_hash()}): "
            "re-run the evaluation with this anchorgym version's spec."
        )
    sha = "sha256:" + hashlib.sha256(episodes_text.encode("utf-8")).hexdigest()
    if sha != result.get("files", {}).get("episodes_sha256"):
        raise ResultError("episodes.jsonl is not the file result.json describes (SHA-256 differs).")
    episodes = parse_episodes(episodes_text)
    seeds = [int(s) for s in result["seeds"]]
    _check_coverage(episodes, expected_tasks(spec), seeds, spec.episodes_per_task)
    _check_summaries(episodes)
    _check_metrics(result, episodes)
    return _entry_columns(result, spec.id, declared["spec_hash"], seeds)


def _entry_columns(result: dict[str, Any], benchmark: str, spec_hash: str, seeds: list[int]) -> dict[str, Any]:
    success = result["metrics"]["success_rate"]
    interval = success.get("ci95") or [success["mean"], success["mean"]]
    interval = [min(max(bound, 0.0), 1.0) for bound in interval]  # a rate's t-interval is shown within [0, 1]
    return {
        "benchmark": benchmark,
        "spec_hash": spec_hash,
        "policy": str(result["policy"].get("spec") or result["policy"].get("class", "?"))[:500],
        "success": float(success["mean"]),
        "success_low": float(interval[0]),
        "success_high": float(interval[1]),
        "score": float(result["metrics"]["score"]["mean"]),
        "seeds": ",".join(str(s) for s in seeds),
    }
