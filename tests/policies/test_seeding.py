"""Per-input seeds: a sampled answer depends on its own seed, never on what shares its batch or call."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from policies_toyenv import COUNTER_ID

from anchorgym.policies.base import AgentInput, GenerationConfig
from anchorgym.policies.registry import make_policy

INPUT = AgentInput(COUNTER_ID, "Make the counter show 7.", "The counter shows 0.", ["add 1", "add 3", "sub 1"])
SAMPLED = GenerationConfig(temperature=1.0, top_p=0.95, max_new_tokens=8)


def test_random_policy_draws_from_each_inputs_seed():
    policy = make_policy("random")
    actions = ["a", "b", "c", "d", "e", "f", "g", "h"]
    inputs = [replace(INPUT, admissible_actions=actions, seed=s, env_index=i) for i, s in enumerate(range(40))]
    together = [o.action for o in policy.act(inputs)]
    alone = [policy.act([x])[0].action for x in reversed(inputs)][::-1]
    assert together == alone and len(set(together)) > 4
    unseeded = replace(inputs[0], seed=None)  # no step seed: the policy's own stream, which moves on
    assert len({policy.act([unseeded])[0].action for _ in range(20)}) > 1


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    pytest.importorskip("transformers")
    from anchorgym.policies.hf_engine import HFEngine

    return HFEngine(tiny_model_dir, device="cpu", threads=1)


def test_hf_engine_rows_sample_from_their_own_seeds(engine):
    from policies_scoring import rescore

    prompts = [engine.encode_chat([{"role": "user", "content": text}]) for text in ("hi", "go north", "push")]
    batched = engine.generate(prompts, SAMPLED, [11, 12, 13])
    alone = engine.generate(prompts[1:2], SAMPLED, [12])[0]
    other_company = engine.generate([prompts[0], prompts[1]], SAMPLED, [99, 12])[1]
    assert batched[1].response_token_ids == alone.response_token_ids == other_company.response_token_ids
    assert max(abs(a - b) for a, b in zip(batched[1].logprobs, alone.logprobs, strict=True)) < 1e-5
    assert len({tuple(c.response_token_ids) for c in engine.generate([prompts[0]] * 4, SAMPLED, [1, 2, 3, 4])}) > 1
    expected = rescore(engine.model, prompts[1], alone.response_token_ids, 1.0, 0.95)  # the sampled distribution
    assert max(abs(a - b) for a, b in zip(alone.logprobs, expected.tolist(), strict=True)) < 1e-4


def test_hf_engine_greedy_rows_are_the_argmax(engine):
    prompt = engine.encode_chat([{"role": "user", "content": "hi"}])
    greedy = GenerationConfig(temperature=0.0, max_new_tokens=6)
    assert engine.generate([prompt, prompt], greedy, [1, 2])[0].response_token_ids == (
        engine.generate([prompt], greedy, 0)[0].response_token_ids  # the batch-seeded path: plain greedy generate
    )


def test_serve_batches_answer_each_request_from_its_seed(engine):
    from anchorgym.policies.batcher import Batcher

    prompt = engine.encode_chat([{"role": "user", "content": "hi"}])
    alone = Batcher(engine, max_batch=1).submit(prompt, SAMPLED, seed=5)
    batcher = Batcher(engine, max_batch=3, window_s=5.0)  # a full batch runs at once
    with ThreadPoolExecutor(3) as pool:
        company = {4: prompt[1:], 5: prompt, 6: prompt[2:]}  # different prompts (and lengths) around seed 5's
        outputs = list(pool.map(lambda seed: batcher.submit(company[seed], SAMPLED, seed=seed), [4, 5, 6]))
    assert batcher.batch_sizes == [3]
    assert outputs[1].response_token_ids == alone.response_token_ids


def test_hf_policy_answers_each_input_from_its_step_seed(tiny_model_dir):
    pytest.importorskip("transformers")
    policy = make_policy(f"hf:{tiny_model_dir}", SAMPLED, device="cpu", threads=1)
    seeded = [replace(INPUT, seed=s, env_index=i) for i, s in enumerate([21, 22, 23])]
    together = policy.act(seeded)
    assert policy.act([seeded[2]])[0].response_token_ids == together[2].response_token_ids
    policy.batch_size = 2  # split into several generate calls: the same answers
    assert [o.response_token_ids for o in policy.act(seeded)] == [o.response_token_ids for o in together]
