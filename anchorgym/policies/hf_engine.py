"""Batched generation with a local transformers causal LM, returning exact token ids and log-probs.

Each row samples from its own generator, seeded per prompt (:class:`RowSampler`), so a
prompt's answer does not depend on the batch it ran in.

Log-probs are those of the distribution each token was actually drawn from:
``generate``'s processed scores, i.e. ``log_softmax(logits / temperature)``
restricted to the top-p nucleus and renormalised (top-k is disabled). With
``temperature == 0`` (greedy) they are the plain ``log_softmax(logits)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
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


class RowSampler:
    """A logits processor that samples each row from its own generator (per-row seeds).

    At each step it turns the model's logits into the sampling distribution (temperature, then top-p,
    with transformers' own warpers), draws row ``i``'s token by inverting that distribution's CDF at a
    uniform number from row ``i``'s generator (a CPU ``torch.Generator``, so the draws are the same on
    every device), records the token's log-prob and returns scores that leave only that token, which
    ``generate``'s greedy decoding then picks. With temperature 0 the token is the argmax and the
    log-probs are the plain ``log_softmax(logits)``.

    Args:
        seeds: one seed per row.
        generation: temperature and top-p.
    """

    def __init__(self, seeds: Sequence[int], generation: GenerationConfig) -> None:
        torch = _import_torch()
        from transformers import TemperatureLogitsWarper, TopPLogitsWarper

        self.generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        self.greedy = generation.temperature == 0
        self.warpers = [] if self.greedy else [TemperatureLogitsWarper(generation.temperature)]
        if not self.greedy and generation.top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(generation.top_p))
        self.logprobs: list[Any] = []  # one (rows,) tensor per generated step

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        """Sample one token per row; return scores keeping only it (``generate`` calls this each step)."""
        torch = _import_torch()
        processed = scores.float()
        for warper in self.warpers:
            processed = warper(input_ids, processed)
        logprobs = processed.log_softmax(-1)
        if self.greedy:
            chosen = logprobs.argmax(-1)
        else:
            uniform = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in self.generators])
            cdf = logprobs.double().exp().cumsum(-1)
            # the first token whose cumulative mass passes u * total: never a token of zero probability
            targets = (uniform.to(cdf.device) * cdf[:, -1]).unsqueeze(-1)
            chosen = torch.searchsorted(cdf, targets, right=True)[:, 0].clamp(max=cdf.shape[-1] - 1)
        self.logprobs.append(logprobs.gather(-1, chosen[:, None])[:, 0].cpu())
        only = torch.full_like(scores, float("-inf"))
        return only.scatter_(-1, chosen[:, None], 0.0)


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

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        generation: GenerationConfig,
        seed: int | Sequence[int],
        stop: Callable[[], bool] | None = None,
    ) -> list[Completion]:
        """Generate one answer per prompt (a list of ids) in one left-padded batch.

        Args:
            prompts: prompt token ids.
            generation: sampling settings.
            seed: one seed per prompt: row ``i`` draws its tokens from its own generator seeded with
                ``seed[i]``, so its answer does not depend on the other rows (up to floating-point batch
                effects on near-ties, see docs/evaluation.md). A single int seeds one sampler for the whole
                batch (the ``batch`` seed scheme: a row's answer then depends on the batch).
            stop: checked after every token; True ends the generation there (``anchorgym serve`` stops a
                batch whose clients all went away).
        """
        if isinstance(seed, int):
            return self._generate_batch_seeded(prompts, generation, seed, stop)
        torch = _import_torch()
        from transformers import LogitsProcessorList

        if len(seed) != len(prompts):
            raise ValueError(f"generate needs one seed per prompt: {len(prompts)} prompts, {len(seed)} seeds.")
        input_ids, attention = self._left_pad(prompts)
        sampler = RowSampler(seed, generation)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                # greedy over the sampler's scores: it leaves only the token it drew
                generation_config=self._generation_config(replace(generation, temperature=0.0)),
                logits_processor=LogitsProcessorList([sampler]),
                stopping_criteria=_stopping(stop),
            )
        new_ids = out.sequences[:, input_ids.shape[1] :]
        chosen = torch.stack(sampler.logprobs, dim=1) if sampler.logprobs else torch.zeros((len(prompts), 0))
        return [self._completion(list(p), new_ids[i].tolist(), chosen[i].tolist()) for i, p in enumerate(prompts)]

    def _generate_batch_seeded(
        self,
        prompts: Sequence[Sequence[int]],
        generation: GenerationConfig,
        seed: int,
        stop: Callable[[], bool] | None = None,
    ) -> list[Completion]:
        """Generate with one sampler for the whole batch (torch's RNG forked and seeded; global state kept)."""
        torch = _import_torch()
        input_ids, attention = self._left_pad(prompts)
        devices = [torch.device(self.device).index or 0] if self.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(seed)
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                generation_config=self._generation_config(generation),
                stopping_criteria=_stopping(stop),
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


def _stopping(stop: Callable[[], bool] | None) -> Any:
    """A transformers ``StoppingCriteriaList`` ending generation once ``stop()`` is True (None: no extra stop)."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    if stop is None:
        return None

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            torch = _import_torch()
            return torch.full((input_ids.shape[0],), bool(stop()), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_Stop()])
