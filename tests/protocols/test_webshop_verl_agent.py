"""WebShop under verl-agent's protocol on the real shop: every prompt and action equals verl-agent's.

``data/webshop_verl_agent_episode.json`` holds what verl-agent's ``WebshopEnvironmentManager`` and
``webshop_projection`` built from ``WebShop-verl-agent-v0``'s pages of test goal 0 for recorded turns
(first action block, upper case, no block, missing ``<think>``, CJK), run once from its code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchorgym.envs.vector import make_vec
from anchorgym.harness.rollout import rollout
from anchorgym.policies.chat import ChatPolicy, Completion

EPISODE = json.loads((Path(__file__).parent / "data" / "webshop_verl_agent_episode.json").read_text(encoding="utf-8"))


class Recorded(ChatPolicy):
    def __init__(self, turns):
        super().__init__(history_length=2)
        self.turns, self.prompts = list(turns), []

    def complete(self, prompts):
        self.prompts.extend(prompts)
        return [Completion(self.turns.pop(0)) for _ in prompts]


def test_prompts_and_actions_equal_verl_agents(shared_file, tmp_path, monkeypatch):
    monkeypatch.setenv("ANCHORGYM_CACHE_DIR", str(tmp_path / "cache"))
    data_dir = str(shared_file("webshop", "products_1k.json").parent)
    turns = len(EPISODE["turns"])
    envs = make_vec("anchorgym/WebShop-verl-agent-v0", 1, split="test", data_dir=data_dir, max_steps=turns)
    policy = Recorded(EPISODE["turns"])
    (episode,) = rollout(envs, policy, history_length=2, task_ids=[EPISODE["task_id"]])
    envs.close()
    assert [step.action for step in episode.steps] == EPISODE["actions"]
    assert [step.parsed for step in episode.steps] == [bool(v) for v in EPISODE["valids"]]
    assert [p[0]["content"] for p in policy.prompts] == EPISODE["prompts"][: len(policy.prompts)]
    assert all(len(p) == 1 and p[0]["role"] == "user" for p in policy.prompts)
    assert len(episode.steps) == turns


@pytest.mark.parametrize("benchmark", ["webshop-1k-verl-agent/test@v1", "webshop-1k-verl-agent/smoke@v1"])
def test_specs_play_webshop_v2s_goals(benchmark):
    from anchorgym.harness.specs import load_benchmark

    spec = load_benchmark(benchmark)
    base = load_benchmark(benchmark.replace("-verl-agent", "").replace("@v1", "@v3"))
    assert spec.env_id == "anchorgym/WebShop-verl-agent-v0" and spec.generation["temperature"] == 0.4
    assert (spec.tasks, spec.env_kwargs, spec.max_steps, spec.seeds) == (base.tasks, base.env_kwargs, 15, base.seeds)
