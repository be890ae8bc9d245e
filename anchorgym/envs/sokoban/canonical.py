"""Canonical Sokoban boards and the train/test bucket a puzzle belongs to.

Two seeds often generate the same puzzle, or the same puzzle rotated or
mirrored. To keep ``test`` puzzles out of ``train``, every puzzle is keyed by
its *canonical board*: the room drawn as text (walls, floor, targets, boxes,
player) under each of the square's 8 symmetries (4 rotations, each optionally
mirrored), the smallest string winning. A puzzle is in the ``test`` bucket when
the blake2b hash of that key, modulo :data:`BUCKETS`, is below
:data:`TEST_BUCKETS`; otherwise it is a ``train`` puzzle. The bucket is a pure
function of the board, so a puzzle and all its rotations and reflections land
in the same split whichever seed produced them.
"""

from __future__ import annotations

import hashlib

from anchorgym.envs.sokoban.board import Puzzle, render

BUCKETS = 100
TEST_BUCKETS = 10  # 10% of distinct canonical boards are test puzzles
SPLIT_BUCKETS = ("train", "test")


def canonical_key(puzzle: Puzzle) -> str:
    """Return the smallest text drawing of ``puzzle`` over its 8 rotations and reflections.

    Rows are joined by ``/``; the symbols are those of :data:`~.board.LEGEND`.

    >>> from anchorgym.envs.sokoban.board import Puzzle
    >>> floor = frozenset({(1, 1), (1, 2), (1, 3)})
    >>> left = Puzzle(3, 5, floor, ((1, 1),), ((1, 2),), (1, 3))
    >>> right = Puzzle(3, 5, floor, ((1, 3),), ((1, 2),), (1, 1))
    >>> canonical_key(left) == canonical_key(right)
    True
    >>> canonical_key(left)
    '#####/#OXP#/#####'
    """
    rows = render(puzzle, puzzle.player, frozenset(puzzle.boxes)).splitlines()
    columns = ["".join(column) for column in zip(*rows, strict=True)]
    views = []
    for grid in (rows, columns):  # the board and its transpose, each turned by the 4 mirrorings
        views += [grid, grid[::-1], [row[::-1] for row in grid], [row[::-1] for row in grid[::-1]]]
    return min("/".join(view) for view in views)


def bucket_of_key(key: str) -> str:
    """Return ``"test"`` or ``"train"``: the split that owns the canonical board ``key``.

    >>> bucket_of_key("###/#O#/#X#/#P#/###")
    'train'
    """
    value = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")
    return "test" if value % BUCKETS < TEST_BUCKETS else "train"


def bucket(puzzle: Puzzle) -> str:
    """Return the split (``"train"`` or ``"test"``) that owns ``puzzle``'s canonical board."""
    return bucket_of_key(canonical_key(puzzle))
