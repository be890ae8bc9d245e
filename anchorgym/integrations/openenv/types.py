"""The OpenEnv wire types of an anchorgym env: one action, one observation, one state.

An anchorgym step is ``obs, reward, terminated, truncated, info = env.step(text)``;
over OpenEnv it is a :class:`AnchorAction` in and a :class:`AnchorObservation` out,
whose fields carry the same values (``info`` holds every standard info key, the
anchor included, as JSON). ``done`` is ``terminated or truncated``; ``reward`` is
None after a reset, as OpenEnv's own envs report it.

An action with ``query`` set does not step: it reads one of :data:`QUERIES` from
the session's env (``task_ids``, ``expert_action``...) into ``result``. That is how
a remote vector env samples tasks and asks for expert moves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from openenv.core.env_server.types import Action, Observation, State
from pydantic import Field

QUERIES = (
    "task_ids",
    "expert_action",
    "random_action",
    "dataset_hashes",
    "admissible_actions",
    "anchor",
    "anchor_state",
    "render",
    "instruction",
    "task_type",
    "task_id",
    "score",
    "won",
    "steps",
    "max_steps",
    "split",
    "last_observation",
)
"""Env attributes and argument-free methods an :class:`AnchorAction` may read with ``query``."""


class AnchorAction(Action):
    """One text action, or (with ``query``) a read of the session env's state."""

    text: str = Field(default="", description="the action text, exactly as the env's step() takes it")
    query: str | None = Field(
        default=None,
        description=f"instead of stepping, read this env attribute or method into result: {', '.join(QUERIES)}",
    )


class AnchorObservation(Observation):
    """What ``reset`` and ``step`` return: the env's text, flags, reward and info."""

    text: str = Field(default="", description="the observation text")
    terminated: bool = Field(default=False, description="the episode ended in a terminal state")
    truncated: bool = Field(default=False, description="the episode hit max_steps")
    info: dict[str, Any] = Field(
        default_factory=dict,
        description="the standard info keys (anchor, won, score, action_valid, admissible_actions, instruction, "
        "task_id, task_type, step) and the env's own",
    )
    result: Any = Field(default=None, description="the value a query action read (None for a step)")


class AnchorState(State):
    """The session's env: which env and split it plays, and where its episode stands."""

    env_id: str = Field(description="registered anchorgym env id")
    split: str = Field(description="the task split the session's env plays")
    max_steps: int = Field(description="episode length limit")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="the constructor arguments the server gave")
    task_id: str = Field(default="", description="the current task ('' before the first reset)")
    anchor: str = Field(default="", description="digest of the current state ('' before the first reset)")
    ended: str | None = Field(default=None, description="why the session ended (None while it is usable)")


def jsonable(value: Any) -> Any:
    """Return ``value`` with numpy scalars/arrays, tuples and sets turned into JSON types.

    >>> jsonable({"a": (1, np.int64(2)), "b": {3}, 4: np.float32(0.5)})
    {'a': [1, 2], 'b': [3], '4': 0.5}
    """
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return [jsonable(item) for item in sorted(value, key=repr)]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value
