"""vLLM rollouts for the trainer (GPU only; ``pip install 'anchorgym[vllm]'``).

With ``rollout_backend: vllm`` the trainer samples its rollouts from an
in-process vLLM engine (:class:`anchorgym.policies.vllm.VLLMPolicy`) and keeps
the HF model for the update. Before each iteration's rollout the learner's
current weights are copied into the engine through vLLM's public
``LLM.apply_model`` hook (``model.load_weights`` takes HF parameter names and
fuses qkv / gate-up itself), and the prefix cache is reset so no KV block
computed with the old weights is reused.

The engine core runs in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``) so
the weight-loading closure is called directly on the GPU tensors instead of
being serialised to a worker process.

Log-probs: the engine reports those of the distribution each token was drawn
from (``processed_logprobs``), with top-p 1 that is ``softmax(logits / T)``, the
distribution the update scores. vLLM's kernels (and bf16) differ slightly from
the HF forward, so the first ratio of an update is close to 1, not exactly 1.
"""

from __future__ import annotations

import os
from typing import Any

from anchorgym.errors import ConfigError, missing_extra


def check_vllm_available(device_type: str) -> None:
    """Raise a clear error when vLLM rollouts cannot run here (no CUDA device or no vllm package).

    Args:
        device_type: the trainer's torch device type (``"cuda"`` or ``"cpu"``).

    Raises:
        ConfigError: the trainer does not run on a CUDA GPU.
        MissingExtraError: the ``vllm`` package is not installed.
    """
    if device_type != "cuda":
        raise ConfigError(
            "rollout_backend 'vllm' needs a CUDA GPU (the trainer's device here is "
            f"{device_type!r}); use rollout_backend: hf on CPU."
        )
    try:
        import vllm  # noqa: F401
    except ImportError as error:
        raise missing_extra("vllm", "vllm") from error


def make_vllm_policy(model_dir: str, config: Any, seed: int, gpu_memory_utilization: float, dtype: str) -> Any:
    """Start the rollout engine on ``model_dir`` with the config's sampling settings.

    Args:
        model_dir: the base model directory (its weights are replaced at the first sync).
        config: the :class:`~anchorgym.training.config.TrainConfig`.
        seed: the engine seed.
        gpu_memory_utilization: fraction of GPU memory vLLM may take (the learner needs the rest).
        dtype: vLLM dtype, e.g. ``"bfloat16"``.
    """
    from anchorgym.policies.base import GenerationConfig
    from anchorgym.policies.vllm import VLLMPolicy

    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    generation = GenerationConfig(
        temperature=config.temperature, top_p=1.0, max_new_tokens=config.max_new_tokens, seed=seed
    )
    return VLLMPolicy(
        model_dir,
        generation,
        dtype=dtype,
        gpu_memory_utilization=gpu_memory_utilization,
        history_length=config.history_length,
    )


def sync_weights(policy: Any, model: Any) -> int:
    """Copy ``model``'s current weights into the vLLM engine of ``policy``; return the tensors sent.

    Args:
        policy: a :class:`~anchorgym.policies.vllm.VLLMPolicy`.
        model: the HF causal LM being trained (not peft-wrapped).
    """
    weights = [(name, tensor.detach()) for name, tensor in model.state_dict().items()]
    policy.llm.apply_model(lambda vllm_model: vllm_model.load_weights(weights))
    policy.llm.reset_prefix_cache()
    return len(weights)
