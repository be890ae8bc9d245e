"""ALFWorld under verl-agent's protocol on the real engine: what the model is shown equals what verl-agent shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchorgym.envs.alfworld.prompts import ALFWORLD_VERL_AGENT_TEMPLATE as TEMPLATE
from anchorgym.envs.vector import make_vec
from anchorgym.harness.rollout import rollout
from anchorgym.harness.runner import evaluate
from anchorgym.harness.specs import BenchmarkSpec, load_benchmark
from anchorgym.policies.chat import ChatPolicy, Completion

pytestmark = pytest.mark.usefixtures("alfworld_dir")
for _module in ("alfworld", "textworld", "fast_downward"):
    pytest.importorskip(_module, reason="needs the alfworld extra: pip install 'anchorgym[alfworld]'")

TURNS = [
    "<think>Look around.</think><action>Go To Desk 1</action>",
    "I am not sure what to do, maybe put it somewhere now",  # no action block: its last 30 characters are sent
    "<think>x</think><action>fly to the moon</action>",  # not admissible
    "<action>look</action>",  # executed, though invalid for the missing <think>
    "<think>x</think><action></action>",  # an empty action
]


def test_every_projected_action_observes_what_alfworlds_engine_answers(alfworld_dir):
    """verl-agent sends each projected action to alfworld's engine; the protocol env shows that engine's answer."""
    import anchorgym

    ours = anchorgym.make("anchorgym/ALFWorld-verl-agent-v0", split="valid_unseen", data_dir=alfworld_dir)
    engine = anchorgym.make("anchorgym/ALFWorld-v0", split="valid_unseen", data_dir=alfworld_dir)
    task = ours.task_ids()[0]
    observation, _ = ours.reset(options={"task_id": task})
    engine.reset(options={"task_id": task})
    for turn in TURNS:
        action = TEMPLATE.project(turn).action
        observation, _, _, _, info = ours.step(action)
        expected = engine.game.step(action).feedback  # the engine itself, as verl-agent's env worker calls it
        assert observation == expected, (turn, action)
    assert info["step"] == len(TURNS)
    ours.close()
    engine.close()


def test_protocol_spec_end_to_end_with_the_expert(alfworld_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ALFWORLD_DATA", str(alfworld_dir))
    spec = load_benchmark("alfworld-verl-agent/valid_unseen@v1")
    small = BenchmarkSpec.from_json({**spec.raw, "tasks": spec.tasks[:2]}, spec.source)
    result = evaluate(small, "expert", out=tmp_path, progress=False)
    assert result["metrics"]["episodes"] == 2 and result["metrics"]["success_rate"]["mean"] == 1.0
    assert result["prompt_template"]["name"] == "alfworld-verl-agent"


class Recorded(ChatPolicy):
    def __init__(self, turns):
        super().__init__(history_length=2)
        self.turns, self.prompts = list(turns), []

    def complete(self, prompts):
        self.prompts.extend(prompts)
        return [Completion(self.turns.pop(0)) for _ in prompts]


def test_prompts_and_actions_equal_verl_agents(alfworld_dir):
    """On a real game, every prompt and action equals what verl-agent's env manager and projection gave.

    ``data/alfworld_verl_agent_episode.json``: verl-agent's ``AlfWorldEnvironmentManager`` and
    ``alfworld_projection`` run once over this env's observations and admissible commands.
    """
    episode = json.loads((Path(__file__).parent / "data" / "alfworld_verl_agent_episode.json").read_text("utf-8"))
    turns = len(episode["turns"])
    envs = make_vec(
        "anchorgym/ALFWorld-verl-agent-v0", 1, split="valid_unseen", data_dir=str(alfworld_dir), max_steps=turns
    )
    policy = Recorded(episode["turns"])
    (played,) = rollout(envs, policy, history_length=2, task_ids=[episode["task_id"]])
    envs.close()
    assert [step.action for step in played.steps] == episode["actions"]
    assert [step.parsed for step in played.steps] == [bool(v) for v in episode["valids"]]
    assert [p[0]["content"] for p in policy.prompts] == episode["prompts"][:turns]
