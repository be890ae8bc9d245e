from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from anchorgym.errors import ConfigError
from anchorgym.training import advantages
from anchorgym.training.batching import nonzero_variance_groups, pad_to_multiple, shape_rewards
from anchorgym.training.losses import LossConfig, aggregate, entropy_from_logits, k1_kl, k2_kl, k3_kl, policy_loss

RATIOS = torch.tensor([[0.5, 1.0, 1.5, 4.0], [0.5, 1.0, 1.5, 4.0]], dtype=torch.float64)
OLD = torch.log(torch.full((2, 4), 0.2, dtype=torch.float64))
NEW = OLD + torch.log(RATIOS)
ADV = torch.tensor([1.0, -1.0], dtype=torch.float64)
# per token, eps 0.2, c 3: A=+1 -> [-0.5, -1, -1.2, -1.2]; A=-1 -> [0.8, 1, 1.5, min(4, 3)=3]


def test_dual_clip_token_mean_hand_computed():
    loss, metrics = policy_loss(LossConfig(), NEW, OLD, ADV, torch.ones(2, 4))
    assert float(loss) == pytest.approx((-3.9 + 6.3) / 8)
    assert metrics["clip_ratio/low_mean"] == pytest.approx(1 / 8)
    assert metrics["clip_ratio/high_mean"] == pytest.approx(2 / 8)
    assert metrics["clip_ratio/dual_mean"] == pytest.approx(1 / 8)


def test_token_mean_vs_seq_mean_with_padding():
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    token, _ = policy_loss(LossConfig(), NEW, OLD, ADV, mask)
    seq, _ = policy_loss(LossConfig(aggregation="seq-mean"), NEW, OLD, ADV, mask)
    assert float(token) == pytest.approx((-1.5 + 6.3) / 6)
    assert float(seq) == pytest.approx((-0.75 + 1.575) / 2)


def test_gradient_only_through_unclipped_tokens():
    new = NEW.clone().requires_grad_(True)
    loss, _ = policy_loss(LossConfig(), new, OLD, ADV, torch.ones(2, 4))
    loss.backward()
    # d/dlogp of -A r is -A r: nonzero where the unclipped term is active, 0 where clipped
    expected = torch.tensor([[-0.5, -1.0, 0.0, 0.0], [0.0, 1.0, 1.5, 0.0]], dtype=torch.float64) / 8
    assert torch.allclose(new.grad, expected)


def test_micro_batches_with_normalizer_add_up():
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    full, _ = policy_loss(LossConfig(), NEW, OLD, ADV, mask)
    parts = [
        policy_loss(LossConfig(), NEW[i : i + 1], OLD[i : i + 1], ADV[i : i + 1], mask[i : i + 1], normalizer=6)
        for i in range(2)
    ]
    assert float(sum(p[0] for p in parts)) == pytest.approx(float(full))


def test_k3_kl_and_entropy():
    kl = k3_kl(torch.log(torch.tensor([0.5])), torch.log(torch.tensor([0.25])))
    assert float(kl) == pytest.approx(0.5 + math.log(2) - 1)
    assert float(k3_kl(torch.tensor([0.3]), torch.tensor([0.3]))) == 0.0
    assert float(entropy_from_logits(torch.zeros(4))) == pytest.approx(math.log(4))


def test_kl_and_entropy_terms_enter_loss():
    config = LossConfig(kl_coef=0.01, entropy_coef=0.1)
    ref = NEW + 0.5
    entropy = torch.full((2, 4), 2.0, dtype=torch.float64)
    loss, metrics = policy_loss(config, NEW, OLD, ADV, torch.ones(2, 4), ref_logprobs=ref, entropy=entropy)
    kl = math.exp(0.5) - 0.5 - 1
    assert metrics["loss/kl"] == pytest.approx(kl)
    assert float(loss) == pytest.approx(0.3 + 0.01 * kl - 0.1 * 2.0)
    with pytest.raises(ConfigError, match="needs reference log-probs"):
        policy_loss(config, NEW, OLD, ADV, torch.ones(2, 4))


def test_loss_config_checks():
    with pytest.raises(ConfigError, match="dual clip"):
        LossConfig(clip_ratio_c=1.0)
    with pytest.raises(ConfigError, match="aggregation must be one of"):
        LossConfig(aggregation="sum")


def test_shape_rewards_and_dynamic_sampling():
    assert shape_rewards([0.0, 1.0, -0.1], [False, True, False]).tolist() == pytest.approx([-0.1, 1.0, -0.2])
    # group 5: returns 1 and 1 (same) -> dropped; group 6: returns 1 and 0 -> kept
    keep = nonzero_variance_groups(np.array([5, 5, 5, 6, 6]), np.array([0, 0, 1, 2, 3]), np.array([0, 1, 1, 1, 0.0]))
    assert keep.tolist() == [False, False, False, True, True]


def test_padding_after_advantages_leaves_them_unchanged():
    groups, trajs, steps, rewards = [0, 0, 0, 1, 1], [0, 1, 2, 3, 4], [0] * 5, [1.0, 0.0, 0.0, 1.0, 0.0]
    adv = advantages.compute("grpo", groups, trajs, steps, rewards, None)
    index, weight = pad_to_multiple(len(adv), 4)
    assert len(index) == 8 and weight.sum() == 5
    assert adv[index][weight > 0].tolist() == adv.tolist()
    padded_before = advantages.compute(
        "grpo", np.array(groups)[index], np.arange(8), [0] * 8, np.array(rewards)[index], None
    )
    assert padded_before[:5].tolist() != adv.tolist()  # why padding must come after


def test_k3_is_clamped_as_verl_does():
    # d = log pi_ref - log pi: clamped to [-20, 20], then exp(d) - d - 1 clamped to [-10, 10]
    logp = torch.tensor([0.0, 0.0, -25.0, 0.0], dtype=torch.float64)
    ref = torch.tensor([0.0, 1.0, 0.0, -30.0], dtype=torch.float64)
    assert k3_kl(logp, ref).tolist() == pytest.approx([0.0, math.e - 2, 10.0, 10.0], abs=1e-15)
    stress = torch.full((519,), -40.0, dtype=torch.float64)  # unclamped: exp(40) ~ 2e17 per token
    assert float(k3_kl(stress, torch.zeros(519, dtype=torch.float64)).max()) == 10.0


def test_k1_and_k2():
    logp = torch.tensor([-1.0, -2.0], dtype=torch.float64)
    ref = torch.tensor([-1.5, -1.0], dtype=torch.float64)
    assert k1_kl(logp, ref).tolist() == [0.5, -1.0]
    assert k2_kl(logp, ref).tolist() == [0.125, 0.5]
    mask = torch.ones(1, 2)
    for name, expected in (("k1", -0.25), ("k2", 0.3125)):
        _, metrics = policy_loss(
            LossConfig(kl_coef=0.1, kl_estimator=name), logp[None], logp[None], ADV[:1], mask, ref_logprobs=ref[None]
        )
        assert metrics["loss/kl"] == pytest.approx(expected, abs=1e-15)


VALUES = torch.tensor([[1.0, 2.0, 3.0, 9.0], [4.0, 9.0, 9.0, 9.0], [9.0] * 4], dtype=torch.float64)
MASK = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize(
    "how,expected",
    [
        ("token-mean", 10 / 4),
        ("seq-mean", (2 + 4) / 2),  # the fully masked row does not count, as in verl
        ("seq-mean-token-mean", (2 + 4) / 2),
        ("seq-mean-token-sum", (6 + 4) / 2),
        ("seq-mean-token-sum-norm", 10 / 4),  # divided by the response width, verl's default
    ],
)
def test_aggregations_hand_computed(how, expected):
    assert float(aggregate(VALUES, MASK, how)) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("how", ["seq-mean-token-sum", "seq-mean-token-sum-norm"])
def test_new_aggregations_add_up_over_micro_batches(how):
    normalizer = 2.0 if how == "seq-mean-token-sum" else 512.0
    full = aggregate(VALUES[:2], MASK[:2], how, normalizer)
    parts = sum(aggregate(VALUES[i : i + 1], MASK[i : i + 1], how, normalizer) for i in range(2))
    assert float(parts) == pytest.approx(float(full), abs=1e-15)
    assert float(full) == pytest.approx(5.0 if how == "seq-mean-token-sum" else 10 / 512, abs=1e-15)


def test_loss_config_errors():
    with pytest.raises(ConfigError, match="kl_estimator must be one of .* Did you mean 'k3'"):
        LossConfig(kl_estimator="k4")
    with pytest.raises(ConfigError, match="Did you mean 'seq-mean-token-sum'"):
        LossConfig(aggregation="seq-mean-token-summ")
