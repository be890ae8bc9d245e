"""ALFWorld's own experts behind :meth:`AlfWorldEnv.expert_action`.

* ``handcoded``: alfworld's ``HandCodedTWAgent`` (heuristic, not always optimal).
  As in alfworld's ``AlfredExpert`` wrapper it observes the intro, proposes
  ``look`` first, then is told every step taken. We replay those steps lazily,
  only when an action is asked for, so an env nobody asks pays nothing.
* ``planner``: Fast Downward's plan from the current state (``policy_commands``).

The handcoded agent reads ``task_type`` and ``pddl_params`` from ``traj_data.json``;
when the release lacks that file they are derived from the task folder name.

The handcoded agent breaks ties with ``random.choice`` from Python's global
``random`` module, which nothing seeds, so its runs differed from one another.
Here each episode has its own ``random.Random`` seeded from the episode's seed,
put in place of that module reference only while the agent acts: its runs are
reproducible across runs, processes and backends, and no global seed is set.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from anchorgym.envs.alfworld.data import task_info_from_folder
from anchorgym.errors import unknown

EXPERTS = ("handcoded", "planner")
HANDCODED_MAX_STEPS = 200  # alfworld's AlfredExpert uses HandCodedTWAgent(max_steps=200)


_SWAP_LOCK = threading.Lock()


@contextlib.contextmanager
def _seeded_draws(rng: random.Random) -> Iterator[None]:
    """Let alfworld's handcoded agent draw from ``rng`` (its module's ``random``) for the duration."""
    from alfworld.agents.expert import handcoded_expert

    with _SWAP_LOCK:
        saved, handcoded_expert.random = handcoded_expert.random, rng
        try:
            yield
        finally:
            handcoded_expert.random = saved


def traj_info(game_path: Path) -> dict[str, Any]:
    """Return ``traj_data.json`` beside the game, or its fields derived from the task folder."""
    traj_file = game_path.parent / "traj_data.json"
    if traj_file.is_file():
        return json.loads(traj_file.read_text())
    return task_info_from_folder(game_path.parent.parent.name)


def _handcoded_agent(game_path: Path) -> Any:
    """Build alfworld's handcoded agent for a game (its ``reset`` without the file read)."""
    from alfworld.agents.expert.handcoded_expert import constants
    from alfworld.agents.expert.handcoded_expert_tw import HandCodedTWAgent

    agent = HandCodedTWAgent(max_steps=HANDCODED_MAX_STEPS)
    traj = traj_info(game_path)
    params = {**traj["pddl_params"], "task_type": traj["task_type"]}
    agent.task_params = {k: v.lower() if v in constants.OBJECTS else v for k, v in params.items()}
    agent.policy = agent.get_task_policy(agent.task_params)(agent.task_params, max_steps=agent.max_steps)
    return agent


class Expert:
    """One of ALFWorld's experts following an episode.

    Args:
        kind: ``"handcoded"`` or ``"planner"``.
    """

    def __init__(self, kind: str = "handcoded") -> None:
        if kind not in EXPERTS:
            raise unknown("ALFWorld expert", kind, EXPERTS)
        self.kind = kind
        self._agent: Any = None
        self._game_path: Path | None = None
        self._pending: list[tuple[dict[str, Any], str]] = []
        self._plan = "look"
        self._rng = random.Random(0)

    def reset(self, game_path: Path, intro: str, seed: int | None = None) -> None:
        """Start following a new episode whose first observation is ``intro``.

        Args:
            game_path: the episode's ``game.tw-pddl``.
            intro: its first observation.
            seed: the episode's seed: seeds the handcoded agent's random tie-breaks (None: unseeded).
        """
        self._agent, self._game_path = None, game_path
        self._intro = intro
        self._rng = random.Random(seed)
        self._pending = []
        self._plan = "look"

    def record(self, state: dict[str, Any], command: str) -> None:
        """Note a step taken (``state`` is the engine's state after ``command``)."""
        if self.kind == "handcoded":
            self._pending.append((state, command))

    def next_action(self, pddl_env: Any) -> str:
        """Return the expert's next command for the engine ``pddl_env`` in its current state."""
        if self.kind == "planner":
            plan = pddl_env._pddl_state.replan(pddl_env._entity_infos)
            return plan[0] if plan else "look"
        if self._agent is None:
            self._agent = _handcoded_agent(self._game_path)
            self._agent.observe(self._intro)
        for state, command in self._pending:
            game_state = {**state, "facts": [pddl_env._get_human_readable_fact(f) for f in state["_facts"]]}
            with _seeded_draws(self._rng):
                action = self._agent.act(game_state, 0, state["won"], command)
            self._plan = action if action in state["admissible_commands"] else "look"
        self._pending = []
        return self._plan
