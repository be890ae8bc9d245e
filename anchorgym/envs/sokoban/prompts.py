"""The Sokoban prompt (versioned; bump ``version`` whenever any text changes)."""

from __future__ import annotations

from anchorgym.envs.sokoban.board import LEGEND
from anchorgym.policies.prompting import PromptTemplate
from anchorgym.policies.protocols.verl_agent import HISTORY_LINE, VerlAgentTemplate

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


# verl-agent's sokoban prompt, byte for byte (``agent_system/environments/prompts/sokoban.py``): the protocol
# template of the ``sokoban-verl-agent`` benchmarks (see :mod:`anchorgym.policies.protocols.verl_agent`).
VERL_AGENT_TEMPLATE_NO_HIS = (
    "\n"
    "You are an expert agent operating in the Sokoban environment.\n"
    "\n"
    "# Symbols and Their Meaning\n"
    "- Walls (`#`): These block movement. You can't move through or push anything into walls.\n"
    "- Floor (`_`): Open spaces where you can walk and move boxes.\n"
    "- Targets (`O`): The spots where boxes need to go.\n"
    "- Boxes (`X`): These are what you need to push onto the targets.\n"
    "- Player (`P`): That's you! You'll move around the grid to push boxes.\n"
    "- Box on Target (`√`): A box successfully placed on a target.\n"
    "- Player on Target (`S`): You standing on a target.\n"
    "\n"
    "# Your Goal\n"
    "Your goal is to push all the boxes (`X`) onto the target spots (`O`). Once all boxes are on the "
    "targets, you win!\n"
    "\n"
    "# Rules\n"
    "You can only push boxes. You can't pull them, so plan ahead to avoid getting stuck.\n"
    "You can't walk through or push boxes into walls (`#`).\n"
    "To avoid traps, do not push boxes into corners or against walls where they can't be moved again.\n"
    "\n"
    "# Current Step\n"
    "Your current observation is:\n"
    "{current_observation}\n"
    'Your admissible actions are ["up", "down", "left", "right"].\n'
    "\n"
    "Now it's your turn to make a move (choose ONE action only for the current step).\n"
    "You should first reason step-by-step about the current situation — observe the positions of boxes "
    "and targets, plan a path to push a box toward a target, and avoid traps like corners or walls. This "
    "reasoning process MUST be enclosed within <think> </think> tags. \n"
    "Once you've finished your reasoning, you should choose an admissible action for current step and "
    "present it within <action> </action> tags.\n"
)

VERL_AGENT_TEMPLATE = (
    "\n"
    "You are an expert agent operating in the Sokoban environment.\n"
    "\n"
    "# Symbols and Their Meaning\n"
    "- Walls (`#`): These block movement. You can't move through or push anything into walls.\n"
    "- Floor (`_`): Open spaces where you can walk and move boxes.\n"
    "- Targets (`O`): The spots where boxes need to go.\n"
    "- Boxes (`X`): These are what you need to push onto the targets.\n"
    "- Player (`P`): That's you! You'll move around the grid to push boxes.\n"
    "- Box on Target (`√`): A box successfully placed on a target.\n"
    "- Player on Target (`S`): You standing on a target.\n"
    "\n"
    "# Your Goal\n"
    "Your goal is to push all the boxes (`X`) onto the target spots (`O`). Once all boxes are on the "
    "targets, you win!\n"
    "\n"
    "# Rules\n"
    "You can only push boxes. You can't pull them, so plan ahead to avoid getting stuck.\n"
    "You can't walk through or push boxes into walls (`#`).\n"
    "To avoid traps, do not push boxes into corners or against walls where they can't be moved again.\n"
    "\n"
    "# Current Step\n"
    "Prior to this step, you have already taken {step_count} step(s). Below are the most recent "
    "{history_length} observations and the corresponding actions you took: {action_history}\n"
    "You are now at step {current_step} and your current observation is:\n"
    "{current_observation}\n"
    'Your admissible actions are ["up", "down", "left", "right"].\n'
    "\n"
    "Now it's your turn to make a move (choose ONE action only for the current step).\n"
    "You should first reason step-by-step about the current situation — observe the positions of boxes "
    "and targets, plan a path to push a box toward a target, and avoid traps like corners or walls. This "
    "reasoning process MUST be enclosed within <think> </think> tags. \n"
    "Once you've finished your reasoning, you should choose an admissible action for current step and "
    "present it within <action> </action> tags.\n"
)

SOKOBAN_VERL_AGENT_TEMPLATE = VerlAgentTemplate(
    name="sokoban-verl-agent",
    version="1",
    system="",
    first_step=VERL_AGENT_TEMPLATE_NO_HIS,
    later_steps=VERL_AGENT_TEMPLATE,
    history_step=HISTORY_LINE,
    action_tags=("action",),
    env="sokoban",
)
