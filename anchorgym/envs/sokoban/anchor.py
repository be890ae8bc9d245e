"""Sokoban's anchor state: the player's position and the sorted box positions.

Walls and targets are fixed per task, so within one task these two fully
determine the state. The rendered text is never used.
"""

from __future__ import annotations

from collections.abc import Iterable

from anchorgym.envs.anchors import canonical_bytes, digest

Pos = tuple[int, int]


def anchor_state(player: Pos, boxes: Iterable[Pos]) -> dict[str, list]:
    """Return the canonical state: ``{"player": [r, c], "boxes": [[r, c], ...]}`` with boxes sorted.

    >>> anchor_state((2, 3), [(4, 1), (1, 2)])
    {'player': [2, 3], 'boxes': [[1, 2], [4, 1]]}
    """
    return {"player": list(player), "boxes": [list(box) for box in sorted(boxes)]}


def anchor_digest(player: Pos, boxes: Iterable[Pos]) -> str:
    """Return the digest ``info["anchor"]`` takes for this state under the default anchor function."""
    return digest(canonical_bytes(anchor_state(player, boxes)))
