"""The purchase score of ``anchorgym/WebShop-v0`` (``reward="anchorgym-v0"``), kept so old results replay.

It is not WebShop's published score (:mod:`.reward` is). It followed the option
matching of WebShop's later ``v2`` branch ("Finer matching for options"), which
no published WebShop or GiGPO number used:

* options are counted per *chosen* option: a ``size`` must equal a goal option
  value, any other option needs a token-set ratio above 85 with one; else a
  chosen value found in the title, features or description still counts;
  goal options are compared by value (never as ``(name, value)`` pairs);
* ratios come from ``rapidfuzz`` with its default processor and are compared
  unrounded (``thefuzz`` rounds, and drops characters 128-255 first);
* the score is capped at 1 (per-chosen-option counting can pass it).

Attributes, price and ``r_type`` are as in :mod:`.reward`, apart from the ratios.
"""

from __future__ import annotations

from typing import Any

from anchorgym.envs.webshop.reward import (
    FUZZY_THRESHOLD,
    RewardBreakdown,
    attribute_matches,
    in_product_text,
    normalize_color,
    type_reward,
)

EXACT_MATCH_OPTIONS = ("size",)


def legacy_ratio(a: str, b: str) -> float:
    """Token-set ratio by rapidfuzz (lower-cased, punctuation as spaces; unrounded).

    >>> legacy_ratio("Machine Washable", "washable machine")
    100.0
    """
    from rapidfuzz import fuzz, utils

    return fuzz.token_set_ratio(a, b, processor=utils.default_process)


def legacy_attribute_matches(product: dict[str, Any], goal_attributes: list[str]) -> int:
    """Count goal attributes found among the product's attributes (rapidfuzz) or in its text."""
    return attribute_matches(product, goal_attributes, ratio=legacy_ratio)


def legacy_option_matches(product: dict[str, Any], goal_values: list[str], chosen: dict[str, str]) -> int:
    """Count *chosen* options matching a goal option value (exact for ``size``), or found in the product text.

    >>> blank = {"Title": "", "BulletPoints": [], "Description": ""}
    >>> legacy_option_matches(blank, ["black2070"], {"color": "black2070"})
    1
    """
    wanted = [normalize_color(value) for value in goal_values]
    count = 0
    for name, value in chosen.items():
        value = normalize_color(value)
        if name.lower() in EXACT_MATCH_OPTIONS:
            matched = value in wanted
        else:
            matched = any(legacy_ratio(goal, value) > FUZZY_THRESHOLD for goal in wanted)
        count += matched or in_product_text(value, product)
    return count


def get_reward_legacy(
    product: dict[str, Any], goal: dict[str, Any], price: float, options: dict[str, str]
) -> RewardBreakdown:
    """Score a purchase as ``anchorgym/WebShop-v0`` did."""
    r_type, query_match, category_match, title_score = type_reward(product, goal)
    r_price = price <= goal["price_upper"]
    n_att = legacy_attribute_matches(product, goal["attributes"])
    goal_values = list(goal["goal_options"].values())
    n_opt = legacy_option_matches(product, goal_values, options)
    total = (n_att + n_opt + r_price) / (len(goal["attributes"]) + len(goal_values) + 1)
    return RewardBreakdown(
        score=min(1.0, total * r_type),
        r_type=r_type,
        r_att=n_att / len(goal["attributes"]),
        r_option=n_opt / len(goal_values) if goal_values else None,
        r_price=bool(r_price),
        query_match=query_match,
        category_match=category_match,
        title_score=title_score,
    )
