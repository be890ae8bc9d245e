"""Run in the verifiers 0.4 venv by test_verifiers_v1.py: evaluate a benchmark with verifiers.v1, print JSON.

Usage: python verifiers_v1_run.py BASE_URL MODEL BENCHMARK MAX_TOKENS SEEDS (SEEDS like 0,1).
verifiers' own machinery plays the episodes, as ``vf-eval`` does in-process: ``env.serving()`` and
``env.run_slot`` with an eval client on BASE_URL. One JSON object per episode, in the taskset's order.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys


async def evaluate(url: str, model: str, benchmark: str, max_tokens: int, seeds: list[int]) -> list[dict]:
    import verifiers.v1 as vf
    from verifiers.v1.env import RunSlot

    from anchorgym.integrations.verifiers import load_environment

    env = load_environment(benchmark=benchmark, seeds=seeds)
    os.environ["ANCHORGYM_TEST_API_KEY"] = "none"
    client = vf.EvalClientConfig(base_url=url, api_key_var="ANCHORGYM_TEST_API_KEY")
    sampling = vf.SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=max_tokens)
    ctx = vf.ModelContext(model=model, client=client, sampling=sampling)
    async with env.serving():
        episodes = [await env.run_slot(RunSlot(task), ctx) for task in env.taskset]
    results = []
    for episode in episodes:
        (trace,) = episode.traces
        results.append(
            {
                "info": episode.task.data.info,
                "ok": episode.ok,
                "errors": [error.message for error in episode.errors],
                "reward": trace.reward,
                "rewards": {name: reward.score for name, reward in trace.rewards.items()},
                "steps": trace.info.get("anchorgym_steps"),
                "branches": [[[m.role, m.content] for m in branch.messages] for branch in trace.branches],
            }
        )
    return results


def main() -> None:
    url, model, benchmark, max_tokens, seeds = sys.argv[1:6]
    results = asyncio.run(evaluate(url, model, benchmark, int(max_tokens), [int(s) for s in seeds.split(",")]))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
