"""The work plan of an evaluation: which episodes to play, in which batches, with which seeds.

Every episode has a key ``(seed, task_index, episode)``. For each evaluation
seed the ``(task, episode)`` pairs are cut into fixed batches of ``batch_size``;
a batch's env seeds and its policy seeds derive only from the evaluation seed and the
episode's identity, never from what ran before.

Seed schemes (``result.json``'s ``run.seed_scheme``):

* ``episode-v1`` (the default): each episode has its own policy stream seed,
  :func:`episode_policy_seed` of ``(seed, task_id, episode)``; the rollout turns it into one
  seed per step (:func:`step_seed`) handed to the policy in ``AgentInput.seed``. An episode's
  record is then the same whatever the batch size, worker count, backend, failures of other
  episodes or retries.
* ``batch`` (results written before ``seed_scheme`` existed): the policy is reseeded once per
  batch with ``Batch.policy_seed``, so which episodes share a batch changes their draws. Kept so
  that those results can still be resumed and re-run exactly.

A resumed run replays any unfinished batch in full (recording only its missing episodes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

SEED_BOUND = 2**31 - 1

EpisodeKey = tuple[int, int, int]  # (seed, task_index, episode)
EPISODE_SCHEME = "episode-v1"
BATCH_SCHEME = "batch"
SEED_SCHEMES = (EPISODE_SCHEME, BATCH_SCHEME)


def derive_seed(*parts: object) -> int:
    """Derive a 31-bit seed from ``parts``, identical on every machine and process.

    >>> derive_seed(0, "1000000000", 0) == derive_seed(0, "1000000000", 0)
    True
    """
    text = "/".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") % SEED_BOUND


def episode_policy_seed(seed: int, task_id: str, episode: int) -> int:
    """Return the policy stream seed of episode ``(seed, task_id, episode)`` (seed scheme ``episode-v1``).

    It depends on the episode's identity only (its evaluation seed, task and number; the benchmark
    enters through its task ids and seeds), never on its batch or what ran before.

    >>> episode_policy_seed(0, "1000000000", 0) == derive_seed(0, "1000000000", 0, "policy")
    True
    """
    return derive_seed(seed, task_id, episode, "policy")


def step_seed(policy_seed: int, step: int) -> int:
    """Return the seed of step ``step`` (0: the first action) of the episode whose stream seed is ``policy_seed``.

    >>> step_seed(5, 0) != step_seed(5, 1)
    True
    """
    return derive_seed(policy_seed, "step", step)


@dataclass(frozen=True)
class Batch:
    """One batch of episodes played together in one vector env reset.

    Attributes:
        seed: the evaluation seed.
        index: the batch's position within the seed's pass.
        keys: the episode keys, one per sub-env.
        task_ids: the task of each key.
        env_seeds: the env reset seed of each key.
        policy_seed: the seed the policy is reseeded with before the batch (seed scheme ``batch`` only).
        policy_seeds: each key's own policy stream seed (:func:`episode_policy_seed`, scheme ``episode-v1``).
    """

    seed: int
    index: int
    keys: tuple[EpisodeKey, ...]
    task_ids: tuple[str, ...]
    env_seeds: tuple[int, ...]
    policy_seed: int
    policy_seeds: tuple[int, ...] = ()


def plan_batches(
    tasks: Sequence[str], seeds: Sequence[int], episodes_per_task: int, batch_size: int
) -> Iterator[Batch]:
    """Yield every batch of the evaluation, seed by seed.

    >>> [b.keys for b in plan_batches(["a", "b", "c"], [7], 1, 2)]
    [((7, 0, 0), (7, 1, 0)), ((7, 2, 0),)]
    """
    for seed in seeds:
        pairs = [(t, e) for t in range(len(tasks)) for e in range(episodes_per_task)]
        for index, start in enumerate(range(0, len(pairs), batch_size)):
            chunk = pairs[start : start + batch_size]
            yield Batch(
                seed=int(seed),
                index=index,
                keys=tuple((int(seed), t, e) for t, e in chunk),
                task_ids=tuple(tasks[t] for t, _ in chunk),
                env_seeds=tuple(derive_seed(seed, tasks[t], e) for t, e in chunk),
                policy_seed=derive_seed(seed, "policy", batch_size, index),
                policy_seeds=tuple(episode_policy_seed(seed, tasks[t], e) for t, e in chunk),
            )
