"""The policy update: samples -> padded token tensors -> loss -> optimizer steps.

Each agent step is one :class:`Sample` ``(prompt_t, response_t)`` with the
exact token ids and the log-probs the sampler recorded. Before the first pass
the learner scores every sample once more, without gradients and with its own
precision and autocast, and those log-probs are PPO's ``pi_old`` (as verl's
``compute_log_prob`` does): the sampler's differ from the learner's wherever the
two run different kernels or precisions (bf16 autocast on a GPU, a vLLM engine),
and a ratio taken against them is off before any update. The gap is logged as
``rollout/logp_gap_mean`` and ``rollout/logp_gap_max``. An update makes
``ppo_epochs`` passes; each pass shuffles the samples (unless told not to), pads them to a multiple
of the mini-batch size with zero-weight copies, and takes one optimizer step
per mini-batch, accumulating gradients over micro-batches. The token-mean loss
divides by the token count of the whole mini-batch, so accumulation gives the
same gradient as one big batch.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from anchorgym.training.batching import pad_to_multiple
from anchorgym.training.generation import left_pad, real_positions, token_logprobs
from anchorgym.training.losses import SEQUENCE_COUNT, LossConfig, policy_loss


@dataclass
class Sample:
    """One agent step as a training sample.

    Attributes:
        prompt_ids: the exact prompt tokens.
        response_ids: the sampled response tokens.
        old_logprobs: their log-probs under the sampling policy.
        advantage: the step's advantage.
        weight: 1 for real samples, 0 for padding copies.
    """

    prompt_ids: list[int]
    response_ids: list[int]
    old_logprobs: list[float]
    advantage: float
    weight: float = 1.0


def collate(samples: list[Sample], pad_id: int, device: Any) -> dict[str, torch.Tensor]:
    """Left-pad ``prompt + response`` rows so that every response ends in the last column.

    Only the last ``K`` positions (``K``: the longest response) are scored, so the forward pass
    keeps just the logits that predict them (:func:`response_logprobs`) instead of a
    ``[rows, width, vocab]`` tensor over every prompt token: with a 49k vocabulary that tensor is
    most of the update's memory. ``mask`` and ``old`` are ``[rows, K]``, a row's response filling
    its last ``len(response)`` columns; ``positions`` count real tokens only, as in generation.
    """
    ids, attention = left_pad([s.prompt_ids + s.response_ids for s in samples], pad_id, "cpu")
    scored = max(len(s.response_ids) for s in samples)
    mask = torch.zeros((len(samples), scored))
    old = torch.zeros((len(samples), scored))
    for row, s in enumerate(samples):
        mask[row, scored - len(s.response_ids) :] = s.weight
        old[row, scored - len(s.response_ids) :] = torch.tensor(s.old_logprobs, dtype=torch.float32)
    advantages = torch.tensor([s.advantage for s in samples], dtype=torch.float32)
    tensors = {
        "ids": ids,
        "attention": attention,
        "positions": real_positions(attention),
        "mask": mask,
        "old": old,
        "advantages": advantages,
    }
    return {key: value.to(device) for key, value in tensors.items()}


def response_logprobs(
    model: Any, batch: dict[str, torch.Tensor], temperature: float, allowed: torch.Tensor | None, autocast: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probs and entropies of the last ``K`` tokens of each row (``K = mask.shape[1]``)."""
    scored = batch["mask"].shape[1]
    device_type = batch["ids"].device.type
    context = torch.autocast(device_type, dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with context:
        # the logits at the K positions before the last predict the last K tokens; the final one predicts nothing
        logits = model(
            input_ids=batch["ids"],
            attention_mask=batch["attention"],
            position_ids=batch["positions"],
            logits_to_keep=scored + 1,
        ).logits[:, :-1]
    targets = batch["ids"][:, -scored:]
    if allowed is not None:  # columns left of a short response hold prompt tokens; only the response is scored
        targets = torch.where(batch["mask"] > 0, targets, allowed[0])
    return token_logprobs(logits, targets, temperature, allowed)


def enable_activation_checkpointing(model: Any) -> None:
    """Recompute each layer's activations in the backward pass instead of keeping them.

    transformers 5.2x renamed ``gradient_checkpointing_enable`` to ``activation_checkpointing_enable``
    (the old name warns, and goes in v6); earlier releases have only the old one.
    """
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()


class Learner:
    """Runs the update step for one model and optimizer.

    Args:
        model: the causal LM being trained.
        optimizer: its optimizer.
        loss_config: loss settings.
        pad_id: padding token id.
        temperature: the rollout temperature (log-probs are scored under the same distribution).
        allowed: the choice-format token ids, or None.
        reference: callable returning the frozen reference's context manager and model (KL), or None.
        autocast: bf16 autocast on the model's device (the trainer turns it on for GPUs only).
    """

    def __init__(
        self,
        model: Any,
        optimizer: torch.optim.Optimizer,
        loss_config: LossConfig,
        pad_id: int,
        temperature: float = 1.0,
        allowed: torch.Tensor | None = None,
        reference: Any = None,
        autocast: bool = False,
        max_grad_norm: float = 1.0,
    ) -> None:
        self.model, self.optimizer, self.loss_config = model, optimizer, loss_config
        self.pad_id, self.temperature, self.allowed = pad_id, temperature, allowed
        self.reference, self.autocast, self.max_grad_norm = reference, autocast, max_grad_norm
        self.device = next(model.parameters()).device

    def update(
        self,
        samples: list[Sample],
        mini_batch_size: int,
        micro_batch_size: int,
        epochs: int,
        seed: int,
        shuffle: bool = True,
    ) -> dict[str, float]:
        """Score ``samples`` for ``pi_old``, then run ``epochs`` passes; return mean metrics.

        Each pass shuffles the samples first unless ``shuffle`` is False, when the mini-batches take them in
        rollout order (verl-agent's actor splits its batch in order).
        """
        rng = np.random.default_rng(seed)
        totals: dict[str, list[float]] = defaultdict(list)
        self.model.train()
        samples, gap = self.recompute_old_logprobs(samples, micro_batch_size)
        for _ in range(epochs):
            order = rng.permutation(len(samples)) if shuffle else np.arange(len(samples))
            index, weight = pad_to_multiple(len(samples), mini_batch_size)
            padded = [_with_weight(samples[order[i]], w) for i, w in zip(index, weight, strict=True)]
            for start in range(0, len(padded), mini_batch_size):
                for key, value in self._step(padded[start : start + mini_batch_size], micro_batch_size).items():
                    totals[key].append(value)
        return {**gap, **{key: float(np.mean(values)) for key, values in totals.items()}}

    def recompute_old_logprobs(
        self, samples: list[Sample], micro_batch_size: int
    ) -> tuple[list[Sample], dict[str, float]]:
        """Return the samples with ``old_logprobs`` from the learner's own forward pass, and the gap metrics.

        The pass runs in micro-batches under ``torch.no_grad`` with the learner's
        autocast. ``rollout/logp_gap_mean`` / ``_max``: mean and max over response tokens
        of ``|sampler log-prob - learner log-prob|``.
        """
        rescored, gaps = [], []
        with torch.no_grad():
            for part in _chunks(samples, micro_batch_size):
                batch = collate(part, self.pad_id, self.device)
                logp = response_logprobs(self.model, batch, self.temperature, self.allowed, self.autocast)[0]
                logp = logp.float().cpu()
                for row, sample in enumerate(part):
                    mine = logp[row, logp.shape[1] - len(sample.response_ids) :]
                    gaps.append((mine - torch.tensor(sample.old_logprobs, dtype=torch.float32)).abs())
                    rescored.append(
                        Sample(sample.prompt_ids, sample.response_ids, mine.tolist(), sample.advantage, sample.weight)
                    )
        gap = torch.cat(gaps) if gaps else torch.zeros(1)
        return rescored, {"rollout/logp_gap_mean": float(gap.mean()), "rollout/logp_gap_max": float(gap.max())}

    def _step(self, mini_batch: list[Sample], micro_batch_size: int) -> dict[str, float]:
        """One optimizer step over a mini-batch, accumulating micro-batch gradients."""
        normalizer = self._normalizer(mini_batch)
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, float] = defaultdict(float)
        micro = list(_chunks(mini_batch, micro_batch_size))
        for part in micro:
            batch = collate(part, self.pad_id, self.device)
            logp, entropy = response_logprobs(self.model, batch, self.temperature, self.allowed, self.autocast)
            loss, metrics = policy_loss(
                self.loss_config,
                logp,
                batch["old"],
                batch["advantages"],
                batch["mask"],
                self._reference_logprobs(batch),
                entropy,
                normalizer,
            )
            loss.backward()
            for key, value in metrics.items():  # loss terms already carry the global normaliser: add them up
                sums[key] += value if key.startswith("loss/") else value / len(micro)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
        self.optimizer.step()
        sums["grad_norm"] = float(grad_norm)
        return dict(sums)

    def _normalizer(self, mini_batch: list[Sample]) -> float:
        how = self.loss_config.aggregation
        rows = max(sum(s.weight for s in mini_batch), 1.0)
        if how == "seq-mean-token-sum-norm":
            return float(self.loss_config.norm_length)
        if how == "seq-mean-token-sum-norm-verl":
            return rows * self.loss_config.norm_length
        if how == "token-sum":  # no divisor: micro-batch sums add up by themselves
            return 1.0
        if how in SEQUENCE_COUNT:
            return rows
        return max(sum(s.weight * len(s.response_ids) for s in mini_batch), 1.0)

    def _reference_logprobs(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if self.reference is None or self.loss_config.kl_coef == 0:
            return None
        context, model = self.reference()
        with torch.no_grad(), context:
            return response_logprobs(model, batch, self.temperature, self.allowed, self.autocast)[0]


def _with_weight(sample: Sample, weight: float) -> Sample:
    return sample if weight == sample.weight else Sample(**{**sample.__dict__, "weight": float(weight)})


def _chunks(items: list[Sample], size: int) -> Iterator[list[Sample]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
