"""A scripted WebShop expert that buys the goal's product with the goal's options.

It searches the instruction text; on the results pages it opens the target
product when it is listed and otherwise pages on; when the results run out it
goes back and searches the product's title instead. On the item page it picks
each goal option, then buys. From sub-pages or a wrong item it goes back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from anchorgym.envs.webshop.html_text import normalize, radio_name
from anchorgym.envs.webshop.state import ITEM, RESULTS, SEARCH, SUB_PAGE

if TYPE_CHECKING:
    from anchorgym.envs.webshop.env import WebShopEnv


def expert_queries(goal: dict) -> list[str]:
    """Return the queries the expert tries, in order: the instruction, then the product title."""
    return [normalize(goal["instruction_text"]), normalize(goal["name"])]


def _results_action(env: WebShopEnv) -> str:
    target = env.goal["asin"].lower()
    clickables = env.page.clickables
    if target in clickables:
        return f"click[{target}]"
    state = env.front.state
    if "next >" in clickables and state.page < env.engine.num_pages(state.query):  # WebShop shows it on the last too
        return "click[next >]"
    return "click[back to search]"


def _item_action(env: WebShopEnv) -> str:
    state = env.front.state
    if state.asin != env.goal["asin"]:
        return "click[< prev]"
    chosen = dict(state.options)
    for name, value in sorted(env.goal["goal_options"].items()):
        if chosen.get(name) != value:
            return f"click[{radio_name(value, env.engine.pages)}]"
    return "click[buy now]"


def expert_action(env: WebShopEnv) -> str:
    """Return the expert's next action for ``env``'s current page."""
    kind = env.front.state.kind
    if kind == SEARCH:
        queries = expert_queries(env.goal)
        return f"search[{queries[min(len(env.searches), len(queries) - 1)]}]"
    if kind == RESULTS:
        return _results_action(env)
    if kind == ITEM:
        return _item_action(env)
    if kind == SUB_PAGE:
        return "click[< prev]"
    return "click[buy now]"  # done page: any action is a no-op
