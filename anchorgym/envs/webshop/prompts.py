"""The WebShop prompt template (versioned; its hash is recorded in results)."""

from __future__ import annotations

from anchorgym.policies.prompting import PromptTemplate
from anchorgym.policies.protocols.verl_agent import HISTORY_LINE, VerlAgentTemplate

WEBSHOP_TEMPLATE = PromptTemplate(
    name="webshop",
    version="1",
    system=(
        "You are an expert autonomous agent operating in the WebShop e-commerce platform. "
        "Your task is to buy the product that best matches the instruction, with the requested options, "
        "within the price limit."
    ),
    first_step=(
        "Your task is to: {instruction}\n"
        "Your current observation is: {observation}\n"
        "Your admissible actions of the current situation are:\n{admissible_actions}\n\n"
        "Now it's your turn to take one action for the current step.\n"
        "First reason step by step inside <think> </think> tags, then give your action inside "
        "<action> </action> tags, e.g. <action>search[red ceramic mug]</action> or <action>click[buy now]</action>."
    ),
    later_steps=(
        "Your task is to: {instruction}\n"
        "Prior to this step, you have already taken {history_length} step(s). Below are the most recent "
        "observations and the corresponding actions you took:\n{history}\n"
        "You are now at step {step} and your current observation is: {observation}\n"
        "Your admissible actions of the current situation are:\n{admissible_actions}\n\n"
        "Now it's your turn to take one action for the current step.\n"
        "First reason step by step inside <think> </think> tags, then give your action inside "
        "<action> </action> tags."
    ),
)


# verl-agent's webshop prompt, byte for byte (``agent_system/environments/prompts/webshop.py``): the protocol
# template of the ``webshop-verl-agent`` benchmarks (see :mod:`anchorgym.policies.protocols.verl_agent`).
VERL_AGENT_TEMPLATE_NO_HIS = (
    "\n"
    "You are an expert autonomous agent operating in the WebShop e‑commerce environment. \n"
    "Your task is to: {task_description}.\n"
    "Your current observation is: {current_observation}.\n"
    "Your admissible actions of the current situation are: \n"
    "[\n"
    "{available_actions}\n"
    "].\n"
    "\n"
    "Now it's your turn to take one action for the current step.\n"
    "You should first reason step-by-step about the current situation, then think carefully which "
    "admissible action best advances the shopping goal. This reasoning process MUST be enclosed within "
    "<think> </think> tags. \n"
    "Once you've finished your reasoning, you should choose an admissible action for current step and "
    "present it within <action> </action> tags.\n"
)

VERL_AGENT_TEMPLATE = (
    "\n"
    "You are an expert autonomous agent operating in the WebShop e‑commerce environment.\n"
    "Your task is to: {task_description}.\n"
    "Prior to this step, you have already taken {step_count} step(s). Below are the most recent "
    "{history_length} observations and the corresponding actions you took: {action_history}\n"
    "You are now at step {current_step} and your current observation is: {current_observation}.\n"
    "Your admissible actions of the current situation are: \n"
    "[\n"
    "{available_actions}\n"
    "].\n"
    "\n"
    "Now it's your turn to take one action for the current step.\n"
    "You should first reason step-by-step about the current situation, then think carefully which "
    "admissible action best advances the shopping goal. This reasoning process MUST be enclosed within "
    "<think> </think> tags. \n"
    "Once you've finished your reasoning, you should choose an admissible action for current step and "
    "present it within <action> </action> tags.\n"
)

WEBSHOP_VERL_AGENT_TEMPLATE = VerlAgentTemplate(
    name="webshop-verl-agent",
    version="1",
    system="",
    first_step=VERL_AGENT_TEMPLATE_NO_HIS,
    later_steps=VERL_AGENT_TEMPLATE,
    history_step=HISTORY_LINE,
    action_tags=("action",),
    env="webshop",
)
