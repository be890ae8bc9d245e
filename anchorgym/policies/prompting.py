"""Versioned prompt templates and tagged-action parsing.

Each env subpackage defines its template in ``prompts.py`` and registers it
for its env id; model policies look it up with :func:`template_for`. A
template's :meth:`~PromptTemplate.content_hash` is recorded in every result, so
a changed prompt can never be silently compared with an old one.

Templates are ``str.format`` strings over these fields: ``{instruction}``,
``{observation}``, ``{admissible_actions}`` (one per line, or a note that the
action space is open), ``{history}`` (the last ``k`` steps rendered with
``history_step``), ``{history_length}``, ``{step}``.

An env without a template of its own (a plugin env, say) gets :data:`DEFAULT_TEMPLATE`: its
instruction, the observation, the admissible actions when the env lists them, and an
``<action>`` tag. So every text env meets every model policy and the trainer at once; register
a better prompt for it with :func:`register_template`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from anchorgym.policies.base import AgentInput

DEFAULT_HISTORY_LENGTH = 2


@dataclass(frozen=True)
class PromptTemplate:
    """A versioned prompt for one environment family.

    Attributes:
        name: template name, e.g. ``"sokoban"``.
        version: bumped whenever any text changes.
        system: the system message.
        first_step: user message for the first step (no history).
        later_steps: user message for later steps (with ``{history}``).
        history_step: how one past step renders inside ``{history}``.
        action_tags: tags the answer may use, first is the main one (``("action",)``;
            tool-QA: ``("search", "answer")``; AppWorld: ``("code",)``).
        raw_turns: the env reads the model's whole turn itself (tool-QA under Search-R1's rules, which
            take the *first* complete tag, case-sensitively): policies send the raw text as the action
            instead of picking a tag.
    """

    name: str
    version: str
    system: str
    first_step: str
    later_steps: str
    history_step: str = "[Step {index}] Observation: {observation}\nAction: {action}"
    action_tags: tuple[str, ...] = ("action",)
    raw_turns: bool = False

    def content_hash(self) -> str:
        """Return a stable hash of every field (recorded in results).

        ``raw_turns`` is hashed only when set, so templates written before it existed keep their hashes.
        """
        fields = asdict(self)
        if not self.raw_turns:
            del fields["raw_turns"]
        text = json.dumps(fields, sort_keys=True)
        return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()

    def render_history(self, history: Sequence[tuple[str, str]], first_index: int) -> str:
        """Render past ``(observation, action)`` pairs, numbering from ``first_index``."""
        return "\n".join(
            self.history_step.format(index=first_index + i, observation=obs, action=act)
            for i, (obs, act) in enumerate(history)
        )

    def messages(self, agent_input: AgentInput, history_length: int = DEFAULT_HISTORY_LENGTH) -> list[dict[str, str]]:
        """Build chat messages for one step, keeping the last ``history_length`` steps."""
        history = agent_input.history[-history_length:] if history_length > 0 else []
        fields = {
            "instruction": agent_input.instruction,
            "observation": agent_input.observation,
            "admissible_actions": format_admissible(agent_input.admissible_actions),
            "history": self.render_history(history, agent_input.step - len(history) + 1),
            "history_length": len(history),
            "step": agent_input.step + 1,
        }
        body = (self.later_steps if history else self.first_step).format(**fields)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": body}]


def format_admissible(actions: Sequence[str] | None) -> str:
    """List admissible actions one per line, or say the action space is open."""
    if actions is None:
        return "(any action)"
    return "\n".join(f"- {action}" for action in actions)


DEFAULT_SYSTEM = (
    "You are an agent acting in a text environment. Think step by step inside <think> </think>, then give "
    "exactly one action inside <action> </action>. When admissible actions are listed, answer with one of "
    "them exactly as written."
)
DEFAULT_FIRST_STEP = (
    "{instruction}\n\nCurrent observation (step {step}):\n{observation}\n\n"
    "Admissible actions:\n{admissible_actions}\n\n"
    "Reason in <think> </think>, then answer like <action>your action</action>."
)
DEFAULT_LATER_STEPS = (
    "{instruction}\n\nYour last {history_length} steps:\n{history}\n\n"
    "Current observation (step {step}):\n{observation}\n\nAdmissible actions:\n{admissible_actions}\n\n"
    "Reason in <think> </think>, then answer like <action>your action</action>."
)
DEFAULT_TEMPLATE = PromptTemplate(
    name="default",
    version="1",
    system=DEFAULT_SYSTEM,
    first_step=DEFAULT_FIRST_STEP,
    later_steps=DEFAULT_LATER_STEPS,
    action_tags=("action",),
)
"""The prompt of any registered env that has no template of its own (see the module docs)."""

_TEMPLATES: dict[str, PromptTemplate] = {}


def register_template(env_id: str, template: PromptTemplate) -> None:
    """Make ``template`` the prompt for ``env_id``."""
    _TEMPLATES[env_id] = template


def template_for(env_id: str) -> PromptTemplate:
    """Return the template registered for ``env_id``, else :data:`DEFAULT_TEMPLATE`.

    Raises:
        UnknownNameError: ``env_id`` is not a registered env.
    """
    if env_id not in _TEMPLATES:
        from anchorgym.envs.registry import env_info

        env_info(env_id)  # loads the env packages, which register their templates; raises for an unknown id
    return _TEMPLATES.get(env_id, DEFAULT_TEMPLATE)


def extract_tag(text: str, tags: Sequence[str]) -> tuple[str, str] | None:
    """Return ``(tag, content)`` of the last complete ``<tag>...</tag>`` among ``tags``, or None.

    The last occurrence wins, so a model that drafts an action inside its
    ``<think>`` block and then commits to another is judged by the final one.

    >>> extract_tag("<think>go up?</think><action> Left </action>", ["action"])
    ('action', 'Left')
    >>> extract_tag("<action>up", ["action"]) is None
    True
    """
    alternatives = "|".join(map(re.escape, tags))
    pattern = re.compile(rf"<({alternatives})>(.*?)</\1>", re.DOTALL | re.IGNORECASE)
    matches = pattern.findall(text)
    if not matches:
        return None
    tag, content = matches[-1]
    return tag.lower(), content.strip()
