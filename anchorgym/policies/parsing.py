"""Turn raw model text into an env action.

An output is *parsed* when it holds a complete, well-formed answer tag whose
content is admissible. Otherwise the output is marked invalid (``parsed=False``)
and its action is the best text available, which the env then rejects as a
no-op step (``action_valid=False``): an invalid answer never crashes an episode.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from anchorgym.policies.prompting import extract_tag

REPAIR_CUTOFF = 0.6
"""difflib similarity an answer needs to be repaired to an admissible action."""
BARE_TAGS = frozenset({"action"})
"""Answer tags whose content alone is the env action; other tags stay around their content."""
_NESTED_TAG = re.compile(r"</?[A-Za-z_]+>")


@dataclass(frozen=True)
class ParsedAction:
    """The result of parsing one model output.

    Attributes:
        action: what is sent to ``env.step``.
        parsed: whether a valid, admissible action was found.
        reason: ``""`` when parsed, else ``"missing"``, ``"malformed"`` or ``"not_admissible"``.
        repaired: the action was snapped to the closest admissible one.
    """

    action: str
    parsed: bool
    reason: str = ""
    repaired: bool = False


def parse_action(
    text: str, tags: Sequence[str], admissible: Sequence[str] | None = None, repair: bool = False
) -> ParsedAction:
    """Extract the answer from ``text`` and check it against ``admissible``.

    The generic ``<action>`` tag is stripped (``"go north"``). Domain tags are kept
    (tool-QA's ``"<search>capital of France</search>"``, AppWorld's ``"<code>...</code>"``):
    those envs read the tag to know what kind of action it is.

    Args:
        text: the raw model output.
        tags: the template's answer tags.
        admissible: the valid actions, or None for an open action space.
        repair: snap a non-admissible answer to the closest admissible action (off by default).

    >>> parse_action("<think>hmm</think><action>go north</action>", ["action"], ["go north", "look"])
    ParsedAction(action='go north', parsed=True, reason='', repaired=False)
    >>> parse_action("<action>go nort</action>", ["action"], ["go north", "look"]).reason
    'not_admissible'
    >>> parse_action("go north", ["action"]).reason
    'missing'
    """
    found = extract_tag(text, tags)
    if found is None:
        return ParsedAction(text.strip(), False, "missing")
    tag, content = found
    if not content or _NESTED_TAG.search(content):
        return ParsedAction(content, False, "malformed")
    action = content if tag in BARE_TAGS else f"<{tag}>{content}</{tag}>"
    if admissible is None:
        return ParsedAction(action, True)
    return _check_admissible(action, admissible, repair)


def _check_admissible(action: str, admissible: Sequence[str], repair: bool) -> ParsedAction:
    if action in admissible:
        return ParsedAction(action, True)
    spaced = " ".join(action.split())
    for candidate in admissible:  # runs of whitespace are not errors of substance
        if " ".join(candidate.split()) == spaced:
            return ParsedAction(candidate, True)
    if repair:
        close = difflib.get_close_matches(action, list(admissible), n=1, cutoff=REPAIR_CUTOFF)
        if close:
            return ParsedAction(close[0], True, repaired=True)
    return ParsedAction(action, False, "not_admissible")


def raw_turn(text: str, tags: Sequence[str]) -> ParsedAction:
    """Pass a whole model turn to an env that reads it itself (a template with ``raw_turns``).

    ``parsed`` only says whether the turn holds a complete tag written exactly (case-sensitive) as
    one of ``tags``; the env decides what the turn means and reports ``action_valid``.

    >>> raw_turn("<think>x</think><search>q</search> more", ["search", "answer"])
    ParsedAction(action='<think>x</think><search>q</search> more', parsed=True, reason='', repaired=False)
    >>> raw_turn("<Answer>Paris</Answer>", ["search", "answer"]).reason
    'missing'
    """
    complete = any(re.search(rf"<{re.escape(tag)}>.*?</{re.escape(tag)}>", text, re.DOTALL) for tag in tags)
    return ParsedAction(text, True) if complete else ParsedAction(text, False, "missing")
