"""ALFWorld engine speed, stock vs ours, in one run; plus the full walkthrough check and memory growth.

Measures, on the same valid_unseen games replaying their walkthroughs:
  * single env: load+reset time and per-step time, stock engine vs fast engine
    (observations, admissible actions, rewards and anchors compared at every step);
  * batched over the ``process`` backend: env-steps per second, stock vs fast;
  * every valid_unseen walkthrough wins on the fast engine;
  * RSS of one env and its growth over many episodes.

Usage: python benchmarks/bench_alfworld.py [--games 8] [--memory-episodes 500] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from anchorgym.envs.alfworld import data
from anchorgym.envs.registry import make
from anchorgym.envs.vector import make_vec

ENV_ID = "anchorgym/ALFWorld-v0"
SPLIT = "valid_unseen"
RESULTS = Path(__file__).resolve().parent / "results" / "alfworld.json"
TARGET_STEP_RATIO = 3.0


def replay(env, task_id):
    """Reset on ``task_id`` and replay its walkthrough; return timings and everything the player saw."""
    start = time.perf_counter()
    obs, info = env.reset(options={"task_id": task_id})
    reset_s = time.perf_counter() - start
    trace = [(obs, info["admissible_actions"], info["anchor"])]
    step_s = []
    for command in env.walkthrough():
        start = time.perf_counter()
        obs, reward, terminated, _, info = env.step(command)
        step_s.append(time.perf_counter() - start)
        trace.append((obs, reward, terminated, info["admissible_actions"], info["anchor"]))
    return reset_s, step_s, trace, info["won"]


def single(tasks, fast, data_dir):
    """One env, each game played twice (cold load, then warm); returns timings and traces."""
    env = make(ENV_ID, split=SPLIT, data_dir=data_dir, fast=fast)
    cold, warm, steps, traces = [], [], [], []
    for task_id in tqdm(tasks, desc=f"single {'fast' if fast else 'stock'}"):
        reset_s, step_s, trace, won = replay(env, task_id)
        assert won, task_id
        again_s, step2_s, trace2, _ = replay(env, task_id)
        assert trace2 == trace, f"second episode differs on {task_id}"
        cold.append(reset_s)
        warm.append(again_s)
        steps += step_s + step2_s
        traces.append(trace)
    env.close()
    return {
        "reset_cold_s": sum(cold) / len(cold),
        "reset_warm_s": sum(warm) / len(warm),
        "step_ms": 1000 * sum(steps) / len(steps),
        "steps_per_s": len(steps) / sum(steps),
        "steps": len(steps),
    }, traces


def batched(tasks, fast, data_dir, group_size, workers, episodes=2):
    """Groups replay their walkthroughs over the process backend; env-steps per second."""
    vec = make_vec(
        ENV_ID,
        len(tasks),
        group_size,
        backend="process",
        num_workers=workers,
        split=SPLIT,
        data_dir=data_dir,
        fast=fast,
    )
    reset_s = step_s = 0.0
    env_steps = 0
    for _ in range(episodes):
        start = time.perf_counter()
        vec.reset(options={"task_ids": list(tasks)})
        reset_s += time.perf_counter() - start
        walks = vec.call("walkthrough")
        start = time.perf_counter()
        for k in range(max(map(len, walks))):
            actions = [walk[k] if k < len(walk) else "look" for walk in walks]
            env_steps += int(vec.active.sum())
            vec.step(actions)
        step_s += time.perf_counter() - start
    vec.close()
    return {"reset_s": reset_s / episodes, "env_steps_per_s": env_steps / step_s, "env_steps": env_steps}


def full_replay(data_dir):
    """Replay every valid_unseen walkthrough on the fast engine; count wins."""
    env = make(ENV_ID, split=SPLIT, data_dir=data_dir)
    tasks = env.task_ids()
    wins = sum(replay(env, task_id)[3] for task_id in tqdm(tasks, desc="all valid_unseen walkthroughs"))
    env.close()
    return {"games": len(tasks), "won": wins}


def rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory(tasks, data_dir, episodes):
    """RSS of one fast env, and its growth over ``episodes`` walkthrough episodes cycling over ``tasks``."""
    before = rss_mb()
    env = make(ENV_ID, split=SPLIT, data_dir=data_dir)
    replay(env, tasks[0])
    first = rss_mb()
    samples = []
    for episode in tqdm(range(episodes), desc="memory"):
        replay(env, tasks[episode % len(tasks)])
        samples.append(rss_mb())
    env.close()
    settled = samples[min(len(samples) - 1, 2 * len(tasks))]  # after every game was loaded twice
    return {
        "rss_process_before_mb": before,
        "rss_after_first_episode_mb": first,
        "rss_settled_mb": settled,
        "rss_end_mb": samples[-1],
        "growth_after_settled_mb": samples[-1] - settled,
        "episodes": episodes,
    }


def write(results):
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=RESULTS.parent, delete=False, suffix=".tmp") as handle:
        json.dump({"schema_version": 1, **results}, handle, indent=2)
    os.replace(handle.name, RESULTS)


def report_single(stock, fast, identical):
    print(json.dumps({"stock": stock, "fast": fast}, indent=1))
    print(f"CHECK identical_outputs_stock_vs_fast {identical} (target True)")
    ratio = fast["steps_per_s"] / stock["steps_per_s"]
    print(f"RATIO single_env_step_throughput {ratio:.1f}x (target >= {TARGET_STEP_RATIO:.0f}x)")
    print(f"RATIO single_env_reset_cold {stock['reset_cold_s'] / fast['reset_cold_s']:.1f}x (no target)")
    print(f"RATIO single_env_reset_warm {stock['reset_warm_s'] / fast['reset_warm_s']:.1f}x (no target)", flush=True)


def report_batched(stock, fast):
    print(json.dumps({"stock": stock, "fast": fast}, indent=1))
    ratio = fast["env_steps_per_s"] / stock["env_steps_per_s"]
    print(f"RATIO process_backend_step_throughput {ratio:.1f}x (target >= {TARGET_STEP_RATIO:.0f}x)")
    print(f"RATIO process_backend_reset {stock['reset_s'] / fast['reset_s']:.1f}x (no target)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=8, help="valid_unseen games for the stock-vs-fast timings")
    parser.add_argument("--group-size", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-episodes", type=int, default=500)
    parser.add_argument("--skip-full-replay", action="store_true", help="skip replaying all 134 walkthroughs")
    parser.add_argument("--data-dir", default=None, help="folder holding json_2.1.1 (default: ALFWORLD_DATA/cache)")
    args = parser.parse_args()
    all_tasks = data.list_games(data.games_root(args.data_dir), SPLIT)
    tasks = [all_tasks[i] for i in range(0, len(all_tasks), max(1, len(all_tasks) // args.games))][: args.games]
    results = {"games": tasks}

    stock, stock_traces = single(tasks, False, args.data_dir)
    fast, fast_traces = single(tasks, True, args.data_dir)
    results["single"] = {"stock": stock, "fast": fast, "identical_outputs": stock_traces == fast_traces}
    report_single(stock, fast, stock_traces == fast_traces)
    write(results)

    batch_tasks = tasks[: args.workers * 2]
    stock_batch = batched(batch_tasks, False, args.data_dir, args.group_size, args.workers)
    fast_batch = batched(batch_tasks, True, args.data_dir, args.group_size, args.workers)
    results["process"] = {
        "stock": stock_batch,
        "fast": fast_batch,
        "group_size": args.group_size,
        "workers": args.workers,
        "groups": len(batch_tasks),
    }
    report_batched(stock_batch, fast_batch)
    write(results)

    if not args.skip_full_replay:
        walk = results["walkthroughs"] = full_replay(args.data_dir)
        print(f"CHECK valid_unseen_walkthroughs_won {walk['won']}/{walk['games']} (target all)", flush=True)
        write(results)
    if args.memory_episodes:
        results["memory"] = memory(tasks, args.data_dir, args.memory_episodes)
        print(json.dumps(results["memory"], indent=1))
        print(f"CHECK rss_growth_after_settled_mb {results['memory']['growth_after_settled_mb']:.1f} (target ~0)")
        write(results)


if __name__ == "__main__":
    main()
