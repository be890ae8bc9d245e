"""WebShop's anchor state: the page's identity and state, never its text.

Two steps share an anchor when they act from the same page of the same goal:
the page kind, the search query, the results page number, the item asin, the
chosen options and the sub-page. The rendered text (which also depends on the
search engine's ranking) is not part of it.
"""

from __future__ import annotations

from typing import Any

from anchorgym.envs.webshop.state import PageState


def webshop_anchor_state(task_id: str, state: PageState) -> dict[str, Any]:
    """Return the canonical anchor state of goal ``task_id`` on page ``state``.

    >>> webshop_anchor_state("3", PageState("results", "red mug", 2))
    {'goal': '3', 'kind': 'results', 'query': 'red mug', 'page': 2, 'asin': '', 'options': [], 'sub_page': ''}
    """
    return {"goal": task_id, **state.anchor()}
