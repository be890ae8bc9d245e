"""AppWorld env latency: a reused world worker vs a fresh worker per episode.

Plays the generated offline tasks with their expert, measuring per-episode
wall and CPU time of reset (open the task's world), the expert's step (code
execution) and AppWorld's evaluation, first with one worker reused across
episodes (what the env does), then with a fresh worker per episode (what it
avoids: each start imports appworld + IPython and builds the API docs).

Usage: python benchmarks/bench_appworld.py [--episodes 12] [--fresh 2] [--tiny]

``--tiny``: 2 reused and 1 fresh episode, every RATIO line, for the test that keeps this script running;
its numbers mean nothing (written to ``results/appworld.tiny.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from claims import Claims  # noqa: E402

from anchorgym.envs import make  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "appworld.json"


def worker_cpu(env):
    """CPU seconds of reaped children plus the live worker (os.times counts children only once reaped)."""
    times = os.times()
    total = times.children_user + times.children_system
    if env.worker.pid is not None:
        fields = Path(f"/proc/{env.worker.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def timed(env, function):
    wall, cpu = time.perf_counter(), worker_cpu(env)
    result = function()
    return result, time.perf_counter() - wall, worker_cpu(env) - cpu


def episode(env, task_id, fresh):
    if fresh:
        env.worker.close()  # the next reset starts a new worker process
    (_, info), reset_s, reset_cpu = timed(env, lambda: env.reset(options={"task_id": task_id}))
    step, step_s, step_cpu = timed(env, lambda: env.step(env.expert_action()))
    assert step[4]["won"], f"expert failed on {task_id}"
    return {"reset_s": reset_s, "reset_cpu_s": reset_cpu, "step_s": step_s, "step_cpu_s": step_cpu}


def run(env, task_ids, fresh):
    rows = [episode(env, task_id, fresh) for task_id in task_ids]
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]} | {"episodes": len(rows)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--fresh", type=int, default=2, help="episodes with a fresh worker each (slow)")
    parser.add_argument("--tiny", action="store_true", help="3 episodes (numbers mean nothing)")
    args = parser.parse_args()
    if args.tiny:
        args.episodes, args.fresh = 2, 1
    env = make("anchorgym/AppWorld-v0", source="generated", code_timeout_s=60)
    ids = list(env.task_ids())
    env.reset(options={"task_id": ids[0]})  # start the worker once outside the measurement
    reused = run(env, [ids[i % len(ids)] for i in range(args.episodes)], fresh=False)
    fresh = run(env, [ids[i % len(ids)] for i in range(args.fresh)], fresh=True)
    env.close()
    results = {"reused_worker": reused, "fresh_worker": fresh, "load_average": os.getloadavg()}
    path = RESULTS.with_suffix(".tiny.json") if args.tiny else RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2))
    os.replace(tmp, path)
    print(json.dumps(results, indent=2))
    claims = Claims(args.tiny)
    for unit, name in (("s", "wall"), ("cpu_s", "cpu")):
        ratio = fresh[f"reset_{unit}"] / reused[f"reset_{unit}"]
        claims.timing("RATIO", f"appworld_reset_fresh_vs_reused_worker_{name}", [ratio], 10)
    claims.exit()


if __name__ == "__main__":
    main()
