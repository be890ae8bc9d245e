"""Evaluation protocols of published frameworks: their prompts and their projection from model text to env action.

A protocol template is a :class:`~anchorgym.policies.prompting.PromptTemplate` that also has
``project(text, agent_input) -> ParsedAction``: model policies then send the action the original
framework would have sent and report its validity flag as ``parsed`` (see :mod:`.verl_agent`).
"""

from __future__ import annotations

from typing import Any

from anchorgym.policies.base import AgentInput
from anchorgym.policies.parsing import ParsedAction, parse_action, raw_turn


def protocol_action(template: Any, text: str, agent_input: AgentInput | None) -> ParsedAction | None:
    """The protocol's action and validity for a model turn, or None when ``template`` is not a protocol template.

    Every path from model text to env action (chat policies, the trainer's policy, verl's agent loop, the
    verifiers environment) asks this first, so a protocol env sends what its original framework sends.
    """
    project = getattr(template, "project", None)
    return None if project is None else project(text, agent_input)


def action_from_text(template: Any, text: str, agent_input: AgentInput, repair: bool = False) -> ParsedAction:
    """The env action and validity of a model turn under ``template``, as every model policy reads it.

    A protocol template projects the turn as its framework does; a ``raw_turns`` template (Search-R1's
    rules in the env) passes the whole turn; any other takes the last answer tag and checks it against the
    admissible actions (``repair`` snaps it to the closest one).
    """
    projected = protocol_action(template, text, agent_input)
    if projected is not None:
        return projected
    if template.raw_turns:
        return raw_turn(text, template.action_tags)
    return parse_action(text, template.action_tags, agent_input.admissible_actions, repair)
