"""The shared core of model policies: prompts in, completions out, actions parsed.

:class:`ChatPolicy` builds chat messages from the env's versioned
:class:`~anchorgym.policies.prompting.PromptTemplate`, fits them into the
model's context by dropping the oldest history steps (never the instruction),
asks its back-end for completions and parses the answers. Back-ends implement
:meth:`ChatPolicy.complete` and, where they can count tokens, :meth:`ChatPolicy.count_tokens`.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from anchorgym.errors import ConfigError
from anchorgym.policies.base import AgentInput, GenerationConfig, Policy, PolicyOutput
from anchorgym.policies.prompting import DEFAULT_HISTORY_LENGTH, PromptTemplate, template_for
from anchorgym.policies.protocols import action_from_text

Messages = list[dict[str, str]]
SEED_STRIDE = 1_000_003
"""Without step seeds, back-ends that seed each prompt give prompt ``i`` of call ``n`` the seed
``seed + n * SEED_STRIDE + i``."""


def require_chat_template(tokenizer: Any, path: Any) -> None:
    """Raise a clear error when the model's tokenizer has no chat template (e.g. a base model)."""
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            f"The tokenizer at {path} has no chat template, so chat prompts cannot be built. Use an instruct/chat "
            "model, or set tokenizer.chat_template and save it with save_pretrained."
        )


def chat_prompt_ids(tokenizer: Any, messages: Messages) -> list[int]:
    """Return the ids of ``messages`` under ``tokenizer``'s chat template, ending with the answer prompt.

    A template whose messages end with the assistant's (Search-R1's one-turn protocol keeps every model turn
    and every retrieved passage in one assistant message) is continued: the model writes on in that message,
    as Search-R1 appends to its rolling response, instead of opening a new assistant turn.
    """
    continues = bool(messages) and messages[-1]["role"] == "assistant"
    encoded = tokenizer.apply_chat_template(
        messages, add_generation_prompt=not continues, continue_final_message=continues, tokenize=True
    )
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


@dataclass
class Completion:
    """One generated answer.

    Attributes:
        text: the decoded response (special tokens removed).
        prompt_token_ids: the exact prompt ids fed to the model, when the back-end reports them.
        response_token_ids: the sampled ids, ending with the stop token when the model stopped.
        logprobs: log-prob of each sampled id under the sampling distribution.
        finish_reason: ``"stop"`` or ``"length"``.
        usage: ``(prompt, response)`` token counts the back-end reported, when it gave no ids.
    """

    text: str
    prompt_token_ids: list[int] | None = None
    response_token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = None


class ChatPolicy(Policy, abc.ABC):
    """A policy that prompts a chat model and parses its tagged answer.

    Seeding: when every input of an :meth:`act` call carries a step seed (``AgentInput.seed``, as in
    every evaluation), :attr:`step_seeds` holds them during the call and the back-end seeds each
    prompt with its own (a per-request ``seed`` for OpenAI-compatible servers and vLLM, a per-row
    generator for the ``hf`` engine), so a prompt's answer does not depend on the others in the call.
    Otherwise the back-end draws from the policy's stream (:meth:`call_seed`, restarted by :meth:`reseed`).

    Args:
        generation: sampling settings.
        history_length: past steps shown in the prompt (k; the template's default is 2).
        repair: snap non-admissible answers to the closest admissible action.
        context_length: the model's context in tokens (prompt + response); None: no budget.
    """

    def __init__(
        self,
        generation: GenerationConfig | None = None,
        history_length: int = DEFAULT_HISTORY_LENGTH,
        repair: bool = False,
        context_length: int | None = None,
    ) -> None:
        self.generation = generation or GenerationConfig()
        self.history_length = history_length
        self.repair = repair
        self.context_length = context_length
        self.templates: dict[str, PromptTemplate] = {}
        self.calls = 0  # back-end calls so far; call n is seeded from the stream seed and n
        # Set by reseed(); until then the stream follows generation.seed. Kept apart so that
        # ``generation`` stays the settings the user gave, which results record.
        self.reseeded: int | None = None
        self.step_seeds: list[int] | None = None  # the current act() call's per-input seeds, when all have one

    def reseed(self, seed: int) -> None:
        """Restart the sampling stream at ``seed``, as if freshly built with it (used for inputs without step seeds)."""
        self.reseeded = int(seed)
        self.calls = 0

    def call_seed(self, stride: int = 1) -> int:
        """Count one back-end call and return its seed: ``stream seed + stride * (calls before it)``.

        The stream seed is the last :meth:`reseed` value, else ``generation.seed``.
        """
        self.calls += 1
        base = self.generation.seed if self.reseeded is None else self.reseeded
        return base + stride * (self.calls - 1)

    @abc.abstractmethod
    def complete(self, prompts: Sequence[Messages]) -> list[Completion]:
        """Return one completion per chat prompt, in order."""

    def prompt_seeds(self, count: int, stride: int = 1) -> list[int]:
        """Return one seed per prompt of the current :meth:`complete` call (``count`` prompts).

        The inputs' step seeds when they carry them, else ``call_seed(stride) + i`` for prompt ``i``.
        """
        if self.step_seeds is not None and len(self.step_seeds) == count:
            return list(self.step_seeds)
        base = self.call_seed(stride)
        return [base + i for i in range(count)]

    def count_tokens(self, messages: Messages) -> int | None:
        """Return the prompt length in tokens, or None when the back-end cannot count."""
        return None

    def template(self, env_id: str) -> PromptTemplate:
        """Return (and remember) the prompt template of ``env_id``."""
        if env_id not in self.templates:
            self.templates[env_id] = template_for(env_id)
        return self.templates[env_id]

    def act(self, inputs: Sequence[AgentInput]) -> list[PolicyOutput]:
        """Prompt the model for every input and parse its answers."""
        if not inputs:
            return []
        seeds = [x.seed for x in inputs]
        self.step_seeds = None if any(seed is None for seed in seeds) else [int(seed) for seed in seeds]
        try:
            completions = self.complete([self.messages(x) for x in inputs])
        finally:
            self.step_seeds = None
        return [self._output(x, c) for x, c in zip(inputs, completions, strict=True)]

    def messages(self, agent_input: AgentInput) -> Messages:
        """Build the chat prompt, dropping the oldest history steps until it fits the context."""
        template = self.template(agent_input.env_id)
        history = agent_input.history[-self.history_length :] if self.history_length > 0 else []
        budget = None if self.context_length is None else self.context_length - self.generation.max_new_tokens
        while True:
            trimmed = replace(agent_input, history=list(history))
            messages = template.messages(trimmed, history_length=len(history))
            length = self.count_tokens(messages) if budget is not None else None
            if length is None or length <= budget:
                return messages
            if not history:
                raise ConfigError(
                    f"The prompt for {agent_input.env_id} needs {length} tokens without any history, but the "
                    f"context allows {budget} (context_length {self.context_length} - max_new_tokens "
                    f"{self.generation.max_new_tokens}). Lower max_new_tokens or use a model with a longer context."
                )
            history = history[1:]

    def _output(self, agent_input: AgentInput, completion: Completion) -> PolicyOutput:
        result = action_from_text(self.template(agent_input.env_id), completion.text, agent_input, self.repair)
        return PolicyOutput(
            text=completion.text,
            action=result.action,
            parsed=result.parsed,
            prompt_token_ids=completion.prompt_token_ids,
            response_token_ids=completion.response_token_ids,
            logprobs=completion.logprobs,
            usage=completion.usage,
        )

    def describe(self) -> dict[str, Any]:
        """Add the prompt settings and the hashes of the templates used so far."""
        described = super().describe()
        described["history_length"] = self.history_length
        described["repair"] = self.repair
        described["templates"] = {
            env_id: {"name": t.name, "version": t.version, "hash": t.content_hash()}
            for env_id, t in sorted(self.templates.items())
        }
        return described
