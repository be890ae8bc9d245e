"""The tool-QA anchor state: what the agent knows.

Two steps share an anchor when they answer the same question having retrieved
the same set of passages, whatever order the searches came in and whatever
words the queries used. Passage ids stand in for the text, so the anchor is
small and independent of how passages are rendered.
"""

from __future__ import annotations

from collections.abc import Iterable


def anchor_state(question: str, retrieved_ids: Iterable[str]) -> dict[str, object]:
    """Return the canonical state: the question and the order-free set of retrieved passage ids.

    >>> from anchorgym.envs.anchors import canonical_bytes
    >>> canonical_bytes(anchor_state("Q?", ["b", "a", "b"]))
    b'{"question":"Q?","retrieved":["a","b"]}'
    """
    return {"question": question, "retrieved": frozenset(retrieved_ids)}
