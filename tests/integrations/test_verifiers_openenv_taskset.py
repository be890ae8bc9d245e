"""verifiers' own OpenEnv taskset plays an anchorgym OpenEnv server, offline.

``verifiers.v1``'s ``OpenEnvTaskset`` / ``OpenEnvEnv`` (shipped with verifiers, not anchorgym's code) connect
OpenEnv's ``GenericEnvClient`` to ``base_url``, read the action schema from ``/schema``, reset with each of
the config's ``resets`` and step with the model's reply parsed as a JSON action, summing the per-step
rewards into the trace's ``openenv_reward``. Here the server is a real anchorgym server (the ``serve``
fixture), the model a real chat-completions server on 127.0.0.1 answering one fixed text, and the player
runs offline: the ``subprocess`` runtime (no Prime sandbox, no login) with anchorgym's in-process
``anchorgym-verifiers`` harness, since every harness built into verifiers installs a program with uv or npm
first. verifiers 0.3.1 ships ``verifiers.v1`` with its OpenEnv taskset; verifiers 0.4's venv has no openenv,
so these tests skip there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("openenv", reason="needs the openenv extra: pip install 'anchorgym[openenv]'")
pytest.importorskip("verifiers.v1.tasksets.openenv", reason="needs verifiers with verifiers.v1's OpenEnv taskset")

from chat_server import chat_server  # noqa: E402

from anchorgym.envs.registry import make  # noqa: E402

ROOT = Path(__file__).parents[2]
ENV_ID = "anchorgym/Sokoban-v1"
MAX_STEPS = 5
# answering "up": task 1000000000 stays unsolved until max_steps truncates it, 1000000019 is solved in one step
RESETS = [{"seed": 0, "task_id": "1000000000"}, {"seed": 3, "task_id": "1000000019"}]


@pytest.fixture
def replying_server(request) -> Iterator[str]:
    """A real chat-completions server on 127.0.0.1 answering every request with exactly ``request.param``."""
    with chat_server(request.param) as url:
        yield url


@pytest.fixture
def offline_verifiers(tmp_path, monkeypatch) -> None:
    """Keep verifiers' subprocess runtime folders in tmp_path; make the ``anchorgym-verifiers`` harness importable.

    verifiers imports a harness id as a top-level module (``anchorgym_verifiers``, at the repository root,
    installed with the package); an editable install made before that module existed does not map it.
    """
    import verifiers.v1.runtimes.subprocess as subprocess_runtime

    monkeypatch.setattr(subprocess_runtime, "CACHE_DIR", tmp_path / "verifiers")
    monkeypatch.setattr(subprocess_runtime.SubprocessRuntime, "scripts_dir", str(tmp_path / "verifiers/scripts"))
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setenv("LOCAL_API_KEY", "none")


def play_openenv_taskset(env_url: str, model_url: str) -> list:
    """Evaluate verifiers' OpenEnv taskset on ``env_url`` (one task per reset) with the model at ``model_url``."""
    import verifiers.v1 as vf
    from verifiers.v1.env import RunSlot
    from verifiers.v1.tasksets.openenv import OpenEnvEnv, OpenEnvEnvConfig

    config = OpenEnvEnvConfig(
        taskset={"id": "openenv", "base_url": env_url, "resets": RESETS},
        player={"harness": {"id": "anchorgym-verifiers"}, "runtime": {"type": "subprocess"}},
    )
    env = vf.load_environment(config)
    assert type(env) is OpenEnvEnv  # verifiers' own env plays, not anchorgym's
    client = vf.EvalClientConfig(base_url=model_url, api_key_var="LOCAL_API_KEY")
    ctx = vf.ModelContext(model="m", client=client, sampling=vf.SamplingConfig(temperature=0.0))

    async def run() -> list:
        async with env.serving():
            return [await env.run_slot(RunSlot(task), ctx) for task in env.taskset]

    return asyncio.run(run())


def play_in_process(reset: dict, action: str) -> list[float]:
    """The rewards of ``action`` played until the episode ends on an in-process env reset as ``reset``."""
    env = make(ENV_ID, split="test", max_steps=MAX_STEPS)
    try:
        env.reset(seed=reset["seed"], options={"task_id": reset["task_id"]})
        rewards = []
        for _ in range(MAX_STEPS):
            _, reward, terminated, truncated, _ = env.step(action)
            rewards.append(float(reward))
            if terminated or truncated:
                return rewards
        raise AssertionError(f"the episode did not end within max_steps={MAX_STEPS}")
    finally:
        env.close()


@pytest.mark.parametrize("replying_server", ['{"text": "up"}'], indirect=True)
def test_verifiers_openenv_taskset_plays_an_anchorgym_server(serve, replying_server, offline_verifiers):
    """Each episode's summed openenv_reward and step count equal the same actions played in-process."""
    with serve(ENV_ID, "test", env_kwargs={"max_steps": MAX_STEPS}) as url:
        episodes = play_openenv_taskset(url, replying_server)

    expected = [play_in_process(reset, "up") for reset in RESETS]
    assert [len(rewards) for rewards in expected] == [MAX_STEPS, 1]  # one truncated, one solved
    assert [episode.task.data.reset for episode in episodes] == RESETS
    for episode, rewards in zip(episodes, expected, strict=True):
        assert episode.ok and episode.errors == []
        (trace,) = episode.traces
        assert trace.rewards["openenv_reward"].score == sum(rewards)
        # every model reply was stepped once; the episode ended on the server's done, not on a turn cap
        replies = [node.message.content for node in trace.nodes if node.message.role == "assistant"]
        assert replies == ['{"text": "up"}'] * len(rewards)
        assert len(trace.calls) == len(rewards)


@pytest.mark.parametrize("replying_server", ["up"], indirect=True)
def test_a_raw_text_reply_is_not_an_action_for_verifiers(serve, replying_server, offline_verifiers):
    """AnchorAction has no required field (``text`` defaults to ""), so verifiers takes only JSON replies.

    verifiers wraps a non-JSON reply into the schema's one required field; ours has none, so the episode
    fails before any step (docs/integrations/verifiers.md tells models to answer ``{"text": ...}``).
    """
    with serve(ENV_ID, "test", env_kwargs={"max_steps": MAX_STEPS}) as url:
        episodes = play_openenv_taskset(url, replying_server)

    for episode in episodes:
        assert not episode.ok
        assert [f"{error.type}: {error.message}" for error in episode.errors] == [
            "EnvError: OpenEnvEnv.run(): ValueError: non-object actions require exactly one required field"
        ]
        assert all("openenv_reward" not in trace.rewards for trace in episode.traces)
