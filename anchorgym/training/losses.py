"""Policy losses on token log-probs: PPO-clip with dual clip, KL to a reference (k1, k2, k3), entropy bonus.

Tensors are ``[batch, tokens]`` with a 0/1 ``mask`` over response tokens;
``advantages`` are per sequence (``[batch]``) or per token. Metric keys:

======================== ==================================================================
key                      meaning
======================== ==================================================================
``loss/policy``          the clipped surrogate loss (aggregated as configured)
``loss/kl``              the KL estimate to the reference, aggregated as the loss (absent without one)
``loss/entropy``         mean token entropy (0 when no logits are given)
``clip_ratio/low_mean``  fraction of tokens with ``A < 0`` and ``ratio < 1 - eps_low`` (clipped)
``clip_ratio/high_mean`` fraction of tokens with ``A > 0`` and ``ratio > 1 + eps_high`` (clipped)
``clip_ratio/dual_mean`` fraction of tokens with ``A < 0`` and ``ratio > c`` (dual clip)
``approx_kl/old``        mean ``log pi_old - log pi`` (how far this update moved)
======================== ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from anchorgym.errors import ConfigError, suggest

AGGREGATIONS = (
    "token-mean",
    "token-sum",
    "seq-mean",
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
    "seq-mean-token-sum-norm-verl",
)
SEQUENCE_COUNT = ("seq-mean", "seq-mean-token-mean", "seq-mean-token-sum")  # normalised by the sequence count
LOG_RATIO_CLAMP = 20.0  # verl's compute_policy_loss: log pi - log pi_old clamped to [-20, 20] before exp
K3_CLAMP = 10.0  # verl's kl_penalty: low_var_kl clamped to [-10, 10] (its log-ratio first to [-20, 20])
K3_LOG_RATIO_CLAMP = 20.0


@dataclass
class LossConfig:
    """Settings of the policy loss.

    Attributes:
        clip_eps: PPO clip range epsilon (Schulman et al. 2017): ratio clipped to ``[1-eps, 1+eps]``.
        clip_ratio_c: dual-clip bound c (Ye et al. 2020) on the loss of negative-advantage tokens; > 1.
        aggregation: verl's ``loss_agg_mode``: ``"token-mean"`` (every response token weighs
            the same, DAPO), ``"token-sum"`` (the token losses summed, no divisor: verl 0.9),
            ``"seq-mean"`` = ``"seq-mean-token-mean"`` (mean over sequences of each sequence's
            token mean), ``"seq-mean-token-sum"`` (mean over sequences of each sequence's token
            sum), ``"seq-mean-token-sum-norm"`` (Dr. GRPO as verl-agent and verl < 0.9 have it:
            all token losses summed, divided by the constant ``norm_length``) or
            ``"seq-mean-token-sum-norm-verl"`` (verl 0.9's ``seq-mean-token-sum-norm``: the
            ``seq-mean-token-sum`` loss, i.e. also divided by the number of non-empty rows,
            divided by ``norm_length``).
        kl_coef: weight of the KL to the frozen reference; 0 disables it (no reference needed).
        entropy_coef: weight of the entropy bonus; 0 disables it.
        kl_estimator: ``"k3"`` (verl's ``low_var_kl``, clamped), ``"k2"`` (``mse``) or ``"k1"`` (``kl``).
        norm_length: the divisor of ``seq-mean-token-sum-norm*`` (verl: the response length budget).
        clip_ratio_low: lower clip range (ratio floor ``1 - clip_ratio_low``); None: ``clip_eps``.
        clip_ratio_high: upper clip range (ratio cap ``1 + clip_ratio_high``, DAPO's clip-higher
            uses 0.28); None: ``clip_eps``.
    """

    clip_eps: float = 0.2
    clip_ratio_c: float = 3.0
    aggregation: str = "token-mean"
    kl_coef: float = 0.0
    entropy_coef: float = 0.0
    kl_estimator: str = "k3"
    norm_length: int = 512
    clip_ratio_low: float | None = None
    clip_ratio_high: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.clip_eps < 1:
            raise ConfigError(f"clip_eps must be in (0, 1), got {self.clip_eps}.")
        if self.clip_ratio_low is not None and not 0 < self.clip_ratio_low < 1:
            raise ConfigError(f"clip_ratio_low must be in (0, 1) (or null: clip_eps), got {self.clip_ratio_low}.")
        if self.clip_ratio_high is not None and self.clip_ratio_high <= 0:
            raise ConfigError(f"clip_ratio_high must be > 0 (or null: clip_eps), got {self.clip_ratio_high}.")
        if self.clip_ratio_c <= 1:
            raise ConfigError(f"clip_ratio_c (dual clip) must be > 1, got {self.clip_ratio_c}. The usual value is 3.")
        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(
                f"aggregation must be one of {AGGREGATIONS}, got {self.aggregation!r}."
                f"{suggest(self.aggregation, AGGREGATIONS)}"
            )
        if self.kl_coef < 0 or self.entropy_coef < 0:
            raise ConfigError("kl_coef and entropy_coef must be >= 0.")
        if self.kl_estimator not in KL_ESTIMATORS:
            raise ConfigError(
                f"kl_estimator must be one of {sorted(KL_ESTIMATORS)}, got {self.kl_estimator!r}."
                f"{suggest(self.kl_estimator, KL_ESTIMATORS)}"
            )
        if self.norm_length < 1:
            raise ConfigError(f"norm_length (seq-mean-token-sum-norm's divisor) must be >= 1, got {self.norm_length}.")

    @property
    def clip_low(self) -> float:
        """The lower clip range: ``clip_ratio_low``, else ``clip_eps``."""
        return self.clip_eps if self.clip_ratio_low is None else self.clip_ratio_low

    @property
    def clip_high(self) -> float:
        """The upper clip range: ``clip_ratio_high``, else ``clip_eps``."""
        return self.clip_eps if self.clip_ratio_high is None else self.clip_ratio_high


def aggregate(values: torch.Tensor, mask: torch.Tensor, how: str, normalizer: float | None = None) -> torch.Tensor:
    """Reduce per-token ``values`` over ``mask`` as verl's ``agg_loss`` does.

    ``normalizer`` is the whole mini-batch's divisor: its token count (``token-mean``), its
    sequence count (``seq-mean``, ``seq-mean-token-mean``, ``seq-mean-token-sum``), the constant
    length (``seq-mean-token-sum-norm``) or sequence count times that length
    (``seq-mean-token-sum-norm-verl``), so gradient-accumulated micro-batches add up to the loss
    of one big batch. Without it the micro-batch's own count is used (the length: ``mask.shape[-1]``,
    verl's default). ``token-sum`` has no divisor and ignores it.

    >>> values, mask = torch.tensor([[1.0, 2.0], [3.0, 0.0]]), torch.tensor([[1, 1], [1, 0]])
    >>> [float(aggregate(values, mask, how)) for how in ("token-mean", "token-sum", "seq-mean-token-sum")]
    [2.0, 6.0, 3.0]
    >>> [float(aggregate(values, mask, how)) for how in ("seq-mean-token-sum-norm", "seq-mean-token-sum-norm-verl")]
    [3.0, 1.5]
    """
    mask = mask.to(values.dtype)
    total = (values * mask).sum()
    if how == "token-mean":
        return total / (normalizer if normalizer is not None else mask.sum().clamp(min=1))
    if how == "token-sum":
        return total
    if how == "seq-mean-token-sum-norm":
        return total / (normalizer if normalizer is not None else mask.shape[-1])
    if how == "seq-mean-token-sum-norm-verl":
        rows = (mask.sum(-1) > 0).sum().clamp(min=1)
        return total / (normalizer if normalizer is not None else rows * mask.shape[-1])
    per_seq = (values * mask).sum(-1)
    if how != "seq-mean-token-sum":  # seq-mean = seq-mean-token-mean
        per_seq = per_seq / mask.sum(-1).clamp(min=1)
    return per_seq.sum() / (normalizer if normalizer is not None else (mask.sum(-1) > 0).sum().clamp(min=1))


def ppo_clip_terms(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    clip_eps: float,
    clip_ratio_c: float,
    clip_high: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-token dual-clip PPO loss and clip indicators.

    ``L = max(-A r, -A clip(r, 1-eps_low, 1+eps_high))``, and for ``A < 0`` additionally
    ``L = min(L, -A c)`` (dual clip), with ``r = exp(clamp(log pi - log pi_old, -20, 20))``.
    ``clip_eps`` is ``eps_low``; ``clip_high`` is ``eps_high`` (None: ``clip_eps``). The clamp is
    verl's: in float32 ``exp`` overflows above 88.7, and an infinite ratio makes the loss and its
    gradient NaN (``0 * inf``) even where the clip or dual clip would have taken over.

    >>> loss, _ = ppo_clip_terms(torch.tensor([[100.0]]), torch.tensor([[0.0]]), torch.tensor([-1.0]), 0.2, 3.0)
    >>> loss.tolist()  # A < 0 at ratio e^20: the dual clip's -A c, finite
    [[3.0]]
    """
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(-1)
    high = clip_eps if clip_high is None else clip_high
    ratio = torch.exp(torch.clamp(logprobs - old_logprobs, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - clip_eps, 1 + high)
    loss = torch.maximum(unclipped, clipped)
    dual = torch.minimum(loss, -advantages * clip_ratio_c)
    loss = torch.where(advantages < 0, dual, loss)
    flags = {
        "clip_ratio/low_mean": (advantages < 0) & (ratio < 1 - clip_eps),
        "clip_ratio/high_mean": (advantages > 0) & (ratio > 1 + high),
        "clip_ratio/dual_mean": (advantages < 0) & (ratio > clip_ratio_c),
    }
    return loss, flags


def k1_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """KL estimator k1 (verl's ``kl``): ``log pi - log pi_ref``; unbiased, high variance, can be negative."""
    return logprobs - ref_logprobs


def k2_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """KL estimator k2 (verl's ``mse``): ``(log pi - log pi_ref)^2 / 2``; biased, low variance."""
    return 0.5 * (logprobs - ref_logprobs).square()


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Low-variance KL estimator k3 (Schulman 2020; verl's ``low_var_kl``): ``exp(d) - d - 1``, ``d = q - p``.

    ``q = log pi_ref``. As in verl, ``d`` is clamped to ``[-20, 20]`` and the estimate to
    ``[-10, 10]``, so one token whose reference log-prob is far above the policy's cannot
    blow up the loss (unclamped, ``d = 25`` gives 7e10).

    >>> k3_kl(torch.tensor([0.0, -30.0]), torch.tensor([0.0, 0.0])).tolist()
    [0.0, 10.0]
    """
    delta = torch.clamp(ref_logprobs - logprobs, -K3_LOG_RATIO_CLAMP, K3_LOG_RATIO_CLAMP)
    return torch.clamp(torch.exp(delta) - delta - 1, -K3_CLAMP, K3_CLAMP)


KL_ESTIMATORS = {"k1": k1_kl, "k2": k2_kl, "k3": k3_kl}


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
        normalizer: the whole mini-batch's divisor for the aggregation (see :func:`aggregate`).
    """
    how = config.aggregation
    per_token, flags = ppo_clip_terms(
        logprobs, old_logprobs, advantages, config.clip_low, config.clip_ratio_c, config.clip_high
    )
    loss = aggregate(per_token, mask, how, normalizer)
    metrics = {"loss/policy": float(loss.detach())}
    if config.kl_coef > 0:
        if ref_logprobs is None:
            raise ConfigError("kl_coef > 0 needs reference log-probs; set kl_coef: 0 to train without a reference.")
        kl = aggregate(KL_ESTIMATORS[config.kl_estimator](logprobs, ref_logprobs), mask, how, normalizer)
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
