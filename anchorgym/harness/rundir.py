"""A result directory's identity and contents: open a run, check what a resume adopts.

A run owns its directory (:class:`~anchorgym.harness.lock.RunLock`). ``run.json``
says which run wrote ``episodes.jsonl``; a resume adopts a record only when it
belongs to that run's plan (its key, task and env seed), never silently, and
repairs only a line cut off by a kill (see :func:`~anchorgym.harness.records.read_episodes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from anchorgym.errors import ResultError
from anchorgym.harness import records
from anchorgym.harness.lock import unusable
from anchorgym.harness.plan import Batch, EpisodeKey
from anchorgym.harness.results import utc_now, validate_episode


def record_key(record: dict[str, Any]) -> EpisodeKey:
    """Return an episode record's ``(seed, task_index, episode)``."""
    return (int(record["seed"]), int(record["task_index"]), int(record["episode"]))


def open_run(out: Path, header: dict[str, Any], resume: bool) -> tuple[list[dict[str, Any]], str]:
    """Start or continue the run in ``out`` (already locked); return the recorded episodes and the start time.

    A fresh run needs a directory without ``run.json`` and ``episodes.jsonl``. A resume needs
    ``run.json`` with the same identity (``header``) whenever ``episodes.jsonl`` exists; resuming
    into a directory holding neither starts the run.

    Raises:
        ResultError: the directory holds another run, episodes without ``run.json``, a corrupt line,
            or cannot be written.
    """
    log, run_file = out / records.EPISODES_FILE, out / records.RUN_FILE
    if not resume and (log.exists() or run_file.exists()):
        raise ResultError(f"{out} already holds an evaluation. Pass --resume to continue it, or choose another --out.")
    if resume and run_file.exists():
        return records.read_episodes(log, repair=True), _check_identity(out, run_file, header)
    if log.exists():
        raise ResultError(
            f"Cannot resume {out}: it holds {records.EPISODES_FILE} but no {records.RUN_FILE}, so nothing says "
            f"which run wrote those episodes. Move {records.EPISODES_FILE} away, or choose another --out."
        )
    started = utc_now()
    try:
        records.write_json_atomic(run_file, {**header, "started_at": started})
    except OSError as error:
        raise unusable(out, error) from error
    return [], started


def _check_identity(out: Path, run_file: Path, header: dict[str, Any]) -> str:
    previous = records.read_json(run_file)
    started = previous.pop("started_at", utc_now())
    if previous != header:
        changed = sorted(k for k in header if previous.get(k) != header[k])
        raise ResultError(
            f"Cannot resume {out}: it was run with different {', '.join(changed) or 'settings'}. "
            "Use the same benchmark, policy, settings, seeds and batch size, or another --out."
        )
    return str(started)


def check_belongs(previous: Sequence[dict[str, Any]], batches: Iterable[Batch], spec_hash: str, log: Path) -> None:
    """Check that every recorded episode is one of the plan's, with its spec, task and env seed, recorded once.

    A record without ``spec_hash`` (written before records carried it) relies on ``run.json``'s.

    Raises:
        ResultError: naming the first line that does not belong, and why.
    """
    planned = {
        key: (task, env_seed)
        for batch in batches
        for key, task, env_seed in zip(batch.keys, batch.task_ids, batch.env_seeds, strict=True)
    }
    first_line: dict[EpisodeKey, int] = {}
    for number, record in enumerate(previous, start=1):
        where = f"{log} line {number}"
        validate_episode(record, where)
        key = record_key(record)
        problem = _mismatch(record, planned.get(key), spec_hash)
        if problem is None and key in first_line:
            problem = f"it repeats episode {key} of line {first_line[key]}"
        if problem is not None:
            raise ResultError(
                f"{where} does not belong to this run: {problem}. Remove that line (or start again in another --out)."
            )
        first_line[key] = number


def _mismatch(record: dict[str, Any], planned: tuple[str, int] | None, spec_hash: str) -> str | None:
    """Say how ``record`` differs from its planned ``(task_id, env_seed)`` and spec; None when it matches."""
    if record.get("spec_hash", spec_hash) != spec_hash:
        return f"it was played on benchmark spec {record['spec_hash'][:19]}, not this run's {spec_hash[:19]}"
    if planned is None:
        return f"episode {record_key(record)} (seed, task index, episode) is not in this run's plan"
    task, env_seed = planned
    if record["task_id"] != task:
        return f"it played task {record['task_id']!r} where the plan has {task!r}"
    if record["env_seed"] != env_seed:
        return f"its env seed {record['env_seed']} is not the planned {env_seed}"
    return None


def drop_errored(log: Path, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rewrite ``log`` atomically without its errored episodes (to play them again); return the rest."""
    kept = [record for record in previous if not record.get("error")]
    if len(kept) < len(previous):
        records.write_text_atomic(log, "".join(records.episode_line(record) for record in kept))
    return kept
