"""TRL: GRPOTrainer trains on an anchorgym env served over OpenEnv, through TRL's environment_factory."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("trl", reason="needs the trl extra: pip install 'anchorgym[trl]'")
pytest.importorskip("openenv", reason="needs the openenv extra: pip install 'anchorgym[openenv]'")

from anchorgym.envs.registry import make  # noqa: E402
from anchorgym.integrations.trl import ENDED, AnchorTRLEnv, environment_factory, task_dataset  # noqa: E402

SOKOBAN = "anchorgym/Sokoban-v1"


@pytest.mark.parametrize("remote", [False, True])
def test_the_trl_env_plays_the_anchorgym_episode(serve, remote):
    """reset/act/get_reward give the env's own observations and rewards, in-process and through a server."""
    reference = make(SOKOBAN, split="test")
    obs, info = reference.reset(seed=4, options={"task_id": "1000000007"})
    with serve(SOKOBAN, "test") as url:
        env = AnchorTRLEnv(SOKOBAN, url=url if remote else None, split="test", reward="return")
        assert env.reset(task_id="1000000007", seed=4, prompt="ignored") == (
            f"{obs}\nAdmissible actions: up, down, left, right"
        )
        total = 0.0
        for _ in range(20):
            action = reference.expert_action()
            obs, reward, terminated, truncated, info = reference.step(action)
            total += reward
            text = env.act(action)
            assert text.startswith(obs)
            if terminated or truncated:
                assert text.endswith(ENDED)
                break
        assert info["won"] and env.get_reward() == pytest.approx(total, abs=0) and total > 0
        assert env.act("up") == ENDED
        del env


def test_the_default_reward_cannot_be_gamed_by_not_acting():
    """With reward="return" a rollout that never acted (0) beat one that acted without winning (-0.1 per step)."""
    idle = AnchorTRLEnv(SOKOBAN, split="test")
    idle.reset(task_id="1000000007", seed=4)
    busy = AnchorTRLEnv(SOKOBAN, split="test", invalid_penalty=0.25)
    busy.reset(task_id="1000000007", seed=4)
    for action in ("up", "left", "fly", "down"):
        busy.act(action)
    assert idle.get_reward() == 0.0 and idle._steps == 0
    assert busy.get_reward() == -0.25  # not won (0.0), less one invalid action ("fly") taken
    winner = AnchorTRLEnv(SOKOBAN, split="test", reward="score")
    assert AnchorTRLEnv(SOKOBAN, split="test", reward="score").get_reward() == 0.0
    reference = make(SOKOBAN, split="test")
    reference.reset(seed=4, options={"task_id": "1000000007"})
    winner.reset(task_id="1000000007", seed=4)
    while not winner._done:
        action = reference.expert_action()
        reference.step(action)
        winner.act(action)
    assert winner.get_reward() == 1.0 == float(winner._info["won"])


def test_the_remote_trl_env_resumes_an_expired_session(serve):
    """After the server's idle timeout closed its session, act and reset reconnect (AnchorTRLEnv used to raise)."""
    reference = make(SOKOBAN, split="test")
    reference.reset(seed=4, options={"task_id": "1000000007"})
    with serve(SOKOBAN, "test", idle_timeout_s=0.5) as url:
        env = AnchorTRLEnv(SOKOBAN, url=url, reward="return", remote_options={"message_timeout_s": 60})
        env.reset(task_id="1000000007", seed=4)
        actions = [reference.expert_action()]
        reference.step(actions[0])
        env.act(actions[0])
        deadline = time.monotonic() + 120  # OpenEnv's reaper looks every 5 s
        while env._env.state()["ended"] is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert env._env.state()["ended"].startswith("the session was idle for ")
        action = reference.expert_action()
        obs, reward, terminated, truncated, info = reference.step(action)
        assert env.act(action).startswith(obs)  # resumed: a new session, reset and replayed to the same state
        assert env._info["anchor"] == info["anchor"] and env._steps == 2
        assert env._env.reconnects == 1
        while env._env.state()["ended"] is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert env.reset(task_id="1000000001", seed=0).startswith(
            make(SOKOBAN, split="test").reset(seed=0, options={"task_id": "1000000001"})[0]
        )
        assert env._env.reconnects == 2
        env._env.close()


def test_a_callers_mistake_on_the_remote_env_is_raised_without_reconnecting(serve):
    from anchorgym.errors import ConfigError

    with serve(SOKOBAN, "test") as url:
        env = AnchorTRLEnv(SOKOBAN, url=url)
        with pytest.raises(ConfigError, match=r"^reset's seed must be an integer from 0 to 2\*\*63-1"):
            env.reset(task_id="1000000007", seed=-1)
        with pytest.raises(ConfigError, match="Sokoban task ids are non-negative integer seeds such as '12', got 'x'"):
            env.reset(task_id="x", seed=0)
        assert env.reset(task_id="1000000007", seed=4).startswith("#")
        assert env._env.reconnects == 0
        env._env.close()


def test_the_remote_trl_env_gives_up_after_bounded_retries(serve):
    """A server that is gone fails the call with a clear error after the retries, it does not hang."""
    from anchorgym.errors import WorkerError

    with serve(SOKOBAN, "test") as url:
        env = AnchorTRLEnv(SOKOBAN, url=url, remote_options={"retries": 1, "connect_timeout_s": 5})
        env.reset(task_id="1000000007", seed=4)
    with pytest.raises(
        WorkerError, match=r"^The OpenEnv session at ws://127\.0\.0\.1:\d+/ws was lost 2 time\(s\) in a row"
    ):
        env.act("up")
    with pytest.raises(WorkerError, match=r"cannot connect"):
        env.reset(task_id="1000000007", seed=4)


def test_grpo_trainer_runs_steps_on_cpu_with_env_rewards(serve, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer
    from trl.chat_template_utils import qwen2_5_chat_template

    from anchorgym.policies.tiny import build_tiny_model

    model_dir = build_tiny_model(tmp_path / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.chat_template = qwen2_5_chat_template  # a template that renders tool calls, as TRL requires
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    dataset = task_dataset(SOKOBAN, split="test", num_tasks=2)
    assert dataset[0]["task_id"] == "1000000000" and dataset[0]["seed"] == 0
    config = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=16,
        max_steps=2,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        seed=0,
    )
    with serve(SOKOBAN, "test", max_sessions=8) as url:
        trainer = GRPOTrainer(
            model=model,
            args=config,
            train_dataset=dataset,
            processing_class=tokenizer,
            environment_factory=environment_factory(SOKOBAN, url=url, reward="return"),
        )
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        trainer.train()
    logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    assert len(logs) == 2
    assert "rewards/AnchorTRLEnv/mean" in logs[0]
    pool = trainer._environment_pool[None]
    assert {env._info["task_id"] for env in pool} <= {"1000000000", "1000000001"}
    rewards = [env.get_reward() for env in pool]
    assert all(r <= 0.0 for r in rewards)  # a random model never solves a puzzle: only step costs
    changed = any(not (p.detach() == before[n]).all() for n, p in model.named_parameters())
    assert changed or all(entry["reward_std"] == 0 for entry in logs)


# ----------------------------------------------------------------- GRPO with a model that calls the tool
WARMUP_ACTIONS = ("up", "jump")  # a valid and an invalid action: rollouts differ in reward (success less penalty)


@pytest.fixture(scope="module")
def tool_calling_model(tmp_path_factory):
    """The tiny Qwen2, fine-tuned for a few steps to answer every Sokoban prompt with an act tool call.

    The untrained tiny model never emits a tool call, so GRPO would never step the env; this warm-up teaches it
    the Qwen2.5 tool-call format (half "up", half the invalid "jump") on the prompts TRL renders.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.chat_template_utils import qwen2_5_chat_template

    from anchorgym.policies.tiny import build_tiny_model

    model_dir = build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.chat_template = qwen2_5_chat_template  # a template that renders tool calls, as TRL requires
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    env = AnchorTRLEnv(SOKOBAN, split="test")
    examples = []
    for row in task_dataset(SOKOBAN, split="test", num_tasks=2):
        messages = [dict(m) for m in row["prompt"]]
        messages[-1]["content"] += env.reset(task_id=row["task_id"], seed=row["seed"])
        prompt = tokenizer.apply_chat_template(messages, tools=[env.act], add_generation_prompt=True, tokenize=False)
        for action in WARMUP_ACTIONS:
            call = {"type": "function", "function": {"name": "act", "arguments": {"action": action}}}
            full = tokenizer.apply_chat_template(
                [*messages, {"role": "assistant", "content": "", "tool_calls": [call]}], tools=[env.act], tokenize=False
            )
            assert full.startswith(prompt)
            prompt_ids = tokenizer(prompt)["input_ids"]
            ids = tokenizer(full)["input_ids"]
            labels = [-100] * len(prompt_ids) + ids[len(prompt_ids) :]
            examples.append((torch.tensor([ids]), torch.tensor([labels])))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(120):
        ids, labels = examples[int(torch.randint(len(examples), (1,), generator=generator))]
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return model, tokenizer


REWARDS: list[tuple[str, int, float]] = []


class RecordingEnv(AnchorTRLEnv):
    """AnchorTRLEnv that records every reward it hands to the trainer, with the steps its episode took."""

    def get_reward(self) -> float:
        reward = super().get_reward()
        REWARDS.append((self._info["task_id"], self._steps, reward))
        return reward


def test_grpo_steps_the_env_and_its_rewards_are_the_trainers_advantages(serve, tool_calling_model, tmp_path):
    """In a real GRPOTrainer loop the model calls act, the env steps, and the advantages are the env's rewards'."""
    import torch
    from trl import GRPOConfig, GRPOTrainer

    model, tokenizer = tool_calling_model
    dataset = task_dataset(SOKOBAN, split="test", num_tasks=2)
    config = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=768,  # room for two tool calls and the observations they return
        max_tool_calling_iterations=2,
        max_steps=2,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        seed=0,
    )
    REWARDS.clear()
    with serve(SOKOBAN, "test", max_sessions=8) as url:
        trainer = GRPOTrainer(
            model=model,
            args=config,
            train_dataset=dataset,
            processing_class=tokenizer,
            environment_factory=lambda: RecordingEnv(SOKOBAN, url=url, invalid_penalty=0.5),
        )
        trainer.train()
    assert len(REWARDS) == 8  # 2 generation batches of 4 rollouts
    steps = [steps for _, steps, _ in REWARDS]
    assert sum(steps) > 0, steps  # the model called the tool: the env was stepped
    rewards = torch.tensor([reward for _, _, reward in REWARDS])
    assert set(rewards.tolist()) <= {0.0, -0.5, -1.0}  # never won; 0.5 off per invalid action taken
    grouped = rewards.view(-1, 4)
    replay = (grouped - grouped.mean(dim=1, keepdim=True)) / (grouped.std(dim=1, keepdim=True) + 1e-4)
    advantages = torch.tensor(list(trainer._logs["advantages"]))  # TRL keeps the last generation batch's
    assert torch.allclose(advantages, replay[-1], atol=1e-5)
    print("env steps per rollout:", steps, "rewards:", rewards.tolist(), "advantages:", advantages.tolist())
    logs = [entry for entry in trainer.state.log_history if "rewards/RecordingEnv/mean" in entry]
    assert [entry["rewards/RecordingEnv/mean"] for entry in logs] == pytest.approx(grouped.mean(dim=1).tolist())
