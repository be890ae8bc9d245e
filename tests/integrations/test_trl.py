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
