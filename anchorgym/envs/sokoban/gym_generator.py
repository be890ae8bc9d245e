"""The published Sokoban generator: gym-sokoban's ``generate_room`` as GiGPO (verl-agent) and RAGEN run it.

This follows the algorithm of mpSchrader/gym-sokoban (``room_utils.py``) with the
changes RAGEN made and verl-agent copied (``env_package/sokoban/sokoban/room_utils.py``),
written from their description:

1. **Topology.** A random walk of ``num_steps`` steps (gym-sokoban's env uses
   ``int(1.7 * (height + width))``: 20 for 6x6) starts at a random cell; each
   step turns with probability 0.35, moves, is clamped to the interior and
   stamps one of five 3x3 masks (a horizontal bar, a vertical bar and three
   corner shapes) as floor. The outer ring is wall again at the end.
2. **Placement.** The player, then each box target, goes on a uniformly drawn
   free floor cell (cells in row-major order). Too few cells fails the seed.
3. **Reverse play.** A depth-first search from the solved state (boxes on
   their targets) over *pull* moves: the player steps to a free cell and drags
   a box that was directly behind it. States are not revisited; the search
   stops ``search_depth`` levels deep or after 300,000 states. A state scores
   ``box_swaps x displacement`` (pulls of a box other than the last one pulled,
   times the summed Manhattan distance of every box from its target), or 0
   unless every target is empty (no box and no player on one). The first state
   with the highest score is the puzzle. Up to 4 rooms are tried; all scoring 0
   fails the seed.
4. **Player wander.** With probability 0.8 (displacement 1) or 0.5
   (otherwise) the player then walks 1-3 random steps to free cells it has not
   visited, continuing after each step with probability 0.5.

Seeding: the originals seed Python's ``random`` and numpy's legacy global RNG
with the task seed before each room. Here a private :class:`random.Random` and a
private :class:`numpy.random.RandomState` are seeded instead (the same streams,
never global state), so a seed whose first room succeeds gives exactly the
originals' puzzle. When a seed fails, the originals retry with
``abs(hash(str(seed))) % 2**32``, which Python salts per process; here the retry
seed is :func:`derive_seed`, fixed on every machine.
"""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass, field

import numpy as np

from anchorgym.envs.sokoban.board import Pos, Puzzle, shift

P_CHANGE_DIRECTIONS = 0.35
TRIES = 4
MAX_EXPLORED_STATES = 300_000
WALK_DIRECTIONS: list[Pos] = [(1, 0), (0, 1), (-1, 0), (0, -1)]
PULL_DIRECTIONS: list[Pos] = [(-1, 0), (1, 0), (0, -1), (0, 1)]  # up, down, left, right: the DFS order
MASKS: list[tuple[Pos, ...]] = [  # floor cells of each 3x3 mask, as offsets from its top-left corner
    ((1, 0), (1, 1), (1, 2)),
    ((0, 1), (1, 1), (2, 1)),
    ((1, 0), (1, 1), (2, 1)),
    ((1, 0), (1, 1), (2, 0), (2, 1)),
    ((1, 1), (1, 2), (2, 1)),
]
WANDER_STEPS = 3
WANDER_CONTINUE = 0.5
SEED_LIMIT = 2**32  # numpy's legacy RandomState takes seeds below 2**32


def default_num_steps(dim_room: tuple[int, int]) -> int:
    """gym-sokoban's walk length: ``int(1.7 * (height + width))``.

    >>> default_num_steps((6, 6))
    20
    """
    return int(1.7 * (dim_room[0] + dim_room[1]))


def derive_seed(seed: int, attempt: int) -> int:
    """Return the seed of retry ``attempt`` (>= 1) of ``seed``: blake2b, the same on every machine.

    >>> derive_seed(7, 1) == derive_seed(7, 1) != derive_seed(7, 2)
    True
    """
    raw = hashlib.blake2b(f"anchorgym-sokoban/{seed}/{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big") % SEED_LIMIT


@functools.lru_cache(maxsize=4096)
def generate_room(
    seed: int,
    dim_room: tuple[int, int] = (6, 6),
    num_boxes: int = 1,
    search_depth: int = 30,
    num_steps: int | None = None,
) -> Puzzle | None:
    """Return the room the published generator builds from ``seed``, or None where it fails that seed.

    Args:
        seed: a seed in ``[0, 2**32)``.
        dim_room: ``(height, width)`` including the outer walls.
        num_boxes: boxes (and targets).
        search_depth: the reverse-play DFS depth (GiGPO and RAGEN use 30).
        num_steps: topology walk length (default :func:`default_num_steps`).
    """
    py_rng, np_rng = random.Random(seed), np.random.RandomState(seed)
    height, width = dim_room
    steps = default_num_steps(dim_room) if num_steps is None else num_steps
    for _ in range(TRIES):
        floor = room_topology(py_rng, height, width, steps)
        placed = place_player_and_targets(np_rng, floor, num_boxes)
        if placed is None:
            return None  # the original raises here, ending all tries
        best = ReverseSearch(floor, placed[1], search_depth).run(placed[0])
        if best.displacement > 0:
            player = wander(py_rng, floor, best.player, best.boxes, best.displacement)
            return Puzzle(height, width, floor, tuple(sorted(placed[1])), tuple(sorted(best.boxes)), player)
    return None


def room_topology(rng: random.Random, height: int, width: int, num_steps: int) -> frozenset[Pos]:
    """Carve floor by the masked random walk (step 1)."""
    direction = rng.sample(WALK_DIRECTIONS, 1)[0]
    row, col = rng.randint(1, height - 1), rng.randint(1, width - 1)
    floor: set[Pos] = set()
    for _ in range(num_steps):
        if rng.random() < P_CHANGE_DIRECTIONS:
            direction = rng.sample(WALK_DIRECTIONS, 1)[0]
        row = max(min(row + direction[0], height - 2), 1)
        col = max(min(col + direction[1], width - 2), 1)
        mask = rng.sample(MASKS, 1)[0]
        floor.update((row - 1 + dr, col - 1 + dc) for dr, dc in mask)
    return frozenset((r, c) for r, c in floor if 0 < r < height - 1 and 0 < c < width - 1)


def place_player_and_targets(
    rng: np.random.RandomState, floor: frozenset[Pos], num_boxes: int
) -> tuple[Pos, list[Pos]] | None:
    """Draw the player's cell, then each target's, from the free cells in row-major order (step 2)."""
    free = sorted(floor)
    if len(free) <= num_boxes + 1:
        return None
    player = free.pop(int(rng.randint(len(free))))
    targets = [free.pop(int(rng.randint(len(free)))) for _ in range(num_boxes)]
    return player, targets


@dataclass
class Best:
    """The best state reverse play has found."""

    score: int = -1
    player: Pos = (0, 0)
    boxes: list[Pos] = field(default_factory=list)
    displacement: int = 0


class ReverseSearch:
    """Step 3: the depth-first search over pulls from the solved state.

    A state is the player's cell and, per target (row-major order), its box's
    cell and whether that box has been pulled yet. "Explored" keys on what
    gym-sokoban's room array holds: the player, and the set of box cells each
    marked pulled or never moved (not which target a box came from).
    """

    def __init__(self, floor: frozenset[Pos], targets: list[Pos], depth: int) -> None:
        self.floor, self.targets, self.depth = floor, targets, depth
        self.explored: set[tuple[Pos, frozenset[tuple[Pos, bool]]]] = set()
        self.best = Best()

    def run(self, player: Pos) -> Best:
        """Search from the solved state with the player on ``player``; return the best state."""
        if self.depth > 1:
            self._visit(player, tuple((t, False) for t in self.targets), 0, None, self.depth - 1)
        return self.best

    def _visit(self, player: Pos, boxes: tuple[tuple[Pos, bool], ...], swaps: int, last: int | None, ttl: int) -> None:
        """Score and expand one state; ``ttl`` is already spent for it (the original decrements on entry)."""
        self._score(player, boxes, swaps)
        self.explored.add((player, frozenset(boxes)))  # which box is which does not count, as in the room array
        if ttl <= 1:  # every child would stop on entry
            return
        for delta in PULL_DIRECTIONS:
            nxt_player, nxt_boxes, pulled = self._pull(player, boxes, delta)
            if len(self.explored) >= MAX_EXPLORED_STATES:
                return
            if (nxt_player, frozenset(nxt_boxes)) in self.explored:
                continue  # the original enters and leaves at once
            nxt_last = last if pulled is None else pulled
            self._visit(nxt_player, nxt_boxes, swaps + (nxt_last != last), nxt_last, ttl - 1)

    def _pull(
        self, player: Pos, boxes: tuple[tuple[Pos, bool], ...], delta: Pos
    ) -> tuple[Pos, tuple[tuple[Pos, bool], ...], int | None]:
        """Step toward ``delta`` dragging a box from behind; return the new state and the pulled box's index."""
        ahead = shift(player, delta)
        cells = [cell for cell, _ in boxes]
        if ahead not in self.floor or ahead in cells:
            return player, boxes, None
        behind = shift(player, (-delta[0], -delta[1]))
        if behind not in cells:
            return ahead, boxes, None
        index = cells.index(behind)
        moved = boxes[:index] + ((player, True),) + boxes[index + 1 :]
        return ahead, moved, index

    def _score(self, player: Pos, boxes: tuple[tuple[Pos, bool], ...], swaps: int) -> None:
        cells = {cell for cell, _ in boxes} | {player}
        displacement = sum(abs(c[0] - t[0]) + abs(c[1] - t[1]) for (c, _), t in zip(boxes, self.targets, strict=True))
        all_empty = not any(t in cells for t in self.targets)
        score = swaps * displacement if all_empty else 0
        if score > self.best.score:
            self.best = Best(score, player, [cell for cell, _ in boxes], displacement)


def wander(rng: random.Random, floor: frozenset[Pos], player: Pos, boxes: list[Pos], displacement: int) -> Pos:
    """Step 4: walk the player 1-3 random steps to unvisited free cells, or leave it."""
    if rng.random() > (0.8 if displacement == 1 else 0.5):
        return player
    visited = [player]
    for step in range(1, WANDER_STEPS + 1):
        options = [shift(player, d) for d in PULL_DIRECTIONS]
        options = [cell for cell in options if cell in floor and cell not in boxes and cell not in visited]
        if not options:
            break
        player = rng.choice(options)
        visited.append(player)
        if step >= WANDER_STEPS or rng.random() > WANDER_CONTINUE:
            break
    return player
