"""verl-agent's protocol: projection, validity and prompts equal the original's own functions.

``data/verl_agent_cases.json`` holds what verl-agent's code returned, run once on these inputs:
``alfworld_projection``, ``webshop_projection`` and ``sokoban_projection`` (``env_package/*/projection.py``)
on recorded model turns, and the prompts its ``AlfWorldEnvironmentManager``, ``WebshopEnvironmentManager``
and ``SokobanEnvironmentManager`` (``env_manager.py``, ``memory/memory.py``, ``prompts/*.py``) built over
short recorded episodes (source and commit in the file's ``source``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchorgym.envs.alfworld.prompts import ALFWORLD_VERL_AGENT_TEMPLATE
from anchorgym.envs.sokoban.prompts import SOKOBAN_VERL_AGENT_TEMPLATE
from anchorgym.envs.webshop.prompts import WEBSHOP_VERL_AGENT_TEMPLATE
from anchorgym.policies.base import AgentInput
from anchorgym.policies.chat import ChatPolicy, Completion

CASES = json.loads((Path(__file__).parent / "data" / "verl_agent_cases.json").read_text(encoding="utf-8"))
TEMPLATES = {
    "alfworld": ALFWORLD_VERL_AGENT_TEMPLATE,
    "webshop": WEBSHOP_VERL_AGENT_TEMPLATE,
    "sokoban": SOKOBAN_VERL_AGENT_TEMPLATE,
}
ENV_IDS = {
    "alfworld": "anchorgym/ALFWorld-verl-agent-v0",
    "webshop": "anchorgym/WebShop-verl-agent-v0",
    "sokoban": "anchorgym/Sokoban-verl-agent-v0",
}
PROJECTION_CASES = [(env, *case) for env, cases in CASES["projection"].items() for case in cases]


@pytest.mark.parametrize(("env", "text", "action", "valid"), PROJECTION_CASES)
def test_projection_equals_verl_agent(env: str, text: str, action: str, valid: int) -> None:
    projected = TEMPLATES[env].project(text)
    assert (projected.action, projected.parsed) == (action, bool(valid))


def test_cases_cover_every_rule() -> None:
    """First block, case, missing think, CJK, tail characters and Sokoban's substrings are all in the cases."""
    alfworld = {text: (action, valid) for text, action, valid in CASES["projection"]["alfworld"]}
    assert alfworld["<think>x</think><action>go to desk 1</action> then <action>look</action>"] == ("go to desk 1", 1)
    assert alfworld["<think>x</think><action>Go To Desk 1</action>"] == ("go to desk 1", 1)
    assert alfworld["<action>go to desk 1</action>"] == ("go to desk 1", 0)
    assert alfworld["<think>我想看看</think><action>look</action>"] == ("look", 0)
    text = "I think I should go to the desk and look around carefully"
    assert alfworld[text] == (text.lower()[-30:], 0)
    webshop = {text: (action, valid) for text, action, valid in CASES["projection"]["webshop"]}
    assert webshop[text] == (text.lower()[-20:], 0)
    sokoban = {text: (action, valid) for text, action, valid in CASES["projection"]["sokoban"]}
    assert sokoban["<think>x</think><action>move upward</action>"] == ("up", 1)
    assert sokoban["<think>x</think><action>stay still</action>"] == ("still", 1)
    assert sokoban["<think>x</think><action>down then up</action>"] == ("up", 1)
    assert sokoban["<think>向右推</think><action>right</action>"] == ("right", 1)


def _inputs(env: str, episode: dict, history_length: int) -> list[AgentInput]:
    past = list(zip(episode["observations"], episode["actions"], strict=False))
    pages = (episode["observations"], episode["admissible"])
    return [
        AgentInput(
            ENV_IDS[env],
            "",
            observation,
            admissible,
            history=past[:step][-history_length:] if history_length > 0 else [],
            step=step,
            full_history=past[:step],
        )
        for step, (observation, admissible) in enumerate(zip(*pages, strict=True))
    ]


EPISODES = [(k, env) for k, episodes in CASES["episodes"].items() for env in episodes]


@pytest.mark.parametrize(("window", "env"), EPISODES)
def test_prompts_byte_for_byte(window: str, env: str) -> None:
    """Every prompt of a recorded episode is the text verl-agent's env manager built, to the byte."""
    episode = CASES["episodes"][window][env]
    history_length = int(window.rsplit("_", 1)[1])
    for agent_input, expected in zip(_inputs(env, episode, history_length), episode["prompts"], strict=True):
        messages = TEMPLATES[env].messages(agent_input, history_length)
        assert messages == [{"role": "user", "content": expected}]


class Recorded(ChatPolicy):
    """A chat back-end that answers with recorded model turns, in order."""

    def __init__(self, turns: list[str]) -> None:
        super().__init__(history_length=2)
        self.turns = list(turns)
        self.prompts: list[list[dict[str, str]]] = []

    def complete(self, prompts: list) -> list[Completion]:
        self.prompts.extend(prompts)
        return [Completion(self.turns.pop(0)) for _ in prompts]


@pytest.mark.parametrize("env", sorted(TEMPLATES))
def test_chat_policy_sends_the_projected_action(env: str) -> None:
    """A model policy prompts with the protocol's text and sends the projection's action and flag."""
    episode = CASES["episodes"]["history_length_2"][env]
    policy = Recorded(episode["turns"])
    policy.templates[ENV_IDS[env]] = TEMPLATES[env]
    inputs = _inputs(env, episode, 2)[: len(episode["turns"])]
    outputs = [policy.act([agent_input])[0] for agent_input in inputs]
    assert [o.action for o in outputs] == episode["actions"]
    assert [o.parsed for o in outputs] == [bool(v) for v in episode["valids"]]
    assert [p[0]["content"] for p in policy.prompts] == episode["prompts"][: len(inputs)]


def test_templates_are_registered_for_the_protocol_envs() -> None:
    from anchorgym.policies.prompting import template_for

    assert template_for("anchorgym/Sokoban-verl-agent-v0") is SOKOBAN_VERL_AGENT_TEMPLATE
    assert template_for("anchorgym/ALFWorld-verl-agent-v0") is ALFWORLD_VERL_AGENT_TEMPLATE


def test_webshop_prompt_past_13000_characters_drops_its_history():
    """verl-agent falls back to the no-history template when the WebShop prompt exceeds 13,000 characters."""
    long = json.loads((Path(__file__).parent / "data" / "webshop_long_page.json").read_text(encoding="utf-8"))
    inputs = _inputs("webshop", long, 2)
    rendered = [WEBSHOP_VERL_AGENT_TEMPLATE.render(agent_input, 2) for agent_input in inputs]
    assert rendered == long["prompts"]
    assert "Prior to this step" not in rendered[2] and len(rendered[2]) < 13000  # the fallback kept it short
