"""The Sokoban text environment.

Rewards follow gym-sokoban: -0.1 per step, +1 when a box moves onto a
target, -1 when a box leaves one, +10 when every box is on a target (which
ends the episode with ``won=True``).

Actions are ``up``, ``down``, ``left``, ``right``, case-insensitive. Extra words
are tolerated as long as exactly one direction word appears: ``"move Up"`` and
``"<action>left</action>"`` parse; ``"up or down"`` and ``"north"`` do not. An
action that does not parse is a no-op step with ``action_valid=False`` and the
-0.1 step cost. Walking into a wall or pushing a blocked box is a valid action
that changes nothing (as in gym-sokoban).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from anchorgym.envs.anchors import AnchorFn
from anchorgym.envs.core import AnchorEnv, Transition
from anchorgym.envs.sokoban import anchor, data
from anchorgym.envs.sokoban.board import DIRECTIONS, LEGEND, Puzzle, move, render
from anchorgym.envs.sokoban.expert import Expert
from anchorgym.envs.sokoban.generator import puzzle_for_seed

STEP_REWARD = -0.1
BOX_ON_TARGET_REWARD = 1.0
BOX_OFF_TARGET_REWARD = -1.0
SOLVED_REWARD = 10.0
ACTIONS = list(DIRECTIONS)
_ACTION_WORD = re.compile(r"\b(up|down|left|right)\b", re.IGNORECASE)

INSTRUCTION = (
    "You are the player (P) in a Sokoban puzzle. Push every box (X) onto a target (O). You can push a box "
    "but never pull it, and you cannot push two boxes at once or push a box into a wall. "
    "Answer with one move: up, down, left or right."
)


class SokobanEnv(AnchorEnv):
    """Sokoban rooms generated from seeds by reverse play (see :mod:`.generator`).

    Args:
        split: ``"train"`` or ``"test"`` (seed ranges in :mod:`.data`).
        max_steps: episode length limit (default 15).
        anchor_fn: anchor function (default: :meth:`anchor_state`, see ``layout_anchor``).
        render_mode: ``"ansi"`` or None.
        dim_room: ``(height, width)`` including walls.
        num_boxes: boxes per room.
        search_depth: reverse-play depth used to generate a room.
        max_plan: longest optimal plan a room may need. Default: ``max_steps`` for the
            ``anchorgym`` generator (so the expert always wins); no limit for ``gym-sokoban``,
            which has none.
        generator: ``"anchorgym"`` (``Sokoban-v0``, the ``@v1`` benchmarks) or
            ``"gym-sokoban"`` (the published generator, :mod:`.gym_generator`).
        clean_split: keep each seed's puzzle in its split's canonical bucket, so train and
            test share no board up to rotation and reflection (:mod:`.canonical`).
        layout_anchor: put the room's layout in the anchor state, so equal anchors mean equal
            states across tasks (``Sokoban-v1``); off, the anchor is v0's player and boxes only.
    """

    invalid_action_reward = STEP_REWARD
    default_max_steps = 15

    def __init__(
        self,
        split: str = "train",
        max_steps: int | None = None,
        anchor_fn: str | AnchorFn | None = None,
        render_mode: str | None = None,
        dim_room: Sequence[int] = (6, 6),
        num_boxes: int = 1,
        search_depth: int = 30,
        max_plan: int | None = None,
        generator: str = "anchorgym",
        clean_split: bool = False,
        layout_anchor: bool = False,
    ) -> None:
        super().__init__(split, max_steps, anchor_fn, render_mode)
        self.seeds = data.split_seeds(split)
        self.generator_args = (tuple(int(d) for d in dim_room), int(num_boxes), int(search_depth))
        self.generator, self.clean_split, self.layout_anchor = generator, bool(clean_split), bool(layout_anchor)
        if max_plan is not None:
            self.max_plan: int | None = int(max_plan)
        else:
            self.max_plan = self.max_steps if generator == "anchorgym" else None
        self.puzzle: Puzzle | None = None
        self._layout: tuple[Puzzle | None, str] = (None, "")
        self.player = (0, 0)
        self.boxes: frozenset[tuple[int, int]] = frozenset()
        self.expert = Expert()

    def task_ids(self) -> Sequence[str]:
        """Return the split's seed strings (a lazy sequence)."""
        return self.seeds

    def _load_task(self, task_id: str) -> str:
        seed = data.task_seed(task_id)
        bucket = data.seed_bucket(seed) if self.clean_split else None
        self.puzzle = puzzle_for_seed(seed, self.generator, *self.generator_args, self.max_plan, bucket)
        self.player, self.boxes = self.puzzle.player, frozenset(self.puzzle.boxes)
        return self._observation()

    def parse_action(self, action: str) -> str | None:
        """Return the one direction named in ``action`` (lower-cased), or None."""
        words = {word.lower() for word in _ACTION_WORD.findall(action)}
        return words.pop() if len(words) == 1 else None

    def _apply(self, action: str) -> Transition:
        moved = move(self.puzzle.floor, self.player, self.boxes, DIRECTIONS[action])
        reward = STEP_REWARD
        if moved is not None:
            player, boxes, pushed_to = moved
            if pushed_to is not None:
                targets = self.puzzle.targets
                reward += BOX_ON_TARGET_REWARD * (pushed_to in targets)
                reward += BOX_OFF_TARGET_REWARD * (player in targets)  # the box left the player's new cell
            self.player, self.boxes = player, boxes
        self.won = self.boxes <= set(self.puzzle.targets)
        reward += SOLVED_REWARD * self.won
        return Transition(self._observation(), reward, terminated=self.won)

    def anchor_state(self) -> dict[str, str | list]:
        """The room's layout (walls and targets; with ``layout_anchor``), the player and the sorted boxes."""
        return anchor.anchor_state(self.player, self.boxes, self.layout if self.layout_anchor else None)

    @property
    def layout(self) -> str:
        """The current room's walls, floor and targets as text (see :func:`.anchor.layout`), cached per puzzle."""
        if self._layout[0] is not self.puzzle:
            self._layout = (self.puzzle, anchor.layout(self.puzzle))
        return self._layout[1]

    def admissible_actions(self) -> list[str]:
        """All four directions (a blocked move is valid and changes nothing)."""
        return list(ACTIONS)

    @property
    def instruction(self) -> str:
        """The fixed Sokoban task text."""
        return INSTRUCTION

    @property
    def task_type(self) -> str:
        """``sokoban-<h>x<w>-<boxes>box``."""
        (height, width), boxes, _ = self.generator_args
        return f"sokoban-{height}x{width}-{boxes}box"

    def expert_action(self) -> str:
        """The first move of an optimal plan from the current state."""
        return self.expert.next_action(self.puzzle, self.player, self.boxes)

    def _observation(self) -> str:
        return f"{render(self.puzzle, self.player, self.boxes)}\n{LEGEND}"
