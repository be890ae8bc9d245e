"""The ALFWorld text environment, on alfworld's and TextWorld's real engine.

Each task is one ``game.tw-pddl`` of ALFWorld's release; the task id is its path
relative to the split folder (``<task-folder>/<trial>``). The observation is the
engine's text exactly as ALFWorld prints it (the first one is the intro, which
ends with the task sentence, also given as ``info["instruction"]``). Actions are
the engine's admissible commands (``info["admissible_actions"]``); any other text
is a no-op step with ``action_valid=False`` and is never sent to the engine.
Winning ends the episode with reward 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anchorgym.envs.alfworld import anchor, data
from anchorgym.envs.alfworld.engine import Game
from anchorgym.envs.alfworld.expert import Expert
from anchorgym.envs.anchors import AnchorFn
from anchorgym.envs.core import AnchorEnv, Transition
from anchorgym.errors import UnknownNameError, suggest

WIN_REWARD = 1.0
TASK_PREFIX = "Your task is to: "


def instruction_of(intro: str) -> str:
    r"""Return the task sentence of an intro text.

    >>> instruction_of("-= Welcome =-\n\nYou are in a room.\n\nYour task is to: put a mug in desk.")
    'put a mug in desk.'
    """
    _, found, task = intro.rpartition(TASK_PREFIX)
    return task.strip() if found else ""


class AlfWorldEnv(AnchorEnv):
    """ALFWorld's text games (``anchorgym/ALFWorld-v0``).

    Args:
        split: ``train``, ``valid_seen`` (alias ``eval_in_distribution``) or
            ``valid_unseen`` (alias ``eval_out_of_distribution``).
        max_steps: episode length limit (default 50).
        anchor_fn: anchor function (default: the PDDL state, see :mod:`.anchor`).
        render_mode: ``"ansi"`` or None.
        data_dir: folder holding ``json_2.1.1/`` (default ``$ALFWORLD_DATA`` or the user cache).
        expert: ``"handcoded"`` (alfworld's heuristic agent) or ``"planner"`` (Fast Downward).
        fast: use the byte-identical speed-ups of :mod:`.speedups` (False: the stock engine).
    """

    default_max_steps = 50

    def __init__(
        self,
        split: str = "train",
        max_steps: int | None = None,
        anchor_fn: str | AnchorFn | None = None,
        render_mode: str | None = None,
        data_dir: str | Path | None = None,
        expert: str = "handcoded",
        fast: bool = True,
    ) -> None:
        super().__init__(data.canonical_split(split), max_steps, anchor_fn, render_mode)
        self.root = data.games_root(data_dir)
        self.expert = Expert(expert)
        self.game = Game(fast=fast)
        self._tasks: tuple[str, ...] = ()
        self._task_set: frozenset[str] = frozenset()
        self._instruction = ""
        self._task_type = ""

    # ------------------------------------------------------------------ tasks
    def task_ids(self) -> Sequence[str]:
        """Return the split's task ids (``<task-folder>/<trial>``), sorted."""
        if not self._tasks:
            self._tasks = data.list_games(self.root, self.split)
            self._task_set = frozenset(self._tasks)
        return self._tasks

    def game_path(self, task_id: str) -> Path:
        """Return the ``game.tw-pddl`` file of ``task_id``."""
        self.task_ids()
        if task_id not in self._task_set:
            raise UnknownNameError(
                f"Unknown ALFWorld {self.split} task {task_id!r}.{suggest(task_id, self._tasks)} "
                f"Task ids look like {self._tasks[0]!r}; list them with env.task_ids()."
            )
        return self.root / self.split / task_id / data.GAME_FILE

    # ------------------------------------------------------------------ hooks
    def _load_task(self, task_id: str) -> str:
        path = self.game_path(task_id)
        state = self.game.reset(path)
        self._task_type = data.task_info_from_folder(task_id)["task_type"]
        self._instruction = instruction_of(state.feedback)
        self.expert.reset(path, state.feedback, seed=self.np_random_seed)
        return state.feedback

    def _apply(self, action: str) -> Transition:
        state = self.game.step(action)
        self.expert.record(state, action)
        self.won = bool(state["won"])
        return Transition(state.feedback, WIN_REWARD if self.won else 0.0, terminated=self.won)

    def anchor_state(self) -> Any:
        """Return the PDDL facts that change during play (see :mod:`.anchor`)."""
        return anchor.state_of(self.game.pddl)

    def admissible_actions(self) -> list[str]:
        """Return the engine's admissible commands, sorted."""
        return list(self.game.state["admissible_commands"])

    @property
    def instruction(self) -> str:
        """The task sentence, e.g. ``put a clean mug in coffeemachine.``."""
        return self._instruction

    @property
    def task_type(self) -> str:
        """One of ALFWorld's six task types (see :data:`.data.TASK_TYPES`)."""
        return self._task_type

    def dataset_hashes(self) -> dict[str, str]:
        """Return the content hash of this split's game files (recorded in benchmark results)."""
        return {f"alfworld/{data.RELEASE}/{self.split}": data.split_hash(self.root, self.split)}

    def walkthrough(self) -> list[str]:
        """Return the current game's stored walkthrough (a winning command sequence)."""
        return list(self.game.pddl._game_data["walkthrough"])

    def expert_action(self) -> str:
        """Return the chosen expert's next command (see :mod:`.expert`)."""
        return self.expert.next_action(self.game.pddl)

    def close(self) -> None:
        """Release the engine."""
        self.game.close()
