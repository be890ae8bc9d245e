"""ToolQA-v1: chat policies send the whole turn, and the env reads it by Search-R1's rules."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import anchorgym
from anchorgym.policies.base import AgentInput
from anchorgym.policies.chat import ChatPolicy, Completion, Messages
from anchorgym.policies.prompting import template_for

pytest.importorskip("bm25s")

TURN = "<think>look it up first</think><search>capital of the country</search> <answer>Paris</answer>"


class FixedTurnModel(ChatPolicy):
    """A stand-in for a model that writes the same turn every time (the policy, env and parsing are real)."""

    name = "fixed-turn"

    def __init__(self, turn: str) -> None:
        super().__init__()
        self.turn = turn

    def complete(self, prompts: Sequence[Messages]) -> list[Completion]:
        return [Completion(self.turn) for _ in prompts]


def play_one_turn(env_id: str, turn: str):
    env = anchorgym.make(env_id, split="test")
    obs, info = env.reset(seed=0)
    [output] = FixedTurnModel(turn).act([AgentInput(env_id, info["instruction"], obs)])
    return output, env.step(output.action)


def test_search_r1_env_gets_the_raw_turn_and_reads_the_first_closing_tag():
    output, (obs, reward, terminated, truncated, info) = play_one_turn("anchorgym/ToolQA-v1", TURN)
    assert output.action == TURN and output.parsed
    assert (terminated, truncated, reward, info["action_valid"]) == (False, False, 0.0, True)
    assert obs.startswith("<information>")  # Search-R1 stops at </search>: the answer after it is never read


def test_legacy_env_gets_the_tag_the_policy_picked():
    output, (obs, reward, terminated, truncated, info) = play_one_turn("anchorgym/ToolQA-v0", TURN)
    assert output.action == "<answer>Paris</answer>"  # the @v1 rules: the last complete tag
    assert terminated and info["action_valid"]


def test_a_turn_without_a_case_exact_tag_is_marked_unparsed_and_shown_search_r1s_message():
    output, (obs, *_rest, info) = play_one_turn("anchorgym/ToolQA-v1", "<Answer>Paris</Answer>")
    assert (output.action, output.parsed) == ("<Answer>Paris</Answer>", False)
    assert info["action_valid"] is False
    assert obs.startswith("My previous action is invalid.")


def test_raw_turns_changes_the_v2_template_hash_only():
    v1, v2 = template_for("anchorgym/ToolQA-v0"), template_for("anchorgym/ToolQA-v1")
    assert (v1.version, v1.raw_turns, v2.version, v2.raw_turns) == ("1", False, "2", True)
    assert v1.content_hash() == "68f6c6ed0693e915"  # unchanged by the raw_turns field
    assert v2.content_hash() != v1.content_hash()
