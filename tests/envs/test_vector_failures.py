"""A failing sub-env ends only its own episode, alike on every backend; a dead worker restarts at reset."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

import anchorgym
from anchorgym.envs.backends import CLOSE_TIMEOUT_S
from anchorgym.envs.registry import register
from anchorgym.errors import ConfigError, WorkerError

sys.path.insert(0, str(Path(__file__).resolve().parent))  # spawned workers inherit it and import flaky_env
from flaky_env import FLAKY_ID, INFO  # noqa: E402

register(INFO)
TASKS = ["1000000000", "1000000001", "1000000002", "1000000003"]
MOVES = ["up", "right", "down", "left"]
STEP_ERROR = "RuntimeError: flaky env: step 2 of task 1000000001"


def make(backend: str = "sync", **kwargs):
    return anchorgym.make_vec(
        FLAKY_ID, num_tasks=4, backend=backend, num_workers=2, split="test", **kwargs
    )  # process: envs 0-1 in worker 0, envs 2-3 in worker 1


def per_env(value, infos: dict, key: str, index: int):
    """``infos[key][index]`` where its mask says the env reported it, else None."""
    return value[index] if key in infos and infos["_" + key][index] else None


def play(envs, steps: int = 6, seed: int = 7) -> tuple[list, list]:
    """Reset on TASKS and take fixed moves; return each env's record per call, and each env's step count."""
    obs, infos = envs.reset(seed=seed, options={"task_ids": TASKS})
    record = [[(obs[i], per_env(infos.get("error"), infos, "error", i)) for i in range(4)]]
    for t in range(steps):
        obs, rewards, terminated, truncated, infos = envs.step([MOVES[(t + i) % 4] for i in range(4)])
        record.append(
            [
                (
                    obs[i],
                    float(rewards[i]),
                    bool(terminated[i]),
                    bool(truncated[i]),
                    bool(infos["active"][i]),
                    per_env(infos.get("anchor"), infos, "anchor", i),
                    per_env(infos.get("error"), infos, "error", i),
                )
                for i in range(4)
            ]
        )
    return record, list(envs.call("steps"))


def column(record: list, index: int) -> list:
    return [row[index] for row in record]


@pytest.fixture(scope="module")
def reference():
    envs = make()
    yield play(envs)
    envs.close()


@pytest.mark.parametrize("backend", ["sync", pytest.param("process", marks=pytest.mark.slow)])
def test_an_env_raising_in_step_ends_only_its_episode(backend, reference):
    expected, expected_steps = reference
    envs = make(backend, task="1000000001", raise_at_step=2)
    record, steps = play(envs)
    envs.close()
    for index in (0, 2, 3):  # the neighbour in the same worker and the other worker's envs: untouched
        assert column(record, index) == column(expected, index)
    failing = column(record, 1)
    assert failing[:2] == column(expected, 1)[:2]
    assert failing[2] == (failing[1][0], 0.0, False, True, False, None, STEP_ERROR)
    assert all(row[1:] == (0.0, False, False, False, None, None) for row in failing[3:])  # never stepped again
    assert steps == [expected_steps[0], 2, *expected_steps[2:]]  # every healthy env stepped exactly once per call


@pytest.mark.parametrize("backend", ["sync", pytest.param("process", marks=pytest.mark.slow)])
def test_an_env_raising_in_reset_is_inactive_with_its_error(backend, reference):
    expected, _ = reference
    envs = make(backend, task="1000000002", raise_on_reset=True)
    record, _ = play(envs, steps=2)
    assert record[0][2] == ("", "RuntimeError: flaky env: reset of task 1000000002")
    assert [row[2][1:] for row in record[1:]] == [(0.0, False, False, False, None, None)] * 2
    for index in (0, 1, 3):
        assert column(record, index) == column(expected, index)[:3]
    with pytest.raises(ConfigError, match="non-negative integer seeds"):  # a caller's mistake still raises
        envs.reset(options={"task_ids": ["1000000000", "abc", "1000000002", "1000000003"]})
    assert not envs.active.any()
    envs.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_killed_worker_ends_its_episodes_and_restarts_at_the_next_reset(reference):
    expected, _ = reference
    envs = make("process")
    envs.reset(seed=7, options={"task_ids": TASKS})
    killed = envs.backend.pids[1]
    os.kill(killed, signal.SIGKILL)
    obs, rewards, terminated, truncated, infos = envs.step([MOVES[i % 4] for i in range(4)])
    message = (
        f"WorkerError: Worker process 1 (pid {killed}) hosting envs 2-3 of {FLAKY_ID}, tasks 1000000002, "
        "1000000003 died (SIGKILL) while stepping. Its episodes end here; it restarts at the next reset."
    )
    assert infos["error"][2] == infos["error"][3] == message
    assert infos["_error"].tolist() == [False, False, True, True]
    assert truncated.tolist() == [False, False, True, True] and envs.active.tolist() == [True, True, False, False]
    assert obs[:2] == [row[0] for row in expected[1][:2]] and rewards.tolist()[2:] == [0.0, 0.0]
    _, _, _, _, infos = envs.step([MOVES[(1 + i) % 4] for i in range(4)])  # the live worker carries on
    assert infos["_anchor"].tolist() == [True, True, False, False] and "error" not in infos
    with pytest.raises(WorkerError, match="died"):
        envs.call_at([3], "expert_action")
    record, _ = play(envs)  # the reset restarts worker 1 with fresh envs
    assert envs.backend.restarts == [0, 1] and envs.backend.pids[1] != killed
    assert record == expected
    start = time.monotonic()
    envs.close()
    assert time.monotonic() - start < CLOSE_TIMEOUT_S
    assert not any(proc.is_alive() for proc in envs.backend.procs)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_worker_dying_in_reset_fails_its_envs_only():
    envs = make("process", task="1000000003", exit_on_reset=True)
    obs, infos = envs.reset(seed=7, options={"task_ids": TASKS})
    pid = envs.backend.pids[1]
    reason = "died (exit code 3) while resetting. Its episodes end here; it restarts at the next reset."
    assert infos["error"][2].startswith(f"WorkerError: Worker process 1 (pid {pid}) hosting envs 2-3")
    assert infos["error"][2].endswith(reason) and infos["error"][3] == infos["error"][2]
    assert obs[2:] == ["", ""] and obs[0] and envs.active.tolist() == [True, True, False, False]
    obs, infos = envs.reset(seed=7, options={"task_ids": TASKS[:3] + ["1000000004"]})
    assert "error" not in infos and all(obs) and envs.backend.restarts == [0, 1]
    envs.close()


def test_env_errors_in_calls_name_the_env_alike_on_every_backend():
    envs = make("sync")
    envs.reset(seed=7, options={"task_ids": TASKS})
    with pytest.raises(WorkerError) as caught:
        envs.call_at([1], "no_such_method")
    assert str(caught.value) == (
        f"Env 1 of {FLAKY_ID} (task 1000000001) raised in no_such_method: "
        "AttributeError: 'FlakyEnv' object has no attribute 'no_such_method'"
    )
    envs.close()


@pytest.mark.slow
def test_sync_and_process_report_failures_identically():
    records = {}
    for backend in ("sync", "process"):
        envs = make(backend, task="1000000001", raise_at_step=2)
        records[backend] = play(envs)
        envs.close()
    assert records["process"] == records["sync"]
    assert any(STEP_ERROR in row for step in records["sync"][0] for row in step)


def test_a_worker_killed_while_starting_gives_no_main_module_hint():
    with pytest.raises(WorkerError) as caught:
        make("process", kill_on_init=True)
    message = str(caught.value)
    assert message.startswith("Worker process 0 (pid ") and "died (SIGKILL) while starting." in message
    assert "__main__" not in message  # the hint is for exit code 1 (an unguarded main module), not a signal


def test_a_hung_worker_past_its_step_limit_is_killed_and_restarted():
    envs = make("process", task="1000000001", backend_options={"step_timeout_s": 8.0})
    try:
        envs.reset(seed=7, options={"task_ids": TASKS})
        os.kill(envs.backend.pids[0], signal.SIGSTOP)  # worker 0 (envs 0-1) hangs for good
        _, _, _, _, infos = envs.step(MOVES)
        errors = [per_env(infos.get("error"), infos, "error", i) for i in range(4)]
        assert errors[2:] == [None, None]
        assert errors[0] == errors[1] and errors[0].startswith("EnvTimeout: Worker process 0 (pid ")
        assert "did not finish step within 8 s (timeout, step_timeout_s) and was killed" in errors[0]
        old = envs.backend.pids[0]
        envs.reset(seed=7, options={"task_ids": TASKS})  # the next reset starts it again
        assert envs.backend.pids[0] != old and envs.backend.restarts == [1, 0]
    finally:
        envs.close()
