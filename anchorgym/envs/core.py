"""The anchorgym environment contract.

Every environment is a :class:`gymnasium.Env` whose observation and action are
text (``str``)::

    obs, info = env.reset(seed=None, options=None)
    obs, reward, terminated, truncated, info = env.step(action)

Standard ``info`` keys, present on every env after every ``reset`` and ``step``:

==================== ===========================================================
key                  meaning
==================== ===========================================================
``anchor``           stable hex digest of the current state (see :mod:`.anchors`)
``won``              bool: the task is solved
``score``            float in [0, 1]: the benchmark's task score, else ``float(won)``
``action_valid``     bool: the last action parsed and was admissible (True on reset)
``admissible_actions`` list[str] of valid actions, or None for an open action space
``instruction``      the task text, separate from the observation
``task_id``          str: identifies the task within its split
``task_type``        str: the task family (e.g. ALFWorld's six types)
``step``             int: steps taken in this episode
==================== ===========================================================

Invalid actions never crash an episode. An action that does not parse or is
not admissible leaves the state unchanged, counts toward ``max_steps`` and
earns :attr:`AnchorEnv.invalid_action_reward` (the env's own no-op reward: 0.0
unless the env documents otherwise, e.g. Sokoban's -0.1 step cost). Trainers
add their own shaping penalty from ``info["action_valid"]``.

Tasks: an env plays one *split* (``train``, ``test``...) whose tasks are listed
by :meth:`AnchorEnv.task_ids`. ``reset(options={"task_id": t})`` plays task
``t``; without it the task is drawn from the split with the env's seeded RNG.

To add an environment, subclass :class:`AnchorEnv`, implement the five
abstract methods and call :func:`anchorgym.envs.registry.register`.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from anchorgym.envs.anchors import AnchorFn, digest, resolve_anchor_fn
from anchorgym.errors import ConfigError

MAX_TEXT = 1 << 20  # bound for gymnasium's Text space; observations are far shorter


@dataclass
class Transition:
    """What an env's :meth:`AnchorEnv._apply` returns for one valid action."""

    observation: str
    reward: float = 0.0
    terminated: bool = False
    extra_info: dict[str, Any] = field(default_factory=dict)


class TextSpace(gym.spaces.Text):
    """Gymnasium ``Text`` space accepting any Unicode string up to ``MAX_TEXT`` characters."""

    def __init__(self) -> None:
        super().__init__(max_length=MAX_TEXT, min_length=0)

    def contains(self, x: Any) -> bool:
        """Return True for any ``str`` up to ``MAX_TEXT`` characters (the default charset is alphanumeric)."""
        return isinstance(x, str) and len(x) <= MAX_TEXT


class AnchorEnv(gym.Env[str, str], abc.ABC):
    """Base class for text environments with anchor-state hooks.

    Args:
        split: which task split to play (see :meth:`task_ids`).
        max_steps: the episode is truncated after this many steps.
        anchor_fn: ``"state"`` (default), ``"observation"``,
            ``"normalized_observation"`` or a callable ``f(env) -> bytes | str``.
    """

    metadata = {"render_modes": ["ansi"]}
    invalid_action_reward: float = 0.0
    default_max_steps: int = 50

    def __init__(
        self,
        split: str = "train",
        max_steps: int | None = None,
        anchor_fn: str | AnchorFn | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.observation_space = TextSpace()
        self.action_space = TextSpace()
        self.split = split
        self.max_steps = self.default_max_steps if max_steps is None else int(max_steps)
        if self.max_steps < 1:
            raise ConfigError(f"max_steps must be at least 1, got {max_steps}.")
        self.anchor_fn = resolve_anchor_fn(anchor_fn)
        self.render_mode = render_mode
        self.last_observation = ""
        self.steps = 0
        self.won = False
        self.task_id = ""

    # ------------------------------------------------------------------ hooks
    @abc.abstractmethod
    def task_ids(self) -> Sequence[str]:
        """Return the ids of every task in this env's split, in a fixed order."""

    @abc.abstractmethod
    def _load_task(self, task_id: str) -> str:
        """Start task ``task_id`` from its initial state; return the first observation."""

    @abc.abstractmethod
    def _apply(self, action: str) -> Transition:
        """Apply a valid, canonical action (as returned by :meth:`parse_action`)."""

    @abc.abstractmethod
    def anchor_state(self) -> Any:
        """Return the canonical true state (JSON-able; sets and tuples allowed)."""

    @abc.abstractmethod
    def admissible_actions(self) -> list[str] | None:
        """Return the currently valid actions, or None for an open action space."""

    @property
    @abc.abstractmethod
    def instruction(self) -> str:
        """The current task's instruction text."""

    # ------------------------------------------------------- optional hooks
    @property
    def task_type(self) -> str:
        """The task family of the current task (default: the env's class name)."""
        return type(self).__name__

    @property
    def score(self) -> float:
        """Task score in [0, 1]; envs with graded scores override this."""
        return float(self.won)

    def parse_action(self, action: str) -> str | None:
        """Return the canonical form of ``action``, or None when it is not admissible.

        The default accepts an exact (whitespace-stripped) member of
        :meth:`admissible_actions`; envs with open action spaces override it.
        """
        admissible = self.admissible_actions()
        candidate = action.strip()
        if admissible is None:
            return candidate or None
        return candidate if candidate in admissible else None

    def expert_action(self) -> str:
        """Return the expert's next action. Envs without an expert raise NotImplementedError."""
        raise NotImplementedError(f"{type(self).__name__} has no expert.")

    # ------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        """Start an episode on ``options["task_id"]``, or on a task drawn with ``seed``."""
        super().reset(seed=seed)
        options = options or {}
        task_id = options.get("task_id")
        if task_id is None:
            tasks = self.task_ids()
            task_id = tasks[int(self.np_random.integers(len(tasks)))]
        self.task_id = str(task_id)
        self.steps = 0
        self.won = False
        self.last_observation = self._load_task(self.task_id)
        return self.last_observation, self._info(action_valid=True, extra={})

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        """Apply ``action``; an invalid one is a no-op step with ``action_valid=False``."""
        if not isinstance(action, str):
            raise TypeError(f"Actions are str, got {type(action).__name__}: {action!r}")
        if not self.task_id:
            raise gym.error.ResetNeeded("Call reset() before step().")
        self.steps += 1
        canonical = self.parse_action(action)
        if canonical is None:
            outcome = Transition(self.last_observation, self.invalid_action_reward)
        else:
            outcome = self._apply(canonical)
        self.last_observation = outcome.observation
        truncated = not outcome.terminated and self.steps >= self.max_steps
        info = self._info(action_valid=canonical is not None, extra=outcome.extra_info)
        return outcome.observation, float(outcome.reward), bool(outcome.terminated), truncated, info

    def render(self) -> str:
        """Return the current observation text (``render_mode="ansi"``)."""
        return self.last_observation

    def anchor(self) -> str:
        """Return the digest of the current state under this env's anchor function."""
        return digest(self.anchor_fn(self))

    def _info(self, action_valid: bool, extra: dict[str, Any]) -> dict[str, Any]:
        info = {
            "anchor": self.anchor(),
            "won": bool(self.won),
            "score": float(self.score),
            "action_valid": bool(action_valid),
            "admissible_actions": self.admissible_actions(),
            "instruction": self.instruction,
            "task_id": self.task_id,
            "task_type": self.task_type,
            "step": self.steps,
        }
        info.update(extra)
        return info


STANDARD_INFO_KEYS = (
    "anchor",
    "won",
    "score",
    "action_valid",
    "admissible_actions",
    "instruction",
    "task_id",
    "task_type",
    "step",
)
