"""The trainer settings that verl-agent's scripts fix: warm-up, mini-batch order, prompt cap, step limit,
validation before training and at a temperature, observation-text anchors and the anchor diagnostics."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from anchorgym.envs.anchor_diagnostics import text_anchor
from anchorgym.errors import ConfigError
from anchorgym.harness.rollout import Episode, StepRecord
from anchorgym.policies.base import AgentInput
from anchorgym.policies.models import resolve_model
from anchorgym.training.config import TrainConfig
from anchorgym.training.generation import TrainerPolicy
from anchorgym.training.losses import LossConfig
from anchorgym.training.metrics import read_metrics
from anchorgym.training.trainer import Trainer, train
from anchorgym.training.update import Learner, Sample

from .test_trainer import ENV, sokoban_eval_config
from .test_trainer import config as corridor_config


def config(tmp_path: Path, **changes) -> TrainConfig:
    """The corridor config of test_trainer.py, without checkpoints."""
    return corridor_config(tmp_path, **{"save_every": 0, **changes})


@pytest.fixture(scope="module")
def tiny():
    path = resolve_model("tiny")
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    return model, AutoTokenizer.from_pretrained(path)


def test_learning_rate_warms_up_as_verls_constant_schedule(tmp_path):
    # 4 iterations, ratio 0.5: int(0.5 * 4) = 2 warm-up steps, rate step/2 of the peak, then the peak
    rows = read_metrics(train(config(tmp_path, iterations=4, lr_warmup_ratio=0.5)) / "metrics.csv")
    assert [float(r["update/lr"]) for r in rows] == [0.0, 1.5e-3, 3e-3, 3e-3]


def test_without_warm_up_every_iteration_trains_at_the_peak_rate(tmp_path):
    rows = read_metrics(train(config(tmp_path, iterations=2)) / "metrics.csv")
    assert [float(r["update/lr"]) for r in rows] == [3e-3, 3e-3]


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"^lr_warmup_ratio must be in \[0, 1\), got 1.0\.$"):
        TrainConfig(lr_warmup_ratio=1.0)
    with pytest.raises(ConfigError, match=r"^anchor must be one of \('state', 'observation'\), got 'obs'\."):
        TrainConfig(anchor="obs")
    with pytest.raises(ConfigError, match=r"^prompt_truncation must be one of \('error', 'left'\), got 'right'\.$"):
        TrainConfig(prompt_truncation="right")
    with pytest.raises(ConfigError, match=r"^eval_before_train needs eval_benchmark"):
        TrainConfig(eval_before_train=True)
    with pytest.raises(ConfigError, match=r"^eval_temperature must be >= 0"):
        TrainConfig(eval_temperature=-0.1)


def learner_after_update(model, samples: list[Sample], seed: int, shuffle: bool) -> torch.Tensor:
    model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    Learner(model, optimizer, LossConfig(), pad_id=0).update(samples, 2, 2, 1, seed, shuffle)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_without_shuffling_the_mini_batches_follow_rollout_order(tiny):
    # 4 samples, mini-batches of 2: two optimizer steps whose order the shuffle seed decides, unless off
    model, _ = tiny
    samples = [Sample([11, 12 + i], [21 + i], [-1.0], advantage) for i, advantage in enumerate([1.0, -1.0, 2.0, 0.5])]
    fixed = [learner_after_update(model, samples, seed, shuffle=False) for seed in (0, 1, 2)]
    assert torch.equal(fixed[0], fixed[1]) and torch.equal(fixed[0], fixed[2])
    shuffled = [learner_after_update(model, samples, seed, shuffle=True) for seed in (0, 1, 2)]
    assert not all(torch.equal(shuffled[0], other) for other in shuffled[1:])


def agent_input(observation: str) -> AgentInput:
    return AgentInput(
        env_index=0, env_id=ENV, instruction="Reach cell 3.", observation=observation, task_id="a", step=0
    )


def test_a_prompt_over_the_cap_stops_the_run_with_what_to_change(tiny):
    model, tokenizer = tiny
    uncapped = TrainerPolicy(model, tokenizer, ENV, "text").prompt_ids(agent_input("cell 0 " * 50))
    policy = TrainerPolicy(model, tokenizer, ENV, "text", max_prompt_length=len(uncapped) - 1)
    cap = len(uncapped) - 1
    with pytest.raises(ConfigError, match=rf"has {len(uncapped)} tokens, over max_prompt_length \({cap}\)"):
        policy.prompt_ids(agent_input("cell 0 " * 50))


def test_left_truncation_keeps_the_prompts_last_tokens(tiny):
    model, tokenizer = tiny
    uncapped = TrainerPolicy(model, tokenizer, ENV, "text").prompt_ids(agent_input("cell 0 " * 50))
    policy = TrainerPolicy(model, tokenizer, ENV, "text", max_prompt_length=20, prompt_truncation="left")
    assert policy.prompt_ids(agent_input("cell 0 " * 50)) == uncapped[-20:]


def test_max_steps_is_the_envs_own_limit(tmp_path):
    # the corridor stops at 5 steps by itself; verl-agent's env.max_steps raises the env's limit
    trainer = Trainer(config(tmp_path, iterations=1, max_steps=7))
    try:
        assert trainer.envs.call("max_steps") == (7,) * 4
    finally:
        trainer.close()


def episode(group: int, traj: int, cells: list[int], texts: list[str]) -> Episode:
    steps = [
        StepRecord(k, text, str(cell), "", "right", True, True, 0.0, False, False, [1, 2], [3], [-0.5])
        for k, (cell, text) in enumerate(zip(cells, texts, strict=True))
    ]
    return Episode(0, "a", "", group, traj, "", steps, won=traj == 0, score=float(traj == 0))


def test_observation_anchors_group_steps_by_the_text_the_policy_saw():
    # two trajectories: states 0,1 / 0,2; the texts alias states 1 and 2 ("a wall") and split state 0
    episodes = [episode(0, 0, [0, 1], ["start", "a wall"]), episode(0, 1, [0, 2], ["start again", "a wall"])]
    by_state = Trainer.make_samples(SimpleNamespace(config=TrainConfig(num_tasks=1, group_size=2)), episodes)[1]
    by_text = Trainer.make_samples(
        SimpleNamespace(config=TrainConfig(num_tasks=1, group_size=2, anchor="observation")), episodes
    )[1]
    # state groups: {0, 0}, {1}, {2}; text groups: {start}, {start again}, {a wall, a wall}
    assert (by_state["step_group/size_max"], by_state["step_group/singleton"]) == (2, 0.5)
    assert (by_text["step_group/size_max"], by_text["step_group/singleton"]) == (2, 0.5)
    # the diagnostics compare the env's (state) anchors with the texts, whichever groups the steps
    for row in (by_state, by_text):
        assert (row["anchors/aliasing"], row["anchors/splitting"]) == (1.0, 1 / 3)


def test_text_anchor_is_the_observation_digest_the_env_gives():
    from anchorgym.envs.registry import make

    env = make(ENV, anchor_fn="observation")
    _, info = env.reset(options={"task_id": "a"})
    assert info["anchor"] == text_anchor("cell 0")


@pytest.mark.slow
def test_validation_runs_before_training_and_samples_at_its_temperature(tmp_path):
    cfg = sokoban_eval_config(tmp_path, iterations=1, eval_before_train=True, eval_temperature=0.4)
    out = train(cfg)
    rows = read_metrics(out / "metrics.csv")
    assert [r["iteration"] for r in rows] == ["0", "1"]
    assert rows[0]["eval/success"] != "" and rows[0]["rollout/success"] == ""
    result = json.loads((out / "eval" / "iter_000000" / "result.json").read_text())
    assert result["policy"]["generation"]["temperature"] == 0.4


def test_diagnostics_are_logged_every_iteration(tmp_path):
    rows = read_metrics(train(config(tmp_path, iterations=1)) / "metrics.csv")
    # the corridor's text names its cell: text and state partition the steps alike
    assert (float(rows[0]["anchors/aliasing"]), float(rows[0]["anchors/splitting"])) == (0.0, 0.0)
    assert np.isfinite(float(rows[0]["update/lr"]))


def test_the_trainer_hands_every_loss_setting_to_the_learner(tmp_path):
    trainer = Trainer(config(tmp_path, iterations=1, clip_ratio_low=0.1, clip_ratio_high=0.28, entropy_coef=0.001))
    try:
        loss = trainer.learner.loss_config
        assert (loss.clip_ratio_low, loss.clip_ratio_high, loss.entropy_coef) == (0.1, 0.28, 0.001)
    finally:
        trainer.close()


def test_evaluation_samples_each_episode_from_its_own_seed(tiny):
    # the harness gives every input its step seed: a row's tokens must not depend on the rows beside it
    model, tokenizer = tiny
    policy = TrainerPolicy(model, tokenizer, ENV, "text", temperature=0.7, max_new_tokens=6, seed=3)

    def seeded(observation: str, seed: int) -> AgentInput:
        return AgentInput(ENV, "Reach cell 3.", observation, task_id="a", seed=seed)

    alone = policy.act([seeded("cell 1", 11)])[0]
    batched = policy.act([seeded("cell 0", 5), seeded("cell 1", 11), seeded("cell 2", 7)])[1]
    assert batched.response_token_ids == alone.response_token_ids
    # padding changes the float32 sums by ~1e-7 (a near-tie could flip: documented in the harness README)
    assert batched.logprobs == pytest.approx(alone.logprobs, abs=1e-5)
    other = policy.act([seeded("cell 1", 12)])[0]
    assert other.response_token_ids != alone.response_token_ids  # the seed, not the policy's stream, decides


@pytest.mark.parametrize(
    ("env_id", "text", "action"),
    [
        # our tool-QA template: the domain tag stays around its content, as the env reads it
        (
            "anchorgym/ToolQA-v0",
            "<think>hm</think><search>capital of France</search>",
            "<search>capital of France</search>",
        ),
        # Search-R1's rules live in the env (raw_turns): the whole turn is sent
        (
            "anchorgym/ToolQA-v1",
            "<think>hm</think><answer>Paris</answer> done",
            "<think>hm</think><answer>Paris</answer> done",
        ),
        # the plain <action> tag is stripped
        (ENV, "<think>go</think><action>right</action>", "right"),
    ],
)
def test_the_trainer_reads_a_turn_as_the_chat_policies_do(tiny, env_id, text, action):
    model, tokenizer = tiny
    policy = TrainerPolicy(model, tokenizer, env_id, "text")
    response = tokenizer(text, add_special_tokens=False).input_ids
    admissible = ["right", "left"] if env_id == ENV else None  # tool-QA's action space is open
    output = policy._output(AgentInput(env_id, "q", "obs", admissible), [1], response, [0.0] * len(response))
    assert (output.action, output.parsed) == (action, True)
