"""The ALFWorld prompt (versioned; bump ``version`` whenever any text changes).

It follows the GiGPO/verl-agent ALFWorld prompt: the task, the recent history,
the current observation and the admissible actions, with reasoning in
``<think>`` and the command in ``<action>``.
"""

from __future__ import annotations

from anchorgym.policies.prompting import PromptTemplate

SYSTEM = (
    "You are an expert agent operating in the ALFRED embodied household environment. "
    "Think step by step inside <think> </think>, then give exactly one admissible action inside <action> </action>."
)

FIRST_STEP = (
    "Your task is to: {instruction}\n\n"
    "Your current observation is:\n{observation}\n\n"
    "Your admissible actions of the current situation are:\n{admissible_actions}\n\n"
    "Reason in <think> </think>, then choose one admissible action, e.g. <action>go to cabinet 1</action>."
)

LATER_STEPS = (
    "Your task is to: {instruction}\n\n"
    "Your last {history_length} observations and the actions you took:\n{history}\n\n"
    "You are now at step {step} and your current observation is:\n{observation}\n\n"
    "Your admissible actions of the current situation are:\n{admissible_actions}\n\n"
    "Reason in <think> </think>, then choose one admissible action, e.g. <action>go to cabinet 1</action>."
)

ALFWORLD_TEMPLATE = PromptTemplate(
    name="alfworld",
    version="1",
    system=SYSTEM,
    first_step=FIRST_STEP,
    later_steps=LATER_STEPS,
    action_tags=("action",),
)
