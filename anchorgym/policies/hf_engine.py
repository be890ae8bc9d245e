"""Batched generation with a local transformers causal LM, returning exact token ids and log-probs.

Log-probs are those of the distribution each token was actually drawn from:
``generate``'s processed scores, i.e. ``log_softmax(logits / temperature)``
restricted to the top-p nucleus and renormalised (top-k is disabled). With
``temperature == 0`` (greedy) they are the plain ``log_softmax(logits)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anchorgym.errors import missing_extra
from anchorgym.policies.base import GenerationConfig
from anchorgym.policies.chat import Completion, Messages, chat_prompt_ids, require_chat_template

NEUTRAL_PROCESSING = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "min_new_tokens": 0}
NEUTRAL_SAMPLING = {"top_k": 0, "typical_p": 1.0, "min_p": 0.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0}
"""Set explicitly so a model's own generation_config.json (or transformers' top-k 50 default) cannot add
penalties or cut-offs: the distribution stays exactly temperature + top-p, as documented."""


def _import_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401 - checked here so the error names the extra
    except ImportError as error:
        raise missing_extra(error.name or "transformers", "hf") from error
    return torch


def pick_device(device: str | None) -> str:
    """Return ``device``, or ``"cuda"`` when available, else ``"cpu"``."""
    if device:
        return device
    return "cuda" if _import_torch().cuda.is_available() else "cpu"


class HFEngine:
    """A local causal LM and its tokenizer, loaded with ``local_files_only=True``.

    Args:
        path: a directory written by ``save_pretrained``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default: CUDA when available.
        dtype: torch dtype name (``"float32"``, ``"bfloat16"``); default: float32 on CPU, bfloat16 on GPU.
        threads: CPU threads for torch (``torch.set_num_threads``, process-wide); on a machine shared with
            other busy processes, 1 avoids threads spinning while they wait for each other.
    """

    def __init__(
        self, path: str | Path, device: str | None = None, dtype: str | None = None, threads: int | None = None
    ) -> None:
        torch = _import_torch()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        self.device = pick_device(device)
        dtype = dtype or ("float32" if self.device == "cpu" else "bfloat16")
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, padding_side="left")
        require_chat_template(self.tokenizer, path)
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=getattr(torch, dtype))
        self.model.to(self.device).eval()
        self.stop_ids = self._stop_ids()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.stop_ids[0]
        self.context_length = int(getattr(self.model.config, "max_position_embeddings", 0) or 0) or None

    def _stop_ids(self) -> list[int]:
        configured = self.model.generation_config.eos_token_id
        ids = configured if isinstance(configured, list) else [configured]
        ids = [i for i in ids if i is not None] or [self.tokenizer.eos_token_id]
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    def encode_chat(self, messages: Messages) -> list[int]:
        """Return the prompt ids of ``messages`` under the model's chat template, ready for the answer."""
        return chat_prompt_ids(self.tokenizer, messages)

    def generate(self, prompts: Sequence[Sequence[int]], generation: GenerationConfig, seed: int) -> list[Completion]:
        """Generate one answer per prompt (a list of ids) in one left-padded batch.

        Args:
            prompts: prompt token ids.
            generation: sampling settings.
            seed: seeds the sampler for this batch (a forked RNG; global state is left alone).
        """
        torch = _import_torch()
        input_ids, attention = self._left_pad(prompts)
        devices = [torch.device(self.device).index or 0] if self.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(seed)
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                generation_config=self._generation_config(generation),
            )
        new_ids = out.sequences[:, input_ids.shape[1] :]
        # one step at a time: stacking all steps would hold batch x new_tokens x vocab floats at once
        chosen = torch.stack(
            [s.float().log_softmax(-1).gather(-1, new_ids[:, t, None])[:, 0] for t, s in enumerate(out.scores)], dim=1
        )
        return [self._completion(list(p), new_ids[i].tolist(), chosen[i].tolist()) for i, p in enumerate(prompts)]

    def _left_pad(self, prompts: Sequence[Sequence[int]]) -> tuple[Any, Any]:
        torch = _import_torch()
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
        return ids.to(self.device), mask.to(self.device)

    def _generation_config(self, generation: GenerationConfig) -> Any:
        from transformers import GenerationConfig as HFGenerationConfig

        sample = generation.temperature > 0
        return HFGenerationConfig(
            do_sample=sample,
            temperature=generation.temperature if sample else 1.0,
            top_p=generation.top_p if sample else 1.0,
            **NEUTRAL_PROCESSING,
            **(NEUTRAL_SAMPLING if sample else {}),
            max_new_tokens=generation.max_new_tokens,
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
            return_dict_in_generate=True,
            output_scores=True,
        )

    def _completion(self, prompt: list[int], new_ids: list[int], logprobs: list[float]) -> Completion:
        end = next((i + 1 for i, t in enumerate(new_ids) if t in self.stop_ids), None)
        finish = "length" if end is None else "stop"
        end = end or len(new_ids)
        response = new_ids[:end]
        text = self.tokenizer.decode(response, skip_special_tokens=True)
        return Completion(text, prompt, response, logprobs[:end], finish)
