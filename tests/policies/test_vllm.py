from __future__ import annotations

import importlib.util

import pytest
from policies_toyenv import COUNTER_ID

from anchorgym.errors import DependencyError
from anchorgym.policies.base import AgentInput, GenerationConfig
from anchorgym.policies.registry import make_policy

INPUT = AgentInput(COUNTER_ID, "Make the counter show 7.", "The counter shows 0.", ["add 1", "add 3", "sub 1"])


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_without_the_extra_says_how_to_install_it():
    with pytest.raises(DependencyError, match=r"pip install 'anchorgym\[vllm\]'"):
        make_policy("vllm:tiny")


@pytest.mark.gpu
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_vllm_ids_and_logprobs_match_a_rescoring_pass(tiny_model_dir, temperature):
    pytest.importorskip("vllm")
    from policies_scoring import rescore
    from transformers import AutoModelForCausalLM

    generation = GenerationConfig(temperature=temperature, max_new_tokens=8, seed=1)
    policy = make_policy(f"vllm:{tiny_model_dir}", generation, dtype="float32", enforce_eager=True)
    outputs = policy.act([INPUT, INPUT])
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, local_files_only=True)
    for out in outputs:
        assert out.prompt_token_ids == policy.encode_chat(policy.messages(INPUT))
        assert len(out.response_token_ids) == len(out.logprobs) == 8
        expected = rescore(model, out.prompt_token_ids, out.response_token_ids, temperature)
        assert max(abs(a - b) for a, b in zip(out.logprobs, expected.tolist(), strict=True)) < 1e-2
    policy.close()
