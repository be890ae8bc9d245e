import pytest
import torch
from transformers import AutoModelForCausalLM

from anchorgym.policies.models import resolve_model
from anchorgym.training.generation import token_logprobs
from anchorgym.training.update import Sample, collate, enable_activation_checkpointing, response_logprobs


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
