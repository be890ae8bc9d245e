"""verl-agent's evaluation protocol (the GiGPO paper's ALFWorld, WebShop and Sokoban tables).

Rules read from ``agent_system/environments`` of verl-agent (``env_manager.py``, ``prompts/*.py``,
``env_package/*/projection.py``, ``memory/memory.py``):

* **Prompt.** One user message (no system message), rendered from the framework's template with
  ``str.format``: the ``*_NO_HIS`` text on the first step (or with ``history_length`` 0), else the
  text with the task, the step count, the last ``history_length`` steps as
  ``[Observation i: 'obs', Action i: 'action']`` lines and the current observation.
* **Projection.** The text is lower-cased; the action is the stripped content between the *first*
  ``<action>`` and the first ``</action>``. Without both tags the last 30 (ALFWorld) or 20 (WebShop)
  characters of the lower-cased text are sent and the turn is invalid; Sokoban sends its no-op.
  A found action is still invalid when the original text lacks ``<think>`` or ``</think>``
  (case-sensitive) or, for ALFWorld and WebShop, holds a CJK character (U+4E00-U+9FFF).
* **Sokoban.** The action content is mapped by substring, checked in the order up, down, left,
  right, still (``upward`` is up, ``still`` is a valid no-op); none found is the invalid no-op.

Policies send the projected action to the env and report verl-agent's validity flag as ``parsed``
(verl-agent's ``info["is_action_valid"]``); the env's own ``action_valid`` is recorded beside it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from anchorgym.policies.base import AgentInput
from anchorgym.policies.parsing import ParsedAction
from anchorgym.policies.prompting import PromptTemplate

START_TAG, END_TAG = "<action>", "</action>"
ALFWORLD_TAIL = 30
"""Characters of a turn without an action block that ALFWorld's projection sends."""
WEBSHOP_TAIL = 20
"""Characters of a turn without an action block that WebShop's projection sends."""
WEBSHOP_MAX_PROMPT = 13000
"""WebShop prompts longer than this (in characters) fall back to the template without history."""
CJK = re.compile(r"[\u4e00-\u9fff]")
SOKOBAN_WORDS = (("up", "up"), ("down", "down"), ("left", "left"), ("right", "right"), ("still", "still"))
"""Substrings checked in order and the env action each maps to (``still`` is verl-agent's action 0)."""
SOKOBAN_NOOP = "still"
"""What a Sokoban turn without a usable action sends: a no-op (no move, -0.1), as verl-agent's action 0."""
SEARCH_BAR = "search[<your query>]"
HISTORY_LINE = "[Observation {index}: '{observation}', Action {index}: '{action}']"


def _thought(text: str) -> bool:
    return text.find("<think>") != -1 and text.find("</think>") != -1


def _action_block(lowered: str) -> str | None:
    start, end = lowered.find(START_TAG), lowered.find(END_TAG)
    if start == -1 or end == -1:
        return None
    return lowered[start + len(START_TAG) : end].strip()


def project_text(text: str, tail: int) -> ParsedAction:
    """ALFWorld's (``tail=30``) and WebShop's (``tail=20``) projection of one model turn.

    >>> project_text("<think>x</think><action>Go To Desk 1</action><action>look</action>", 30)
    ParsedAction(action='go to desk 1', parsed=True, reason='', repaired=False)
    >>> project_text("I will look around the room now", 20)
    ParsedAction(action=' around the room now', parsed=False, reason='missing', repaired=False)
    """
    lowered = text.lower()
    action = _action_block(lowered)
    if action is None:
        return ParsedAction(lowered[-tail:], False, "missing")
    if not _thought(text) or CJK.search(text):
        return ParsedAction(action, False, "malformed")
    return ParsedAction(action, True)


def project_sokoban(text: str) -> ParsedAction:
    """Sokoban's projection: the first direction word (or ``still``) inside the first action block.

    >>> project_sokoban("<think>x</think><action>move upward</action>")
    ParsedAction(action='up', parsed=True, reason='', repaired=False)
    >>> project_sokoban("<action>still</action>")
    ParsedAction(action='still', parsed=False, reason='malformed', repaired=False)
    """
    content = _action_block(text.lower())
    if content is None:
        return ParsedAction(SOKOBAN_NOOP, False, "missing")
    action = next((sent for word, sent in SOKOBAN_WORDS if word in content), None)
    if action is None:
        return ParsedAction(SOKOBAN_NOOP, False, "not_admissible")
    return ParsedAction(action, True) if _thought(text) else ParsedAction(action, False, "malformed")


def alfworld_task(first_observation: str) -> str:
    """The task text verl-agent reads from ALFWorld's first observation (after ``Your task is to: ``)."""
    start = first_observation.find("Your task is to: ")
    return first_observation[start + len("Your task is to: ") :].strip() if start != -1 else ""


def webshop_task(first_observation: str) -> str:
    """The instruction, the third ``" [SEP] "`` part of WebShop's first observation."""
    parts = first_observation.split(" [SEP] ")
    return parts[2] if len(parts) > 2 else ""


def webshop_observation(observation: str, task: str) -> str:
    """verl-agent's ``format_obs``: the parts after the instruction, each quoted, joined by ``" [SEP] "``."""
    parts = observation.split(" [SEP] ")
    if task not in parts:
        return observation
    return " [SEP] ".join(f"'{part}'" for part in parts[parts.index(task) + 1 :])


_SOKOBAN_CELLS = {"#": " # \t", "_": " _ \t", "O": " O \t", "*": " √ \t", "X": " X \t", "P": " P \t", "+": " S \t"}


def sokoban_observation(observation: str) -> str:
    r"""gym-sokoban's ``tiny_rgb_array`` text of the board in an anchorgym Sokoban observation.

    >>> sokoban_observation("#P*#\nLegend: ...")
    ' # \t P \t √ \t # \t'
    """
    rows = []
    for line in observation.split("\n"):
        if not line or any(cell not in _SOKOBAN_CELLS for cell in line):
            break
        rows.append("".join(_SOKOBAN_CELLS[cell] for cell in line))
    return "\n".join(rows)


def sokoban_history_action(action: str) -> str:
    """How verl-agent's memory writes a Sokoban action (``ACTION_LOOKUP``: ``Up``, ``Still``...)."""
    return action.capitalize()


def _quoted_admissible(actions: Sequence[str] | None) -> str:
    return "\n ".join(f"'{a}'" for a in actions or () if a != "help")


def _webshop_admissible(actions: Sequence[str] | None) -> str:
    listed = list(actions or ())
    # WebShop lists the search page's button among its clickables, so verl-agent shows click[search] after
    # the search bar; anchorgym's admissible actions leave the button out (searching is search[...]).
    if SEARCH_BAR in listed and "click[search]" not in listed:
        listed.insert(listed.index(SEARCH_BAR) + 1, "click[search]")
    return "\n".join(f"'{a}'," for a in listed)


@dataclass(frozen=True)
class VerlAgentTemplate(PromptTemplate):
    """A verl-agent prompt (``first_step``: its ``*_TEMPLATE_NO_HIS``, ``later_steps``: its ``*_TEMPLATE``).

    Attributes:
        env: ``"alfworld"``, ``"webshop"`` or ``"sokoban"``: selects the observation formatting,
            the admissible-action list and the projection.
    """

    env: str = ""

    def messages(self, agent_input: AgentInput, history_length: int = 2) -> list[dict[str, str]]:
        """One user message, as verl-agent's rollout builds it (no system message)."""
        return [{"role": "user", "content": self.render(agent_input, history_length)}]

    def render(self, agent_input: AgentInput, history_length: int = 2) -> str:
        """The prompt text of this step, byte for byte verl-agent's."""
        first = (agent_input.full_history[0][0] if agent_input.full_history else "") or agent_input.observation
        observe, act, fields = _FORMATS[self.env](agent_input, first)
        history = agent_input.history[-history_length:] if history_length > 0 else []
        if agent_input.step == 0 or not history:
            return self.first_step.format(current_observation=observe(agent_input.observation), **fields)
        start = agent_input.step - len(history)
        lines = "\n".join(
            self.history_step.format(index=start + i + 1, observation=observe(obs), action=act(action))
            for i, (obs, action) in enumerate(history)
        )
        text = self.later_steps.format(
            step_count=agent_input.step,
            history_length=len(history),
            action_history=lines,
            current_step=agent_input.step + 1,
            current_observation=observe(agent_input.observation),
            **fields,
        )
        if self.env == "webshop" and len(text) > WEBSHOP_MAX_PROMPT:
            return self.first_step.format(current_observation=observe(agent_input.observation), **fields)
        return text

    def project(self, text: str, agent_input: AgentInput | None = None) -> ParsedAction:
        """The env action and validity flag verl-agent's projection gives ``text``."""
        if self.env == "sokoban":
            return project_sokoban(text)
        return project_text(text, ALFWORLD_TAIL if self.env == "alfworld" else WEBSHOP_TAIL)


Formatter = Callable[[str], str]


def _same(text: str) -> str:
    return text


def _alfworld(agent_input: AgentInput, first: str) -> tuple[Formatter, Formatter, dict[str, str]]:
    admissible = _quoted_admissible(agent_input.admissible_actions)
    return _same, _same, {"task_description": alfworld_task(first), "admissible_actions": admissible}


def _webshop(agent_input: AgentInput, first: str) -> tuple[Formatter, Formatter, dict[str, str]]:
    task = webshop_task(first)
    fields = {"task_description": task, "available_actions": _webshop_admissible(agent_input.admissible_actions)}
    return (lambda obs: webshop_observation(obs, task)), _same, fields


def _sokoban(agent_input: AgentInput, first: str) -> tuple[Formatter, Formatter, dict[str, str]]:
    return sokoban_observation, sokoban_history_action, {}


_FORMATS = {"alfworld": _alfworld, "webshop": _webshop, "sokoban": _sokoban}
