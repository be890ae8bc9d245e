"""Run a benchmark: batched, resumable, crash-safe, with self-describing results.

:func:`evaluate` plays every ``(seed, task, episode)`` of a benchmark spec with a
policy in batches on one vector env, appends each finished episode to
``episodes.jsonl`` (fsync'd) and finally writes ``result.json`` atomically.
With ``resume=True`` it skips episodes already in the log and replays only
unfinished batches (see :mod:`.plan`), giving the same final numbers as an
uninterrupted run.
"""

from __future__ import annotations

import errno
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from anchorgym.errors import ConfigError, DiskFullError, PolicyError, ResultError, UnknownNameError
from anchorgym.harness import records
from anchorgym.harness.lock import RunLock, prepare_out_dir
from anchorgym.harness.metrics import summarize
from anchorgym.harness.plan import BATCH_SCHEME, EPISODE_SCHEME, SEED_SCHEMES, Batch, EpisodeKey, plan_batches
from anchorgym.harness.progress import Progress
from anchorgym.harness.results import (
    SCHEMA_VERSION,
    file_sha256,
    machine_info,
    package_versions,
    utc_now,
    validate_episode,
    validate_result,
)
from anchorgym.harness.rollout import Episode, PolicyFailure, rollout
from anchorgym.harness.rundir import check_belongs, drop_errored, open_run, record_key
from anchorgym.harness.specs import BenchmarkSpec, content_hash, load_benchmark
from anchorgym.policies.base import GenerationConfig, Policy

DEFAULT_BATCH_SIZE = 16
DEFAULT_TIMEOUTS = {"reset_s": 1800.0, "step_s": 600.0}
"""Time limits of one env reset / step on the ``process`` and ``ray`` backends when neither the spec
(``timeouts``) nor the caller sets one: generous (an AppWorld or ALFWorld reset can take a minute on a
busy machine), they only turn a hung worker into an errored episode instead of a run that never ends."""
DEFAULT_OUT_ROOT = Path("runs") / "eval"  # runs/ is git-ignored


def default_out_dir(spec: BenchmarkSpec, policy_spec: str) -> Path:
    """Return ``runs/eval/<benchmark>/<policy>`` with path-safe names."""

    def slug(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "policy"

    return DEFAULT_OUT_ROOT / slug(spec.id) / slug(policy_spec)


def can_reseed(policy: Policy) -> bool:
    """Return whether the harness can restart the policy's random stream (see :func:`reseed_policy`)."""
    return callable(getattr(policy, "reseed", None)) or isinstance(getattr(policy, "rng", None), np.random.Generator)


def reseed_policy(policy: Policy, seed: int) -> bool:
    """Restart the policy's random stream at ``seed``; return whether the policy supports it.

    Uses the policy's ``reseed(seed)`` method when it has one (model policies), else replaces
    a numpy ``rng`` attribute (the ``random`` policy). Deterministic policies need neither.
    """
    if not can_reseed(policy):
        return False
    method = getattr(policy, "reseed", None)
    if callable(method):
        method(seed)
    else:
        policy.rng = np.random.default_rng(seed)
    return True


def episode_record(
    batch: Batch, slot: int, episode: Episode, spec_hash: str, extra_metrics: Sequence[str] = ()
) -> dict[str, Any]:
    """Turn a finished episode into its ``episodes.jsonl`` line.

    Args:
        batch: the batch the episode belongs to.
        slot: its sub-env index in the batch.
        episode: the finished episode.
        spec_hash: the benchmark spec's content hash.
        extra_metrics: the spec's ``metrics.extra`` info keys, recorded under ``metrics`` from the
            episode's final info (e.g. tool-QA's ``subem``).
    """
    seed, task_index, number = batch.keys[slot]
    steps = [
        {
            "step": s.step,
            "observation": s.observation,
            "anchor": s.anchor,
            "text": s.text,
            "action": s.action,
            "parsed": s.parsed,
            "action_valid": s.action_valid,
            "reward": s.reward,
            "terminated": s.terminated,
            "truncated": s.truncated,
            "tokens_in": s.tokens_in,
            "tokens_out": s.tokens_out,
        }
        for s in episode.steps
    ]
    tokens_known = bool(steps) and all(s["tokens_in"] is not None for s in steps)
    record = {
        "seed": seed,
        "task_index": task_index,
        "episode": number,
        "task_id": episode.task_id,
        "task_type": episode.task_type,
        "env_seed": batch.env_seeds[slot],
        "spec_hash": spec_hash,
        "instruction": episode.instruction,
        "won": episode.won,
        "score": episode.score,
        "return": episode.episode_return,
        "length": episode.length,
        "terminated": episode.terminated,
        "truncated": episode.truncated,
        "invalid_actions": sum(not s["action_valid"] for s in steps),
        "parse_failures": sum(not s["parsed"] for s in steps),
        "tokens_in": sum(s["tokens_in"] for s in steps) if tokens_known else None,
        "tokens_out": sum(s["tokens_out"] or 0 for s in steps) if tokens_known else None,
        "final_observation": episode.final_observation,
        "steps": steps,
    }
    if extra_metrics and episode.error is None:
        record["metrics"] = {name: float(episode.final_info.get(name, 0.0)) for name in extra_metrics}
    if episode.error is not None:
        record["error"] = episode.error
    return record


def _play_batch(
    envs: Any,
    policy: Policy,
    spec: BenchmarkSpec,
    batch: Batch,
    done: set[EpisodeKey],
    sink: Any,
    bar: Progress,
    seed_scheme: str = EPISODE_SCHEME,
) -> None:
    """Play one batch (padded to the vector env's size); record its episodes not already done.

    With seed scheme ``episode-v1`` every episode gets its own policy stream (``Batch.policy_seeds``), which
    the inputs carry as step seeds; with ``batch`` they carry none. Either way the policy's own stream is
    reseeded once for the whole batch (``Batch.policy_seed``), for policies that ignore step seeds.

    Raises:
        PolicyError: the policy raised; the message names the batch, its seed, tasks and step.
    """
    pad, spec_hash = envs.num_tasks - len(batch.keys), spec.content_hash()
    task_ids = list(batch.task_ids) + [batch.task_ids[0]] * pad
    seeds = list(batch.env_seeds) + [batch.env_seeds[0]] * pad

    def on_episode(episode: Episode) -> None:
        slot = episode.env_index
        if batch.keys[slot] not in done:
            sink(episode_record(batch, slot, episode, spec_hash, spec.extra_metrics))

    # Policies that draw from their own stream (ignoring AgentInput.seed, e.g. the trainer's) still replay
    # a resumed batch exactly; seed-aware policies use the step seeds and never touch that stream.
    reseed_policy(policy, batch.policy_seed)
    policy_seeds = None
    if seed_scheme != BATCH_SCHEME:
        policy_seeds = list(batch.policy_seeds) + [batch.policy_seeds[0]] * pad
    bar.new_batch()
    try:
        rollout(
            envs,
            policy,
            history_length=spec.history_length,
            task_ids=task_ids,
            seeds=seeds,
            policy_seeds=policy_seeds,
            skip=range(len(batch.keys), envs.num_tasks),
            on_episode=on_episode,
            on_step=bar.step,
        )
    except PolicyFailure as error:
        raise PolicyError(
            f"{error} in batch {batch.index} of seed {batch.seed}. Fix the policy, then rerun the same command "
            "with --resume: the episodes already recorded are kept."
        ) from error


def make_run_policy(policy: str | Policy, generation: GenerationConfig | None, options: dict[str, Any]) -> Policy:
    """Return ``policy`` itself, or the policy its spec string names (via ``make_policy``)."""
    if isinstance(policy, Policy):
        return policy
    from anchorgym.policies.registry import make_policy

    return make_policy(policy, generation, **options)


OPEN_SPACE_POLICIES = "expert, hf:PATH_OR_ALIAS, openai:URL?model=NAME, vllm:PATH or package.module:callable"


def refuse_unfit_policy(policy: Policy, env_id: str) -> None:
    """Refuse the ``random`` policy on an env whose action space is open (code or free text).

    ``random`` draws from the admissible actions, or from the env's ``random_action()``; an env class that
    declares ``open_action_space = True`` and has no ``random_action`` offers neither, so the run would
    only fail at its first step, after every worker started.

    Raises:
        PolicyError: one line naming the policies that can act there.
    """
    from anchorgym.envs.registry import env_info, load_entry_point
    from anchorgym.policies.scripted import RandomPolicy

    env_cls = load_entry_point(env_info(env_id).entry_point)
    if isinstance(policy, RandomPolicy) and getattr(env_cls, "open_action_space", False):
        if not hasattr(env_cls, "random_action"):
            raise PolicyError(
                f"The random policy cannot act in {env_id}: its action space is open (no admissible actions "
                f"to draw from). Use a policy that writes actions: {OPEN_SPACE_POLICIES}."
            )


def template_info(spec: BenchmarkSpec) -> dict[str, str] | None:
    """Return the env's prompt template name, version and hash; check it is the one the spec pins.

    Raises:
        ConfigError: the installed template's name or version differs from the spec's.
    """
    from anchorgym.policies.prompting import template_for

    try:
        template = template_for(spec.env_id)
    except UnknownNameError:
        return None
    pinned = (spec.prompt_template["name"], spec.prompt_template["version"])
    if (template.name, template.version) != pinned:
        raise ConfigError(
            f"Benchmark {spec.id} pins prompt template {pinned[0]} v{pinned[1]}, but {spec.env_id} now uses "
            f"{template.name} v{template.version}. Release a new benchmark version for the new prompt."
        )
    return {"name": template.name, "version": template.version, "hash": template.content_hash()}


def dataset_hashes(envs: Any) -> dict[str, str]:
    """Return the env's ``dataset_hashes()`` when its class defines one, else {}."""
    from anchorgym.envs.registry import env_info, load_entry_point

    env_cls = load_entry_point(env_info(envs.env_id).entry_point)
    if not callable(getattr(env_cls, "dataset_hashes", None)):
        return {}
    return dict(envs.call_at([0], "dataset_hashes")[0])


def _run_header(
    spec: BenchmarkSpec, policy: Policy, seeds: Sequence[int], batch_size: int, seed_scheme: str
) -> dict[str, Any]:
    header = {
        "benchmark": spec.id,
        "spec_hash": spec.content_hash(),
        "policy": policy.describe(),
        "seeds": [int(s) for s in seeds],
        "batch_size": int(batch_size),
    }
    if seed_scheme != BATCH_SCHEME:  # run.json files written before seed schemes existed have no such key
        header["seed_scheme"] = seed_scheme
    return header


def resolve_seed_scheme(out: Path, resume: bool, seed_scheme: str | None) -> str:
    """Return the seed scheme to run with: ``seed_scheme``, else the resumed run's, else ``episode-v1``.

    A resumed ``run.json`` without ``seed_scheme`` was written with per-batch policy seeds (``batch``).

    Raises:
        ConfigError: an unknown scheme.
    """
    if seed_scheme is not None and seed_scheme not in SEED_SCHEMES:
        raise ConfigError(f"Unknown seed scheme {seed_scheme!r}; expected one of {', '.join(SEED_SCHEMES)}.")
    run_file = out / records.RUN_FILE
    if seed_scheme is None and resume and run_file.exists():
        try:
            return str(records.read_json(run_file).get("seed_scheme", BATCH_SCHEME))
        except (OSError, ValueError, AttributeError):
            return EPISODE_SCHEME  # open_run reports the unreadable file
    return seed_scheme or EPISODE_SCHEME


def evaluate(
    benchmark: str | BenchmarkSpec,
    policy: str | Policy,
    *,
    seeds: Sequence[int] | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    retry_errored: bool = False,
    generation: GenerationConfig | None = None,
    batch_size: int | None = None,
    backend: str | None = None,
    num_workers: int | None = None,
    progress: bool = True,
    policy_options: dict[str, Any] | None = None,
    backend_options: dict[str, Any] | None = None,
    seed_scheme: str | None = None,
    reset_timeout_s: float | None = None,
    step_timeout_s: float | None = None,
) -> dict[str, Any]:
    """Evaluate ``policy`` on ``benchmark`` and write ``episodes.jsonl`` and ``result.json`` to ``out``.

    An episode whose env fails (raises, or its worker dies) is recorded as errored with the reason and the
    run goes on; ``result.json`` then lists the errors beside metrics computed without those episodes.

    Args:
        benchmark: a benchmark id (``anchorgym benchmarks``), ``FILE.json[#ID]``, or a spec.
        policy: a policy spec string (``random``, ``expert``, ``hf:smollm2``...) or a Policy.
        seeds: evaluation seeds (default: the spec's); each is one full pass over the tasks.
        out: result directory (default ``runs/eval/<benchmark>/<policy>``); locked for the whole run.
        resume: continue an interrupted run in ``out`` instead of refusing to overwrite it.
        retry_errored: with ``resume``, play the errored episodes again.
        generation: sampling settings for model policies (default: the spec's ``generation``, else the policy's).
        batch_size: episodes played at once (default min(16, tasks x episodes)); it does not change an
            episode's record (each episode draws from its own seeds), only speed and memory.
        backend: vector env backend (default ``process`` when ``num_workers > 1``, else ``sync``).
        num_workers: env worker processes.
        progress: show progress (a bar in a terminal, a few lines otherwise).
        policy_options: extra keyword arguments for ``make_policy``.
        backend_options: extra arguments for the vector env backend, e.g. ``{"max_worker_rss_mb": 2048}``
            (``process``: recycle workers past that memory between episodes); they never change results.
        seed_scheme: how policies are seeded (see :mod:`anchorgym.harness.plan`): ``episode-v1`` (default for
            a new run: one stream per episode and step) or ``batch`` (one stream per batch, as results without
            ``run.seed_scheme`` were made; use it to re-run such a result exactly). A resume keeps its run's.
        reset_timeout_s: time limit of one env reset in seconds, over the spec's ``timeouts.reset_s`` (default
            :data:`DEFAULT_TIMEOUTS`). A worker past it is killed and restarted and its episodes are recorded
            as errored (``EnvTimeout``); the run goes on. Limits need workers: with them the backend defaults
            to ``process``, and ``sync`` is refused.
        step_timeout_s: the same for one env step (spec: ``timeouts.step_s``).

    Returns:
        The result dict (also written to ``out/result.json``).

    Raises:
        UnknownNameError: unknown benchmark. PolicyError: bad policy spec, unreachable endpoint, or the
            policy raised during the run. ConfigError: bad seeds, batch size or worker count.
        DataNotFoundError / DependencyError: the env's data or extra is missing.
        ResultError: ``out`` is unusable, locked by another run, holds another run (or a different one
            when resuming), or holds episodes that do not belong to this run.
        DiskFullError: a result file could not be written (ENOSPC, EDQUOT, EFBIG); the episodes written
            before are kept and a resume continues the run.
    """
    spec = benchmark if isinstance(benchmark, BenchmarkSpec) else load_benchmark(benchmark)
    seeds = _check_run_args(spec, seeds, batch_size, num_workers, resume, retry_errored)
    size = plan_batch_size(spec, batch_size)
    template = template_info(spec)
    out = Path(out) if out is not None else default_out_dir(spec, _policy_label(policy))
    prepare_out_dir(out)
    with RunLock(out):
        scheme = resolve_seed_scheme(out, resume, seed_scheme)
        agent = make_run_policy(policy, generation or spec.default_generation(), policy_options or {})
        if hasattr(agent, "history_length"):  # prompt policies: show exactly the spec's history
            agent.history_length = spec.history_length
        refuse_unfit_policy(agent, spec.env_id)  # before any env worker starts
        limits = {"reset_s": reset_timeout_s, "step_s": step_timeout_s}
        envs = _make_envs(spec, size, backend, num_workers, backend_options, limits)
        try:
            previous, started = open_run(out, _run_header(spec, agent, seeds, size, scheme), resume)
            tasks = spec.resolve_tasks(envs.call_at([0], "task_ids")[0])
            batches = list(plan_batches(tasks, seeds, spec.episodes_per_task, size))
            check_belongs(previous, batches, spec.content_hash(), out / records.EPISODES_FILE)
            if retry_errored:
                previous = drop_errored(out / records.EPISODES_FILE, previous)
            _play_all(spec, envs, agent, batches, out, previous, progress, scheme)
            context = {"tasks": tasks, "template": template, "datasets": dataset_hashes(envs), "started": started}
            context["seed_scheme"] = scheme
            return build_result(spec, agent, envs, seeds, out, context, resumed=len(previous))
        except OSError as error:
            if error.errno in DISK_FULL_ERRNOS:
                raise disk_full(out, error) from None
            raise
        finally:
            envs.close()


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


def disk_full(out: Path, error: OSError) -> DiskFullError:
    """Describe a write to ``out`` that failed for lack of space (ENOSPC, EDQUOT) or a file-size limit (EFBIG)."""
    return DiskFullError(
        f"Cannot write to {out}: {error.strerror or error} ({errno.errorcode.get(error.errno or 0, 'OSError')}). "
        "Free some space (or raise the file-size limit), then rerun the same command with --resume: the episodes "
        "already recorded are kept."
    )


def _policy_label(policy: str | Policy) -> str:
    return policy if isinstance(policy, str) else policy.spec or type(policy).__name__


def _check_run_args(
    spec: BenchmarkSpec,
    seeds: Sequence[int] | None,
    batch_size: int | None,
    num_workers: int | None,
    resume: bool,
    retry_errored: bool,
) -> list[int]:
    """Check the run's arguments; return the seeds to play.

    Raises:
        ConfigError: repeated or no seeds, a batch size or worker count below 1, retry without resume.
    """
    chosen = [int(s) for s in (seeds if seeds is not None else spec.seeds)]
    if not chosen or len(set(chosen)) != len(chosen):
        raise ConfigError(f"Seeds must be distinct and non-empty, got {chosen}.")
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}. Leave it out for min(16, episodes per seed).")
    if num_workers is not None and num_workers < 1:
        raise ConfigError(f"--num-workers must be >= 1, got {num_workers}. Leave it out for one per CPU.")
    if retry_errored and not resume:
        raise ConfigError("--retry-errored plays the errored episodes of an earlier run again: pass --resume too.")
    return chosen


def plan_batch_size(spec: BenchmarkSpec, batch_size: int | None) -> int:
    """Return ``batch_size``, or the default: min(16, tasks x episodes per task)."""
    if batch_size is not None:
        return int(batch_size)
    return min(DEFAULT_BATCH_SIZE, (spec.num_tasks or DEFAULT_BATCH_SIZE) * spec.episodes_per_task)


def _make_envs(
    spec: BenchmarkSpec,
    size: int,
    backend: str | None,
    num_workers: int | None,
    backend_options: dict[str, Any] | None = None,
    limits: dict[str, float | None] | None = None,
) -> Any:
    from anchorgym.envs.vector import make_vec

    explicit = {**spec.raw.get("timeouts", {}), **{k: v for k, v in (limits or {}).items() if v is not None}}
    for key, value in explicit.items():
        if not (isinstance(value, (int, float)) and value > 0):
            option = f"--{key.split('_')[0]}-timeout-s"
            raise ConfigError(f"{option} must be a positive number of seconds, got {value!r}.")
    backend = backend or ("process" if (num_workers or 1) > 1 or explicit else "sync")
    if backend == "sync" and explicit:
        raise ConfigError(
            f"Time limits ({', '.join(sorted(explicit))}) need env workers to kill: use --backend process or ray "
            "(or leave --backend out)."
        )
    if backend in ("process", "ray"):
        timeouts = {**DEFAULT_TIMEOUTS, **explicit}
        backend_options = {
            "reset_timeout_s": timeouts["reset_s"],
            "step_timeout_s": timeouts["step_s"],
            **(backend_options or {}),
        }
    kwargs = {**spec.env_kwargs, "max_steps": spec.max_steps}
    return make_vec(
        spec.env_id,
        num_tasks=size,
        backend=backend,
        num_workers=num_workers,
        split=spec.split,
        backend_options=backend_options,
        **kwargs,
    )


def _play_all(
    spec: BenchmarkSpec,
    envs: Any,
    policy: Policy,
    batches: Sequence[Batch],
    out: Path,
    previous: list[dict[str, Any]],
    progress: bool,
    seed_scheme: str = EPISODE_SCHEME,
) -> None:
    """Play every batch with an unfinished episode, appending episodes to the log as they finish."""
    done = {record_key(r) for r in previous}
    total = sum(len(b.keys) for b in batches)
    bar = Progress(total, previous, spec.id, progress)
    with records.EpisodeLog(out / records.EPISODES_FILE) as log:

        def sink(record: dict[str, Any]) -> None:
            log.append(record)
            bar.add(bool(record["won"]), bool(record.get("error")))

        try:
            for batch in batches:
                if not all(key in done for key in batch.keys):
                    _play_batch(envs, policy, spec, batch, done, sink, bar, seed_scheme)
        finally:
            bar.close()


def build_result(
    spec: BenchmarkSpec,
    policy: Policy,
    envs: Any,
    seeds: Sequence[int],
    out: Path,
    context: dict[str, Any],
    resumed: int,
) -> dict[str, Any]:
    """Compute the metrics from ``episodes.jsonl`` and write the validated ``result.json`` atomically.

    Raises:
        ResultError: a record breaks the episode schema, the log does not hold exactly one record per
            planned episode, or every episode errored (nothing to score).
    """
    log = out / records.EPISODES_FILE
    episodes = records.read_episodes(log)
    for number, record in enumerate(episodes, start=1):
        validate_episode(record, f"{log} record {number}")
    wanted = {(s, t, e) for s in seeds for t in range(len(context["tasks"])) for e in range(spec.episodes_per_task)}
    if {record_key(r) for r in episodes} != wanted or len(episodes) != len(wanted):
        raise ResultError(f"{log} does not hold exactly one record per planned episode.")
    errors = [_error_entry(r) for r in sorted(episodes, key=record_key) if r.get("error")]
    if len(errors) == len(episodes):
        raise ResultError(
            f"Every episode of {out} errored (first: {errors[0]['error']}), so there is nothing to score. "
            "Fix the env, then rerun with --resume --retry-errored."
        )
    result = {
        "schema_version": SCHEMA_VERSION,
        "benchmark": {
            "id": spec.id,
            "spec_hash": spec.content_hash(),
            "spec": spec.raw,
            "env_spec": spec.env_spec(),
            "task_list_hash": content_hash(list(context["tasks"])),
            "num_tasks": len(context["tasks"]),
        },
        "policy": policy.describe(),
        "prompt_template": context["template"],
        "seeds": [int(s) for s in seeds],
        "run": {
            "batch_size": envs.num_tasks,
            "backend": type(envs.backend).__name__,
            "episodes_resumed": resumed,
            "policy_reseeded_per_batch": can_reseed(policy),
            "seed_scheme": context["seed_scheme"],
            "started_at": context["started"],
            "finished_at": utc_now(),
        },
        "versions": package_versions(),
        "datasets": context["datasets"],
        "machine": machine_info(),
        "metrics": summarize(episodes),
        **({"errors": errors} if errors else {}),
        "files": {"episodes": records.EPISODES_FILE, "episodes_sha256": file_sha256(log)},
    }
    result = json.loads(json.dumps(result))  # exactly what the file holds (tuples become lists)
    validate_result(result, str(out / records.RESULT_FILE))
    records.write_json_atomic(out / records.RESULT_FILE, result)
    return result


def _error_entry(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in ("seed", "task_index", "episode", "task_id", "error")}
