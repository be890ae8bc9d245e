"""The ``openenv`` vector backend: sub-envs on OpenEnv servers behave as in-process ones."""

from __future__ import annotations

import json
from contextlib import ExitStack

import numpy as np
import pytest

pytest.importorskip("openenv", reason="needs the openenv extra: pip install 'anchorgym[openenv]'")

from integrations_envs import CRASHY_ID  # noqa: E402

import anchorgym  # noqa: E402
from anchorgym.errors import ConfigError, WorkerError  # noqa: E402
from anchorgym.integrations.openenv.types import jsonable  # noqa: E402

SOKOBAN = "anchorgym/Sokoban-v1"


def plain(infos):
    """The vector infos as JSON values, keyed like gymnasium's (arrays become lists)."""
    return json.loads(json.dumps(jsonable({k: v for k, v in infos.items()}), default=str))


def play(envs, steps=6):
    """Reset with a fixed seed, then step with each env's expert (an invalid action every third step)."""
    obs, infos = envs.reset(seed=3)
    trace = [(obs, plain(infos))]
    for step in range(steps):
        if step % 3 == 2:
            actions = ["fly"] * envs.num_envs
        else:
            active = np.flatnonzero(envs.active)
            moves = dict(zip(active, envs.call_at(active, "expert_action"), strict=True))
            actions = [moves.get(i, "up") for i in range(envs.num_envs)]
        obs, rewards, terminated, truncated, infos = envs.step(actions)
        trace.append((obs, rewards.tolist(), terminated.tolist(), truncated.tolist(), plain(infos)))
    return trace


def test_remote_vector_env_equals_the_sync_one_over_two_servers(serve):
    with ExitStack() as stack:
        urls = [stack.enter_context(serve(SOKOBAN, "test", max_sessions=4)) for _ in range(2)]
        local = anchorgym.make_vec(SOKOBAN, num_tasks=3, group_size=2, split="test", seed=5)
        remote = anchorgym.make_vec(
            SOKOBAN, num_tasks=3, group_size=2, split="test", seed=5, backend="openenv", backend_options={"urls": urls}
        )
        try:
            assert [len(s) for s in remote.backend.slices] == [3, 3]
            assert play(remote) == play(local)
            assert remote.call("anchor") == local.call("anchor")
        finally:
            remote.close()
            local.close()


def test_a_server_playing_other_settings_is_refused_with_the_command_to_fix_it(serve):
    with serve(SOKOBAN, "test", env_kwargs={"max_steps": 15}) as url:
        with pytest.raises(ConfigError) as raised:
            anchorgym.make_vec(
                SOKOBAN,
                num_tasks=1,
                split="test",
                max_steps=3,
                num_boxes=1,
                backend="openenv",
                backend_options={"urls": [url]},
            )
    assert str(raised.value) == (
        f"The OpenEnv server at {url.replace('http', 'ws')}/ws serves {SOKOBAN} (split test, max_steps 15, "
        f"arguments {{'max_steps': 15}}); these envs need {SOKOBAN} (split test, max_steps=3, num_boxes=1). "
        f"Serve it with: anchorgym env serve {SOKOBAN} --split test --max-steps 3 --env-arg num_boxes=1"
    )


def test_missing_or_unreachable_servers_are_one_line_errors(serve):
    with pytest.raises(ConfigError, match=r'needs the servers that host the envs: backend_options=\{"urls"'):
        anchorgym.make_vec(SOKOBAN, num_tasks=1, split="test", backend="openenv")
    with pytest.raises(ConfigError, match=r"URLs start with http://, https://, ws:// or wss://, got 'localhost:1'"):
        anchorgym.make_vec(
            SOKOBAN, num_tasks=1, split="test", backend="openenv", backend_options={"urls": ["localhost:1"]}
        )
    with serve(SOKOBAN, "test") as url:
        pass  # the server is gone: its port is closed
    with pytest.raises(WorkerError, match=r"Cannot open a session on the OpenEnv server at ws://127.0.0.1:\d+/ws \("):
        anchorgym.make_vec(SOKOBAN, num_tasks=1, split="test", backend="openenv", backend_options={"urls": [url]})
    with serve(SOKOBAN, "test", max_sessions=1) as url:
        with pytest.raises(WorkerError) as refused:
            anchorgym.make_vec(SOKOBAN, num_tasks=2, split="test", backend="openenv", backend_options={"urls": [url]})
    assert str(refused.value) == (
        f"The OpenEnv server at {url.replace('http', 'ws')}/ws refused session 1: Server at capacity: 1/1 sessions "
        "active. Cannot accept new connections (CAPACITY_REACHED). Serve more sessions "
        "(anchorgym env serve --max-sessions N) or pass more URLs."
    )


def test_a_bad_task_id_raises_and_a_crashed_session_fails_only_its_env(serve):
    import integrations_envs  # noqa: F401 - registers the crashing env

    with serve(CRASHY_ID, "test", max_sessions=3) as url:
        envs = anchorgym.make_vec(
            CRASHY_ID, num_tasks=3, split="test", backend="openenv", backend_options={"urls": [url]}
        )
        try:
            with pytest.raises(
                ConfigError, match="Sokoban task ids are non-negative integer seeds such as '12', got 'x'"
            ):
                envs.reset(options={"task_ids": ["1", "x", "2"]})
            envs.reset(seed=0)
            _, rewards, terminated, truncated, infos = envs.step(["up", "crash", "up"])
            assert truncated.tolist() == [False, True, False] and rewards[1] == 0.0
            assert infos["error"][1] == (
                "WorkerError: This session has ended: its env raised in step: RuntimeError: the engine fell over. "
                "Connect again to start a new session."
            )
            assert infos["_error"].tolist() == [False, True, False]
            assert envs.active.tolist() == [True, False, True]
            envs.step(["up", "up", "up"])  # the others play on
            obs, infos = envs.reset(seed=1)  # the failed env gets a new session
            assert envs.active.all() and all(obs) and "_error" not in infos
        finally:
            envs.close()


def test_evaluate_through_servers_gives_the_in_process_result(serve, tmp_path):
    from anchorgym.harness.runner import evaluate
    from anchorgym.harness.specs import load_benchmark

    spec = load_benchmark("sokoban-6x6-1box/smoke@v2")
    env_args = {**spec.env_kwargs, "max_steps": spec.max_steps}
    local = evaluate(spec, "expert", out=tmp_path / "local", progress=False)
    with serve(spec.env_id, spec.split, max_sessions=8, env_kwargs=env_args) as url:
        remote = evaluate(
            spec, "expert", out=tmp_path / "remote", progress=False, backend="openenv", backend_options={"urls": [url]}
        )
    assert remote["metrics"] == local["metrics"]
    episodes = [(tmp_path / run / "episodes.jsonl").read_text().splitlines() for run in ("local", "remote")]
    strip = [[{k: v for k, v in json.loads(line).items() if "time" not in k} for line in run] for run in episodes]
    assert strip[0] == strip[1]


def test_anchorgym_eval_with_env_url_plays_on_a_served_benchmark(tmp_path):
    """`anchorgym env serve --benchmark B` in one process, `anchorgym eval B --env-url URL` in another."""
    import os
    import subprocess
    import sys

    bench = "sokoban-6x6-1box/lm-smoke@v2"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cli = [sys.executable, "-m", "anchorgym.cli"]
    server = subprocess.Popen(
        [*cli, "env", "serve", "--benchmark", bench, "--port", "0"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        url = server.stdout.readline().split(" at ")[1].split()[0]
        for run, extra in (("remote", ["--env-url", url]), ("local", [])):
            out = tmp_path / run
            command = [*cli, "eval", bench, "--policy", "expert", "--out", str(out), "--no-progress", *extra]
            subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    finally:
        server.terminate()
        server.wait(timeout=60)
    remote, local = (json.loads((tmp_path / run / "result.json").read_text()) for run in ("remote", "local"))
    assert remote["metrics"] == local["metrics"]
    assert remote["metrics"]["success_rate"]["mean"] == 0.5  # the expert solves 2 of the 4 puzzles in 3 steps


def test_bench_openenv_runs_in_tiny_mode():
    """benchmarks/bench_openenv.py plays identical episodes both ways and prints its RATIO line (numbers unchecked)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_openenv.py"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "ANCHORGYM_ALFWORLD_TEST_DATA": ""}
    run = subprocess.run([sys.executable, str(script), "--tiny"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    ratios = [line.split()[1] for line in run.stdout.splitlines() if line.startswith("RATIO ")]
    assert ratios == ["sokoban_openenv_vs_inprocess_steps_per_s"]


def test_a_reset_on_an_expired_session_reconnects_transparently(serve):
    """After the server's --idle-timeout closed the sessions, reset used to fail every env; now it reconnects."""
    import time

    local = anchorgym.make_vec(SOKOBAN, num_tasks=2, split="test", seed=5)
    with serve(SOKOBAN, "test", max_sessions=2, idle_timeout_s=0.5) as url:
        remote = anchorgym.make_vec(
            SOKOBAN, num_tasks=2, split="test", seed=5, backend="openenv", backend_options={"urls": [url]}
        )
        try:
            remote.reset(seed=3)
            local.reset(seed=3)
            deadline = time.monotonic() + 120  # OpenEnv's reaper looks every 5 s
            backend = remote.backend
            while time.monotonic() < deadline:
                states = backend._await(backend._states(range(2)))
                if all(state["ended"] for state in states):
                    break
                time.sleep(0.5)
            assert all(state["ended"].startswith("the session was idle for ") for state in states)
            trace = play(remote, steps=3)
            assert "error" not in trace[0][1]  # the reset reconnected every env: no failure
            assert trace == play(local, steps=3)
        finally:
            remote.close()
            local.close()
