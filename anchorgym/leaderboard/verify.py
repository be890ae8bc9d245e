"""Verification of a submission before it is stored.

A submission (``result.json`` + ``episodes.jsonl``) is accepted only when:

1. ``result.json`` matches the result schema and declares each seed once;
2. its benchmark id names a built-in benchmark (never a spec file on the server) whose current
   spec hash equals the declared one;
3. ``episodes.jsonl`` is byte-identical to the file the result describes (its SHA-256), and each
   record and step has every field the harness writes, with the right JSON type;
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
# The fields of an episode record and of each of its steps that verification, metrics, replay and the
# pages read, with the JSON types the harness writes ("a|b": either).
RECORD_FIELDS = {
    "seed": "integer",
    "task_index": "integer",
    "episode": "integer",
    "task_id": "string",
    "task_type": "string",
    "env_seed": "integer|null",
    "won": "boolean",
    "score": "number",
    "return": "number",
    "length": "integer",
    "invalid_actions": "integer",
    "parse_failures": "integer",
    "steps": "array",
}
OPTIONAL_RECORD_FIELDS = {"tokens_in": "integer|null", "tokens_out": "integer|null"}
STEP_FIELDS = {
    "observation": "string",
    "anchor": "string",
    "action": "string",
    "reward": "number",
    "terminated": "boolean",
    "truncated": "boolean",
    "action_valid": "boolean",
    "parsed": "boolean",
}


def parse_episodes(text: str) -> list[dict[str, Any]]:
    """Parse an episodes file: one JSON object per line, each with the fields the harness writes.

    Lines end at newline characters only, as when the stored file is read back: ``str.splitlines`` would
    also split at U+2028 and friends, which JSON strings written with ``ensure_ascii=False`` may hold.
    """
    episodes = []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last record
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise ResultError(f"episodes.jsonl line {number} is empty: submit the file 'anchorgym eval' wrote.")
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as error:
            raise ResultError(f"episodes.jsonl line {number} is not valid JSON: {str(error)[:200]}") from error
        if not isinstance(record, dict):
            raise ResultError(f"episodes.jsonl line {number} is not a JSON object.")
        _check_fields(record, RECORD_FIELDS, f"episodes.jsonl line {number}")
        _check_fields(record, OPTIONAL_RECORD_FIELDS, f"episodes.jsonl line {number}", required=False)
        for index, step in enumerate(record["steps"]):
            where = f"episodes.jsonl line {number}, step {index}"
            if not isinstance(step, dict):
                raise ResultError(f"{where} is not a JSON object.")
            _check_fields(step, STEP_FIELDS, where)
        episodes.append(record)
    return episodes


def _json_types(value: Any) -> set[str]:
    """The JSON Schema type names ``value`` satisfies (NaN and infinities satisfy none)."""
    if isinstance(value, bool):  # before int: bool is an int subclass in Python, not in JSON
        return {"boolean"}
    if isinstance(value, int):
        return {"integer", "number"}
    if isinstance(value, float):
        return {"number"} if math.isfinite(value) else set()
    kinds = {str: "string", list: "array", dict: "object", type(None): "null"}
    return {kinds[type(value)]} if type(value) in kinds else set()


def _check_fields(data: dict[str, Any], fields: dict[str, str], where: str, required: bool = True) -> None:
    """Raise ResultError unless each field is present (when ``required``) with its JSON type."""
    for name, expected in fields.items():
        if name not in data:
            if required:
                raise ResultError(f"{where} lacks the field {name!r}: submit the file 'anchorgym eval' wrote.")
            continue
        if not _json_types(data[name]) & set(expected.split("|")):
            shown = json.dumps(data[name])[:80]
            raise ResultError(f"{where}: {name!r} is {shown}; expected {expected.replace('|', ' or ')}.")


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
        key = (record["seed"], record["task_index"], record["episode"])
        if key in seen:
            raise ResultError(f"Duplicate episode (seed, task_index, episode) = {key}.")
        if key not in wanted:
            raise ResultError(f"Episode {key} is not part of the benchmark for the declared seeds {seeds}.")
        if record["task_id"] != tasks[key[1]]:
            raise ResultError(f"Episode {key} plays task {record['task_id']!r}; the spec's task is {tasks[key[1]]!r}.")
        seen.add(key)
    if seen != wanted:
        missing = sorted(wanted - seen)
        raise ResultError(f"{len(missing)} episodes are missing, e.g. (seed, task_index, episode) = {missing[0]}.")


def _check_summaries(episodes: list[dict[str, Any]]) -> None:
    for record in episodes:
        steps = record["steps"]
        derived = {
            "length": len(steps),
            "return": math.fsum(float(s["reward"]) for s in steps),
            "invalid_actions": sum(not s["action_valid"] for s in steps),
            "parse_failures": sum(not s["parsed"] for s in steps),
        }
        for name, value in derived.items():
            if abs(record[name] - value) > SUMMARY_TOLERANCE:
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
    seeds = result["seeds"]
    if len(set(seeds)) != len(seeds):
        raise ResultError(f"result.json declares seeds {seeds} with repeats: each seed is one pass, declare it once.")
    declared = result["benchmark"]
    if declared["id"].partition("#")[0].endswith(".json"):  # load_benchmark would read a file on the server
        raise ResultError(f"Unknown benchmark: {declared['id']!r} is a spec file; the leaderboard ranks built-in ids.")
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
