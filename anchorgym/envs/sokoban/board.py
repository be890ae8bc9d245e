"""Sokoban boards: the immutable puzzle, the move rule and the text rendering."""

from __future__ import annotations

from dataclasses import dataclass

Pos = tuple[int, int]

DIRECTIONS: dict[str, Pos] = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
"""Action name -> (row, column) offset, in the order actions are listed."""

LEGEND = "Legend: # wall, _ floor, O target, X box, * box on target, P player, + player on target."


@dataclass(frozen=True)
class Puzzle:
    """One Sokoban task.

    Attributes:
        height: rows of the room, walls included.
        width: columns of the room, walls included.
        floor: every cell that is not a wall.
        targets: target cells, sorted.
        boxes: initial box cells, sorted.
        player: initial player cell.
    """

    height: int
    width: int
    floor: frozenset[Pos]
    targets: tuple[Pos, ...]
    boxes: tuple[Pos, ...]
    player: Pos


def shift(pos: Pos, delta: Pos) -> Pos:
    """Return ``pos`` moved by ``delta``."""
    return pos[0] + delta[0], pos[1] + delta[1]


def move(
    floor: frozenset[Pos], player: Pos, boxes: frozenset[Pos], delta: Pos
) -> tuple[Pos, frozenset[Pos], Pos | None] | None:
    """Apply one push-move; return ``(player, boxes, pushed_box_destination)`` or None if blocked.

    The player steps onto a free floor cell, or pushes the box there when the
    cell behind it is free floor.
    """
    ahead = shift(player, delta)
    if ahead not in floor:
        return None
    if ahead not in boxes:
        return ahead, boxes, None
    beyond = shift(ahead, delta)
    if beyond not in floor or beyond in boxes:
        return None
    return ahead, (boxes - {ahead}) | {beyond}, beyond


def render(puzzle: Puzzle, player: Pos, boxes: frozenset[Pos]) -> str:
    """Render the room as text rows (see :data:`LEGEND`)."""
    targets = set(puzzle.targets)
    rows = []
    for r in range(puzzle.height):
        rows.append("".join(_symbol((r, c), puzzle.floor, targets, player, boxes) for c in range(puzzle.width)))
    return "\n".join(rows)


def _symbol(cell: Pos, floor: frozenset[Pos], targets: set[Pos], player: Pos, boxes: frozenset[Pos]) -> str:
    if cell not in floor:
        return "#"
    on_target = cell in targets
    if cell == player:
        return "+" if on_target else "P"
    if cell in boxes:
        return "*" if on_target else "X"
    return "O" if on_target else "_"
