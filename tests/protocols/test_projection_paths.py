"""Every path from model text to env action sends the protocol's action (and validity) for a protocol env.

A recorded verl-agent episode (``data/verl_agent_cases.json``: the turns, and the actions and validity flags
verl-agent's projection gave them) goes through the chat policy, the trainer's policy, verl's agent loop
and the verifiers environment; each must send verl-agent's action. verl's full agent loop over these turns
is tested in ``tests/integrations/test_verl.py``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from anchorgym.policies.base import AgentInput
from anchorgym.policies.chat import ChatPolicy, Completion
from anchorgym.policies.prompting import template_for
from anchorgym.policies.protocols import protocol_action

CASES = json.loads((Path(__file__).parent / "data" / "verl_agent_cases.json").read_text(encoding="utf-8"))
ENV_IDS = {
    "alfworld": "anchorgym/ALFWorld-verl-agent-v0",
    "webshop": "anchorgym/WebShop-verl-agent-v0",
    "sokoban": "anchorgym/Sokoban-verl-agent-v0",
}
TURNS = [(env, *case) for env, cases in CASES["projection"].items() for case in cases]


def _input(env: str) -> AgentInput:
    return AgentInput(ENV_IDS[env], "", "obs", None)


class Recorded(ChatPolicy):
    """A chat back-end that answers every prompt with one recorded turn."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def complete(self, prompts: list) -> list[Completion]:
        return [Completion(self.text) for _ in prompts]


@pytest.mark.parametrize(("env", "text", "action", "valid"), TURNS)
def test_chat_policy_and_the_shared_helper(env: str, text: str, action: str, valid: int) -> None:
    assert protocol_action(template_for(ENV_IDS[env]), text, _input(env)) == template_for(ENV_IDS[env]).project(text)
    output = Recorded(text).act([_input(env)])[0]
    assert (output.action, output.parsed) == (action, bool(valid))


def test_a_harness_template_is_not_a_protocol() -> None:
    assert protocol_action(template_for("anchorgym/Sokoban-v0"), "<action>up</action>", _input("sokoban")) is None


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    from anchorgym.policies.tiny import build_tiny_model

    return AutoTokenizer.from_pretrained(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="module")
def trainer_policies(tokenizer):
    import torch

    from anchorgym.training.generation import TrainerPolicy

    model = torch.nn.Linear(1, 1)  # TrainerPolicy reads only its device here: _output decodes and projects
    return {env: TrainerPolicy(model, tokenizer, env_id, action_format="text") for env, env_id in ENV_IDS.items()}


@pytest.mark.parametrize(("env", "text", "action", "valid"), TURNS)
def test_trainer_policy_sends_the_projected_action(trainer_policies, tokenizer, env, text, action, valid) -> None:
    response = tokenizer.encode(text, add_special_tokens=False) + [tokenizer.eos_token_id]
    assert tokenizer.decode(response, skip_special_tokens=True) == text  # the tiny BPE is byte-level
    output = trainer_policies[env]._output(_input(env), [0], response, [0.0] * len(response))
    assert (output.action, output.parsed) == (action, bool(valid))


@pytest.mark.parametrize(("env", "text", "action", "valid"), TURNS)
def test_verl_agent_loop_parse_sends_the_projected_action(env: str, text: str, action: str, valid: int) -> None:
    from anchorgym.integrations.verl.agent_loop import _parse

    assert _parse(template_for(ENV_IDS[env]), text, _input(env)) == (action, bool(valid))


def test_verl_agent_loop_harness_template_keeps_the_envs_validity() -> None:
    from anchorgym.integrations.verl.agent_loop import _parse

    agent_input = AgentInput("anchorgym/Sokoban-v0", "", "obs", ["up", "down", "left", "right"])
    assert _parse(template_for("anchorgym/Sokoban-v0"), "<action>up</action>", agent_input) == ("up", None)


def test_verifiers_env_sends_the_projected_actions_and_the_protocols_prompt(monkeypatch, tmp_path) -> None:
    """The recorded Sokoban turns, stepped through the verifiers env: verl-agent's actions; one user message."""
    pytest.importorskip("verifiers", reason="needs the verifiers extra: pip install 'anchorgym[verifiers]'")
    from anchorgym.integrations.verifiers import AnchorVerifiersEnv, episode_rows

    monkeypatch.setenv("ANCHORGYM_CACHE_DIR", str(tmp_path))
    episode = CASES["episodes"]["history_length_2"]["sokoban"]
    env = AnchorVerifiersEnv(ENV_IDS["sokoban"], episode_rows(["0"], [0]), split="test", max_steps=20)
    template = template_for(ENV_IDS["sokoban"])

    async def play() -> dict:
        state = await env.setup_state({"info": env.eval_dataset[0]["info"]})
        prompts = [state["prompt"]]
        for turn in episode["turns"]:
            prompts.append(await env.env_response([{"role": "assistant", "content": turn}], state))
        state["prompts"] = prompts
        return state

    state = asyncio.run(play())
    try:
        steps = state["anchorgym_steps"]
        assert [step["action"] for step in steps] == episode["actions"]
        assert [step["text"] for step in steps] == episode["turns"]
        first = state["prompts"][0]  # verl-agent sends one user message, no system message
        assert [(m.role, m.content) for m in first] == [("user", template.render(_first_input(steps[0])))]
        assert all([m.role for m in p] == ["user"] for p in state["prompts"][1:])
    finally:
        state["anchor_env"].close()


def _first_input(step: dict) -> AgentInput:
    return AgentInput(ENV_IDS["sokoban"], "", step["observation"], None)


def test_verifiers_env_refuses_search_r1s_one_turn_protocol_clearly(monkeypatch, tmp_path) -> None:
    pytest.importorskip("verifiers", reason="needs the verifiers extra: pip install 'anchorgym[verifiers]'")
    from anchorgym.errors import ConfigError
    from anchorgym.integrations.verifiers import AnchorVerifiersEnv, episode_rows

    monkeypatch.setenv("ANCHORGYM_CACHE_DIR", str(tmp_path))
    data = Path(__file__).parent / "data"
    topk = json.loads((data / "search_r1_cases.json").read_text(encoding="utf-8"))["topk"]
    kwargs = {"dataset": str(data / "search_r1"), "topk": topk}
    env = AnchorVerifiersEnv("anchorgym/ToolQA-v2", episode_rows(["q1"], [0]), split="dev", env_kwargs=kwargs)

    async def play() -> None:
        state = await env.setup_state({"info": env.eval_dataset[0]["info"]})
        try:
            assert [m.role for m in state["prompt"]] == ["user"]
            turn = {"role": "assistant", "content": "<think>x</think><search> Ed Wood </search>"}
            with pytest.raises(ConfigError, match=r"^The verifiers environment cannot play anchorgym/ToolQA-v2: its"):
                await env.env_response([turn], state)
        finally:
            state["anchor_env"].close()

    asyncio.run(play())
