"""Sokoban's anchor state: the room's layout, the player's position and the sorted box positions.

The layout (walls, floor and targets, drawn as text) is part of the state, so
equal anchors mean equal states across tasks too: two rooms whose player and
boxes stand on the same cells have different anchors unless their walls and
targets match as well. The rendered observation is never used.
"""

from __future__ import annotations

from collections.abc import Iterable

from anchorgym.envs.anchors import canonical_bytes, digest
from anchorgym.envs.sokoban.board import Puzzle, render

Pos = tuple[int, int]


def layout(puzzle: Puzzle) -> str:
    """Return the fixed part of the room: rows of ``#`` (wall), ``_`` (floor) and ``O`` (target), joined by ``/``.

    >>> floor = frozenset({(1, 1), (1, 2), (1, 3)})
    >>> layout(Puzzle(3, 5, floor, ((1, 1),), ((1, 2),), (1, 3)))
    '#####/#O__#/#####'
    """
    return render(puzzle, (-1, -1), frozenset()).replace("\n", "/")


def anchor_state(room: str, player: Pos, boxes: Iterable[Pos]) -> dict[str, str | list]:
    """Return the canonical state ``{"layout": room, "player": [r, c], "boxes": [[r, c], ...]}``, boxes sorted.

    >>> anchor_state("#####/#O__#/#####", (1, 3), [(1, 2)])
    {'layout': '#####/#O__#/#####', 'player': [1, 3], 'boxes': [[1, 2]]}
    """
    return {"layout": room, "player": list(player), "boxes": [list(box) for box in sorted(boxes)]}


def anchor_digest(room: str, player: Pos, boxes: Iterable[Pos]) -> str:
    """Return the digest ``info["anchor"]`` takes for this state under the default anchor function."""
    return digest(canonical_bytes(anchor_state(room, player, boxes)))
