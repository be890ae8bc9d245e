"""The loss options verl 0.9 has: log-ratio clamp, asymmetric clip, token-sum, verl 0.9's token-sum-norm.

Each option is checked by hand, against values pinned from verl 0.9.1's ``core_algos`` (recorded
with :func:`verl_reference` below), and, where verl is installed (``pip install 'verl==0.9.1'``), against
verl's functions run in the test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from anchorgym.errors import ConfigError
from anchorgym.training.losses import LOG_RATIO_CLAMP, LossConfig, aggregate, policy_loss
from anchorgym.training.update import Learner, Sample


def _case(seed: int, rows: int = 3, width: int = 5) -> dict[str, torch.Tensor]:
    """A recorded case: float64 log-probs with ratios well past the clip range, per-token advantages."""
    rng = np.random.default_rng(seed)
    old = -rng.uniform(0.1, 3.0, (rows, width))
    new = old + rng.normal(0.0, 0.5, (rows, width))
    advantages = rng.normal(0.0, 1.0, (rows, width))
    mask = (rng.uniform(size=(rows, width)) < 0.7).astype(np.float64)
    mask[-1] = 0.0  # a fully masked row: the sequence counts must skip it
    mask[0, 0] = 1.0
    return {
        name: torch.tensor(value) for name, value in (("old", old), ("new", new), ("adv", advantages), ("mask", mask))
    }


# option name -> (our LossConfig kwargs, verl ActorConfig kwargs)
OPTIONS = {
    "asymmetric": (
        {"clip_eps": 0.2, "clip_ratio_low": 0.2, "clip_ratio_high": 0.28},
        {"clip_ratio_low": 0.2, "clip_ratio_high": 0.28, "loss_agg_mode": "token-mean"},
    ),
    "asymmetric-wide-low": (
        {"clip_eps": 0.3, "clip_ratio_high": 0.1, "clip_ratio_c": 2.0},
        {"clip_ratio_low": 0.3, "clip_ratio_high": 0.1, "clip_ratio_c": 2.0, "loss_agg_mode": "token-mean"},
    ),
    "token-sum": ({"aggregation": "token-sum"}, {"loss_agg_mode": "token-sum"}),
    "seq-mean-token-sum-norm-verl": (
        {"aggregation": "seq-mean-token-sum-norm-verl", "norm_length": 5},
        {"loss_agg_mode": "seq-mean-token-sum-norm"},  # divisor: the width (5), verl's default
    ),
    "seq-mean-token-sum-norm-verl-scaled": (  # the Learner passes (non-empty rows) x norm_length: 2 x 512
        {"aggregation": "seq-mean-token-sum-norm-verl", "norm_length": 512},
        {"loss_agg_mode": "seq-mean-token-sum-norm", "loss_scale_factor": 512},
    ),
}
NORMALIZERS = {"seq-mean-token-sum-norm-verl-scaled": 2 * 512.0}

# verl 0.9.1 compute_policy_loss_vanilla on _case(seed): (loss, d loss / d log pi), recorded by verl_reference
PINNED = {
    "asymmetric": {
        0: (
            -0.15784627688857647,
            [
                0.0,
                0.0,
                0.01941911968069784,
                -0.09492042713617747,
                0.0,
                -0.0,
                0.18496504073512215,
                0.0,
                -0.13351617314618835,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                -0.0,
            ],
        ),
        1: (
            -0.45798030033427,
            [
                0.0,
                0.0,
                0.05437262715199823,
                0.0,
                -0.09477745381005666,
                -0.0,
                0.07463986439720258,
                0.0,
                0.0,
                -0.00468392489500565,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
            ],
        ),
        2: (
            -0.3060026911525032,
            [
                -0.1143916387459969,
                0.0,
                -0.11371295847941988,
                -0.10996097294638991,
                -0.01925516960519793,
                0.0,
                0.02664218871366635,
                -0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
            ],
        ),
    },
    "asymmetric-wide-low": {
        0: (
            -0.11475927144738203,
            [
                0.0,
                0.0227629526350227,
                0.01941911968069784,
                0.0,
                0.0,
                -0.0,
                0.18496504073512215,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                -0.0,
                0.0,
            ],
        ),
        1: (
            -0.3894211953560563,
            [
                0.0,
                0.0,
                0.05437262715199823,
                0.0,
                -0.09477745381005666,
                -0.0,
                0.07463986439720258,
                0.0,
                0.0,
                -0.00468392489500565,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
            ],
        ),
        2: (
            -0.3087194146200032,
            [
                -0.1143916387459969,
                0.0,
                -0.11371295847941988,
                -0.10996097294638991,
                -0.01925516960519793,
                0.0,
                0.02664218871366635,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
            ],
        ),
    },
    "seq-mean-token-sum-norm-verl": {
        0: (
            -0.09700211582721013,
            [
                0.0,
                0.0,
                0.01359338377648849,
                0.0,
                0.0,
                -0.0,
                0.12947552851458552,
                0.0,
                -0.09346132120233186,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                -0.0,
            ],
        ),
        1: (
            -0.2565057522063716,
            [
                0.0,
                0.0,
                0.03262357629119894,
                0.0,
                -0.056866472286034,
                -0.0,
                0.04478391863832156,
                0.0,
                0.0,
                -0.00281035493700339,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
            ],
        ),
        2: (
            -0.2131721585469597,
            [
                -0.08007414712219785,
                0.0,
                -0.07959907093559393,
                -0.07697268106247294,
                -0.01347861872363855,
                0.0,
                0.01864953209956645,
                -0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
            ],
        ),
    },
    "seq-mean-token-sum-norm-verl-scaled": {
        0: (
            -0.000947286287375099,
            [
                0.0,
                0.0,
                0.00013274788844227,
                0.0,
                0.0,
                -0.0,
                0.00126440945815025,
                0.0,
                -0.00091270821486652,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                -0.0,
            ],
        ),
        1: (
            -0.002504938986390348,
            [
                0.0,
                0.0,
                0.00031858961221874,
                0.0,
                -0.0005553366434183,
                -0.0,
                0.00043734295545236,
                0.0,
                0.0,
                -2.744487243167e-05,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
            ],
        ),
        2: (
            -0.0020817593608101533,
            [
                -0.00078197409299021,
                0.0,
                -0.00077733467710541,
                -0.00075168633850071,
                -0.00013162713597303,
                0.0,
                0.00018212433690983,
                -0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
            ],
        ),
    },
    "token-sum": {
        0: (
            -0.9700211582721016,
            [
                0.0,
                0.0,
                0.1359338377648849,
                0.0,
                0.0,
                -0.0,
                1.294755285145855,
                0.0,
                -0.9346132120233186,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                -0.0,
            ],
        ),
        1: (
            -2.565057522063716,
            [
                0.0,
                0.0,
                0.3262357629119894,
                0.0,
                -0.56866472286034,
                -0.0,
                0.4478391863832155,
                0.0,
                0.0,
                -0.02810354937003391,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
            ],
        ),
        2: (
            -2.1317215854695974,
            [
                -0.8007414712219784,
                0.0,
                -0.7959907093559393,
                -0.7697268106247295,
                -0.1347861872363855,
                0.0,
                0.18649532099566446,
                -0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
            ],
        ),
    },
}
SEEDS = (0, 1, 2)


def ours(option: str, case: dict[str, torch.Tensor]) -> tuple[float, list[float]]:
    """Our policy loss and its gradient with respect to ``log pi``."""
    new = case["new"].clone().requires_grad_(True)
    config = LossConfig(**OPTIONS[option][0])
    loss, _ = policy_loss(config, new, case["old"], case["adv"], case["mask"], normalizer=NORMALIZERS.get(option))
    loss.backward()
    return float(loss.detach()), new.grad.flatten().tolist()


def verl_reference(option: str, case: dict[str, torch.Tensor]) -> tuple[float, list[float]]:
    """verl 0.9.1's ``compute_policy_loss_vanilla`` (PPO clip, dual clip, agg_loss) and its gradient."""
    from verl.trainer.ppo.core_algos import compute_policy_loss_vanilla
    from verl.workers.config import ActorConfig

    settings = dict(OPTIONS[option][1])
    scale = settings.pop("loss_scale_factor", None)
    config = ActorConfig(strategy="fsdp", rollout_n=1, ppo_micro_batch_size_per_gpu=1, **settings)
    config.global_batch_info.update({} if scale is None else {"loss_scale_factor": scale})
    new = case["new"].clone().requires_grad_(True)
    loss, _ = compute_policy_loss_vanilla(
        case["old"], new, case["adv"], case["mask"], loss_agg_mode=config.loss_agg_mode, config=config
    )
    loss.backward()
    return float(loss.detach()), new.grad.flatten().tolist()


@pytest.mark.parametrize("option", sorted(OPTIONS))
@pytest.mark.parametrize("seed", SEEDS)
def test_new_options_equal_verl_pinned(option, seed):
    loss, grad = ours(option, _case(seed))
    pinned_loss, pinned_grad = PINNED[option][seed]
    assert loss == pytest.approx(pinned_loss, rel=1e-12, abs=1e-15)
    assert grad == pytest.approx(pinned_grad, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("option", sorted(OPTIONS))
@pytest.mark.parametrize("seed", SEEDS)
def test_new_options_equal_verl_run_here(option, seed):
    pytest.importorskip("verl", reason="verl is not installed (pip install 'verl==0.9.1')")
    case = _case(seed)
    loss, grad = ours(option, case)
    verl_loss, verl_grad = verl_reference(option, case)
    assert loss == pytest.approx(verl_loss, rel=1e-12, abs=1e-15)
    assert grad == pytest.approx(verl_grad, rel=1e-12, abs=1e-15)
    pinned_loss, pinned_grad = PINNED[option][seed]
    assert verl_loss == pytest.approx(pinned_loss, rel=1e-12, abs=1e-15)
    assert verl_grad == pytest.approx(pinned_grad, rel=1e-12, abs=1e-15)


def test_float32_extreme_log_ratio_gives_finite_loss_and_gradients():
    # log pi - log pi_old = +-100: exp overflows float32 above 88.7; verl clamps to +-20 first
    old = torch.zeros(3, 3, dtype=torch.float32)
    new = torch.tensor([[100.0, -100.0, 0.1]] * 3, dtype=torch.float32, requires_grad=True)
    advantages = torch.tensor([1.0, -1.0, 0.0])
    loss, metrics = policy_loss(LossConfig(), new, old, advantages, torch.ones(3, 3))
    loss.backward()
    assert math.isfinite(float(loss)) and torch.isfinite(new.grad).all()
    # A=+1: e^20 clipped to 1.2, e^-20 and e^0.1 unclipped; A=-1: dual clip c=3, floor 0.8, e^0.1; A=0: 0
    r = math.exp(0.1)
    assert float(loss) == pytest.approx((-1.2 - math.exp(-20) - r + 3.0 + 0.8 + r) / 9, rel=1e-6)
    # clamped tokens carry no gradient (as in verl); the ordinary one -A r / 9
    assert new.grad.flatten().tolist() == pytest.approx([0.0, 0.0, -r / 9, 0.0, 0.0, r / 9, 0.0, 0.0, 0.0], rel=1e-6)
    assert metrics["clip_ratio/dual_mean"] == pytest.approx(1 / 9)
    unclamped = torch.exp(new.detach() - old)  # why the clamp: -A * inf, and 0 * inf = NaN
    assert torch.isinf(unclamped).any() and torch.isnan(0.0 * unclamped).any()


def test_log_ratio_clamp_leaves_ordinary_ratios_alone():
    assert LOG_RATIO_CLAMP == 20.0
    case = _case(0)
    clamped, _ = policy_loss(LossConfig(), case["new"], case["old"], case["adv"], case["mask"])
    ratio = torch.exp(case["new"] - case["old"])
    per_token = torch.maximum(-case["adv"] * ratio, -case["adv"] * ratio.clamp(0.8, 1.2))
    per_token = torch.where(case["adv"] < 0, torch.minimum(per_token, -case["adv"] * 3.0), per_token)
    assert float(clamped) == pytest.approx(float((per_token * case["mask"]).sum() / case["mask"].sum()), rel=1e-14)


def test_asymmetric_clip_hand_computed():
    ratios = torch.tensor([[0.7, 0.75, 1.25, 1.35]], dtype=torch.float64)
    old = torch.zeros(1, 4, dtype=torch.float64)
    config = LossConfig(clip_ratio_low=0.2, clip_ratio_high=0.28)
    assert (config.clip_low, config.clip_high) == (0.2, 0.28)
    up, metrics_up = policy_loss(config, torch.log(ratios), old, torch.tensor([1.0]), torch.ones(1, 4))
    down, metrics_down = policy_loss(config, torch.log(ratios), old, torch.tensor([-1.0]), torch.ones(1, 4))
    # A=+1: -min(r, 1.28) -> [-0.7, -0.75, -1.25, -1.28]; A=-1: max(r, 0.8) -> [0.8, 0.8, 1.25, 1.35]
    assert float(up) == pytest.approx(-(0.7 + 0.75 + 1.25 + 1.28) / 4, rel=1e-14)
    assert float(down) == pytest.approx((0.8 + 0.8 + 1.25 + 1.35) / 4, rel=1e-14)
    assert metrics_up["clip_ratio/high_mean"] == 0.25 and metrics_down["clip_ratio/low_mean"] == 0.5
    assert (LossConfig(clip_eps=0.3).clip_low, LossConfig(clip_eps=0.3).clip_high) == (0.3, 0.3)


VALUES = torch.tensor([[1.0, 2.0, 3.0, 9.0], [4.0, 9.0, 9.0, 9.0], [9.0] * 4], dtype=torch.float64)
MASK = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize(
    "how,expected",
    [
        ("token-sum", 10.0),
        ("seq-mean-token-sum-norm", 10 / 4),  # ours (verl-agent, verl < 0.9): all tokens / width
        ("seq-mean-token-sum-norm-verl", 10 / 2 / 4),  # verl 0.9: also / the 2 non-empty rows
    ],
)
def test_new_aggregations_hand_computed(how, expected):
    assert float(aggregate(VALUES, MASK, how)) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("how,normalizer", [("token-sum", None), ("seq-mean-token-sum-norm-verl", 2 * 512.0)])
def test_new_aggregations_add_up_over_micro_batches(how, normalizer):
    full = aggregate(VALUES[:2], MASK[:2], how, normalizer)
    parts = sum(aggregate(VALUES[i : i + 1], MASK[i : i + 1], how, normalizer) for i in range(2))
    assert float(parts) == pytest.approx(float(full), abs=1e-15)


@pytest.mark.parametrize(
    "how,expected",
    [("token-sum", 1.0), ("seq-mean-token-sum-norm-verl", 2 * 512.0), ("seq-mean-token-sum-norm", 512.0)],
)
def test_learner_normalizers(how, expected):
    learner = Learner.__new__(Learner)  # only the normaliser is exercised: it reads the loss config alone
    learner.loss_config = LossConfig(aggregation=how, norm_length=512)
    rows = [Sample([1], [2, 3], [0.0, 0.0], 1.0), Sample([1], [2], [0.0], 1.0), Sample([1], [2], [0.0], 1.0, 0.0)]
    assert learner._normalizer(rows) == expected


def test_option_errors():
    with pytest.raises(ConfigError, match=r"clip_ratio_low must be in \(0, 1\)"):
        LossConfig(clip_ratio_low=1.2)
    with pytest.raises(ConfigError, match="clip_ratio_high must be > 0"):
        LossConfig(clip_ratio_high=0.0)
    with pytest.raises(ConfigError, match="Did you mean 'token-sum'"):
        LossConfig(aggregation="token_sum")
