"""Optimal Sokoban plans by breadth-first search over (player, boxes) states.

BFS over push-moves finds a plan with the fewest steps, which is what the
episode length limit counts. Rooms of the default size (6x6, one box) have a
few hundred states; ``max_states`` bounds the search on larger rooms.
"""

from __future__ import annotations

from collections import deque

from anchorgym.envs.sokoban.board import DIRECTIONS, Pos, move

State = tuple[Pos, frozenset[Pos]]
DEFAULT_MAX_STATES = 200_000


def solve(
    floor: frozenset[Pos],
    targets: frozenset[Pos],
    player: Pos,
    boxes: frozenset[Pos],
    max_states: int = DEFAULT_MAX_STATES,
) -> list[str] | None:
    """Return a shortest list of actions that puts every box on a target, or None.

    None means no plan exists (a deadlock) or the search visited ``max_states``
    states without finding one.
    """
    start: State = (player, boxes)
    parents: dict[State, tuple[State, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        if state[1] <= targets:
            return _plan(parents, state)
        for name, delta in DIRECTIONS.items():
            moved = move(floor, state[0], state[1], delta)
            if moved is None:
                continue
            child = (moved[0], moved[1])
            if child not in parents:
                parents[child] = (state, name)
                queue.append(child)
        if len(parents) > max_states:
            return None
    return None


def _plan(parents: dict[State, tuple[State, str] | None], state: State) -> list[str]:
    actions = []
    while (link := parents[state]) is not None:
        state, name = link
        actions.append(name)
    return actions[::-1]
