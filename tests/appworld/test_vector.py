"""Several AppWorld envs in one vector env: one crashing world ends only its own episode.

The envs run on the process backend (what ``anchorgym eval --num-workers N`` uses),
all three in one host process, so each world worker belongs to a sub-env in another
process and the host has to close all three within the backend's close deadline.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from anchorgym.envs.vector import make_vec

pytestmark = pytest.mark.slow

TASK = "venmopay_1"


@pytest.fixture(scope="module")
def vec(appworld_ready):
    envs = make_vec(
        "anchorgym/AppWorld-v0",
        num_tasks=1,
        group_size=3,
        backend="process",
        num_workers=1,
        split="offline",
        source="generated",
        code_timeout_s=20,
    )
    yield envs
    envs.close()


def test_a_crashing_world_ends_only_its_episode_and_the_batch_goes_on(vec):
    _, infos = vec.reset(options={"task_ids": [TASK]})
    start = set(infos["anchor"])
    assert len(start) == 1  # one task, three worker processes: one anchor
    expert = vec.call_at([0], "expert_action")[0]
    pids = vec.call("worker_pid")
    assert len(set(pids)) == 3 and None not in pids
    os.kill(pids[1], signal.SIGKILL)  # the world of env 1 crashes
    _, rewards, terminated, truncated, infos = vec.step([expert, expert, expert])
    assert rewards.tolist() == [1.0, 0.0, 1.0]
    assert terminated.tolist() == [True, True, True] and not truncated.any()
    assert infos["won"].tolist() == [True, False, True]
    assert infos["_error"].tolist() == [False, True, False]
    assert infos["error"][1].startswith("AppWorld worker exited (code -9) during 'execute'.")
    # the two paying members reach the same database state (in two processes); the crashed one stays put
    assert infos["anchor"][0] == infos["anchor"][2] and infos["anchor"][0] not in start
    assert {infos["anchor"][1]} == start
    assert not vec.active.any()

    _, infos = vec.reset(options={"task_ids": [TASK]})  # the crashed env gets a fresh worker
    new_pids = vec.call("worker_pid")
    assert new_pids[0] == pids[0] and new_pids[2] == pids[2] and new_pids[1] not in (pids[1], None)
    _, rewards, *_ = vec.step([expert, expert, expert])
    np.testing.assert_array_equal(rewards, [1.0, 1.0, 1.0])


def test_closing_the_vector_env_stops_every_world_and_removes_its_outputs(vec):
    root = vec.call_at([0], "source")[0].root / "experiments" / "outputs"
    folders = [root / name for name in vec.call("experiment")]
    pids = vec.call("worker_pid")
    assert all(folder.is_dir() for folder in folders)
    vec.close()
    assert not any(folder.exists() for folder in folders)
    assert not any(_running(pid) for pid in pids)


def _running(pid):
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
