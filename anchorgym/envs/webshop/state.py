"""Page states of the shop and the site URLs that encode them.

A :class:`PageState` is everything that decides what page the shopper sees:
its kind, the query, the results page number, the item and its chosen options,
the item sub-page. The text environment keeps one in memory; the web site
carries it in the URL, so both front ends share one state machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, quote, urlencode, urlsplit

SEARCH, RESULTS, ITEM, SUB_PAGE, DONE = "search", "results", "item", "sub_page", "done"
SUB_PAGES = ("Description", "Features", "Reviews", "Attributes")
RESULTS_PER_PAGE = 10


@dataclass(frozen=True)
class PageState:
    """The shopper's current page.

    Attributes:
        kind: ``search``, ``results``, ``item``, ``sub_page`` or ``done``.
        query: the last search query.
        page: the results page number (1-based).
        asin: the item shown (item, sub-page and done pages).
        options: the chosen options as sorted ``(name, value)`` pairs.
        sub_page: ``Description``, ``Features``, ``Reviews`` or ``Attributes``.
    """

    kind: str = SEARCH
    query: str = ""
    page: int = 1
    asin: str = ""
    options: tuple[tuple[str, str], ...] = ()
    sub_page: str = ""

    def with_option(self, name: str, value: str) -> PageState:
        """Return this state with option ``name`` set to ``value``."""
        chosen = dict(self.options)
        chosen[name] = value
        return replace(self, options=tuple(sorted(chosen.items())))

    def anchor(self) -> dict[str, object]:
        """Return the state as a JSON-able dict (the env's anchor state)."""
        return {
            "kind": self.kind,
            "query": self.query,
            "page": self.page,
            "asin": self.asin,
            "options": [list(pair) for pair in self.options],
            "sub_page": self.sub_page,
        }


def state_url(session: str, state: PageState) -> str:
    """Return the site path showing ``state`` in ``session``.

    >>> state_url("s1", PageState(RESULTS, query="red mug", page=2))
    '/s1/search?q=red+mug&page=2'
    """
    base = f"/{quote(session)}"
    params = {"q": state.query, "page": state.page}
    if state.kind in (ITEM, SUB_PAGE, DONE):
        params["options"] = json.dumps(dict(state.options), sort_keys=True)
    if state.kind == SEARCH:
        return base
    if state.kind == RESULTS:
        return f"{base}/search?{urlencode(params)}"
    if state.kind == ITEM:
        return f"{base}/item/{quote(state.asin)}?{urlencode(params)}"
    if state.kind == SUB_PAGE:
        return f"{base}/item/{quote(state.asin)}/{state.sub_page}?{urlencode(params)}"
    return f"{base}/buy/{quote(state.asin)}?{urlencode(params)}"


def url_state(url: str) -> PageState:
    """Return the page state a site URL shows (the inverse of :func:`state_url`).

    Raises:
        ValueError: the page number or the options in the URL are malformed.

    >>> url_state("http://127.0.0.1:5000/s1/item/B01?q=mug&page=1&options=%7B%22size%22%3A+%22l%22%7D")
    PageState(kind='item', query='mug', page=1, asin='B01', options=(('size', 'l'),), sub_page='')
    """
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s][1:]
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query, page = params.get("q", ""), int(params.get("page", 1))
    chosen = json.loads(params.get("options", "{}"))
    if not isinstance(chosen, dict) or not all(isinstance(v, str) for v in chosen.values()):
        raise ValueError(f"options must be a JSON object of strings, got {params['options']!r}")
    options = tuple(sorted(chosen.items()))
    if not segments:
        return PageState()
    if segments[0] == "search":
        return PageState(RESULTS, query, page)
    if segments[0] == "item" and len(segments) == 2:
        return PageState(ITEM, query, page, segments[1], options)
    if segments[0] == "item":
        return PageState(SUB_PAGE, query, page, segments[1], options, segments[2])
    return PageState(DONE, query, page, segments[1], options)
