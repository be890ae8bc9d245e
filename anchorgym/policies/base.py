"""The batched policy interface shared by evaluation, training and serving.

A :class:`Policy` maps a batch of :class:`AgentInput` (one per active sub-env)
to a batch of :class:`PolicyOutput`. Model policies also return the exact token
ids and per-token log-probs they sampled, which the trainer uses directly
(text is never re-tokenised to recover them).

Env-bound policies (``expert``) need the envs themselves: the harness calls
:meth:`Policy.bind` with the vector env before the first :meth:`Policy.act`,
and every input carries ``env_index``, its sub-env's index.

Stateful policies get the episode boundaries explicitly: after every reset the
harness calls :meth:`Policy.on_episode_start` with one :class:`EpisodeStart` per
sub-env that starts an episode, and each input also says ``new_episode``. An
input's ``history`` is the window of the benchmark's ``history_length`` steps
that prompt policies show the model (part of the benchmark); ``full_history``
is the whole episode so far, for policies that keep their own memory.

Randomness is per episode, never per batch: in an evaluation every input carries
``seed``, the seed of that episode's step, derived from the episode's identity
(evaluation seed, task, episode number) and the step (see
:mod:`anchorgym.harness.plan`). A sampling policy draws everything it needs for
that input from it (:func:`step_rng` for numpy; model back-ends pass it on as
a per-request or per-row seed), so an episode plays the same whatever else
shares its batch. When ``seed`` is None (a caller without per-episode seeds)
a policy falls back to its own stream.

The order of calls per batch of episodes, like gymnasium's ``reset``/``step``::

    policy.bind(envs)
    policy.on_episode_start([EpisodeStart(...), ...])  # one per sub-env playing
    policy.act([...]); policy.act([...]); ...          # until every episode ended
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from anchorgym.errors import ConfigError, PolicyError


@dataclass
class AgentInput:
    """What a policy sees for one sub-env at one step.

    Attributes:
        env_id: registered env id (selects the prompt template).
        instruction: the task text (``info["instruction"]``).
        observation: the current observation.
        admissible_actions: valid actions, or None for an open action space.
        history: the most recent ``(observation, action)`` pairs, oldest first: at most the benchmark's
            ``history_length`` of them, the window a prompt shows the model.
        step: steps already taken in this episode.
        env_index: index of the sub-env in the vector env.
        task_type: ``info["task_type"]``.
        full_history: every ``(observation, action)`` pair of this episode so far, oldest first.
        task_id: the task this sub-env plays.
        seed: this step's random seed (31-bit), derived from the episode's identity and ``step``; every
            random draw for this input should come from it (:func:`step_rng`). None when the caller gave
            no per-episode seeds; the policy then uses its own stream.
    """

    env_id: str
    instruction: str
    observation: str
    admissible_actions: list[str] | None = None
    history: list[tuple[str, str]] = field(default_factory=list)
    step: int = 0
    env_index: int = 0
    task_type: str = ""
    full_history: list[tuple[str, str]] = field(default_factory=list)
    task_id: str = ""
    seed: int | None = None

    @property
    def new_episode(self) -> bool:
        """Whether this is the first step of an episode (nothing was played in it yet).

        >>> AgentInput("e", "i", "o").new_episode, AgentInput("e", "i", "o", full_history=[("o", "a")]).new_episode
        (True, False)
        """
        return not self.full_history


@dataclass(frozen=True)
class EpisodeStart:
    """One sub-env starting an episode, as :meth:`Policy.on_episode_start` receives it.

    Attributes:
        env_index: index of the sub-env in the vector env.
        task_id: the task it plays.
        task_type: ``info["task_type"]``.
        instruction: the task text.
        observation: the first observation.
        seed: the episode's policy stream seed (its steps' seeds derive from it), or None.
    """

    env_index: int
    task_id: str
    task_type: str
    instruction: str
    observation: str
    seed: int | None = None


def step_rng(agent_input: AgentInput, fallback: np.random.Generator) -> np.random.Generator:
    """Return the generator for ``agent_input``'s draws: a fresh one from its ``seed``, else ``fallback``.

    >>> rng = step_rng(AgentInput("e", "i", "o", seed=3), np.random.default_rng(0))
    >>> int(rng.integers(100)) == int(np.random.default_rng(3).integers(100))
    True
    """
    return fallback if agent_input.seed is None else np.random.default_rng(agent_input.seed)


class TokenCounts:
    """``tokens_in`` / ``tokens_out`` of a record with ``prompt_token_ids``, ``response_token_ids`` and ``usage``."""

    prompt_token_ids: list[int] | None
    response_token_ids: list[int] | None
    usage: tuple[int, int] | None

    @property
    def tokens_in(self) -> int | None:
        """Prompt length in tokens, when known."""
        return token_count(self.prompt_token_ids, self.usage, 0)

    @property
    def tokens_out(self) -> int | None:
        """Response length in tokens, when known."""
        return token_count(self.response_token_ids, self.usage, 1)


@dataclass
class PolicyOutput(TokenCounts):
    """What a policy returns for one :class:`AgentInput`.

    Attributes:
        text: the raw model output (for scripted policies, the action itself).
        action: the parsed env action sent to ``env.step`` (the raw text when it did not parse,
            so the env reports ``action_valid=False``).
        parsed: whether an action could be extracted from ``text``.
        prompt_token_ids: the exact prompt tokens fed to the model (model policies).
        response_token_ids: the sampled response tokens (model policies).
        logprobs: per-token log-probs of ``response_token_ids`` under the sampling policy.
        usage: ``(prompt, response)`` token counts a back-end reported without the ids (an OpenAI-style
            ``usage`` field), so costs are known even from hosted APIs.
    """

    text: str
    action: str
    parsed: bool = True
    prompt_token_ids: list[int] | None = None
    response_token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    usage: tuple[int, int] | None = None


def token_count(ids: list[int] | None, usage: tuple[int, int] | None, part: int) -> int | None:
    """Return ``len(ids)``, else ``usage[part]`` (0: prompt, 1: response), else None.

    >>> token_count(None, (40, 7), 1), token_count([1, 2], (40, 7), 1), token_count(None, None, 0)
    (7, 2, None)
    """
    if ids is not None:
        return len(ids)
    return None if usage is None else int(usage[part])


@dataclass
class GenerationConfig:
    """Sampling settings; recorded in every result file.

    Attributes:
        temperature: 0 means greedy decoding.
        top_p: nucleus sampling mass.
        max_new_tokens: cap on generated tokens per step.
        seed: seeds the sampler so runs repeat.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}.")

    def to_json(self) -> dict[str, Any]:
        """Return the settings as a JSON-able dict."""
        return asdict(self)


class Policy(abc.ABC):
    """A batched agent. Subclasses implement :meth:`act`.

    Attributes:
        spec: the spec string that made this policy (e.g. ``"hf:/models/qwen"``).
        generation: sampling settings (model policies).
    """

    spec: str = ""
    generation: GenerationConfig | None = None

    def bind(self, envs: Any) -> None:  # noqa: B027 - optional hook, most policies ignore it
        """Give the policy the vector env it will act in (used by env-bound policies)."""

    def on_episode_start(self, starts: Sequence[EpisodeStart]) -> None:  # noqa: B027 - optional hook
        """Forget per-episode state: the sub-envs in ``starts`` begin new episodes (called after each reset).

        A sub-env index is reused for many episodes; a policy that keeps memory per ``env_index``
        clears it here. Sub-envs not in ``starts`` (padding, or an env that failed to reset) are not played.
        """

    @abc.abstractmethod
    def act(self, inputs: Sequence[AgentInput]) -> list[PolicyOutput]:
        """Return one output per input, in order.

        A plain ``str`` is accepted in place of a :class:`PolicyOutput` and taken as both the text
        and the action (see :func:`as_outputs`).
        """

    def describe(self) -> dict[str, Any]:
        """Return the spec and settings recorded in result files."""
        generation = self.generation.to_json() if self.generation else None
        return {"spec": self.spec, "class": type(self).__name__, "generation": generation}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (model memory, HTTP clients, engines)."""


def as_outputs(policy: Policy, outputs: Any, count: int) -> list[PolicyOutput]:
    """Check what ``policy.act`` returned for ``count`` inputs; wrap plain strings into :class:`PolicyOutput`.

    >>> class Up(Policy):
    ...     def act(self, inputs): return ["up" for _ in inputs]
    >>> as_outputs(Up(), ["up"], 1)
    [PolicyOutput(text='up', action='up', parsed=True, prompt_token_ids=None, response_token_ids=None, \
logprobs=None, usage=None)]

    Raises:
        PolicyError: not a list (or tuple) of ``count`` PolicyOutput or str items.
    """
    name = type(policy).__name__
    expected = f"act() must return a list with one PolicyOutput (or str) per input ({count} inputs)"
    if not isinstance(outputs, (list, tuple)):
        raise PolicyError(f"Policy {name} returned {type(outputs).__name__} {_preview(outputs)}; {expected}.")
    if len(outputs) != count:
        raise PolicyError(f"Policy {name} returned {len(outputs)} outputs for {count} inputs; {expected}.")
    checked = []
    for number, output in enumerate(outputs):
        if isinstance(output, str):
            output = PolicyOutput(text=output, action=output)
        elif not isinstance(output, PolicyOutput):
            raise PolicyError(
                f"Policy {name} returned {type(output).__name__} {_preview(output)} as output {number}; {expected}."
            )
        checked.append(output)
    return checked


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
