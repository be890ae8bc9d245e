from __future__ import annotations

import pytest

from anchorgym.policies.parsing import ParsedAction, parse_action

ADMISSIBLE = ["go to cabinet 1", "take mug 1 from cabinet 1", "look"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>cabinet?</think><action>go to cabinet 1</action>", ParsedAction("go to cabinet 1", True)),
        ("<action>  go  to cabinet 1\n</action>", ParsedAction("go to cabinet 1", True)),
        ("<ACTION>look</ACTION>", ParsedAction("look", True)),
        ("<action>look</action> wait, <action>go to cabinet 1</action>", ParsedAction("go to cabinet 1", True)),
        (
            "<think><action>look</action> no...</think> <action>go to cabinet 1</action>",
            ParsedAction("go to cabinet 1", True),
        ),
        ("go to cabinet 1", ParsedAction("go to cabinet 1", False, "missing")),
        ("<action>go to cabinet 1", ParsedAction("<action>go to cabinet 1", False, "missing")),
        ("<action>look</answer>", ParsedAction("<action>look</answer>", False, "missing")),
        ("", ParsedAction("", False, "missing")),
        ("<action></action>", ParsedAction("", False, "malformed")),
        ("<action> <think>x</think> look</action>", ParsedAction("<think>x</think> look", False, "malformed")),
        ("<action>Look</action>", ParsedAction("Look", False, "not_admissible")),
        ("<action>go to cabinet 2</action>", ParsedAction("go to cabinet 2", False, "not_admissible")),
    ],
)
def test_parse_action_edge_cases(text, expected):
    assert parse_action(text, ["action"], ADMISSIBLE) == expected


def test_repair_only_when_enabled():
    assert parse_action("<action>go to cabinet 2</action>", ["action"], ADMISSIBLE, repair=True) == ParsedAction(
        "go to cabinet 1", True, repaired=True
    )
    far = parse_action("<action>fly away</action>", ["action"], ADMISSIBLE, repair=True)
    assert far == ParsedAction("fly away", False, "not_admissible")


def test_open_action_space_accepts_any_tagged_answer():
    assert parse_action("<action>add 5</action>", ["action"], None) == ParsedAction("add 5", True)
    # domain tags stay: AppWorld's env reads the code from inside <code>
    assert parse_action("<code>print(1)</code>", ["code"], None) == ParsedAction("<code>print(1)</code>", True)


def test_multi_tag_answers_keep_their_tag():
    tags = ["search", "answer"]
    assert parse_action("<think>..</think><search>capital of France</search>", tags) == ParsedAction(
        "<search>capital of France</search>", True
    )
    assert parse_action("<search>x</search> then <answer>Paris</answer>", tags).action == "<answer>Paris</answer>"
    assert parse_action("<action>Paris</action>", tags).reason == "missing"
