"""Parsing and checking WebShop actions: ``search[query]`` and ``click[element]``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from anchorgym.envs.webshop.html_text import PageText
from anchorgym.errors import suggest

ACTION = re.compile(r"^\s*(search|click)\s*\[(.*)\]\s*$", re.IGNORECASE | re.DOTALL)
SEARCH_PLACEHOLDER = "search[<your query>]"


@dataclass(frozen=True)
class Checked:
    """An action checked against the current page: its canonical form, or why it is invalid."""

    name: str = ""
    argument: str = ""
    reason: str = ""

    @property
    def canonical(self) -> str | None:
        """``name[argument]`` for a valid action, else None."""
        return None if self.reason else f"{self.name}[{self.argument}]"


def admissible(page: PageText) -> list[str]:
    """Return the admissible actions of a page (the search placeholder first, when it has a search bar)."""
    return ([SEARCH_PLACEHOLDER] if page.has_search_bar else []) + [f"click[{c}]" for c in page.clickables]


def check(action: str, page: PageText) -> Checked:
    """Parse ``action`` and check it against ``page``.

    >>> from anchorgym.envs.webshop.html_text import PageText
    >>> page = PageText("", ("buy now",), has_search_bar=False)
    >>> check("Click[Buy Now]", page).canonical
    'click[buy now]'
    >>> check("click[bye now]", page).reason
    "'bye now' is not clickable on this page. Did you mean 'buy now'? Clickable: buy now."
    """
    match = ACTION.match(action)
    if match is None:
        return Checked(reason=f"Actions are search[query] or click[element], got {action.strip()[:80]!r}.")
    name, argument = match.group(1).lower(), " ".join(match.group(2).lower().split())
    if name == "search":
        if not argument:
            return Checked(reason="search[] needs a query, e.g. search[red ceramic mug].")
        if not page.has_search_bar:
            return Checked(reason="This page has no search bar; click[back to search] first.")
        return Checked(name, argument)
    if argument not in page.clickables:
        listed = ", ".join(page.clickables) or "(nothing)"
        hint = suggest(argument, page.clickables)
        return Checked(reason=f"{argument!r} is not clickable on this page.{hint} Clickable: {listed}.")
    return Checked(name, argument)
