"""WebShop's synthetic goals, built exactly as WebShop builds them.

Every product that carries a synthetic instruction yields one goal per
combination of its option values (options sorted by name). A goal's price
upper bound is the larger of two values drawn from the four multiples of $10
just above the product's price; its weight is the mean inverse frequency of its
attributes over all goals. The list is then shuffled with seed 233, as
WebShop's text server does, and split: goals ``0..499`` are ``test``, the rest
``train`` (verl-agent's split). On the shared 1,000-product data this gives
6,910 goals: 500 test and 6,410 train.

WebShop's ``SimServer`` draws the prices and price bounds from Python's global
RNG *before* it seeds it (``random.seed(233)`` comes after ``get_goals``, just
before the shuffle), so in WebShop they change from run to run while the goal
order does not. We pin one draw: a private ``random.Random(233)`` draws the
prices, then the bounds, and a fresh ``random.Random(233)`` shuffles (WebShop's
permutation), so the list is identical in every run and process without touching
global state.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

GOAL_SEED = 233
PRICE_RANGE = [10.0 * i for i in range(1, 100)]
NO_PRICE_LIMIT = 1_000_000.0
TEST_GOALS = 500


def product_prices(products: Sequence[dict[str, Any]], rng: random.Random) -> dict[str, float]:
    """Return each product's price: its single price, or a uniform draw within its range."""
    prices = {}
    for product in products:
        pricing = product["pricing"]
        prices[product["asin"]] = pricing[0] if len(pricing) == 1 else rng.uniform(*pricing[:2])
    return prices


def price_bound(price: float, rng: random.Random) -> tuple[float, str]:
    """Return WebShop's price upper bound for ``price`` and the instruction suffix naming it."""
    candidates = [p for p in PRICE_RANGE if p > price][:4]
    if len(candidates) < 2:
        return NO_PRICE_LIMIT, ""
    _, upper = sorted(rng.sample(candidates, 2))
    return upper, f", and price lower than {upper:.2f} dollars"


def _product_goals(product: dict[str, Any], price: float, rng: random.Random) -> list[dict[str, Any]]:
    upper, price_text = price_bound(price, rng)
    names = sorted(product["options"])
    goals = []
    for combination in itertools.product(*(product["options"][name] for name in names)):
        options = dict(zip(names, combination, strict=False))
        option_text = ", and ".join(f"{k}: {v}" for k, v in options.items())
        option_text = f" with {option_text}" if option_text else ""
        goals.append(
            {
                "asin": product["asin"],
                "category": product["category"],
                "query": product["query"],
                "name": product["Title"],
                "product_category": product["product_category"],
                "instruction_text": f"{product['instruction_text']}{option_text}{price_text}",
                "attributes": list(product["instruction_attributes"]),
                "price_upper": upper,
                "goal_options": options,
            }
        )
    return goals


def synthetic_goals(
    products: Sequence[dict[str, Any]], prices: dict[str, float], rng: random.Random
) -> list[dict[str, Any]]:
    """Return the unshuffled synthetic goals with their attribute weights."""
    goals: list[dict[str, Any]] = []
    for product in products:
        if product.get("instruction_text") and product.get("instruction_attributes"):
            goals += _product_goals(product, prices[product["asin"]], rng)
    counts: dict[str, int] = defaultdict(int)
    for goal in goals:
        for attribute in goal["attributes"]:
            counts[attribute] += 1
    for goal in goals:
        goal["weight"] = sum(1.0 / counts[a] for a in goal["attributes"]) / len(goal["attributes"])
    return goals


def build_goals(products: Sequence[dict[str, Any]], seed: int = GOAL_SEED) -> tuple[list[dict], dict[str, float]]:
    """Return the shuffled goal list and the product prices used to score purchases.

    Args:
        products: processed products (see :func:`anchorgym.envs.webshop.data.load`).
        seed: the RNG seed; WebShop's is 233.
    """
    rng = random.Random(seed)
    prices = product_prices(products, rng)
    goals = synthetic_goals(products, prices, rng)
    random.Random(seed).shuffle(goals)
    return goals, prices


def split_indices(num_goals: int, split: str) -> range:
    """Return the goal indices of ``split`` (``test``: the first 500, ``train``: the rest).

    >>> split_indices(6910, "test")
    range(0, 500)
    >>> len(split_indices(6910, "train"))
    6410
    """
    if split == "test":
        return range(min(TEST_GOALS, num_goals))
    if split == "train":
        return range(min(TEST_GOALS, num_goals), num_goals)
    from anchorgym.errors import unknown

    raise unknown("WebShop split", split, ("train", "test"))
