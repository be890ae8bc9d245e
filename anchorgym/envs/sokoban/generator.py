"""Sokoban puzzles: anchorgym's own reverse-play generator, and the choice of generator and split.

:func:`puzzle_for_seed` is the entry point: it picks the generator
(:data:`GENERATORS`) and, for clean splits, rejects puzzles of the other split.
The ``anchorgym`` generator (:func:`generate`, the ``@v1`` benchmarks) works so:

1. Carve a room: a random walk through the interior of a walled
   ``dim_room`` grid turns wall cells into floor.
2. Put ``num_boxes`` boxes on as many targets (the solved state) and the
   player on another floor cell.
3. Play ``search_depth`` random moves *backwards*: the player steps to a free
   cell and pulls a box that was behind it. Each pull is a push played in
   reverse, so every state reached can be pushed back to the solved state.
4. Keep the reached state whose boxes lie farthest (Manhattan) from their
   targets; reject it when the optimal plan is longer than ``max_plan`` and
   try again.

Only a :class:`numpy.random.Generator` seeded from the task seed is used
(never global RNG), so a seed gives the same puzzle on every machine.
"""

from __future__ import annotations

import functools

import numpy as np

from anchorgym.envs.sokoban import canonical, gym_generator
from anchorgym.envs.sokoban.board import DIRECTIONS, Pos, Puzzle, shift
from anchorgym.envs.sokoban.canonical import SPLIT_BUCKETS
from anchorgym.envs.sokoban.gym_generator import SEED_LIMIT, derive_seed
from anchorgym.envs.sokoban.solver import solve
from anchorgym.errors import ConfigError, unknown

MAX_ATTEMPTS = 500
TURN_PROBABILITY = 0.35
WIDEN_PROBABILITY = 0.3
PULL_PREFERENCE = 0.6
OFFSETS = list(DIRECTIONS.values())


@functools.lru_cache(maxsize=4096)
def generate(
    seed: int, dim_room: tuple[int, int] = (6, 6), num_boxes: int = 1, search_depth: int = 30, max_plan: int | None = 15
) -> Puzzle:
    """Return the puzzle for ``seed``: solvable, not already solved, optimal plan <= ``max_plan`` steps.

    Args:
        seed: the task seed.
        dim_room: ``(height, width)`` including the outer walls.
        num_boxes: boxes (and targets) in the room.
        search_depth: reverse moves played from the solved state.
        max_plan: longest accepted optimal plan (None: no limit).

    Raises:
        ConfigError: the parameters admit no puzzle (e.g. too many boxes for the room).
    """
    height, width = dim_room
    if min(height, width) < 3 or num_boxes < 1 or search_depth < 1:
        raise ConfigError(
            f"need dim_room >= (3, 3), num_boxes >= 1, search_depth >= 1; got {dim_room}, {num_boxes}, {search_depth}."
        )
    rng = np.random.default_rng(seed)
    for _ in range(MAX_ATTEMPTS):
        puzzle = _attempt(rng, height, width, num_boxes, search_depth)
        if puzzle is None:
            continue
        plan = solve(puzzle.floor, frozenset(puzzle.targets), puzzle.player, frozenset(puzzle.boxes))
        if plan and (max_plan is None or len(plan) <= max_plan):
            return puzzle
    raise ConfigError(
        f"no Sokoban puzzle found for seed {seed} with dim_room={dim_room}, num_boxes={num_boxes}, "
        f"search_depth={search_depth}, max_plan={max_plan}: enlarge the room, use fewer boxes or raise max_steps."
    )


def _attempt(rng: np.random.Generator, height: int, width: int, num_boxes: int, depth: int) -> Puzzle | None:
    floor = carve_room(rng, height, width)
    cells = sorted(floor)
    if len(cells) < num_boxes + 2:
        return None
    picks = rng.choice(len(cells), size=num_boxes + 1, replace=False)
    targets = [cells[int(i)] for i in picks[:num_boxes]]
    player, boxes = reverse_play(rng, floor, cells[int(picks[-1])], targets, depth)
    if boxes is None:
        return None
    return Puzzle(height, width, floor, tuple(sorted(targets)), tuple(sorted(boxes)), player)


def carve_room(rng: np.random.Generator, height: int, width: int) -> frozenset[Pos]:
    """Carve floor cells by a random walk through the room's interior."""
    inside = {(r, c) for r in range(1, height - 1) for c in range(1, width - 1)}
    pos = (int(rng.integers(1, height - 1)), int(rng.integers(1, width - 1)))
    delta = OFFSETS[int(rng.integers(4))]
    floor = {pos}
    for _ in range(int(1.5 * len(inside))):
        if rng.random() < TURN_PROBABILITY or shift(pos, delta) not in inside:
            options = [d for d in OFFSETS if shift(pos, d) in inside]
            delta = options[int(rng.integers(len(options)))]
        pos = shift(pos, delta)
        floor.add(pos)
        side = shift(pos, (delta[1], delta[0]))  # widen corridors sideways now and then
        if rng.random() < WIDEN_PROBABILITY and side in inside:
            floor.add(side)
    return frozenset(floor)


def reverse_play(
    rng: np.random.Generator, floor: frozenset[Pos], player: Pos, targets: list[Pos], depth: int
) -> tuple[Pos, list[Pos] | None]:
    """Pull boxes away from ``targets`` for ``depth`` random moves; return the farthest state seen.

    Returns ``(player, boxes)``; ``boxes`` is None when no box ever left its target.
    """
    boxes = list(targets)
    best: tuple[tuple[int, int], Pos, list[Pos] | None] = ((0, 0), player, None)
    for _ in range(depth):
        options = [d for d in OFFSETS if shift(player, d) in floor and shift(player, d) not in boxes]
        if not options:
            break
        pulls = [d for d in options if shift(player, (-d[0], -d[1])) in boxes]
        if pulls and rng.random() < PULL_PREFERENCE:  # favour pulls, or boxes rarely travel far
            options = pulls
        delta = options[int(rng.integers(len(options)))]
        behind = shift(player, (-delta[0], -delta[1]))
        if behind in boxes:
            boxes[boxes.index(behind)] = player
        player = shift(player, delta)
        score = (_spread(boxes, targets), _spread([player] * len(boxes), boxes))
        if score[0] > 0 and score > best[0]:  # farthest boxes first, then the player farthest from them
            best = (score, player, list(boxes))
    return best[1], best[2]


def _spread(cells: list[Pos], anchors: list[Pos]) -> int:
    return sum(abs(a[0] - b[0]) + abs(a[1] - b[1]) for a, b in zip(cells, anchors, strict=True))


GENERATORS = ("anchorgym", "gym-sokoban")
"""``anchorgym``: the reverse-play generator above (``@v1`` benchmarks); ``gym-sokoban``: the published one."""
MAX_SPLIT_ATTEMPTS = 1000


@functools.lru_cache(maxsize=4096)
def puzzle_for_seed(
    seed: int,
    generator: str = "anchorgym",
    dim_room: tuple[int, int] = (6, 6),
    num_boxes: int = 1,
    search_depth: int = 30,
    max_plan: int | None = None,
    bucket: str | None = None,
) -> Puzzle:
    """Return the puzzle of task ``seed``: the first candidate seed whose puzzle is accepted.

    Candidates are ``seed`` itself, then :func:`~.gym_generator.derive_seed` ``(seed, 1)``,
    ``(seed, 2)``... A candidate is rejected when the generator fails on it (the published
    generator fails a few seeds in ten thousand) or when ``bucket`` is set and the
    puzzle's canonical board belongs to the other split (see :mod:`.canonical`).

    Args:
        seed: the task seed.
        generator: one of :data:`GENERATORS`.
        dim_room: ``(height, width)`` including the outer walls.
        num_boxes: boxes (and targets).
        search_depth: reverse-play depth.
        max_plan: longest accepted optimal plan (None: no limit).
        bucket: ``"train"`` or ``"test"`` to keep only that split's canonical boards; None keeps all.

    Raises:
        ConfigError: the seed or parameters admit no puzzle.
        UnknownNameError: ``generator`` or ``bucket`` is not a known name.
    """
    _check_choice("Sokoban generator", generator, GENERATORS)
    if bucket is not None:
        _check_choice("Sokoban split bucket", bucket, SPLIT_BUCKETS)
    if generator == "anchorgym" and bucket is None:
        return generate(seed, dim_room, num_boxes, search_depth, max_plan)  # exactly the @v1 puzzles
    if generator == "gym-sokoban" and not 0 <= seed < SEED_LIMIT:
        raise ConfigError(f"the gym-sokoban generator takes seeds in [0, 2**32) (numpy's legacy seeding); got {seed}.")
    for attempt in range(MAX_SPLIT_ATTEMPTS):
        candidate = seed if attempt == 0 else derive_seed(seed, attempt)
        puzzle = _candidate(candidate, generator, dim_room, num_boxes, search_depth, max_plan)
        if puzzle is not None and (bucket is None or canonical.bucket(puzzle) == bucket):
            return puzzle
    raise ConfigError(
        f"no {generator} Sokoban puzzle in the {bucket or 'any'} bucket for seed {seed} after {MAX_SPLIT_ATTEMPTS} "
        f"candidates with dim_room={dim_room}, num_boxes={num_boxes}, max_plan={max_plan}: "
        "enlarge the room, use fewer boxes or raise max_steps."
    )


def _check_choice(kind: str, name: str, choices: tuple[str, ...]) -> None:
    if name not in choices:
        raise unknown(kind, name, choices)


def _candidate(
    seed: int, generator: str, dim_room: tuple[int, int], num_boxes: int, search_depth: int, max_plan: int | None
) -> Puzzle | None:
    """The generator's puzzle for one candidate seed, or None when it is rejected."""
    if generator == "anchorgym":
        return generate(seed, dim_room, num_boxes, search_depth, max_plan)  # retries inside, or the config is hopeless
    puzzle = gym_generator.generate_room(seed, dim_room, num_boxes, search_depth)
    if puzzle is None or max_plan is None:
        return puzzle
    plan = solve(puzzle.floor, frozenset(puzzle.targets), puzzle.player, frozenset(puzzle.boxes))
    return puzzle if plan is not None and len(plan) <= max_plan else None
