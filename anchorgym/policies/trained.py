"""``hf:RUN/iter_N``: a checkpoint of ``anchorgym train``, evaluated in the format it was trained in.

A checkpoint (``RUN/checkpoints/iter_000010``; ``RUN/iter_10`` is short for it) is a
``save_pretrained`` model like any other, but the model learnt one prompt format: the run's
``action_format`` (``choice``: pick an admissible action by digit; ``text``: a tagged action),
``choice_size``, ``history_length`` and prompt limits, all in ``RUN/config.yaml``. Evaluated as free
text, a ``choice`` model answers with digits that are no action (100% invalid), so ``hf:`` on a
trainer checkpoint reads that config and plays through the trainer's own policy
(:class:`~anchorgym.training.generation.TrainerPolicy`): the same prompts and the same parsing as the
evaluations during training. The sampling settings (``--temperature``, ``--max-new-tokens``, seed) are
the evaluation's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anchorgym.policies.base import AgentInput, GenerationConfig, Policy, PolicyOutput

STATE_FILE = "trainer_state.pt"  # as anchorgym.training.checkpoint writes it (imported lazily: torch)
RUN_CONFIG = "config.yaml"
_ITERATION = re.compile(r"^iter_(\d+)$")


def trained_checkpoint(target: str) -> Path | None:
    """Return the checkpoint folder ``target`` names, when it is one of ``anchorgym train``'s, else None.

    ``target`` is ``RUN/checkpoints/iter_000010`` or the short ``RUN/iter_10``; the run folder must
    hold the ``config.yaml`` the trainer writes.

    >>> trained_checkpoint("no/such/run/iter_3") is None
    True
    """
    path = Path(target).expanduser()
    match = _ITERATION.match(path.name)
    if match is None:
        return None
    for candidate in (path, path.parent / "checkpoints" / f"iter_{int(match[1]):06d}"):
        if (candidate / STATE_FILE).is_file() and (candidate.parent.parent / RUN_CONFIG).is_file():
            return candidate
    return None


def run_config(checkpoint: Path) -> Any:
    """Return the :class:`~anchorgym.training.config.TrainConfig` of the run that wrote ``checkpoint``."""
    from anchorgym.training.config import TrainConfig

    return TrainConfig.from_yaml(checkpoint.parent.parent / RUN_CONFIG)


class TrainedPolicy(Policy):
    """A trainer checkpoint playing in its run's prompt and action format.

    Args:
        checkpoint: the checkpoint folder (see :func:`trained_checkpoint`).
        generation: the evaluation's sampling settings (temperature 0: greedy).
        device: torch device; default CUDA when available, else CPU.
        threads: CPU threads for torch (process-wide); None keeps torch's choice.
    """

    def __init__(
        self,
        checkpoint: Path,
        generation: GenerationConfig | None = None,
        device: str | None = None,
        threads: int | None = None,
    ) -> None:
        import torch

        from anchorgym.training.generation import TrainerPolicy

        if threads is not None:
            torch.set_num_threads(int(threads))
        self.config = config = run_config(checkpoint)
        self.generation = generation = generation or GenerationConfig()
        model, tokenizer = _load(checkpoint, device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.inner = TrainerPolicy(
            model,
            tokenizer,
            config.env_id,
            config.action_format,
            config.choice_size,
            config.history_length,
            generation.temperature,
            generation.max_new_tokens,
            generation.seed if generation.seed is not None else config.seed,
            config.max_prompt_length,
            config.prompt_truncation,
        )
        self.action_format = config.action_format

    def reseed(self, seed: int) -> None:
        """Restart the sampling stream at ``seed`` (the harness calls this per evaluation batch)."""
        self.inner.reseed(seed)

    def act(self, inputs: Sequence[AgentInput]) -> list[PolicyOutput]:
        """Prompt and parse exactly as the run's evaluations did."""
        return self.inner.act(inputs)

    def describe(self) -> dict[str, Any]:
        """The spec and sampling settings, and the trained format (recorded in results)."""
        c = self.config
        trained = {"action_format": c.action_format, "history_length": c.history_length}
        if c.action_format == "choice":
            trained["choice_size"] = c.choice_size
        return {**super().describe(), "trained_format": trained}


def _load(checkpoint: Path, device: str) -> tuple[Any, Any]:
    """Load the checkpoint's model (a full model, or a LoRA adapter over its base) and tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    if (checkpoint / "adapter_config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    model.to(device).eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
