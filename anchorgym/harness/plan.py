"""The work plan of an evaluation: which episodes to play, in which batches, with which seeds.

Every episode has a key ``(seed, task_index, episode)``. For each evaluation
seed the ``(task, episode)`` pairs are cut into fixed batches of ``batch_size``;
a batch's env seeds and its policy seed derive only from the evaluation seed and
the batch's position, never from what ran before. A resumed run replays any
unfinished batch in full (recording only its missing episodes), so even a
sampling policy gives exactly the numbers of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

SEED_BOUND = 2**31 - 1

EpisodeKey = tuple[int, int, int]  # (seed, task_index, episode)


def derive_seed(*parts: object) -> int:
    """Derive a 31-bit seed from ``parts``, identical on every machine and process.

    >>> derive_seed(0, "1000000000", 0) == derive_seed(0, "1000000000", 0)
    True
    """
    text = "/".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") % SEED_BOUND


@dataclass(frozen=True)
class Batch:
    """One batch of episodes played together in one vector env reset.

    Attributes:
        seed: the evaluation seed.
        index: the batch's position within the seed's pass.
        keys: the episode keys, one per sub-env.
        task_ids: the task of each key.
        env_seeds: the env reset seed of each key.
        policy_seed: the seed the policy is reseeded with before the batch.
    """

    seed: int
    index: int
    keys: tuple[EpisodeKey, ...]
    task_ids: tuple[str, ...]
    env_seeds: tuple[int, ...]
    policy_seed: int


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
            )
