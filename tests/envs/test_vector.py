"""Vector envs: group sharing, independent episode ends, autoreset and identical results on every backend."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

import anchorgym
from anchorgym.errors import ConfigError, UnknownNameError

ENV_ID = "anchorgym/Sokoban-v0"
FIXED = ["up", "left", "nonsense", "down", "right"]


@pytest.fixture(scope="module")
def ray_session():
    """Start Ray once for this module (2 CPUs) and shut it down at the end."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():  # another module started it: leave it to that module
        yield ray
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("RAY_ADDRESS", raising=False)  # a private local instance, never a cluster it finds
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def make(backend: str = "sync", num_tasks: int = 3, group_size: int = 2, **kwargs):
    return anchorgym.make_vec(
        ENV_ID, num_tasks=num_tasks, group_size=group_size, backend=backend, split="test", seed=4, **kwargs
    )


def rollout(envs, steps: int = 16, seed: int = 11) -> list:
    """Play a fixed script: even envs follow the expert, odd envs cycle through FIXED (one invalid)."""
    obs, infos = envs.reset(seed=seed)
    record = [(obs, infos["anchor"].tolist(), infos["task_id"].tolist(), infos["traj_id"].tolist())]
    for t in range(steps):
        running = np.flatnonzero(envs.active)
        expert = dict(zip(running.tolist(), envs.call_at(running, "expert_action"), strict=True))
        actions = [expert.get(i, "up") if i % 2 == 0 else FIXED[(t + i) % len(FIXED)] for i in range(envs.num_envs)]
        obs, rewards, terminated, truncated, infos = envs.step(actions)
        anchors = infos["anchor"].tolist() if "anchor" in infos else []
        flags = (terminated.tolist(), truncated.tolist(), infos["active"].tolist())
        record.append((obs, rewards.tolist(), anchors, flags))
    return record


def test_group_members_share_the_initial_state_and_groups_differ():
    envs = make(num_tasks=4, group_size=3)
    obs, infos = envs.reset(seed=0)
    assert infos["group_id"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert infos["traj_id"].tolist() == list(range(12))
    for group in range(4):
        members = slice(3 * group, 3 * group + 3)
        assert len(set(infos["anchor"][members])) == 1
        assert len(set(obs[members])) == 1 and len(set(infos["task_id"][members])) == 1
    assert len(set(infos["task_id"])) == 4 and len(set(infos["anchor"])) == 4
    _, again = envs.reset()
    assert again["traj_id"].tolist() == list(range(12, 24))  # fresh trajectory ids every episode
    envs.close()


def test_reset_with_given_task_ids():
    envs = make(num_tasks=2, group_size=2)
    _, infos = envs.reset(options={"task_ids": ["1000000000", "1000000001"]})
    assert infos["task_id"].tolist() == ["1000000000"] * 2 + ["1000000001"] * 2
    with pytest.raises(ConfigError, match="num_tasks=2"):
        envs.reset(options={"task_ids": ["1000000000"]})
    envs.close()


def test_finished_envs_are_not_stepped_until_reset():
    envs = make(num_tasks=1, group_size=2)
    envs.reset(options={"task_ids": ["1000000000"]})
    while envs.active[0]:
        before = envs.last_obs[1]
        obs, rewards, terminated, _, infos = envs.step([envs.call_at([0], "expert_action")[0], "nonsense"])
        assert obs[1] == before  # env 1 played an invalid no-op
    assert terminated[0] and infos["won"][0] and envs.active.tolist() == [False, True]
    obs, rewards, terminated, truncated, infos = envs.step(["up", "nonsense"])
    assert rewards[0] == 0.0 and not infos["_anchor"][0] and infos["_anchor"][1]
    assert infos["active"].tolist() == [False, True]
    envs.close()


def test_autoreset_resets_a_group_once_all_members_finish():
    envs = make(num_tasks=2, group_size=2, autoreset=True)
    obs, infos = envs.reset(seed=3)
    first_tasks = infos["task_id"].tolist()
    for _ in range(15):  # max_steps: every expert wins within it
        obs, _, _, _, infos = envs.step(envs.call_at(range(4), "expert_action"))
        if "final_obs" in infos:
            break
    finished = infos["_final_obs"]
    assert finished.any()
    for index in np.flatnonzero(finished):
        assert infos["final_info"]["task_id"][index] == first_tasks[index]
        assert infos["final_info"]["won"][index]
        assert infos["traj_id"][index] >= 4 and infos["active"][index]
    envs.close()


def test_backend_options_are_checked():
    with pytest.raises(UnknownNameError) as caught:
        make(backend="process", backend_options={"max_worker_rss": 100})
    assert str(caught.value) == (
        "The process backend has no option 'max_worker_rss'. Did you mean 'max_worker_rss_mb'? Options by backend: "
        "sync: (none); process: max_worker_rss_mb, reset_timeout_s, start_method, step_timeout_s; "
        "ray: actor_per_env, address, reset_timeout_s, step_timeout_s; "
        "openenv: connect_timeout_s, message_timeout_s, retries, urls."
    )
    with pytest.raises(ConfigError, match="max_worker_rss_mb must be a positive number of MiB, got 0"):
        make(backend="process", backend_options={"max_worker_rss_mb": 0})


def test_bad_arguments_are_clear_errors():
    with pytest.raises(UnknownNameError, match="Did you mean 'process'"):
        make(backend="proces")
    with pytest.raises(UnknownNameError, match="split"):
        anchorgym.make_vec(ENV_ID, num_tasks=1, split="valid")
    envs = make(num_tasks=1, group_size=2)
    envs.reset()
    with pytest.raises(ConfigError, match="2 envs"):
        envs.step(["up"])
    envs.close()


@pytest.mark.slow
def test_sync_and_process_backends_give_identical_results():
    results = {}
    for backend in ("sync", "process"):
        envs = make(backend, num_workers=2)
        results[backend] = rollout(envs)
        envs.close()
    assert results["process"] == results["sync"]


@pytest.mark.slow
def test_ray_backend_gives_identical_results(ray_session):
    envs = make("sync")
    expected = rollout(envs)
    envs.close()
    envs = make("ray", num_workers=2)
    assert rollout(envs) == expected
    envs.reset(seed=1)
    os.kill(envs.backend.pids[1], signal.SIGKILL)  # envs 3-5 live in actor 1
    *_, truncated, infos = envs.step(["up"] * envs.num_envs)
    assert infos["_error"].tolist() == [False] * 3 + [True] * 3 and truncated.tolist() == [False] * 3 + [True] * 3
    assert infos["error"][3].startswith("WorkerError: Ray actor 1 hosting envs 3-5 of anchorgym/Sokoban-v0")
    again = rollout(envs)  # the reset restarts the actor
    assert again[0][:3] == expected[0][:3] and again[1:] == expected[1:]  # traj_ids move on
    assert envs.backend.restarts == [0, 1]
    envs.close()


@pytest.mark.slow
def test_a_hung_ray_actor_past_its_step_limit_is_killed_and_restarted(ray_session):
    envs = make("ray", num_workers=2, backend_options={"step_timeout_s": 8.0})
    try:
        envs.reset(seed=1)
        os.kill(envs.backend.pids[0], signal.SIGSTOP)  # envs 0-2 live in actor 0: it hangs for good
        *_, infos = envs.step(["up"] * envs.num_envs)
        assert infos["_error"].tolist() == [True] * 3 + [False] * 3
        assert infos["error"][0].startswith("EnvTimeout: Ray actor 0 hosting envs 0-2 of anchorgym/Sokoban-v0")
        assert "did not finish step within 8 s (timeout, step_timeout_s) and was killed" in infos["error"][0]
        stopped = envs.backend.pids[0]
        envs.reset(seed=1)  # the reset starts a fresh actor
        assert envs.backend.restarts == [1, 0] and envs.backend.pids[0] != stopped
        assert not envs.step(["up"] * envs.num_envs)[4].get("_error", np.zeros(6, bool)).any()
    finally:
        envs.close()


@pytest.mark.slow
def test_env_errors_in_workers_reach_the_caller_and_the_pool_survives():
    envs = make("process", num_tasks=2, group_size=1, num_workers=2)
    with pytest.raises(ConfigError, match="non-negative integer seeds"):
        envs.reset(options={"task_ids": ["1000000000", "abc"]})
    _, infos = envs.reset(options={"task_ids": ["1000000000", "1000000001"]})
    assert infos["task_id"].tolist() == ["1000000000", "1000000001"]
    envs.close()


def episodes(envs, seeds=(11, 12, 13), steps: int = 6) -> tuple[list, list]:
    """Play one scripted episode per seed; return the results and the worker pids after each episode."""
    record, pids = [], []
    for seed in seeds:
        record.append(rollout(envs, steps, seed))
        pids.append(list(getattr(envs.backend, "pids", [])))
    return record, pids


@pytest.mark.slow
def test_workers_past_the_memory_limit_are_recycled_between_episodes_with_identical_results():
    envs = make("sync")
    expected, _ = episodes(envs)
    envs.close()
    envs = make("process", num_workers=2, backend_options={"max_worker_rss_mb": 1})  # every worker is past 1 MiB
    first = list(envs.backend.pids)
    record, pids = episodes(envs)
    assert envs.backend.recycles == [3, 3]  # recycled at every reset, never mid-episode
    assert len({*first, *(pid for after in pids for pid in after)}) == 8  # a fresh process each time
    assert record == expected
    envs.close()
    roomy = make("process", num_workers=2, backend_options={"max_worker_rss_mb": 1e6})
    first = list(roomy.backend.pids)
    assert episodes(roomy)[0] == expected and roomy.backend.recycles == [0, 0] and roomy.backend.pids == first
    assert all(0 < size < 1e6 for size in roomy.backend.worker_rss_mb())
    roomy.close()


def autoreset_run(envs, steps: int = 40) -> tuple[list, list]:
    """Every env follows the expert under autoreset; return the results and which envs reset at each step."""
    obs, infos = envs.reset(seed=5)
    record, resets = [(obs, infos["task_id"].tolist())], []
    for _ in range(steps):
        obs, rewards, terminated, _, infos = envs.step(envs.call_at(range(envs.num_envs), "expert_action"))
        record.append((obs, rewards.tolist(), terminated.tolist(), infos["anchor"].tolist()))
        resets.append(infos["_final_obs"].tolist() if "_final_obs" in infos else [False] * envs.num_envs)
    return record, resets


@pytest.mark.slow
def test_recycling_under_autoreset_waits_until_all_envs_of_a_worker_reset_together():
    envs = make("sync", num_tasks=4, group_size=1, autoreset=True)
    expected, resets = autoreset_run(envs)
    envs.close()
    envs = make("process", num_tasks=4, group_size=1, num_workers=2, autoreset=True)
    envs.backend.max_worker_rss_mb = 1  # set after the start, so the recycling below is the autoresets' doing
    pids = [list(envs.backend.pids)]
    obs, infos = envs.reset(seed=5)
    record = [(obs, infos["task_id"].tolist())]
    pids.append(list(envs.backend.pids))
    for _ in range(len(resets)):
        obs, rewards, terminated, _, infos = envs.step(envs.call_at(range(4), "expert_action"))
        record.append((obs, rewards.tolist(), terminated.tolist(), infos["anchor"].tolist()))
        pids.append(list(envs.backend.pids))
    envs.close()
    assert record == expected
    assert envs.backend.recycles[0] >= 1 and all(a != b for a, b in zip(pids[0], pids[1], strict=True))
    restarted = [[before[w] != after[w] for w in range(2)] for before, after in zip(pids[1:-1], pids[2:], strict=True)]
    both_reset = [[reset[2 * w] and reset[2 * w + 1] for w in range(2)] for reset in resets]
    assert restarted == both_reset  # a worker restarts exactly when both of its envs reset in one step
    partial = [r[2 * w] != r[2 * w + 1] for r in resets for w in range(2)]
    assert any(map(any, both_reset)) and any(partial)  # both cases happened
