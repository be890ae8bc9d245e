"""The ``hf:PATH_OR_ALIAS`` policy: a local transformers causal LM (see :mod:`.hf_engine`)."""

from __future__ import annotations

from collections.abc import Sequence

from anchorgym.policies.base import GenerationConfig
from anchorgym.policies.chat import ChatPolicy, Completion, Messages
from anchorgym.policies.models import resolve_model
from anchorgym.policies.prompting import DEFAULT_HISTORY_LENGTH


class HFPolicy(ChatPolicy):
    """Batched generation with a local Hugging Face model, on CPU or GPU.

    Args:
        target: a model directory or an alias (``smollm2``, ``tiny``).
        generation: sampling settings. Each prompt samples from its own generator, seeded with its input's
            step seed (``AgentInput.seed``); inputs without one share a sampler seeded ``seed + n`` for call ``n``.
        device: torch device; default CUDA when available.
        dtype: torch dtype name; default float32 on CPU, bfloat16 on GPU.
        threads: CPU threads for torch (process-wide); None keeps torch's choice.
        batch_size: most prompts per ``generate`` call (None: all at once).
        history_length: past steps in the prompt.
        repair: snap non-admissible answers to the closest admissible action.
        context_length: override the model's ``max_position_embeddings``.
    """

    def __init__(
        self,
        target: str,
        generation: GenerationConfig | None = None,
        device: str | None = None,
        dtype: str | None = None,
        threads: int | None = None,
        batch_size: int | None = None,
        history_length: int = DEFAULT_HISTORY_LENGTH,
        repair: bool = False,
        context_length: int | None = None,
    ) -> None:
        from anchorgym.policies.hf_engine import HFEngine

        self.path = resolve_model(target)
        self.engine = HFEngine(self.path, device=device, dtype=dtype, threads=threads)
        super().__init__(generation, history_length, repair, context_length or self.engine.context_length)
        self.batch_size = batch_size

    def count_tokens(self, messages: Messages) -> int:
        """Return the prompt length under the model's chat template."""
        return len(self.engine.encode_chat(messages))

    def complete(self, prompts: Sequence[Messages]) -> list[Completion]:
        """Generate an answer for every prompt, ``batch_size`` at a time."""
        ids = [self.engine.encode_chat(m) for m in prompts]
        size = self.batch_size or len(ids)
        seeds = self.step_seeds if self.step_seeds is not None and len(self.step_seeds) == len(ids) else None
        completions: list[Completion] = []
        for start in range(0, len(ids), size):
            # per-row seeds (each input's step seed); without them one stream seed per generate call
            chunk_seeds = seeds[start : start + size] if seeds is not None else self.call_seed()
            completions += self.engine.generate(ids[start : start + size], self.generation, chunk_seeds)
        return completions

    def close(self) -> None:
        """Drop the model so its memory can be freed."""
        self.engine = None  # type: ignore[assignment]
