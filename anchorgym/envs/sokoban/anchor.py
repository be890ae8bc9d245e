"""Sokoban's anchor state: the room's layout, the player's position and the sorted box positions.

With the layout (walls, floor and targets, drawn as text) in the state, equal
anchors mean equal states across tasks too: two rooms whose player and boxes
stand on the same cells have different anchors unless their walls and targets
match as well. ``anchorgym/Sokoban-v1`` anchors so (``layout_anchor=True``);
``anchorgym/Sokoban-v0`` keeps its released anchor, player and boxes only, so
the recorded episodes of the ``@v1`` benchmarks still replay step for step.
The rendered observation is never used.
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


def anchor_state(player: Pos, boxes: Iterable[Pos], room: str | None = None) -> dict[str, str | list]:
    """Return the canonical state ``{"layout": room, "player": [r, c], "boxes": [[r, c], ...]}``, boxes sorted.

    Without ``room`` (Sokoban-v0) the ``layout`` key is left out.

    >>> anchor_state((1, 3), [(1, 2)], "#####/#O__#/#####")
    {'layout': '#####/#O__#/#####', 'player': [1, 3], 'boxes': [[1, 2]]}
    >>> anchor_state((2, 3), [(4, 1), (1, 2)])
    {'player': [2, 3], 'boxes': [[1, 2], [4, 1]]}
    """
    state: dict[str, str | list] = {} if room is None else {"layout": room}
    return {**state, "player": list(player), "boxes": [list(box) for box in sorted(boxes)]}


def anchor_digest(player: Pos, boxes: Iterable[Pos], room: str | None = None) -> str:
    """Return the digest ``info["anchor"]`` takes for this state under the default anchor function."""
    return digest(canonical_bytes(anchor_state(player, boxes, room)))
