"""Evaluation protocols of published frameworks: their prompts and their projection from model text to env action.

A protocol template is a :class:`~anchorgym.policies.prompting.PromptTemplate` that also has
``project(text, agent_input) -> ParsedAction``: model policies then send the action the original
framework would have sent and report its validity flag as ``parsed`` (see :mod:`.verl_agent`).
"""
