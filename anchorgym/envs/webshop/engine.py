"""The shop engine shared by the text environment and the web site.

It holds the catalogue, the goals, the search back end and the page templates;
it renders any :class:`~anchorgym.envs.webshop.state.PageState` to HTML and
computes the next state for a clicked element. It does no HTTP: the Flask site
(:mod:`.site`) and the text env both drive it.

Two page sets: ``pages="webshop"`` (``templates/``) shows WebShop's text-env
pages text for text; ``pages="anchorgym-v0"`` (``templates/anchorgym-v0/``) the
pages of ``anchorgym/WebShop-v0``. Two scores: ``reward="webshop"``
(:mod:`.reward`) and ``reward="anchorgym-v0"`` (:mod:`.reward_legacy`).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from anchorgym.envs.webshop import data as webshop_data
from anchorgym.envs.webshop.goals import build_goals
from anchorgym.envs.webshop.html_text import PAGES, radio_name
from anchorgym.envs.webshop.reward import RewardBreakdown, get_reward
from anchorgym.envs.webshop.reward_legacy import get_reward_legacy
from anchorgym.envs.webshop.search import RESULTS_CUTOFF, make_search
from anchorgym.envs.webshop.state import (
    DONE,
    ITEM,
    RESULTS,
    RESULTS_PER_PAGE,
    SEARCH,
    SUB_PAGE,
    SUB_PAGES,
    PageState,
    state_url,
)
from anchorgym.errors import unknown

TEMPLATES = Path(__file__).with_name("templates")
REWARDS = {"webshop": get_reward, "anchorgym-v0": get_reward_legacy}
ROUTINGS = ("state", "webshop-url")
# WebShop's SimServer.get_page_name: the first of these names found anywhere in the current URL.
WEBSHOP_PAGE_NAMES = ("search_results", "item_page", "item_sub_page", "done")


def webshop_page_name(state: PageState) -> str:
    """Return the page name WebShop's text env reads from the URL it would show for ``state``.

    WebShop routes ``< Prev`` by a substring test on its URL, which holds the query (words joined by ``+``),
    so a query can change the route: after the query ``item_page shoes`` a sub-page's URL contains
    ``item_page`` and reads as an item page.

    >>> webshop_page_name(PageState(SUB_PAGE, "item_page shoes", 1, "B01", (), "Features"))
    'item_page'
    >>> webshop_page_name(PageState(SUB_PAGE, "shoes", 1, "B01", (), "Features"))
    'item_sub_page'
    """
    keywords = "+".join(state.query.split(" "))
    chosen = dict(state.options)
    paths = {  # WebShop writes the options as JSON on item pages, as a Python dict elsewhere
        SEARCH: "",
        RESULTS: f"search_results/{keywords}/{state.page}",
        ITEM: f"item_page/{state.asin}/{keywords}/{state.page}/{json.dumps(chosen)}",
        SUB_PAGE: f"item_sub_page/{state.asin}/{keywords}/{state.page}/{state.sub_page}/{chosen}",
        DONE: f"done/{state.asin}/{chosen}",
    }
    url = paths[state.kind]
    return next((name for name in WEBSHOP_PAGE_NAMES if name in url), "")


@lru_cache(maxsize=4)
def _catalogue(data_dir: str | None, search: str) -> tuple[Any, list[dict], dict[str, float], Any, dict]:
    """Load data, goals and search once per process: ``(data, goals, prices, search engine, results cache)``."""
    data = webshop_data.load(data_dir)
    goals, prices = build_goals(data.products)
    return data, goals, prices, make_search(search, data.products), {}


class WebShopEngine:
    """Catalogue, goals, search and page rendering.

    Args:
        data_dir: the WebShop data folder (see :func:`anchorgym.envs.webshop.data.locate`).
        search: ``"bm25s"`` or ``"lucene"``.
        show_attributes: show the Attributes sub-page button (WebShop's text env hides it).
        pages: ``"webshop"`` (WebShop's pages) or ``"anchorgym-v0"``.
        reward: ``"webshop"`` (WebShop's score) or ``"anchorgym-v0"``.
        routing: where ``< Prev`` leads: ``"state"`` (by the page's kind, WebShop-v0/v1) or
            ``"webshop-url"`` (WebShop's own rule, by a substring of its URL, see :func:`webshop_page_name`).

    Raises:
        UnknownNameError: an unknown ``pages``, ``reward`` or ``routing``.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        search: str = "bm25s",
        show_attributes: bool = False,
        pages: str = "webshop",
        reward: str = "webshop",
        routing: str = "state",
    ):
        import jinja2

        if pages not in PAGES:
            raise unknown("WebShop pages", pages, PAGES)
        if reward not in REWARDS:
            raise unknown("WebShop reward", reward, tuple(REWARDS))
        if routing not in ROUTINGS:
            raise unknown("WebShop routing", routing, ROUTINGS)
        self.routing = routing
        source = None if data_dir is None else str(data_dir)
        self.data, self.goals, self.prices, self.search_engine, self._results = _catalogue(source, search)
        self.show_attributes, self.pages, self.reward = show_attributes, pages, reward
        folder = TEMPLATES / pages if pages != "webshop" else TEMPLATES
        self._jinja = jinja2.Environment(loader=jinja2.FileSystemLoader(folder), autoescape=True)

    # ----------------------------------------------------------- queries
    def results(self, query: str) -> list[str]:
        """Return the (cached) top asins for ``query``."""
        if self.routing == "webshop-url":
            listed = self._listing(query)
            if listed is not None:
                return listed
        if query not in self._results:
            self._results[query] = self.search_engine.search(query, RESULTS_CUTOFF)
        return self._results[query]

    def _listing(self, query: str) -> list[str] | None:
        """WebShop's keyword commands (``get_top_n_product_from_keywords``), or None for a plain search.

        A first keyword (the query split on single spaces) ``<c>`` lists every product of the category named by
        the second, ``<q>`` every product scraped for the query in the rest, in catalogue order and without the
        top-50 cut. (``<r>``, an unseeded random sample, and ``<a>``, which fails in WebShop's text env, are
        searched as text; see the README.)
        """
        keywords = query.split(" ")
        if keywords[0] == "<c>" and len(keywords) > 1:
            category = keywords[1].strip()
            return [p["asin"] for p in self.data.products if p["category"] == category]
        if keywords[0] == "<q>":
            wanted = " ".join(keywords[1:]).strip()
            return [p["asin"] for p in self.data.products if p["query"] == wanted]
        return None

    def num_pages(self, query: str) -> int:
        """Return how many results pages ``query`` has."""
        return max(1, math.ceil(len(self.results(query)) / RESULTS_PER_PAGE))

    def product(self, asin: str) -> dict[str, Any]:
        """Return the product with ``asin``."""
        return self.data.by_asin[asin]

    def option_choice(self, asin: str, element: str) -> tuple[str, str]:
        """Return the ``(option, value)`` whose clickable name is ``element`` (the last, as WebShop's dict does)."""
        options = self.product(asin)["options"].items()
        pairs = [(n, v) for n, vs in options for v in vs if radio_name(v, self.pages) == element]
        if not pairs:
            raise KeyError(f"{asin} offers no option {element!r}")
        return pairs[-1]

    def buy(self, state: PageState, goal: dict[str, Any]) -> RewardBreakdown:
        """Score buying ``state``'s item with its chosen options for ``goal``."""
        product = self.product(state.asin)
        return REWARDS[self.reward](product, goal, self.prices[state.asin], dict(state.options))

    # -------------------------------------------------------- transitions
    def click(self, state: PageState, element: str) -> PageState:
        """Return the state after clicking ``element`` (a clickable of ``state``'s page)."""
        if element == "back to search":
            return PageState(SEARCH)
        if element == "< prev":
            return self._previous(state)
        if element == "next >":
            return replace(state, page=state.page + 1)
        if state.kind == RESULTS:
            asin = next(a for a in self.results(state.query) if a.lower() == element)
            return PageState(ITEM, state.query, state.page, asin)
        if element == "buy now":
            return replace(state, kind=DONE)
        sub = next((s for s in SUB_PAGES if s.lower() == element), None)
        if sub is not None:
            return replace(state, kind=SUB_PAGE, sub_page=sub)
        return state.with_option(*self.option_choice(state.asin, element))

    def _previous(self, state: PageState) -> PageState:
        kind = state.kind
        if self.routing == "webshop-url":
            kind = {"search_results": RESULTS, "item_page": ITEM, "item_sub_page": SUB_PAGE}.get(
                webshop_page_name(state), kind
            )
        if kind == RESULTS:  # WebShop: the session's page - 1, from wherever the URL reads as results
            return PageState(RESULTS, state.query, state.page - 1)
        if kind == ITEM:
            return PageState(RESULTS, state.query, state.page)
        return replace(state, kind=ITEM, sub_page="")

    # ---------------------------------------------------------- rendering
    def render(self, state: PageState, instruction: str, session: str, score: float | None = None) -> str:
        """Render ``state``'s page as HTML (``score`` is shown on the done page)."""
        context: dict[str, Any] = {"state": state, "instruction": instruction, "session": session}
        if state.kind == SEARCH:
            return self._jinja.get_template("search_page.html").render(context)
        if state.kind == RESULTS:
            return self._jinja.get_template("results_page.html").render(context | self._results_context(state, session))
        context["product"] = self.product(state.asin)
        if state.kind == DONE:
            return self._jinja.get_template("done_page.html").render(context | {"score": score})
        context["back_url"] = state_url(session, self._previous(state))
        if state.kind == SUB_PAGE:
            return self._jinja.get_template("sub_page.html").render(context)
        return self._jinja.get_template("item_page.html").render(context | self._item_context(state, session))

    def _results_context(self, state: PageState, session: str) -> dict[str, Any]:
        asins = self.results(state.query)
        start = (state.page - 1) * RESULTS_PER_PAGE
        items = [
            {
                "asin": asin,
                "title": self.product(asin)["Title"],
                "price": self.product(asin)["Price"],
                "url": state_url(session, PageState(ITEM, state.query, state.page, asin)),
            }
            for asin in asins[start : start + RESULTS_PER_PAGE]
        ]
        prev_url = state_url(session, replace(state, page=state.page - 1)) if state.page > 1 else None
        has_next = self.pages == "webshop" or state.page < self.num_pages(state.query)  # WebShop: on every page
        next_url = state_url(session, replace(state, page=state.page + 1)) if has_next else None
        return {"items": items, "total": len(asins), "prev_url": prev_url, "next_url": next_url}

    def _item_context(self, state: PageState, session: str) -> dict[str, Any]:
        chosen = dict(state.options)
        options = [
            {
                "name": name,
                "index": index,
                "choices": [
                    {
                        "value": v,
                        "checked": chosen.get(name) == v,
                        "url": state_url(session, state.with_option(name, v)),
                    }
                    for v in values
                ],
            }
            for index, (name, values) in enumerate(self.product(state.asin)["options"].items())
        ]
        subs = SUB_PAGES if self.show_attributes else SUB_PAGES[:3]
        sub_pages = [{"name": s, "url": state_url(session, replace(state, kind=SUB_PAGE, sub_page=s))} for s in subs]
        return {"options": options, "sub_pages": sub_pages, "buy_url": state_url(session, replace(state, kind=DONE))}


@lru_cache(maxsize=8)
def shared_engine(
    data_dir: str | None = None,
    search: str = "bm25s",
    show_attributes: bool = False,
    pages: str = "webshop",
    reward: str = "webshop",
    routing: str = "state",
) -> WebShopEngine:
    """Return one engine per configuration and process (envs in a process share it)."""
    return WebShopEngine(data_dir, search, show_attributes, pages, reward, routing)
