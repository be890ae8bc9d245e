"""Run in the verifiers 0.4 venv by test_verifiers_v1.py: evaluate episodes with verifiers.v1, print JSON.

Usage: python verifiers_v1_run.py BASE_URL MODEL MAX_TOKENS KWARGS_JSON, where KWARGS_JSON holds the
arguments of ``load_environment`` (e.g. ``{"benchmark": "sokoban-6x6-1box/lm-smoke@v1", "seeds": [0, 1]}``).
verifiers' own machinery plays the episodes, as ``vf-eval`` does in-process: ``env.serving()`` and
``env.run_slot`` with an eval client on BASE_URL. One JSON object per episode, in the taskset's order.
This folder is on ``sys.path``, so ``integrations_envs`` (the crashing test env) can be played.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path


async def evaluate(url: str, model: str, max_tokens: int, kwargs: dict) -> list[dict]:
    import verifiers.v1 as vf
    from verifiers.v1.env import RunSlot

    from anchorgym.integrations.verifiers import load_environment

    env = load_environment(**kwargs)
    os.environ["ANCHORGYM_TEST_API_KEY"] = "none"
    client = vf.EvalClientConfig(base_url=url, api_key_var="ANCHORGYM_TEST_API_KEY")
    sampling = vf.SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=max_tokens)
    ctx = vf.ModelContext(model=model, client=client, sampling=sampling)
    async with env.serving():
        episodes = [await env.run_slot(RunSlot(task), ctx) for task in env.taskset]
    results = []
    for episode in episodes:
        result = {
            "info": episode.task.data.info,
            "ok": episode.ok,
            "errors": [f"{error.type}: {error.message}" for error in episode.errors],
            "traces": len(episode.traces),
        }
        if episode.traces:  # none when the episode failed before its model's first turn
            (trace,) = episode.traces
            result["reward"] = trace.reward
            result["rewards"] = {name: reward.score for name, reward in trace.rewards.items()}
            result["steps"] = trace.info.get("anchorgym_steps")
            result["branches"] = [[[m.role, m.content] for m in branch.messages] for branch in trace.branches]
        results.append(result)
    return results


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    url, model, max_tokens, kwargs = sys.argv[1:5]
    if "anchorgym-test/" in kwargs:
        import integrations_envs  # noqa: F401 - registers the crashing test env

        from anchorgym.policies.prompting import register_template, template_for

        register_template(integrations_envs.CRASHY_ID, template_for("anchorgym/Sokoban-v1"))
    print(json.dumps(asyncio.run(evaluate(url, model, int(max_tokens), json.loads(kwargs)))))


if __name__ == "__main__":
    main()
