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
unless the env documents otherwise, e.g. Sokoban's -0.1 step cost). It observes
the previous observation again, or :attr:`AnchorEnv.invalid_action_observation`
when the env sets one (the fixed message its original shows, e.g. Search-R1's).
Trainers add their own shaping penalty from ``info["action_valid"]``.

Tasks: an env plays one *split* (``train``, ``test``...) whose tasks are listed
by :meth:`AnchorEnv.task_ids`. ``reset(options={"task_id": t})`` plays task
``t``; without it the task is drawn from the split with the env's seeded RNG.

To add an environment, subclass :class:`AnchorEnv`, implement the five
abstract methods and call :func:`anchorgym.envs.registry.register`.
"""

from __future__ import annotations

import abc
import string
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

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


class CodePoints(Sequence):
    """Every Unicode character, in code-point order: ``CodePoints()[i] == chr(i)``, and membership by length 1.

    Gymnasium's ``Text`` space stores a string as the indices of its characters in the charset (shared
    memory of ``AsyncVectorEnv``, ``flatten``); with this charset the index of a character is its code point.
    """

    def __len__(self) -> int:
        return sys.maxunicode + 1

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        return chr(index)

    def __contains__(self, char: object) -> bool:
        return isinstance(char, str) and len(char) == 1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CodePoints)

    def __hash__(self) -> int:
        return hash(CodePoints)


SAMPLE_CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n"
"""What :meth:`TextSpace.sample` draws from without a mask (any code point could be a lone surrogate)."""


class TextSpace(gym.spaces.Text):
    """Gymnasium ``Text`` space accepting any Unicode string up to ``MAX_TEXT`` characters.

    Its charset is every code point (:class:`CodePoints`), so gymnasium's own vector envs
    (``gymnasium.make_vec(..., vectorization_mode="async")``) can carry any observation.
    """

    def __init__(self, admissible: Callable[[], Sequence[str] | None] | None = None) -> None:
        super().__init__(max_length=MAX_TEXT, min_length=0)
        self._char_set = self._char_list = CodePoints()  # type: ignore[assignment]
        self._char_str = " "  # gymnasium's empty batch repeats its first character min_length (0) times
        self.admissible = admissible  # an env's admissible_actions: sample() draws from them

    def __getstate__(self) -> dict[str, Any]:
        # the admissible-actions hook is bound to one live env: copies and pickles (vector workers) drop it
        return {**self.__dict__, "admissible": None}

    def character_index(self, char: str) -> np.int32:
        """Return the code point of ``char`` (its index in the charset)."""
        return np.int32(ord(char))

    def contains(self, x: Any) -> bool:
        """Return True for any ``str`` up to ``MAX_TEXT`` characters."""
        return isinstance(x, str) and len(x) <= MAX_TEXT

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """Return a uniformly drawn admissible action when the env lists them, else a random string.

        An env's ``action_space`` knows its current admissible actions (after ``reset``), so
        ``env.action_space.sample()`` is a legal move, as in gymnasium's discrete spaces. An env with an
        open action space (``admissible_actions()`` is None, e.g. WebShop's search box or tool-QA's
        free text) cannot enumerate its actions: sample() then returns a random string of
        :data:`SAMPLE_CHARSET` characters, which the env treats as an invalid action (a no-op step).
        With a mask or probability it is gymnasium's ``Text`` sampling.
        """
        if mask is not None or probability is not None:
            return super().sample(mask=mask, probability=probability)
        actions = self.admissible() if self.admissible is not None else None
        if actions:
            return str(actions[int(self.np_random.integers(len(actions)))])
        length = int(self.np_random.integers(self.min_length, min(self.max_length, 64) + 1))
        return "".join(self.np_random.choice(list(SAMPLE_CHARSET), size=length))

    def __repr__(self) -> str:
        return f"TextSpace(max_length={self.max_length})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextSpace) and other.max_length == self.max_length

    def __hash__(self) -> int:
        return hash((TextSpace, self.max_length))


class SharedTexts(Sequence):
    """The strings in an ``AsyncVectorEnv``'s shared memory for a :class:`TextSpace`, read when indexed.

    Gymnasium reads a ``Text`` space's shared memory once, into a tuple that never changes;
    this view decodes the current contents instead (a deep copy is a tuple of the strings now).
    """

    def __init__(self, buffer: Any, n: int, max_length: int) -> None:
        self.codes = np.frombuffer(buffer.get_obj(), dtype=np.int32).reshape(n, max_length)

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        if isinstance(index, slice):
            return tuple(self)[index]
        row = self.codes[index]
        end = int(np.argmax(row > sys.maxunicode)) if (row > sys.maxunicode).any() else len(row)
        return row[:end].astype("<u4").tobytes().decode("utf-32-le", errors="surrogatepass")

    def __deepcopy__(self, memo: dict) -> tuple[str, ...]:
        return tuple(self)


@gym.vector.utils.create_shared_memory.register(TextSpace)
def _text_shared_memory(space: TextSpace, n: int = 1, ctx: Any = None) -> Any:
    import multiprocessing

    return (ctx or multiprocessing).Array(np.dtype(np.int32).char, n * space.max_length)


@gym.vector.utils.read_from_shared_memory.register(TextSpace)
def _read_text_shared_memory(space: TextSpace, shared_memory: Any, n: int = 1) -> SharedTexts:
    return SharedTexts(shared_memory, n, space.max_length)


class AnchorEnv(gym.Env[str, str], abc.ABC):
    """Base class for text environments with anchor-state hooks.

    Args:
        split: which task split to play (see :meth:`task_ids`).
        max_steps: the episode is truncated after this many steps.
        anchor_fn: ``"state"`` (default), ``"observation"``,
            ``"normalized_observation"`` or a callable ``f(env) -> bytes | str``.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # fps: what gymnasium's recorders assume for a frame
    invalid_action_reward: float = 0.0
    invalid_action_observation: str | None = None  # None: an invalid action shows the previous observation again
    default_max_steps: int = 50

    def __init__(
        self,
        split: str = "train",
        max_steps: int | None = None,
        anchor_fn: str | AnchorFn | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.observation_space = TextSpace()
        self.action_space = TextSpace(admissible=self._actions_to_sample)
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

    def _actions_to_sample(self) -> Sequence[str] | None:
        """The admissible actions ``action_space.sample()`` draws from (None before the first reset)."""
        return self.admissible_actions() if self.task_id else None

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
            shown = (
                self.last_observation if self.invalid_action_observation is None else self.invalid_action_observation
            )
            outcome = Transition(shown, self.invalid_action_reward)
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
