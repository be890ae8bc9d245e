"""Steps per second through an OpenEnv server (``anchorgym env serve``) against in-process, same episodes.

Plays the same episodes (same tasks, seeds and expert actions) twice with a vector env of
``--num-tasks x --group-size`` envs: once in-process (``backend="sync"``) and once on a server
started in its own process (``backend="openenv"``), and prints their steps/s and the ratio::

    RATIO sokoban_openenv_vs_inprocess_steps_per_s 0.31x (target >= 0.1x)

Sokoban steps take microseconds, so its ratio is the protocol's cost (a JSON message each way
per env step, all envs of a batch concurrently); ALFWorld steps take ~100 ms, so its ratio shows
how little of that the protocol adds. ``--tiny`` runs a few steps for the test that keeps this
script running. Numbers go to ``benchmarks/results/openenv.json``.

    python benchmarks/bench_openenv.py [--tiny] [--alfworld-data DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from claims import Claims

import anchorgym

RESULTS = Path(__file__).resolve().parent / "results" / "openenv.json"
# Sokoban: the bare protocol cost (a JSON message each way per microsecond step) may cost 10x;
# ALFWorld: a ~100 ms engine step must dominate, so the protocol may at most double the time.
TARGETS = {"sokoban": 0.1, "alfworld": 0.5}


def play(envs, episodes: int, seed: int) -> tuple[int, float, list]:
    """Play ``episodes`` resets of every env with the expert; return steps taken, seconds and a trace to compare."""
    steps, trace, elapsed = 0, [], 0.0
    for episode in range(episodes):
        start = time.perf_counter()
        obs, _ = envs.reset(seed=seed + episode)
        while envs.active.any():
            active = np.flatnonzero(envs.active)
            moves = dict(zip(active, envs.call_at(active, "expert_action"), strict=True))
            obs, rewards, *_ = envs.step([moves.get(i, "") for i in range(envs.num_envs)])
            steps += len(active)
            trace.append((obs, rewards.tolist()))
        elapsed += time.perf_counter() - start
    return steps, elapsed, trace


def serve(env_id: str, split: str, sessions: int, env_args: dict) -> tuple[subprocess.Popen, str]:
    """Start ``anchorgym env serve`` in its own process; return it and its URL."""
    command = [sys.executable, "-m", "anchorgym.cli", "env", "serve", env_id, "--split", split, "--port", "0"]
    command += ["--max-sessions", str(sessions)]
    for key, value in env_args.items():
        command += ["--env-arg", f"{key}={json.dumps(value)}"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline()
    if " at " not in line:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return proc, line.split(" at ")[1].split()[0]


def measure(name: str, env_id: str, split: str, args: argparse.Namespace, env_args: dict) -> dict:
    shape = {"num_tasks": args.num_tasks, "group_size": args.group_size, "split": split, **env_args}
    local = anchorgym.make_vec(env_id, **shape)
    try:
        local_steps, local_s, local_trace = play(local, args.episodes, args.seed)
    finally:
        local.close()
    proc, url = serve(env_id, split, args.num_tasks * args.group_size, env_args)
    try:
        remote = anchorgym.make_vec(env_id, **shape, backend="openenv", backend_options={"urls": [url]})
        try:
            remote_steps, remote_s, remote_trace = play(remote, args.episodes, args.seed)
        finally:
            remote.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    if remote_trace != local_trace:
        raise SystemExit(f"{name}: the episodes through the server differ from the in-process ones")
    row = {
        "steps": local_steps,
        "inprocess_steps_per_s": local_steps / local_s,
        "openenv_steps_per_s": remote_steps / remote_s,
    }
    row["ratio"] = row["openenv_steps_per_s"] / row["inprocess_steps_per_s"]
    print(
        f"{name}: {local_steps} env steps; in-process {row['inprocess_steps_per_s']:.0f} steps/s, "
        f"through OpenEnv {row['openenv_steps_per_s']:.0f} steps/s (episodes identical)"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a few steps, to check that the script runs")
    parser.add_argument("--num-tasks", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alfworld-data", default=os.environ.get("ANCHORGYM_ALFWORLD_TEST_DATA"))
    args = parser.parse_args()
    if args.tiny:
        args.num_tasks, args.group_size, args.episodes = 2, 2, 1
    rows = {"sokoban": measure("sokoban", "anchorgym/Sokoban-v1", "test", args, {})}
    if args.alfworld_data and Path(args.alfworld_data).is_dir():
        if not args.tiny:
            args.num_tasks, args.group_size, args.episodes = 4, 1, 1
        alfworld_args = {"data_dir": args.alfworld_data, "max_steps": 8 if args.tiny else 50}
        rows["alfworld"] = measure("alfworld", "anchorgym/ALFWorld-v0", "valid_unseen", args, alfworld_args)
    if not args.tiny:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=RESULTS.parent, delete=False, suffix=".tmp") as tmp:
            json.dump({"schema_version": 1, "rows": rows}, tmp, indent=2)
        os.replace(tmp.name, RESULTS)
    claims = Claims(args.tiny)
    for name, row in rows.items():
        claims.timing("RATIO", f"{name}_openenv_vs_inprocess_steps_per_s", [row["ratio"]], TARGETS[name])
    claims.exit()


if __name__ == "__main__":
    main()
