r"""Parsing and checking WebShop actions: ``search[query]`` and ``click[element]``.

Two parsers: ``actions="webshop"`` (WebShop-v2) is WebShop's own ``parse_action``
(``re.match(r"(.+)\[(.+)\]", action)``: greedy, anchored at the start only, one
line); ``actions="anchorgym"`` (WebShop-v0/v1) is the earlier, more lenient one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from anchorgym.envs.webshop.html_text import PageText
from anchorgym.errors import suggest

ACTION = re.compile(r"^\s*(search|click)\s*\[(.*)\]\s*$", re.IGNORECASE | re.DOTALL)
# WebShop's parse_action pattern, used with re.match: the name runs to the *last* "[" that a "]" follows, the
# argument to the last "]"; text after it is ignored, and "." stops at a newline.
WEBSHOP_ACTION = re.compile(r"(.+)\[(.+)\]")
SEARCH_PLACEHOLDER = "search[<your query>]"
ACTION_PARSERS = ("anchorgym", "webshop")


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
    """Return the admissible actions of a page: the search placeholder first (with a search bar), then the clicks.

    ``click[search]`` is left out: WebShop lists ``search`` as clickable but ignores clicking it.
    """
    clicks = [f"click[{c}]" for c in page.clickables if c != "search"]
    return ([SEARCH_PLACEHOLDER] if page.has_search_bar else []) + clicks


def check(action: str, page: PageText, pages: str = "webshop") -> Checked:
    """Parse ``action`` and check it against ``page``.

    As in WebShop, a click's argument is lower-cased and must then equal a clickable name
    exactly (whitespace included), ``click[search]`` is no action, and ``search[...]`` works
    from any page. The action name is case-insensitive. With ``pages="anchorgym-v0"`` a
    click's whitespace is collapsed first and a search needs the search bar (WebShop-v0).

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
    name, argument = match.group(1).lower(), match.group(2).lower()
    if name == "search" or pages == "anchorgym-v0":
        argument = " ".join(argument.split())
    if name == "search":
        if not argument:
            return Checked(reason="search[] needs a query, e.g. search[red ceramic mug].")
        if pages == "anchorgym-v0" and not page.has_search_bar:
            return Checked(reason="This page has no search bar; click[back to search] first.")
        return Checked(name, argument)
    clickables = [c for c in page.clickables if c != "search"]
    if argument not in clickables:
        listed = ", ".join(clickables) or "(nothing)"
        hint = suggest(argument, clickables)
        return Checked(reason=f"{argument!r} is not clickable on this page.{hint} Clickable: {listed}.")
    return Checked(name, argument)


def check_webshop(action: str, page: PageText) -> Checked:
    """Parse ``action`` as WebShop's text env does and check it against ``page``.

    WebShop's ``step``: ``parse_action`` (see :data:`WEBSHOP_ACTION`), the argument lower-cased; ``search`` with
    any argument searches from any page; ``click`` needs the argument among the page's clickables and not
    ``search``; anything else does nothing. The name is case-sensitive and must be exactly ``search`` or
    ``click``. So ``search[abc]xyz`` searches ``abc``, and ``search[size [large]]`` does nothing (the name is
    ``search[size ``).

    >>> from anchorgym.envs.webshop.html_text import PageText
    >>> page = PageText("", ("buy now",), has_search_bar=False)
    >>> check_webshop("search[Red Mug]!", page).canonical
    'search[red mug]'
    >>> check_webshop("search[size [large]]", page).reason
    "WebShop reads the action name 'search[size ', not search or click: it does nothing."
    """
    match = WEBSHOP_ACTION.match(action)
    if match is None:
        return Checked(
            reason=f"WebShop needs name[argument] on one line, got {action.strip()[:80]!r}: it does nothing."
        )
    name, argument = match.group(1), match.group(2).lower()
    if name == "search":
        return Checked(name, argument)
    if name != "click":
        return Checked(reason=f"WebShop reads the action name {name[:80]!r}, not search or click: it does nothing.")
    clickables = [c for c in page.clickables if c != "search"]
    if argument not in clickables:
        listed = ", ".join(clickables) or "(nothing)"
        hint = suggest(argument, clickables)
        return Checked(reason=f"{argument!r} is not clickable on this page.{hint} Clickable: {listed}.")
    return Checked(name, argument)
