"""Sokoban task splits: seed ranges, so every task id is a seed string.

Puzzles are generated from their seed (see :mod:`.generator`), so Sokoban
needs no data set. The splits are disjoint, documented ranges:

* ``train``: seeds ``0 .. 999_999``
* ``test``: seeds ``1_000_000_000 .. 1_000_009_999``

Disjoint seeds are not disjoint puzzles: many seeds generate the same board.
With ``clean_split=True`` (``anchorgym/Sokoban-v1``) a seed in the test range
only accepts test-bucket puzzles and every other seed only train-bucket ones
(:func:`seed_bucket`; buckets in :mod:`.canonical`), so no canonical board is
shared between the splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

from anchorgym.errors import ConfigError, unknown


class SeedRange(Sequence[str]):
    """A lazy, picklable sequence of seed strings ``str(start) .. str(stop - 1)``.

    >>> seeds = SeedRange(10, 13)
    >>> list(seeds), len(seeds), seeds[-1]
    (['10', '11', '12'], 3, '12')
    """

    def __init__(self, start: int, stop: int) -> None:
        self.range = range(start, stop)

    def __len__(self) -> int:
        return len(self.range)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [str(seed) for seed in self.range[index]]
        return str(self.range[index])

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and value.lstrip("-").isdigit() and int(value) in self.range

    def __repr__(self) -> str:
        return f"SeedRange({self.range.start}, {self.range.stop})"


SPLITS: dict[str, SeedRange] = {
    "train": SeedRange(0, 1_000_000),
    "test": SeedRange(1_000_000_000, 1_000_010_000),
}


def split_seeds(split: str) -> SeedRange:
    """Return the seeds of ``split`` or raise a helpful error."""
    if split not in SPLITS:
        raise unknown("Sokoban split", split, SPLITS)
    return SPLITS[split]


def task_seed(task_id: str) -> int:
    """Parse a task id (a seed string) into its seed.

    Any non-negative integer is a valid task, so users may play seeds outside
    the documented splits; the splits only fix what training and testing use.
    """
    text = str(task_id).strip()
    if not text.isdigit():
        raise ConfigError(f"Sokoban task ids are non-negative integer seeds such as '12', got {task_id!r}.")
    return int(text)


def seed_bucket(seed: int) -> str:
    """Return the bucket a clean split requires of ``seed``'s puzzle: ``"test"`` in the test range, else ``"train"``.

    >>> seed_bucket(1_000_000_005), seed_bucket(12), seed_bucket(2_000_000_000)
    ('test', 'train', 'train')
    """
    return "test" if seed in SPLITS["test"].range else "train"
