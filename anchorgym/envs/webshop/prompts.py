"""The WebShop prompt template (versioned; its hash is recorded in results)."""

from __future__ import annotations

from anchorgym.policies.prompting import PromptTemplate

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
