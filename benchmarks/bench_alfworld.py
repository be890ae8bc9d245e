"""ALFWorld engine speed, stock vs ours, in one run; plus the full walkthrough check and memory growth.

Measures, on the same valid_unseen games replaying their walkthroughs:
  * single env: load+reset time and per-step time, stock engine vs fast engine
    (observations, admissible actions, rewards and anchors compared at every step);
  * batched over the ``process`` backend: env-steps per second, stock vs fast (outputs compared too);
  * every valid_unseen walkthrough wins on the fast engine;
  * memory, in ``process`` workers: RSS per env, growth over 500 episodes, and the same games with
    ``max_worker_rss_mb`` recycling (workers restarted between episodes; outputs must not change).

"Cold" resets are a game's first load in the process with an empty on-disk translation cache: the run
uses a fresh ``ANCHORGYM_SAS_CACHE`` folder (removed at the end) unless that variable is set already.

Usage: python benchmarks/bench_alfworld.py [--games 8] [--memory-episodes 500] [--recycle-episodes 40]
       [--skip-full-replay] [--data-dir DIR] [--tiny]

``--tiny``: 2 games, 4 + 2 memory episodes, no full replay: every section and RATIO line in about a minute,
for the test that keeps this script running; its numbers mean nothing (written to ``results/alfworld.tiny.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from claims import Claims
from tqdm import tqdm

from anchorgym.envs.alfworld import data, speedups
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


def play_walkthroughs(vec):
    """Replay every env's walkthrough from the current reset; return (env-steps, step seconds, output digest)."""
    walks = vec.call("walkthrough")
    digest = hashlib.blake2b(repr(vec.last_obs).encode(), digest_size=16)
    env_steps, step_s = 0, 0.0
    for k in range(max(map(len, walks))):
        actions = [walk[k] if k < len(walk) else "look" for walk in walks]
        env_steps += int(vec.active.sum())
        start = time.perf_counter()
        obs, rewards, terminated, truncated, _ = vec.step(actions)
        step_s += time.perf_counter() - start
        digest.update(repr((obs, rewards.tolist(), terminated.tolist(), truncated.tolist())).encode())
    assert not vec.active.any(), "a walkthrough did not finish its game"
    return env_steps, step_s, digest.hexdigest()


def batched(tasks, fast, data_dir, group_size, workers, episodes=2):
    """Groups replay their walkthroughs over the process backend; env-steps per second and output digests."""
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
    env_steps, digests = 0, []
    for _ in range(episodes):
        start = time.perf_counter()
        vec.reset(options={"task_ids": list(tasks)})
        reset_s += time.perf_counter() - start
        steps, seconds, digest = play_walkthroughs(vec)
        env_steps, step_s = env_steps + steps, step_s + seconds
        digests.append(digest)
    vec.close()
    return {
        "reset_s": reset_s / episodes,
        "env_steps_per_s": env_steps / step_s,
        "env_steps": env_steps,
        "outputs_digests": digests,
    }


def full_replay(data_dir):
    """Replay every valid_unseen walkthrough on the fast engine; count wins."""
    env = make(ENV_ID, split=SPLIT, data_dir=data_dir)
    tasks = env.task_ids()
    wins = sum(replay(env, task_id)[3] for task_id in tqdm(tasks, desc="all valid_unseen walkthroughs"))
    env.close()
    return {"games": len(tasks), "won": wins}


def memory_run(tasks, data_dir, resets, max_worker_rss_mb=None):
    """Play ``resets`` vector episodes on 3 envs over 2 workers (2 envs and 1 env); sample worker RSS after each.

    Group ``g`` of reset ``r`` plays ``tasks[(3r + g) % len(tasks)]``, so every game recurs. Returns the RSS
    samples (MiB, per worker), one output digest per episode and the recycles of each worker.
    """
    options = {} if max_worker_rss_mb is None else {"max_worker_rss_mb": max_worker_rss_mb}
    vec = make_vec(
        ENV_ID, 3, 1, backend="process", num_workers=2, split=SPLIT, data_dir=data_dir, backend_options=options
    )
    samples, digests = [vec.backend.worker_rss_mb()], []
    label = "memory" if max_worker_rss_mb is None else f"memory, recycling past {max_worker_rss_mb:.0f} MiB"
    for reset in tqdm(range(resets), desc=label):
        vec.reset(options={"task_ids": [tasks[(3 * reset + g) % len(tasks)] for g in range(3)]})
        digests.append(play_walkthroughs(vec)[2])
        samples.append(vec.backend.worker_rss_mb())
    recycles = list(vec.backend.recycles)
    vec.close()
    return samples, digests, recycles


def memory(tasks, data_dir, episodes, recycle_episodes, max_worker_rss_mb):
    """RSS per env and growth over ``episodes`` episodes (of the 2-env worker), then the same with recycling.

    Per env: the 2-env worker's RSS minus the 1-env worker's (both hold the same interpreter and libraries).
    With recycling, the limit defaults to halfway between the 2-env worker's RSS after its first episode
    and its settled RSS, so that it recycles; every episode's outputs must equal the run without it.
    """
    samples, digests, _ = memory_run(tasks, data_dir, max(1, episodes // 2))
    two, one = [s[0] for s in samples], [s[1] for s in samples]
    settled = min(len(two) - 1, 2 * len(tasks))  # each env has loaded every game twice by then
    result = {
        "worker_rss_started_mb": {"two_envs": two[0], "one_env": one[0]},
        "worker_rss_after_first_episode_mb": {"two_envs": two[1], "one_env": one[1]},
        "worker_rss_settled_mb": {"two_envs": two[settled], "one_env": one[settled]},
        "worker_rss_end_mb": {"two_envs": two[-1], "one_env": one[-1]},
        "rss_per_env_mb": two[-1] - one[-1],
        "rss_worker_base_mb": 2 * one[-1] - two[-1],
        "growth_after_settled_mb": {"two_envs": two[-1] - two[settled], "one_env": one[-1] - one[settled]},
        "peak_worker_rss_mb": max(two),
        "episodes_of_two_env_worker": 2 * (len(two) - 1),
    }
    if recycle_episodes:
        limit = max_worker_rss_mb or (two[1] + two[settled]) / 2
        resets = min(recycle_episodes // 2, len(digests))
        recycled, recycled_digests, recycles = memory_run(tasks, data_dir, resets, limit)
        result["recycling"] = {
            "max_worker_rss_mb": limit,
            "episodes_of_two_env_worker": 2 * resets,
            "recycles": recycles,
            "peak_worker_rss_mb": max(max(s) for s in recycled),
            "identical_outputs": recycled_digests == digests[:resets],
        }
    return result


def report_memory(result, claims):
    print(json.dumps(result, indent=1))
    growth = result["growth_after_settled_mb"]["two_envs"]
    # ~0: within one MiB over the run (allocator noise), as the README's +0.07 MiB over 500 episodes
    claims.check("CHECK", "rss_growth_after_settled_mb", f"{growth:.1f}", "<= 1", growth <= 1.0)
    claims.info("CHECK", "rss_per_env_mb", f"{result['rss_per_env_mb']:.1f}")
    if "recycling" in result:
        recycling = result["recycling"]
        identical = recycling["identical_outputs"]
        claims.check("CHECK", "recycled_workers_identical_outputs", identical, "True", identical)
        recycles = sum(recycling["recycles"])
        claims.check("CHECK", "worker_recycles", recycles, "> 0", recycles > 0)


def write(results):
    path = RESULTS.with_suffix(".tiny.json") if results.get("tiny") else RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump({"schema_version": 1, **results}, handle, indent=2)
    os.replace(handle.name, path)


def report_single(stock, fast, identical, claims):
    print(json.dumps({"stock": stock, "fast": fast}, indent=1))
    claims.check("CHECK", "identical_outputs_stock_vs_fast", identical, "True", identical)
    ratio = fast["steps_per_s"] / stock["steps_per_s"]
    claims.timing("RATIO", "single_env_step_throughput", [ratio], TARGET_STEP_RATIO)
    claims.info("RATIO", "single_env_reset_cold", f"{stock['reset_cold_s'] / fast['reset_cold_s']:.1f}x")
    claims.info("RATIO", "single_env_reset_warm", f"{stock['reset_warm_s'] / fast['reset_warm_s']:.1f}x")


def report_batched(stock, fast, claims):
    print(json.dumps({"stock": stock, "fast": fast}, indent=1))
    identical = stock["outputs_digests"] == fast["outputs_digests"]
    claims.check("CHECK", "identical_outputs_process_stock_vs_fast", identical, "True", identical)
    ratio = fast["env_steps_per_s"] / stock["env_steps_per_s"]
    claims.timing("RATIO", "process_backend_step_throughput", [ratio], TARGET_STEP_RATIO)
    claims.info("RATIO", "process_backend_reset", f"{stock['reset_s'] / fast['reset_s']:.1f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=8, help="valid_unseen games for the stock-vs-fast timings")
    parser.add_argument("--group-size", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-episodes", type=int, default=500, help="episodes of the 2-env worker; 0 skips")
    parser.add_argument(
        "--recycle-episodes", type=int, default=40, help="episodes of the 2-env worker with recycling; 0 skips"
    )
    parser.add_argument(
        "--max-worker-rss-mb", type=float, default=None, help="recycling limit (default: one that recycles)"
    )
    parser.add_argument("--skip-full-replay", action="store_true", help="skip replaying all 134 walkthroughs")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder holding json_2.1.1 (default: $ANCHORGYM_ALFWORLD_TEST_DATA, else data.py)",
    )
    parser.add_argument("--tiny", action="store_true", help="about a minute, every section (numbers mean nothing)")
    args = parser.parse_args()
    if args.tiny:
        args.games, args.memory_episodes, args.recycle_episodes, args.skip_full_replay = 2, 4, 2, True
        args.max_worker_rss_mb = args.max_worker_rss_mb or 1.0  # every worker is past 1 MiB: recycles each time
    test_data = os.environ.get("ANCHORGYM_ALFWORLD_TEST_DATA")  # where `make alfworld-data` unpacks the games
    if args.data_dir is None and test_data and (Path(test_data) / data.RELEASE).is_dir():
        args.data_dir = test_data
    fresh_cache = None if os.environ.get(speedups.SAS_CACHE_ENV) else tempfile.mkdtemp(prefix="alfworld-sas-")
    if fresh_cache:
        os.environ[speedups.SAS_CACHE_ENV] = fresh_cache  # workers inherit it
    try:
        run(args)
    finally:
        if fresh_cache:
            shutil.rmtree(fresh_cache, ignore_errors=True)


def run(args):
    """Run every section, printing its claims and writing the results after each."""
    all_tasks = data.list_games(data.games_root(args.data_dir), SPLIT)
    tasks = [all_tasks[i] for i in range(0, len(all_tasks), max(1, len(all_tasks) // args.games))][: args.games]
    results = {"games": tasks, "sas_cache": os.environ[speedups.SAS_CACHE_ENV], "tiny": args.tiny}
    claims = Claims(args.tiny)

    stock, stock_traces = single(tasks, False, args.data_dir)
    fast, fast_traces = single(tasks, True, args.data_dir)
    results["single"] = {"stock": stock, "fast": fast, "identical_outputs": stock_traces == fast_traces}
    report_single(stock, fast, stock_traces == fast_traces, claims)
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
    report_batched(stock_batch, fast_batch, claims)
    write(results)

    if not args.skip_full_replay:
        walk = results["walkthroughs"] = full_replay(args.data_dir)
        claims.check("CHECK", "valid_unseen_walkthroughs_won", f"{walk['won']}/{walk['games']}", "all",
                     walk["won"] == walk["games"])  # fmt: skip
        write(results)
    if args.memory_episodes:
        results["memory"] = memory(
            tasks, args.data_dir, args.memory_episodes, args.recycle_episodes, args.max_worker_rss_mb
        )
        report_memory(results["memory"], claims)
        write(results)
    claims.exit()


if __name__ == "__main__":
    main()
