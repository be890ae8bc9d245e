from __future__ import annotations

import json

import pytest
from policies_toyenv import COUNTER_ID

from anchorgym.envs.vector import make_vec
from anchorgym.errors import ConfigError
from anchorgym.policies.base import AgentInput, GenerationConfig
from anchorgym.policies.registry import make_policy

torch = pytest.importorskip("torch")
from policies_scoring import rescore  # noqa: E402

HISTORY = [("The counter shows 0.", "add 3"), ("The counter shows 3.", "add 1"), ("The counter shows 4.", "add 1")]
INPUTS = [
    AgentInput(COUNTER_ID, "Make the counter show 7.", "The counter shows 0.", ["add 1", "add 3", "sub 1"]),
    AgentInput(COUNTER_ID, "Make the counter show 10.", "The counter shows 5.", ["add 1", "add 3"], HISTORY, step=3),
]


@pytest.fixture(scope="module")
def tiny_policy(tiny_model_dir):
    """One loaded tiny-model policy; tests set its ``generation`` (cheaper than reloading on busy CPUs)."""
    return make_policy(f"hf:{tiny_model_dir}", device="cpu")


@pytest.mark.parametrize("temperature, top_p", [(0.0, 1.0), (1.0, 1.0), (0.7, 0.8)])
def test_returned_ids_and_logprobs_match_a_rescoring_pass(tiny_policy, temperature, top_p):
    policy = tiny_policy
    policy.generation = GenerationConfig(temperature=temperature, top_p=top_p, max_new_tokens=10, seed=3)
    outputs = policy.act(INPUTS)
    model, tokenizer = policy.engine.model, policy.engine.tokenizer
    assert len(outputs[0].prompt_token_ids) != len(outputs[1].prompt_token_ids)  # the batch was left-padded
    for agent_input, out in zip(INPUTS, outputs, strict=True):
        assert out.prompt_token_ids == policy.engine.encode_chat(policy.messages(agent_input))
        assert len(out.response_token_ids) == len(out.logprobs) == 10  # random weights never emit the stop token
        expected = rescore(model, out.prompt_token_ids, out.response_token_ids, temperature, top_p)
        assert torch.allclose(torch.tensor(out.logprobs, dtype=torch.float64), expected, atol=1e-4)
        assert out.text == tokenizer.decode(out.response_token_ids, skip_special_tokens=True)
        if temperature == 0:  # greedy picks the argmax of every step
            full = rescore(model, out.prompt_token_ids, out.response_token_ids)
            assert torch.equal(full, expected)


def test_greedy_tokens_are_the_argmax(tiny_policy):
    policy = tiny_policy
    policy.generation = GenerationConfig(temperature=0, max_new_tokens=6)
    out = policy.act(INPUTS[:1])[0]
    with torch.no_grad():
        logits = policy.engine.model(torch.tensor([out.prompt_token_ids + out.response_token_ids])).logits[0]
    argmax = logits[len(out.prompt_token_ids) - 1 : -1].argmax(-1).tolist()
    assert out.response_token_ids == argmax


def test_sampling_is_seeded(tiny_policy):
    def sample(seed):
        tiny_policy.generation, tiny_policy.calls = GenerationConfig(max_new_tokens=5, seed=seed), 0
        return [o.response_token_ids for o in tiny_policy.act(INPUTS)]

    state = torch.random.get_rng_state()
    assert sample(1) == sample(1) != sample(2)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is left alone


def test_history_is_dropped_from_the_left_to_fit_the_context(tiny_policy):
    policy = tiny_policy
    policy.generation, policy.history_length = GenerationConfig(temperature=0, max_new_tokens=4), 3
    policy.context_length = full_length = policy.count_tokens(policy.messages(INPUTS[1])) + 4
    assert "[Step 1]" in policy.messages(INPUTS[1])[1]["content"]  # everything fits exactly
    policy.context_length -= 1
    text = policy.messages(INPUTS[1])[1]["content"]
    assert "Make the counter show 10." in text  # the instruction always stays
    assert "[Step 1]" not in text and "[Step 2] Observation: The counter shows 3." in text
    assert policy.count_tokens(policy.messages(INPUTS[1])) <= full_length - 5
    policy.context_length = 20
    with pytest.raises(ConfigError, match=r"needs \d+ tokens without any history, but the context allows 16"):
        policy.act(INPUTS[:1])
    policy.history_length, policy.context_length = 2, policy.engine.context_length


def test_tiny_model_plays_episodes_through_the_vector_env(tiny_policy):
    policy = tiny_policy
    policy.generation = GenerationConfig(max_new_tokens=8, seed=0)
    envs = make_vec(COUNTER_ID, num_tasks=2, group_size=2, seed=0, max_steps=3)
    obs, infos = envs.reset()
    for step in range(3):
        inputs = [
            AgentInput(
                COUNTER_ID, infos["instruction"][i], obs[i], infos["admissible_actions"][i], step=step, env_index=i
            )
            for i in range(4)
        ]
        outputs = policy.act(inputs)
        obs, _, terminated, truncated, step_infos = envs.step([o.action for o in outputs])
        for out, valid in zip(outputs, step_infos["action_valid"], strict=True):
            assert out.parsed is False and bool(valid) is False  # random weights never write a valid tag
    assert truncated.all() and not terminated.any()
    described = policy.describe()
    assert described["templates"][COUNTER_ID]["version"] == "1"
    assert described["generation"] == {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 8, "seed": 0}
    envs.close()


@pytest.mark.gpu
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_hf_on_cuda_matches_a_rescoring_pass(tiny_model_dir, temperature):
    generation = GenerationConfig(temperature=temperature, max_new_tokens=8, seed=4)
    policy = make_policy(f"hf:{tiny_model_dir}", generation, device="cuda", dtype="float32")
    assert policy.engine.model.device.type == "cuda"
    for agent_input, out in zip(INPUTS, policy.act(INPUTS), strict=True):
        assert out.prompt_token_ids == policy.engine.encode_chat(policy.messages(agent_input))
        expected = rescore(policy.engine.model, out.prompt_token_ids, out.response_token_ids, temperature)
        assert torch.allclose(torch.tensor(out.logprobs, dtype=torch.float64), expected, atol=1e-3)


def test_model_without_chat_template_is_a_clear_error(tiny_model_dir, tmp_path):
    import shutil

    copy = shutil.copytree(tiny_model_dir, tmp_path / "base")
    config = json.loads((copy / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (copy / "tokenizer_config.json").write_text(json.dumps(config))
    (copy / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(ConfigError, match="has no chat template, so chat prompts cannot be built"):
        make_policy(f"hf:{copy}", device="cpu")
