"""The Sokoban prompt (versioned; bump ``version`` whenever any text changes)."""

from __future__ import annotations

from anchorgym.envs.sokoban.board import LEGEND
from anchorgym.policies.prompting import PromptTemplate

SYSTEM = (
    "You are an expert Sokoban player. Think step by step inside <think> </think>, then give exactly one "
    "move inside <action> </action>: one of up, down, left, right."
)

FIRST_STEP = (
    "{instruction}\n" + LEGEND + "\n\nCurrent room (step {step}):\n{observation}\n\n"
    "Admissible actions:\n{admissible_actions}\n\n"
    "Reason in <think> </think>, then answer like <action>up</action>."
)

LATER_STEPS = (
    "{instruction}\n" + LEGEND + "\n\nYour last {history_length} steps:\n{history}\n\n"
    "Current room (step {step}):\n{observation}\n\nAdmissible actions:\n{admissible_actions}\n\n"
    "Reason in <think> </think>, then answer like <action>up</action>."
)

SOKOBAN_TEMPLATE = PromptTemplate(
    name="sokoban",
    version="1",
    system=SYSTEM,
    first_step=FIRST_STEP,
    later_steps=LATER_STEPS,
    action_tags=("action",),
)
