"""The ALFWorld prompt (versioned; bump ``version`` whenever any text changes).

It follows the GiGPO/verl-agent ALFWorld prompt: the task, the recent history,
the current observation and the admissible actions, with reasoning in
``<think>`` and the command in ``<action>``.
"""

from __future__ import annotations

from anchorgym.policies.prompting import PromptTemplate
from anchorgym.policies.protocols.verl_agent import HISTORY_LINE, VerlAgentTemplate

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


# verl-agent's alfworld prompt, byte for byte (``agent_system/environments/prompts/alfworld.py``): the protocol
# template of the ``alfworld-verl-agent`` benchmarks (see :mod:`anchorgym.policies.protocols.verl_agent`).
VERL_AGENT_TEMPLATE_NO_HIS = (
    "\n"
    "You are an expert agent operating in the ALFRED Embodied Environment.\n"
    "Your current observation is: {current_observation}\n"
    "Your admissible actions of the current situation are: [{admissible_actions}].\n"
    "\n"
    "Now it's your turn to take an action.\n"
    "You should first reason step-by-step about the current situation. This reasoning process MUST be "
    "enclosed within <think> </think> tags. \n"
    "Once you've finished your reasoning, you should choose an admissible action for current step and "
    "present it within <action> </action> tags.\n"
)

VERL_AGENT_TEMPLATE = (
    "\n"
    "You are an expert agent operating in the ALFRED Embodied Environment. Your task is to: "
    "{task_description}\n"
    "Prior to this step, you have already taken {step_count} step(s). Below are the most recent "
    "{history_length} observations and the corresponding actions you took: {action_history}\n"
    "You are now at step {current_step} and your current observation is: {current_observation}\n"
    "Your admissible actions of the current situation are: [{admissible_actions}].\n"
    "\n"
    "Now it's your turn to take an action.\n"
    "You should first reason step-by-step about the current situation. This reasoning process MUST be "
    "enclosed within <think> </think> tags. \n"
    "Once you've finished your reasoning, you should choose an admissible action for current step and "
    "present it within <action> </action> tags.\n"
)

ALFWORLD_VERL_AGENT_TEMPLATE = VerlAgentTemplate(
    name="alfworld-verl-agent",
    version="1",
    system="",
    first_step=VERL_AGENT_TEMPLATE_NO_HIS,
    later_steps=VERL_AGENT_TEMPLATE,
    history_step=HISTORY_LINE,
    action_tags=("action",),
    env="alfworld",
)
