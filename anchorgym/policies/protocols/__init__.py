"""Evaluation protocols of published frameworks: their prompts and their projection from model text to env action.

A protocol template is a :class:`~anchorgym.policies.prompting.PromptTemplate` that also has
``project(text, agent_input) -> ParsedAction``: model policies then send the action the original
framework would have sent and report its validity flag as ``parsed`` (see :mod:`.verl_agent`).
"""

from __future__ import annotations

from typing import Any

from anchorgym.policies.base import AgentInput
from anchorgym.policies.parsing import ParsedAction


def protocol_action(template: Any, text: str, agent_input: AgentInput | None) -> ParsedAction | None:
    """The protocol's action and validity for a model turn, or None when ``template`` is not a protocol template.

    Every path from model text to env action (chat policies, the trainer's policy, verl's agent loop, the
    verifiers environment) asks this first, so a protocol env sends what its original framework sends.
    """
    project = getattr(template, "project", None)
    return None if project is None else project(text, agent_input)
