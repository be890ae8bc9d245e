"""Replay verification: re-run each submitted episode's actions in the real environment.

For deterministic environments, an episode is fully determined by its task, its env seed and its
actions. Replaying resets the env with the seed the harness derives from the spec seed (checked on
submit) and recomputes every field the env reports: at reset the task type and instruction; at every
step the anchor and observation of the state acted from, then the reward, the done flags and
``action_valid``; at the end ``won``, ``score`` and the final observation. The policy's side of a step
is recomputed where the policy is known: for chat policies the parsed action and ``parsed`` flag come
from the submitted text through the pinned prompt template's parser; for the scripted ``random`` and
``expert`` policies the text is the action. Token counts are not recomputed: entries that report them
are labelled self-reported.

A replay works through the episodes file in order and reports its progress, so a replay cut short by a
restart resumes after the last episode it checked, and stops once its time budget is spent.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from anchorgym.errors import AnchorGymError, ResultError

# Envs whose episodes are a pure function of (task, seed, actions). Tool-QA only replays
# with an in-process index (a remote retrieval server may change under us).
REPLAYABLE_ENVS = {
    "anchorgym/Sokoban-v0",
    "anchorgym/Sokoban-v1",
    "anchorgym/ALFWorld-v0",
    "anchorgym/WebShop-v0",
    "anchorgym/WebShop-v1",
    "anchorgym/ToolQA-v0",
    "anchorgym/ToolQA-v1",
}
REWARD_TOLERANCE = 1e-9
REPLAY_VERSION = 2
"""The replay rules in force. Bump it when replay checks more (or differently): at its next start the server
re-queues every verdict given under an earlier version, and those entries leave the ranked boards until their
replay under the current rules ends. Version 2: replays run in worker processes, one env per process."""
SCRIPTED_POLICIES = {"RandomPolicy", "ExpertPolicy"}  # their text is their action, always parsed


@dataclass
class Outcome:
    """How a replay ended: ``status`` (verified, failed, not-replayable, timeout) and why."""

    status: str
    detail: str


@dataclass(frozen=True)
class ParseCheck:
    """How to recompute a step's action and ``parsed`` flag from its text (None fields: not recomputed)."""

    tags: tuple[str, ...] | None = None
    repair: bool = False
    scripted: bool = False

    def mismatch(self, step: dict[str, Any], admissible: list[str] | None) -> str | None:
        """Return why ``step``'s action or ``parsed`` flag is not what its text gives, else None."""
        from anchorgym.policies.parsing import parse_action

        text = step.get("text", step["action"])
        if self.scripted:
            return None if (text, True) == (step["action"], step["parsed"]) else "the action is not the policy's text"
        if self.tags is None:
            return None
        parsed = parse_action(text, self.tags, admissible, self.repair)
        if (parsed.action, parsed.parsed) != (step["action"], step["parsed"]):
            return f"the text parses to action {parsed.action[:80]!r} (parsed={parsed.parsed}), not the recorded one"
        return None


def parse_check(result: dict[str, Any], env_id: str) -> ParseCheck:
    """Return how the submission's policy turned text into actions (nothing, for an unknown policy class)."""
    policy = result.get("policy", {})
    if policy.get("class") in SCRIPTED_POLICIES:
        return ParseCheck(scripted=True)
    if isinstance(policy.get("templates"), dict):
        from anchorgym.policies.prompting import template_for

        return ParseCheck(tags=tuple(template_for(env_id).action_tags), repair=bool(policy.get("repair", False)))
    return ParseCheck()


def replayable(env_id: str, env_kwargs: dict[str, Any]) -> str | None:
    """Return why an env cannot be replay-verified, or None when it can."""
    if env_id not in REPLAYABLE_ENVS:
        return f"{env_id} is not deterministic enough to replay: the scores are self-reported"
    if env_kwargs.get("retrieval_url"):
        return "episodes used a remote retrieval server: the scores are self-reported"
    return None


_MAKE_LOCK = threading.Lock()  # one env construction at a time: concurrent submits for one benchmark share it


@lru_cache(maxsize=64)
def _make_once(benchmark_id: str, spec_hash: str) -> None:
    """Make and close the env of benchmark ``benchmark_id`` as a replay would (cached per spec on success)."""
    from anchorgym.envs.registry import make
    from anchorgym.harness.specs import load_benchmark

    spec = load_benchmark(benchmark_id)
    make(spec.env_id, split=spec.split, max_steps=spec.max_steps, **spec.env_kwargs).close()


def lacks_data(error: AnchorGymError, benchmark_id: str) -> str:
    """The reason given when the env of ``benchmark_id`` cannot be made on this server."""
    return f"the server lacks the data to replay {benchmark_id}: {error}"


def check_replay_data(spec: Any) -> None:
    """Check that this server can make ``spec``'s env to replay it (its data and extra are installed).

    Benchmarks the server never replays pass. A success is cached per spec; a failure is not (the operator
    may install the data meanwhile).

    Raises:
        ResultError: the env cannot be made; the message names the benchmark and what is missing.
    """
    if replayable(spec.env_id, spec.env_kwargs) is not None:
        return
    try:
        with _MAKE_LOCK:
            _make_once(spec.id, spec.content_hash())
    except AnchorGymError as error:
        message = lacks_data(error, spec.id)
        raise ResultError(message[0].upper() + message[1:]) from error


def _differs(name: str, replayed: Any, recorded: Any) -> str:
    return f"{name} {str(replayed)[:80]!r} but {str(recorded)[:80]!r} was recorded"


def _check_reset(info: dict[str, Any], record: dict[str, Any]) -> str | None:
    if str(info.get("task_type", "")) != record["task_type"]:
        return _differs("task type", info.get("task_type"), record["task_type"])
    if "instruction" in record and str(info.get("instruction", "")) != record["instruction"]:
        return "the instruction differs from the recorded one"
    return None


def _check_step(
    env: Any, state: tuple[str, dict[str, Any]], step: dict[str, Any], parse: ParseCheck
) -> tuple[str | None, tuple[str, dict[str, Any]]]:
    observation, info = state
    if info["anchor"] != step["anchor"] or observation != step["observation"]:
        return "the state acted from differs from the recorded one", state
    problem = parse.mismatch(step, info.get("admissible_actions"))
    if problem:
        return problem, state
    observation, reward, terminated, truncated, info = env.step(step["action"])
    if abs(reward - float(step["reward"])) > REWARD_TOLERANCE:
        return f"reward {reward} but {step['reward']} was recorded", (observation, info)
    if (terminated, truncated) != (step["terminated"], step["truncated"]):
        return "done flags differ from the recorded ones", (observation, info)
    if bool(info["action_valid"]) != step["action_valid"]:
        return _differs("action_valid", bool(info["action_valid"]), step["action_valid"]), (observation, info)
    return None, (observation, info)


def replay_episode(env: Any, record: dict[str, Any], parse: ParseCheck | None = None) -> str | None:
    """Replay one episode on ``env``; return the first mismatch, or None when it matches."""
    parse = parse or ParseCheck()
    where = f"seed {record['seed']}, task {record['task_id']!r}"
    state = env.reset(seed=record.get("env_seed"), options={"task_id": record["task_id"]})
    problem = _check_reset(state[1], record)
    if problem:
        return f"{where}, at reset: {problem}"
    for number, step in enumerate(record["steps"], start=1):
        problem, state = _check_step(env, state, step, parse)
        if problem:
            return f"{where}, step {number}: {problem}"
    observation, info = state
    if bool(info["won"]) != bool(record["won"]) or not math.isclose(info["score"], float(record["score"])):
        return f"{where}: the replay ends with won={info['won']}, score={info['score']}, not the recorded outcome"
    if "final_observation" in record and observation != record["final_observation"]:
        return f"{where}: the final observation differs from the recorded one"
    for name, value in (record.get("metrics") or {}).items():  # the spec's metrics.extra, e.g. tool-QA's subem
        if name not in info or not math.isclose(float(info[name]), float(value)):
            return f"{where}: the replay ends with {name}={info.get(name)}, not the recorded {value}"
    return None


def replay_entry(
    result: dict[str, Any],
    episodes_file: Path,
    start: int = 0,
    budget_s: float = math.inf,
    on_progress: Callable[[int, float], None] | None = None,
) -> Outcome:
    """Replay the episodes of an entry from line ``start`` on, within ``budget_s`` seconds.

    Args:
        result: the entry's ``result.json``.
        episodes_file: its episodes.
        start: episodes already replayed (a resumed replay skips them).
        budget_s: seconds this replay may still take; it stops with ``timeout`` once they are spent.
        on_progress: called with (episodes replayed in all, seconds spent in this call) every few episodes.
    """
    from anchorgym.envs.registry import make
    from anchorgym.harness.specs import load_benchmark

    spec = load_benchmark(result["benchmark"]["id"])  # its hash was checked on submission
    reason = replayable(spec.env_id, spec.env_kwargs)
    if reason:
        return Outcome("not-replayable", reason)
    parse = parse_check(result, spec.env_id)
    began, count = time.monotonic(), start
    try:
        env = make(spec.env_id, split=spec.split, max_steps=spec.max_steps, **spec.env_kwargs)
    except AnchorGymError as error:  # the data was removed since the submission: the scores stay self-reported
        return Outcome("not-replayable", lacks_data(error, spec.id))
    try:
        with episodes_file.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle):
                if number < start:
                    continue
                if time.monotonic() - began > budget_s:
                    return Outcome("timeout", f"the replay's time budget ran out after {count} episodes")
                mismatch = replay_episode(env, json.loads(line), parse)
                if mismatch:
                    return Outcome("failed", mismatch)
                count += 1
                if on_progress is not None and count % 10 == 0:
                    on_progress(count, time.monotonic() - began)
    finally:
        env.close()
    detail = f"{count} episodes replayed with identical anchors, observations, rewards, validity and outcomes"
    if parse.tags is None and not parse.scripted:
        detail += f"; the parsed flags of policy class {result['policy'].get('class')!r} are self-reported"
    return Outcome("verified", detail)
