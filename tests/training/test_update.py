import pytest
import torch
from transformers import AutoModelForCausalLM

from anchorgym.policies.models import resolve_model
from anchorgym.training.generation import token_logprobs
from anchorgym.training.losses import LossConfig
from anchorgym.training.update import Learner, Sample, collate, enable_activation_checkpointing, response_logprobs


@pytest.fixture(scope="module")
def model():
    return AutoModelForCausalLM.from_pretrained(resolve_model("tiny"), local_files_only=True).eval()


def alone(model, sample: Sample, temperature: float) -> torch.Tensor:
    """The response's log-probs from one unpadded row and the full logits: the reference."""
    ids = torch.tensor([sample.prompt_ids + sample.response_ids])
    logits = model(input_ids=ids).logits[0, len(sample.prompt_ids) - 1 : -1]
    return token_logprobs(logits, torch.tensor(sample.response_ids), temperature)[0]


def test_collate_puts_every_response_in_the_last_columns():
    samples = [Sample([5, 6, 7], [8], [-0.5], 1.0), Sample([5], [9, 10, 11], [-1.0, -2.0, -3.0], -1.0, weight=0.0)]
    batch = collate(samples, pad_id=0, device="cpu")
    assert batch["ids"].tolist() == [[5, 6, 7, 8], [5, 9, 10, 11]]
    samples[1] = Sample([5], [9, 10], [-1.0, -2.0], -1.0)
    batch = collate(samples, pad_id=0, device="cpu")
    assert batch["ids"].tolist() == [[5, 6, 7, 8], [0, 5, 9, 10]]
    assert batch["attention"].tolist() == [[1, 1, 1, 1], [0, 1, 1, 1]]
    assert batch["positions"].tolist() == [[0, 1, 2, 3], [0, 0, 1, 2]]
    assert batch["mask"].tolist() == [[0, 1], [1, 1]]
    assert batch["old"].tolist() == [[0, -0.5], [-1.0, -2.0]]
    assert batch["advantages"].tolist() == [1.0, -1.0]


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_padded_scoring_of_the_last_columns_equals_scoring_each_row_alone(model, temperature):
    # prompts and responses of different lengths in one micro-batch: padding, positions and the
    # logits kept must give each row exactly the log-probs it has on its own
    samples = [
        Sample([11, 12, 13, 14, 15, 16], [21], [0.0], 1.0),
        Sample([11, 12], [22, 23, 24, 25], [0.0] * 4, 1.0),
        Sample([17, 18, 19, 20], [26, 27], [0.0] * 2, 1.0),
    ]
    batch = collate(samples, pad_id=0, device="cpu")
    with torch.no_grad():
        logp, _ = response_logprobs(model, batch, temperature, None, autocast=False)
        for row, sample in enumerate(samples):
            scored = logp[row][batch["mask"][row] > 0]
            assert torch.allclose(scored, alone(model, sample, temperature), atol=1e-5)


def scored_batch(model):
    samples = [Sample([11, 12, 13, 14], [21, 22], [0.0] * 2, 1.0), Sample([15, 16], [23, 24, 25], [0.0] * 3, 1.0)]
    return collate(samples, pad_id=0, device="cpu")


def gradients(model, batch, autocast=False) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    logp, _ = response_logprobs(model, batch, 1.0, None, autocast=autocast)
    (logp * batch["mask"]).sum().backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def test_gradient_checkpointing_gives_the_same_gradients():
    # the trainer's GPU default, checked on the CPU: recomputing activations must not change the maths
    model = AutoModelForCausalLM.from_pretrained(resolve_model("tiny"), local_files_only=True)
    model.train()
    batch = scored_batch(model)
    plain = gradients(model, batch)
    enable_activation_checkpointing(model)
    assert model.model.gradient_checkpointing  # the decoder really recomputes (the flag both API names set)
    assert torch.allclose(gradients(model, batch), plain, atol=1e-6)


def test_bf16_autocast_scores_close_to_float32(model):
    # the trainer's GPU default, checked on the CPU: bf16 matmuls, float32 log-softmax
    batch = scored_batch(model)
    with torch.no_grad():
        full, _ = response_logprobs(model, batch, 1.0, None, autocast=False)
        half, _ = response_logprobs(model, batch, 1.0, None, autocast=True)
    assert half.dtype == torch.float32
    mask = batch["mask"] > 0
    assert 0 < (half - full)[mask].abs().max() < 0.05  # bf16 really ran, and stayed close


def sampled(model) -> list[Sample]:
    """Three steps with the log-probs a float32 sampler without autocast records (scored alone)."""
    shapes = [([11, 12, 13, 14, 15, 16], [21, 30]), ([11, 12], [22, 23, 24, 25]), ([17, 18, 19, 20], [26, 27, 28])]
    samples = []
    for i, (prompt, response) in enumerate(shapes):
        draft = Sample(prompt, response, [0.0] * len(response), 1.0 if i % 2 else -1.0)
        with torch.no_grad():
            samples.append(Sample(prompt, response, alone(model, draft, 1.0).tolist(), draft.advantage))
    return samples


def learner(autocast: bool) -> Learner:
    model = AutoModelForCausalLM.from_pretrained(resolve_model("tiny"), local_files_only=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return Learner(model, optimizer, LossConfig(), pad_id=0, autocast=autocast)


def test_old_logprobs_are_the_learners_own_under_bf16_autocast():
    # the GPU setting emulated on the CPU: the sampler scored in float32, the learner under bf16 autocast
    bf16 = learner(autocast=True)
    samples = sampled(bf16.model)
    recorded = [list(s.old_logprobs) for s in samples]
    metrics = bf16.update(samples, mini_batch_size=3, micro_batch_size=3, epochs=1, seed=0)
    # one optimizer step: every metric comes from the forward pass before it, where pi = pi_old exactly
    assert metrics["approx_kl/old"] == 0.0
    assert metrics["clip_ratio/low_mean"] == metrics["clip_ratio/high_mean"] == 0.0
    assert [s.old_logprobs for s in samples] == recorded  # the caller's samples keep the sampler's values
    assert 0 < metrics["rollout/logp_gap_mean"] < metrics["rollout/logp_gap_max"] < 0.05


def test_logp_gap_is_the_sampler_against_the_learner():
    plain = learner(autocast=False)
    samples = sampled(plain.model)
    shifted = [Sample(s.prompt_ids, s.response_ids, [x - 0.3 for x in s.old_logprobs], s.advantage) for s in samples]
    _, gap = plain.recompute_old_logprobs(shifted, micro_batch_size=2)
    assert gap["rollout/logp_gap_mean"] == pytest.approx(0.3, abs=1e-5)
    assert gap["rollout/logp_gap_max"] == pytest.approx(0.3, abs=1e-5)
    # against the shifted sampler values every positive-advantage token would start clipped (ratio e^0.3)
    metrics = plain.update(shifted, mini_batch_size=3, micro_batch_size=1, epochs=1, seed=0)
    assert metrics["clip_ratio/high_mean"] == 0.0
    assert abs(metrics["approx_kl/old"]) < 1e-6
