"""Prompt templates of every registered env: versioned, hashed, answer tags, first vs later steps, last-k history."""

from __future__ import annotations

import inspect
import re
from dataclasses import replace

import pytest

from anchorgym.envs.registry import list_envs
from anchorgym.policies.base import AgentInput
from anchorgym.policies.prompting import DEFAULT_HISTORY_LENGTH, PromptTemplate, template_for

# Protocol templates (a published framework's own prompt, one user message) are tested in tests/protocols.
ENV_IDS = sorted(
    info.id
    for info in list_envs()
    if not info.id.startswith("anchorgym-test/") and not hasattr(template_for(info.id), "project")
)
ANSWER_TAGS = {
    "anchorgym/ToolQA-v0": ("search", "answer"),
    "anchorgym/ToolQA-v1": ("search", "answer"),
    "anchorgym/AppWorld-v0": ("code",),
}
HISTORY = [(f"OBS-{k}", f"ACT-{k}") for k in "ABC"]


def _input(env_id: str, history: list[tuple[str, str]]) -> AgentInput:
    return AgentInput(env_id, "INSTRUCTION-X", "OBS-NOW", ["ACT-1", "ACT-2"], list(history), step=len(history))


def test_every_env_of_the_issue_has_a_template():
    expected = {"ALFWorld", "AppWorld", "Sokoban", "ToolQA", "WebShop"}
    assert expected <= {env_id.split("/")[1].split("-")[0] for env_id in ENV_IDS}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_answer_tags_are_asked_for(env_id):
    template = template_for(env_id)
    tags = ANSWER_TAGS.get(env_id, ("action",))
    assert template.action_tags == tags
    text = template.system + template.first_step + template.later_steps
    for tag in tags:
        assert f"<{tag}>" in text, f"{env_id} never shows the model the <{tag}> answer tag"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_templates_ask_to_think_in_think_tags(env_id):
    template = template_for(env_id)
    assert "<think>" in template.system + template.first_step + template.later_steps


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_first_step_has_no_history_and_later_steps_show_the_last_k(env_id):
    template = template_for(env_id)
    system, first = template.messages(_input(env_id, []))
    assert system == {"role": "system", "content": template.system}
    # tool-QA's first prompt is its question alone; AppWorld's first observation holds its task
    content = first["content"]
    assert first["role"] == "user" and ("OBS-NOW" in content or "INSTRUCTION-X" in content) and "ACT-A" not in content
    later = template.messages(_input(env_id, HISTORY))[1]["content"]  # default k = 2
    assert "INSTRUCTION-X" in later and "OBS-NOW" in later  # the instruction is in every later prompt
    assert "OBS-A" not in later and "ACT-A" not in later
    assert all(marker in later for marker in ("OBS-B", "ACT-B", "OBS-C", "ACT-C"))
    assert later.index("ACT-B") < later.index("ACT-C")  # oldest first
    assert "OBS-A" in template.messages(_input(env_id, HISTORY), history_length=3)[1]["content"]
    assert template.messages(_input(env_id, HISTORY), history_length=0)[1]["content"] == template.first_step.format(
        instruction="INSTRUCTION-X",
        observation="OBS-NOW",
        admissible_actions="- ACT-1\n- ACT-2",
        history="",
        history_length=0,
        step=4,
    )


def test_history_steps_are_numbered_by_their_place_in_the_episode():
    template = PromptTemplate("t", "1", "sys", "{observation}", "{history}\nnow {observation} (step {step})")
    text = template.messages(_input("x", HISTORY))[1]["content"]
    expected = "[Step 2] Observation: OBS-B\nAction: ACT-B\n[Step 3] Observation: OBS-C\nAction: ACT-C\n"
    assert text == expected + "now OBS-NOW (step 4)"


def test_default_history_length_is_two_everywhere():
    from anchorgym.policies.hf import HFPolicy
    from anchorgym.policies.openai import OpenAIPolicy
    from anchorgym.policies.vllm import VLLMPolicy

    assert DEFAULT_HISTORY_LENGTH == 2
    assert inspect.signature(PromptTemplate.messages).parameters["history_length"].default == 2
    for cls in (HFPolicy, OpenAIPolicy, VLLMPolicy):
        assert inspect.signature(cls).parameters["history_length"].default == 2, cls.__name__


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_hash_is_stable_and_covers_every_text_field(env_id):
    template = template_for(env_id)
    digest = template.content_hash()
    assert re.fullmatch(r"[0-9a-f]{16}", digest)
    assert replace(template).content_hash() == digest  # a field-for-field copy hashes the same
    for name in ("system", "first_step", "later_steps", "history_step", "version"):
        assert replace(template, **{name: getattr(template, name) + " "}).content_hash() != digest, name
    assert replace(template, action_tags=(*template.action_tags, "x")).content_hash() != digest


@pytest.fixture
def plugin_env_id():
    """A text env registered the way a plugin does it, with no prompt template of its own."""
    import gymnasium as gym

    from anchorgym.envs.registry import _REGISTRY, EnvInfo, register

    env_id = "mine/Boxes-v0"
    register(EnvInfo(env_id, "anchorgym.envs.sokoban.env:SokobanEnv", ("test",), 9))
    yield env_id
    _REGISTRY.pop(env_id, None)
    gym.registry.pop(env_id, None)


def test_an_env_without_a_template_gets_the_default_one(plugin_env_id):
    from anchorgym.policies.prompting import DEFAULT_TEMPLATE

    template = template_for(plugin_env_id)
    assert template is DEFAULT_TEMPLATE and template.action_tags == ("action",)
    system, user = template.messages(_input(plugin_env_id, []))
    assert "<action>" in system["content"] and "<think>" in system["content"]
    assert user["content"] == (
        "INSTRUCTION-X\n\nCurrent observation (step 1):\nOBS-NOW\n\nAdmissible actions:\n- ACT-1\n- ACT-2\n\n"
        "Reason in <think> </think>, then answer like <action>your action</action>."
    )
    open_space = AgentInput(plugin_env_id, "I", "O", None, [], step=0)
    assert "Admissible actions:\n(any action)\n" in template.messages(open_space)[1]["content"]


def test_an_unknown_env_still_has_no_template():
    from anchorgym.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="Unknown environment 'mine/Nothing-v0'"):
        template_for("mine/Nothing-v0")


def test_a_plugin_env_plays_with_a_chat_policy(plugin_env_id):
    from anchorgym.envs.registry import make
    from anchorgym.policies.chat import ChatPolicy, Completion

    class FirstListedAction(ChatPolicy):
        """A stand-in model that answers with the first action its prompt lists (prompting and parsing are real)."""

        name = "first-listed"

        def complete(self, prompts):
            answers = []
            for messages in prompts:
                first = messages[-1]["content"].split("Admissible actions:\n- ", 1)[1].split("\n", 1)[0]
                answers.append(Completion(f"<think>try it</think><action>{first}</action>"))
            return answers

    env = make(plugin_env_id, split="test")
    obs, info = env.reset(seed=0)
    [output] = FirstListedAction().act(
        [AgentInput(plugin_env_id, info["instruction"], obs, info["admissible_actions"], [], step=0)]
    )  # was UnknownNameError: Unknown prompt template for env 'mine/Boxes-v0'
    assert output.action == info["admissible_actions"][0]
    assert env.step(output.action)[4]["action_valid"]
