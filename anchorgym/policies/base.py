"""The batched policy interface shared by evaluation, training and serving.

A :class:`Policy` maps a batch of :class:`AgentInput` (one per active sub-env)
to a batch of :class:`PolicyOutput`. Model policies also return the exact token
ids and per-token log-probs they sampled, which the trainer uses directly
(text is never re-tokenised to recover them).

Env-bound policies (``expert``) need the envs themselves: the harness calls
:meth:`Policy.bind` with the vector env before the first :meth:`Policy.act`,
and every input carries ``env_index``, its sub-env's index.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from anchorgym.errors import ConfigError


@dataclass
class AgentInput:
    """What a policy sees for one sub-env at one step.

    Attributes:
        env_id: registered env id (selects the prompt template).
        instruction: the task text (``info["instruction"]``).
        observation: the current observation.
        admissible_actions: valid actions, or None for an open action space.
        history: the most recent ``(observation, action)`` pairs, oldest first.
        step: steps already taken in this episode.
        env_index: index of the sub-env in the vector env.
        task_type: ``info["task_type"]``.
    """

    env_id: str
    instruction: str
    observation: str
    admissible_actions: list[str] | None = None
    history: list[tuple[str, str]] = field(default_factory=list)
    step: int = 0
    env_index: int = 0
    task_type: str = ""


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

    @abc.abstractmethod
    def act(self, inputs: Sequence[AgentInput]) -> list[PolicyOutput]:
        """Return one output per input, in order."""

    def describe(self) -> dict[str, Any]:
        """Return the spec and settings recorded in result files."""
        generation = self.generation.to_json() if self.generation else None
        return {"spec": self.spec, "class": type(self).__name__, "generation": generation}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (model memory, HTTP clients, engines)."""
