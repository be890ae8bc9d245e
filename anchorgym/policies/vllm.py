"""The ``vllm:PATH_OR_ALIAS`` policy: an in-process vLLM engine (GPU machines; ``pip install 'anchorgym[vllm]'``).

Prompts are tokenised here with the model's chat template and handed to vLLM
as token ids, so the returned ``prompt_token_ids`` are exactly what the model
saw. The engine runs with ``logprobs_mode="processed_logprobs"``: log-probs are
those of the distribution each token was sampled from (after temperature and
top-p), the same convention as the ``hf`` back-end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from anchorgym.errors import missing_extra
from anchorgym.policies.base import GenerationConfig
from anchorgym.policies.chat import (
    SEED_STRIDE,
    ChatPolicy,
    Completion,
    Messages,
    chat_prompt_ids,
    require_chat_template,
)
from anchorgym.policies.models import resolve_model
from anchorgym.policies.prompting import DEFAULT_HISTORY_LENGTH


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as error:
        raise missing_extra("vllm", "vllm") from error
    return vllm


class VLLMPolicy(ChatPolicy):
    """Batched generation with vLLM's offline ``LLM`` engine.

    Args:
        target: a model directory or alias (``smollm2``, ``tiny``).
        generation: sampling settings. Each prompt is sampled with its own seed (``SamplingParams.seed``): its
            input's step seed, else ``seed + n * SEED_STRIDE + i`` for prompt ``i`` of call ``n``.
        dtype: vLLM dtype (``"auto"``, ``"bfloat16"``, ``"float32"``).
        gpu_memory_utilization: fraction of GPU memory vLLM may take.
        history_length: past steps in the prompt.
        repair: snap non-admissible answers to the closest admissible action.
        context_length: max model length (default: the model's own).
        **engine_kwargs: passed to ``vllm.LLM``.
    """

    def __init__(
        self,
        target: str,
        generation: GenerationConfig | None = None,
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.5,
        history_length: int = DEFAULT_HISTORY_LENGTH,
        repair: bool = False,
        context_length: int | None = None,
        **engine_kwargs: Any,
    ) -> None:
        vllm = _import_vllm()
        self.path = resolve_model(target)
        generation = generation or GenerationConfig()
        self.llm = vllm.LLM(
            model=str(self.path),
            dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization,
            seed=generation.seed,
            max_model_len=context_length,
            logprobs_mode="processed_logprobs",
            **engine_kwargs,
        )
        self.tokenizer = self.llm.get_tokenizer()
        require_chat_template(self.tokenizer, self.path)
        length = context_length or self.llm.llm_engine.model_config.max_model_len
        super().__init__(generation, history_length, repair, length)

    def encode_chat(self, messages: Messages) -> list[int]:
        """Return the prompt ids of ``messages`` under the model's chat template."""
        return chat_prompt_ids(self.tokenizer, messages)

    def count_tokens(self, messages: Messages) -> int:
        """Return the prompt length in tokens."""
        return len(self.encode_chat(messages))

    def complete(self, prompts: Sequence[Messages]) -> list[Completion]:
        """Generate every prompt in one vLLM batch."""
        vllm = _import_vllm()
        from vllm.inputs import TokensPrompt

        ids = [self.encode_chat(m) for m in prompts]
        g, seeds = self.generation, self.prompt_seeds(len(ids), stride=SEED_STRIDE)
        params = [
            vllm.SamplingParams(
                temperature=g.temperature, top_p=g.top_p, max_tokens=g.max_new_tokens, seed=seed, logprobs=0
            )
            for seed in seeds
        ]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in ids], params, use_tqdm=False)
        return [_completion(prompt, out.outputs[0]) for prompt, out in zip(ids, outputs, strict=True)]

    def close(self) -> None:
        """Drop the engine so its GPU memory can be released."""
        self.llm = None


def _completion(prompt: list[int], sample: Any) -> Completion:
    tokens = list(sample.token_ids)
    logprobs = [float(step[token].logprob) for step, token in zip(sample.logprobs or [], tokens, strict=False)]
    return Completion(
        text=sample.text,
        prompt_token_ids=prompt,
        response_token_ids=tokens,
        logprobs=logprobs if len(logprobs) == len(tokens) else None,
        finish_reason=str(sample.finish_reason or "stop"),
    )
