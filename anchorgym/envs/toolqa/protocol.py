"""How a model turn becomes a tool-QA action: Search-R1's rules, and the older anchorgym rules.

``protocol="search-r1"`` follows Search-R1's rollout (``search_r1/llm_agent/generation.py``):

1. The turn is cut after its first ``</search>``, or, when it has none, after its first
   ``</answer>`` (``_postprocess_responses``; with stop sequences at both closing tags the
   text already ends there).
2. The first complete ``<search>...</search>`` or ``<answer>...</answer>`` of what is left is
   the action; its content is stripped (``postprocess_predictions``). Tags are case-sensitive.
3. An empty answer is an answer (it ends the episode and scores 0); an empty search is a search.
4. A turn with no complete tag is invalid: the env shows :data:`INVALID_ACTION_MESSAGE` and the
   episode goes on.

``protocol="legacy"`` is what ``ToolQA-v0`` did before (the ``@v1`` benchmarks): the *last*
complete tag wins, tags are case-insensitive, an empty tag is invalid, and an invalid turn is a
no-op that shows the previous observation again.
"""

from __future__ import annotations

import re

from anchorgym.errors import ConfigError, unknown
from anchorgym.policies.prompting import extract_tag

SEARCH_R1 = "search-r1"
LEGACY = "legacy"
PROTOCOLS = (SEARCH_R1, LEGACY)
TAGS = ("search", "answer")

INVALID_ACTION_MESSAGE = (
    "My previous action is invalid. If I want to search, I should put the query between <search> and "
    "</search>. If I want to give the final answer, I should put the answer between <answer> and </answer>. "
    "Let me try again."
)
"""Search-R1's observation after a turn without a complete tag (its ``\\n`` on both sides dropped)."""

_FIRST_TAG = re.compile(r"<(search|answer)>(.*?)</\1>", re.DOTALL)


def check_protocol(protocol: str) -> str:
    """Return ``protocol`` when it is known.

    Raises:
        ConfigError: an unknown protocol, with the closest known one suggested.
    """
    if not isinstance(protocol, str):
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}.")
    if protocol not in PROTOCOLS:
        raise unknown("tool-QA protocol", protocol, PROTOCOLS)
    return protocol


def cut_turn(text: str) -> str:
    """Cut a turn after its first ``</search>``, else after its first ``</answer>`` (Search-R1's stop).

    >>> cut_turn("<search>a</search> then <answer>b</answer>")
    '<search>a</search>'
    >>> cut_turn("<answer>b</answer><answer>c</answer>")
    '<answer>b</answer>'
    """
    for closing in ("</search>", "</answer>"):
        if closing in text:
            return text.split(closing, 1)[0] + closing
    return text


def parse_search_r1(text: str) -> tuple[str, str] | None:
    """Return ``(tag, stripped content)`` of the action Search-R1 reads from a turn, or None.

    >>> parse_search_r1("<think>x</think><answer> Paris </answer>")
    ('answer', 'Paris')
    >>> parse_search_r1("<search></search>"), parse_search_r1("<Answer>Paris</Answer>")
    (('search', ''), None)
    """
    match = _FIRST_TAG.search(cut_turn(text))
    return None if match is None else (match.group(1), match.group(2).strip())


def parse_legacy(text: str) -> tuple[str, str] | None:
    """Return ``(tag, content)`` of the last complete non-empty tag, any case (the ``@v1`` rules), or None.

    >>> parse_legacy("<search>a</search><ANSWER>b</ANSWER>"), parse_legacy("<answer> </answer>")
    (('answer', 'b'), None)
    """
    found = extract_tag(text, TAGS)
    return found if found is not None and found[1] else None


def parse_turn(text: str, protocol: str) -> tuple[str, str] | None:
    """Return ``(tag, content)`` of the action in a model turn under ``protocol``, or None when invalid."""
    return parse_search_r1(text) if protocol == SEARCH_R1 else parse_legacy(text)


def canonical(tag: str, content: str) -> str:
    """Write an action in its canonical form ``<tag>content</tag>``."""
    return f"<{tag}>{content}</{tag}>"


def split_canonical(action: str) -> tuple[str, str]:
    """Split a canonical action back into ``(tag, content)``; the content may itself hold tags.

    >>> split_canonical("<search>q <answer>a</answer></search>")
    ('search', 'q <answer>a</answer>')
    """
    tag = action[1 : action.index(">")]
    return tag, action[len(tag) + 2 : len(action) - len(tag) - 3]
