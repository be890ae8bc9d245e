"""Policy losses on token log-probs: PPO-clip with dual clip, k3 KL to a reference, entropy bonus.

Tensors are ``[batch, tokens]`` with a 0/1 ``mask`` over response tokens;
``advantages`` are per sequence (``[batch]``) or per token. Metric keys:

======================== ==================================================================
key                      meaning
======================== ==================================================================
``loss/policy``          the clipped surrogate loss (aggregated as configured)
``loss/kl``              mean k3 KL to the reference (0 without one)
``loss/entropy``         mean token entropy (0 when no logits are given)
``clip_ratio/low_mean``  fraction of tokens with ``A < 0`` and ``ratio < 1 - eps`` (clipped)
``clip_ratio/high_mean`` fraction of tokens with ``A > 0`` and ``ratio > 1 + eps`` (clipped)
``clip_ratio/dual_mean`` fraction of tokens with ``A < 0`` and ``ratio > c`` (dual clip)
``approx_kl/old``        mean ``log pi_old - log pi`` (how far this update moved)
======================== ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from anchorgym.errors import ConfigError

AGGREGATIONS = ("token-mean", "seq-mean")


@dataclass
class LossConfig:
    """Settings of the policy loss.

    Attributes:
        clip_eps: PPO clip range epsilon (Schulman et al. 2017): ratio clipped to ``[1-eps, 1+eps]``.
        clip_ratio_c: dual-clip bound c (Ye et al. 2020) on the loss of negative-advantage tokens; > 1.
        aggregation: ``"token-mean"`` (every response token weighs the same, DAPO) or
            ``"seq-mean"`` (mean over sequences of each sequence's token mean).
        kl_coef: weight of the k3 KL to the frozen reference; 0 disables it (no reference needed).
        entropy_coef: weight of the entropy bonus; 0 disables it.
    """

    clip_eps: float = 0.2
    clip_ratio_c: float = 3.0
    aggregation: str = "token-mean"
    kl_coef: float = 0.0
    entropy_coef: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.clip_eps < 1:
            raise ConfigError(f"clip_eps must be in (0, 1), got {self.clip_eps}.")
        if self.clip_ratio_c <= 1:
            raise ConfigError(f"clip_ratio_c (dual clip) must be > 1, got {self.clip_ratio_c}. The usual value is 3.")
        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(f"aggregation must be one of {AGGREGATIONS}, got {self.aggregation!r}.")
        if self.kl_coef < 0 or self.entropy_coef < 0:
            raise ConfigError("kl_coef and entropy_coef must be >= 0.")


def aggregate(values: torch.Tensor, mask: torch.Tensor, how: str, normalizer: float | None = None) -> torch.Tensor:
    """Reduce per-token ``values`` over ``mask``.

    ``token-mean`` divides the masked sum by ``normalizer`` when given (the
    token count of the whole mini-batch, so gradient-accumulated micro-batches
    add up to the same loss as one big batch), else by ``mask.sum()``.
    ``seq-mean`` averages each sequence's token mean over the sequences.
    """
    mask = mask.to(values.dtype)
    if how == "seq-mean":
        per_seq = (values * mask).sum(-1) / mask.sum(-1).clamp(min=1)
        return per_seq.sum() / (normalizer if normalizer is not None else values.shape[0])
    return (values * mask).sum() / (normalizer if normalizer is not None else mask.sum().clamp(min=1))


def ppo_clip_terms(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, clip_eps: float, clip_ratio_c: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-token dual-clip PPO loss and clip indicators.

    ``L = max(-A r, -A clip(r, 1-eps, 1+eps))``, and for ``A < 0`` additionally
    ``L = min(L, -A c)`` (dual clip), with ``r = exp(log pi - log pi_old)``.
    """
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(-1)
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps)
    loss = torch.maximum(unclipped, clipped)
    dual = torch.minimum(loss, -advantages * clip_ratio_c)
    loss = torch.where(advantages < 0, dual, loss)
    flags = {
        "clip_ratio/low_mean": (advantages < 0) & (ratio < 1 - clip_eps),
        "clip_ratio/high_mean": (advantages > 0) & (ratio > 1 + clip_eps),
        "clip_ratio/dual_mean": (advantages < 0) & (ratio > clip_ratio_c),
    }
    return loss, flags


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Low-variance KL estimator k3 (Schulman 2020): ``exp(q - p) - (q - p) - 1`` with ``q = log pi_ref``.

    Unbiased for KL(pi || pi_ref) under samples from pi, and never negative.
    """
    delta = ref_logprobs - logprobs
    return torch.exp(delta) - delta - 1


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the softmax of ``logits`` over the last axis: ``logsumexp(z) - sum softmax(z) z``."""
    log_z = torch.logsumexp(logits, dim=-1)
    return log_z - (torch.softmax(logits, dim=-1) * logits).sum(-1)


def policy_loss(
    config: LossConfig,
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    ref_logprobs: torch.Tensor | None = None,
    entropy: torch.Tensor | None = None,
    normalizer: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Return ``policy + kl_coef * KL - entropy_coef * H`` and its metrics (see module docs).

    Args:
        config: loss settings.
        logprobs: log pi(token) under the current policy, ``[B, T]``, with grad.
        old_logprobs: log-probs recorded at generation, ``[B, T]``.
        advantages: ``[B]`` or ``[B, T]``.
        mask: 1 on response tokens, 0 on padding.
        ref_logprobs: log-probs under the frozen reference (needed when ``kl_coef > 0``).
        entropy: per-token entropy ``[B, T]`` (needed when ``entropy_coef > 0``).
        normalizer: token (token-mean) or sequence (seq-mean) count of the whole mini-batch.
    """
    how = config.aggregation
    per_token, flags = ppo_clip_terms(logprobs, old_logprobs, advantages, config.clip_eps, config.clip_ratio_c)
    loss = aggregate(per_token, mask, how, normalizer)
    metrics = {"loss/policy": float(loss.detach())}
    if config.kl_coef > 0:
        if ref_logprobs is None:
            raise ConfigError("kl_coef > 0 needs reference log-probs; set kl_coef: 0 to train without a reference.")
        kl = aggregate(k3_kl(logprobs, ref_logprobs), mask, how, normalizer)
        loss = loss + config.kl_coef * kl
        metrics["loss/kl"] = float(kl.detach())
    if config.entropy_coef > 0:
        if entropy is None:
            raise ConfigError("entropy_coef > 0 needs the per-token entropy.")
        bonus = aggregate(entropy, mask, how, normalizer)
        loss = loss - config.entropy_coef * bonus
        metrics["loss/entropy"] = float(bonus.detach())
    weight = mask.to(logprobs.dtype)
    tokens = weight.sum().clamp(min=1)
    for key, flag in flags.items():
        metrics[key] = float((flag.to(weight.dtype) * weight).sum() / tokens)
    metrics["approx_kl/old"] = float(((old_logprobs - logprobs.detach()) * weight).sum() / tokens)
    return loss, metrics
