"""Verification of a submission before it is stored, bounded at every step.

A submission (``result.json`` + ``episodes.jsonl``) is accepted only when, checked in this order
(so nothing proportional to a declared count is built before the count is bounded):

1. ``result.json`` is at most :attr:`Limits.max_result_bytes`, valid JSON with only finite, in-range
   numbers and bounded strings; it declares at most :attr:`Limits.max_seeds` seeds, each once;
2. its benchmark id names a built-in benchmark (never a spec file on the server), the declared seeds are
   that spec's seeds, the result matches the result schema and its spec hash is the spec's;
3. the benchmark has at most :attr:`Limits.max_episodes` episodes and the server holds the data to list
   its tasks;
4. ``episodes.jsonl``, read line by line (each line bounded), holds exactly one record per
   ``(seed, task, episode)`` of the spec, each with every field the harness writes and its JSON type, the
   env seed the harness derives from the spec seed, 1 to ``max_steps`` steps numbered in order, no step
   after the episode ended and a last step that ends it, no env error, and summary fields (length,
   return, invalid actions, parse failures, done flags, token totals) that agree with its steps;
5. its SHA-256 is the one ``result.json`` declares, and the metrics recomputed from the episodes equal
   the declared metrics.

Each failure raises :class:`~anchorgym.errors.ResultError` with the precise reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from anchorgym.errors import AnchorGymError, ResultError
from anchorgym.harness.plan import derive_seed
from anchorgym.leaderboard.limits import Limits, strict_loads

SUMMARY_TOLERANCE = 1e-9
MAX_BATCH_SIZE = 1024  # episodes a re-run plays at once: far above the harness default (16), bounded memory
GENERATION_BOUNDS = {"temperature": (0.0, 10.0), "top_p": (1e-9, 1.0), "max_new_tokens": (1, 32768), "seed": (0, 2**53)}
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
OPTIONAL_RECORD_FIELDS = {
    "tokens_in": "integer|null",
    "tokens_out": "integer|null",
    "instruction": "string",
    "final_observation": "string",
    "terminated": "boolean",
    "truncated": "boolean",
    "error": "string|null",
    "metrics": "object",
    "spec_hash": "string",
}
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
OPTIONAL_STEP_FIELDS = {"step": "integer", "text": "string", "tokens_in": "integer|null", "tokens_out": "integer|null"}
SELF_REPORTED = frozenset({"tokens_in", "tokens_out"})  # left out of a record's canonical form
SUMMARY_KEYS = (
    "seed", "task_index", "episode", "task_type", "won", "score", "length", "return", "invalid_actions",
    "parse_failures", "tokens_in", "tokens_out", "metrics",
)  # fmt: skip
"""The record fields the metrics read; only these are kept in memory once a line is checked."""


@dataclass(frozen=True)
class Plan:
    """What a submission must cover: the spec, its exact task list and its seeds."""

    spec: Any
    tasks: list[str]
    seeds: list[int]

    @property
    def size(self) -> int:
        """Number of episodes the benchmark has."""
        return len(self.tasks) * len(self.seeds) * self.spec.episodes_per_task


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


def parse_record(line: bytes | str, number: int, limits: Limits) -> dict[str, Any]:
    """Parse and type-check one line of ``episodes.jsonl`` (``number`` counts from 1)."""
    if not line.strip():
        raise ResultError(f"episodes.jsonl line {number} is empty: submit the file 'anchorgym eval' wrote.")
    try:
        record = strict_loads(line, limits, f"episodes.jsonl line {number}")
    except (ValueError, RecursionError) as error:
        raise ResultError(f"episodes.jsonl line {number} is not valid JSON: {str(error)[:200]}") from error
    if not isinstance(record, dict):
        raise ResultError(f"episodes.jsonl line {number} is not a JSON object.")
    where = f"episodes.jsonl line {number}"
    _check_fields(record, RECORD_FIELDS, where)
    _check_fields(record, OPTIONAL_RECORD_FIELDS, where, required=False)
    _refuse_unknown(record, RECORD_FIELDS.keys() | OPTIONAL_RECORD_FIELDS.keys(), where)
    for index, step in enumerate(record["steps"]):
        if not isinstance(step, dict):
            raise ResultError(f"{where}, step {index} is not a JSON object.")
        _check_fields(step, STEP_FIELDS, f"{where}, step {index}")
        _check_fields(step, OPTIONAL_STEP_FIELDS, f"{where}, step {index}", required=False)
        _refuse_unknown(step, STEP_FIELDS.keys() | OPTIONAL_STEP_FIELDS.keys(), f"{where}, step {index}")
    return record


def _refuse_unknown(data: dict[str, Any], known: set[str], where: str) -> None:
    """Raise ResultError for a key the harness never writes (padding would make a copy look new)."""
    extra = sorted(set(data) - known)
    if extra:
        raise ResultError(
            f"{where} holds the unknown field {extra[0][:80]!r}: submit the file 'anchorgym eval' wrote, unchanged."
        )


def canonical_digest(record: dict[str, Any]) -> bytes:
    """SHA-256 of a record's canonical form: keys sorted, no spaces, numbers as Python writes them.

    Two files that differ only in line order, whitespace, key order, number spelling (``1`` or ``1.0``
    aside) or self-reported token counts give the same canonical records.
    """
    # token counts are the submitter's word (never recomputed): a copy with other counts is the same run
    kept = {key: value for key, value in record.items() if key not in SELF_REPORTED}
    kept["steps"] = [{k: v for k, v in step.items() if k not in SELF_REPORTED} for step in record["steps"]]
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).digest()


def parse_episodes(text: str, limits: Limits | None = None) -> list[dict[str, Any]]:
    r"""Parse an episodes file: one JSON object per ``\n``-ended line, each with the fields the harness writes.

    Only ``\n`` ends a line: the harness writes JSON with ``ensure_ascii=False``, so strings may hold raw
    U+2028 or U+0085, which ``str.splitlines`` would split on.
    """
    limits = limits or Limits()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [parse_record(line, number, limits) for number, line in enumerate(lines, start=1)]


def _episode_where(record: dict[str, Any]) -> str:
    return f"Episode (seed {record['seed']}, task {record['task_id']!r}, episode {record['episode']})"


def check_steps(record: dict[str, Any], max_steps: int) -> None:
    """Check an episode's steps against the spec: 1 to ``max_steps`` of them, in order, ended by the last."""
    where, steps = _episode_where(record), record["steps"]
    if record.get("error"):
        raise ResultError(
            f"{where} ended with an env error ({str(record['error'])[:200]}): errored episodes cannot be ranked; "
            "play them again with 'anchorgym eval ... --resume --retry-errored'."
        )
    if not 1 <= len(steps) <= max_steps:
        raise ResultError(f"{where} has {len(steps)} steps; the benchmark allows 1 to {max_steps} (its max_steps).")
    for index, step in enumerate(steps):
        if step.get("step", index) != index:
            raise ResultError(f"{where}: step {index} is numbered {step['step']}.")
        ended = step["terminated"] or step["truncated"]
        if ended and index < len(steps) - 1:
            raise ResultError(f"{where} continues after step {index + 1} ended it (terminated or truncated).")
    if not (steps[-1]["terminated"] or steps[-1]["truncated"]):
        raise ResultError(f"{where} stops at step {len(steps)} before the episode ended (neither flag is set).")


def _check_summary(record: dict[str, Any]) -> None:
    steps = record["steps"]
    derived: dict[str, Any] = {
        "length": len(steps),
        "return": math.fsum(float(s["reward"]) for s in steps),
        "invalid_actions": sum(not s["action_valid"] for s in steps),
        "parse_failures": sum(not s["parsed"] for s in steps),
        "terminated": steps[-1]["terminated"],
        "truncated": steps[-1]["truncated"],
    }
    if all(s.get("tokens_in") is not None for s in steps):
        derived["tokens_in"] = sum(s["tokens_in"] for s in steps)
        derived["tokens_out"] = sum(s.get("tokens_out") or 0 for s in steps)
    for name, value in derived.items():
        if name in record and record[name] is not None and abs(record[name] - value) > SUMMARY_TOLERANCE:
            raise ResultError(f"{_episode_where(record)} declares {name}={record[name]} but its steps give {value}.")


def check_record(record: dict[str, Any], plan: Plan, seen: set[tuple[int, int, int]]) -> None:
    """Check one parsed record against the plan (adds its key to ``seen``)."""
    key = (record["seed"], record["task_index"], record["episode"])
    if key in seen:
        raise ResultError(f"Duplicate episode (seed, task_index, episode) = {key}.")
    in_plan = key[0] in plan.seeds and 0 <= key[1] < len(plan.tasks) and 0 <= key[2] < plan.spec.episodes_per_task
    if not in_plan:
        raise ResultError(f"Episode {key} is not part of the benchmark for the declared seeds {plan.seeds}.")
    if record["task_id"] != plan.tasks[key[1]]:
        raise ResultError(f"Episode {key} plays task {record['task_id']!r}; the spec's task is {plan.tasks[key[1]]!r}.")
    derived = derive_seed(key[0], record["task_id"], key[2])
    if record["env_seed"] != derived:
        raise ResultError(
            f"Episode {key} was played with env seed {record['env_seed']}; the harness derives {derived} "
            "from the spec seed: submit the files 'anchorgym eval' wrote."
        )
    check_steps(record, plan.spec.max_steps)
    _check_summary(record)
    _check_extra_metrics(record, plan.spec.extra_metrics, key)
    seen.add(key)


def _check_extra_metrics(record: dict[str, Any], names: tuple[str, ...], key: tuple[int, int, int]) -> None:
    """The record's ``metrics`` must hold exactly the spec's ``metrics.extra`` names, each a finite number."""
    metrics = record.get("metrics")
    if not names and metrics is None:
        return
    if not isinstance(metrics, dict) or sorted(metrics) != sorted(names):
        got = sorted(metrics) if isinstance(metrics, dict) else metrics
        raise ResultError(f"Episode {key} records metrics {got}; the spec reports {sorted(names)}.")
    for name, value in metrics.items():
        if "number" not in _json_types(value):
            raise ResultError(f"Episode {key}: metric {name!r} is {json.dumps(value)[:80]}; expected a finite number.")


def check_episode_lines(
    lines: Iterable[bytes], plan: Plan, limits: Limits, sink: Callable[[bytes], None] | None = None
) -> tuple[list[dict[str, Any]], str, str]:
    """Check every line of ``episodes.jsonl``; return the records' summaries, the file's and the canonical digest.

    The canonical digest hashes each record's canonical form (:func:`canonical_digest`) in plan order
    (:func:`plan_order`), so a reordered or reformatted copy of a run has the run's canonical digest.

    Args:
        lines: the file's lines, each at most ``limits.max_line_bytes + 1`` bytes long (a longer one is refused).
        plan: what the file must cover.
        limits: the bounds.
        sink: called with each line's bytes (to store the file while it is read).
    """
    digest, seen, summaries, canonical = hashlib.sha256(), set(), [], {}
    for number, line in enumerate(lines, start=1):
        digest.update(line)
        if sink is not None:
            sink(line)
        if len(line) > limits.max_line_bytes or not line.endswith(b"\n"):
            if len(line) > limits.max_line_bytes:
                raise ResultError(f"episodes.jsonl line {number} exceeds {limits.max_line_bytes} bytes.")
            raise ResultError(f"episodes.jsonl line {number} does not end with a newline: it was cut off.")
        if number > plan.size:
            raise ResultError(f"episodes.jsonl holds more than the benchmark's {plan.size} episodes.")
        record = parse_record(line[:-1], number, limits)
        check_record(record, plan, seen)
        canonical[(record["seed"], record["task_index"], record["episode"])] = canonical_digest(record)
        summaries.append({key: record.get(key) for key in SUMMARY_KEYS})
    if len(seen) != plan.size:
        wanted = (
            (s, t, e) for s in plan.seeds for t in range(len(plan.tasks)) for e in range(plan.spec.episodes_per_task)
        )
        first = next(key for key in wanted if key not in seen)
        raise ResultError(f"{plan.size - len(seen)} episodes are missing, e.g. (seed, task_index, episode) = {first}.")
    whole = hashlib.sha256()
    for key in plan_order(plan):  # the harness appends episodes as they finish: the plan fixes their order
        whole.update(canonical[key])
    return summaries, "sha256:" + digest.hexdigest(), "sha256:" + whole.hexdigest()


def plan_order(plan: Plan) -> Iterator[tuple[int, int, int]]:
    """Every (seed, task_index, episode) of the plan, in the order the harness plans them."""
    for seed in plan.seeds:
        for task in range(len(plan.tasks)):
            for episode in range(plan.spec.episodes_per_task):
                yield seed, task, episode


@lru_cache(maxsize=64)
def _tasks_of(benchmark_id: str, spec_hash: str) -> tuple[str, ...]:
    from anchorgym.envs.registry import make
    from anchorgym.harness.specs import load_benchmark

    spec = load_benchmark(benchmark_id)
    if isinstance(spec.tasks, list):
        return tuple(str(task) for task in spec.tasks)
    env = make(spec.env_id, split=spec.split, **spec.env_kwargs)
    try:
        return tuple(spec.resolve_tasks([str(t) for t in env.task_ids()]))
    finally:
        env.close()


def expected_tasks(spec: Any) -> list[str]:
    """Return the spec's exact task list (making the env only when the spec names a range; cached).

    Raises:
        ResultError: the server lacks the env's data or extra to list the tasks.
    """
    try:
        return list(_tasks_of(spec.id, spec.content_hash()))
    except AnchorGymError as error:
        raise ResultError(
            f"This server cannot check benchmark {spec.id}: {error} (the operator must install it first)."
        ) from error


def _declared_count(spec: Any) -> int:
    tasks = len(spec.tasks) if isinstance(spec.tasks, list) else spec.tasks["range"][1] - spec.tasks["range"][0]
    return tasks * spec.episodes_per_task * len(spec.seeds)


def _check_seeds(result: dict[str, Any], limits: Limits) -> list[int]:
    seeds = result.get("seeds")
    if not isinstance(seeds, list) or not all(_json_types(s) == {"integer", "number"} for s in seeds):
        raise ResultError("result.json: 'seeds' must be a list of integers: submit the file 'anchorgym eval' wrote.")
    if len(seeds) > limits.max_seeds:
        raise ResultError(f"result.json declares {len(seeds)} seeds; the limit is {limits.max_seeds}.")
    if len(set(seeds)) != len(seeds):
        raise ResultError(f"result.json declares seeds {seeds} with repeats: each seed is one pass, declare it once.")
    return seeds


def _load_spec(result: dict[str, Any]) -> Any:
    from anchorgym.harness.specs import load_benchmark

    declared = result.get("benchmark")
    if not isinstance(declared, dict) or not isinstance(declared.get("id"), str):
        raise ResultError("result.json lacks benchmark.id: submit the file 'anchorgym eval' wrote.")
    if declared["id"].partition("#")[0].endswith(".json"):  # load_benchmark would read a file on the server
        raise ResultError(f"Unknown benchmark: {declared['id']!r} is a spec file; the leaderboard ranks built-in ids.")
    try:
        return load_benchmark(declared["id"])
    except AnchorGymError as error:
        raise ResultError(
            f"Unknown benchmark: {declared['id'][:200]!r} is not a built-in benchmark of this server. Custom "
            "benchmarks (spec files) cannot be submitted: evaluate a built-in id ('anchorgym benchmarks' lists "
            "them), or run your own leaderboard with a release that ships your benchmark."
        ) from error


def check_policy_config(result: dict[str, Any], plan_size: int) -> None:
    """Refuse a policy or run config a re-run could not play: unknown generation keys, unbounded values.

    Raises:
        ResultError: the first key or value out of bounds.
    """
    from anchorgym.policies.base import GenerationConfig

    generation = result["policy"].get("generation")
    if isinstance(generation, dict):
        known = {field.name for field in dataclasses.fields(GenerationConfig)}
        extra = sorted(set(generation) - known)
        if extra:
            raise ResultError(
                f"result.json: policy.generation holds the unknown key {extra[0][:80]!r} (known: "
                f"{', '.join(sorted(known))}): submit the file 'anchorgym eval' wrote."
            )
        for name, (low, high) in GENERATION_BOUNDS.items():
            value = generation.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise ResultError(f"result.json: policy.generation.{name} = {value!r} is outside [{low}, {high}].")
    batch = result["run"]["batch_size"]
    if not 1 <= batch <= min(MAX_BATCH_SIZE, plan_size):
        raise ResultError(
            f"result.json: run.batch_size = {batch} is outside [1, {min(MAX_BATCH_SIZE, plan_size)}] (at most the "
            f"benchmark's {plan_size} episodes and {MAX_BATCH_SIZE})."
        )


def check_prompt_template(result: dict[str, Any], spec: Any) -> None:
    """Refuse a result whose declared prompt template is not the one the benchmark pins (name, version, hash)."""
    from anchorgym.harness.runner import template_info

    try:
        pinned = template_info(spec)
    except AnchorGymError as error:
        raise ResultError(f"This server cannot check benchmark {spec.id}'s prompt template: {error}") from error
    declared = result.get("prompt_template")
    if declared != pinned:
        shown = {k: declared.get(k) for k in ("name", "version", "hash")} if isinstance(declared, dict) else declared
        raise ResultError(
            f"result.json declares prompt template {json.dumps(shown)[:300]}; benchmark {spec.id} pins "
            f"{json.dumps(pinned)}: evaluate with this release's template."
        )


def check_result(result_bytes: bytes, limits: Limits) -> tuple[dict[str, Any], Plan]:
    """Parse and check ``result.json`` (steps 1-3 of the module docs); return it and the plan episodes must cover.

    Raises:
        ValueError: not valid JSON (a 400). ResultError: any other reason to refuse (a 422).
    """
    from anchorgym.harness.results import validate_result

    if len(result_bytes) > limits.max_result_bytes:
        raise ResultError(f"result.json is {len(result_bytes)} bytes; the limit is {limits.max_result_bytes}.")
    result = strict_loads(result_bytes.decode("utf-8"), limits, "result.json")
    if not isinstance(result, dict):
        raise ResultError("result.json is not a JSON object: submit the file 'anchorgym eval' wrote.")
    seeds = _check_seeds(result, limits)
    spec = _load_spec(result)
    if sorted(seeds) != sorted(spec.seeds):
        raise ResultError(
            f"result.json declares seeds {seeds}; benchmark {spec.id} is evaluated on seeds {list(spec.seeds)}: "
            "run 'anchorgym eval' without --seeds."
        )
    validate_result(result, "result.json")
    if spec.content_hash() != result["benchmark"]["spec_hash"]:
        raise ResultError(
            f"Spec hash {result['benchmark']['spec_hash']} does not match benchmark {spec.id} "
            f"({spec.content_hash()}): re-run the evaluation with this anchorgym version's spec."
        )
    if _declared_count(spec) > limits.max_episodes:
        raise ResultError(
            f"Benchmark {spec.id} has {_declared_count(spec)} episodes; the limit is {limits.max_episodes}."
        )
    check_policy_config(result, _declared_count(spec))
    check_prompt_template(result, spec)
    return result, Plan(spec, expected_tasks(spec), [int(s) for s in seeds])


def check_metrics(result: dict[str, Any], summaries: list[dict[str, Any]]) -> None:
    """Raise ResultError unless the declared metrics equal those recomputed from the episodes."""
    from anchorgym.harness.metrics import summarize

    recomputed = json.loads(json.dumps(summarize(summaries)))
    declared = result.get("metrics", {})
    for name in sorted(set(recomputed) | set(declared)):
        if recomputed.get(name) != declared.get(name):
            raise ResultError(
                f"Declared metric {name!r} = {declared.get(name)} differs from the value recomputed from the "
                f"episodes: {recomputed.get(name)}."
            )


def verify_submission(
    result_bytes: bytes,
    episode_lines: Iterable[bytes],
    limits: Limits,
    sink: Callable[[bytes], None] | None = None,
    check_plan: Callable[[Plan], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a submission; return ``(result, columns of its leaderboard entry)``.

    Args:
        result_bytes: ``result.json``.
        episode_lines: the lines of ``episodes.jsonl`` (see :func:`check_episode_lines`).
        limits: the bounds.
        sink: called with each episodes line's bytes.
        check_plan: called with the plan once ``result.json`` is checked, before any episode is read
            (the server checks there that it holds the data to replay the benchmark); raises ResultError.

    Raises:
        ValueError: ``result.json`` is not JSON. ResultError: the precise reason the submission is refused.
    """
    result, plan = check_result(result_bytes, limits)
    if check_plan is not None:
        check_plan(plan)
    summaries, sha, canonical = check_episode_lines(episode_lines, plan, limits, sink)
    if sha != result["files"]["episodes_sha256"]:
        raise ResultError("episodes.jsonl is not the file result.json describes (SHA-256 differs).")
    check_metrics(result, summaries)
    return result, {**entry_columns(result, plan, sha), "canonical": canonical}


def entry_columns(result: dict[str, Any], plan: Plan, episodes_sha: str) -> dict[str, Any]:
    """The leaderboard columns of a verified result."""
    success = result["metrics"]["success_rate"]
    interval = success.get("ci95") or [success["mean"], success["mean"]]
    interval = [min(max(bound, 0.0), 1.0) for bound in interval]  # a rate's t-interval is shown within [0, 1]
    tokens = result["metrics"].get("tokens")
    return {
        "benchmark": plan.spec.id,
        "spec_hash": result["benchmark"]["spec_hash"],
        "policy": str(result["policy"].get("spec") or result["policy"].get("class", "?"))[:500],
        "success": float(success["mean"]),
        "success_low": float(interval[0]),
        "success_high": float(interval[1]),
        "score": float(result["metrics"]["score"]["mean"]),
        "seeds": ",".join(str(s) for s in plan.seeds),
        "episodes": int(result["metrics"]["episodes"]),
        "tokens": "self-reported" if tokens else "none",
        "digest": episodes_sha,
    }
