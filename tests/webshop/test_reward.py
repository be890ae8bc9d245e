"""WebShop's purchase score on hand-worked cases (nouns from the en_core_web_sm tagger, checked below).

The option rule of WebShop-v1 is pinned in test_fidelity.py; the ``legacy_`` cases pin WebShop-v0's.
"""

from __future__ import annotations

import pytest

from anchorgym.envs.webshop.reward import get_reward, normalize_color, title_nouns, type_reward
from anchorgym.envs.webshop.reward_legacy import get_reward_legacy, legacy_option_matches

GOAL_TITLE = "Ceramic Coffee Mug with Handle"  # nouns: coffee, mug, handle


def product(**overrides):
    base = {
        "asin": "B1", "name": GOAL_TITLE, "Title": GOAL_TITLE, "query": "coffee mugs",
        "product_category": "Home & Kitchen › Kitchen & Dining › Mugs", "Attributes": ["dishwasher safe", "ceramic"],
        "BulletPoints": ["Microwave safe"], "Description": "A large 12 oz mug.", "options": {},
    }  # fmt: skip
    return base | overrides


def goal(**overrides):
    base = {
        "asin": "B1", "name": GOAL_TITLE, "query": "coffee mugs",
        "product_category": "Home & Kitchen › Kitchen & Dining › Mugs",
        "attributes": ["dishwasher safe", "microwave safe"], "goal_options": {"color": "navy blue", "size": "12 oz"},
        "price_upper": 20.0,
    }  # fmt: skip
    return base | overrides


def test_tagger_nouns_used_by_these_cases():
    assert title_nouns(GOAL_TITLE) == ("coffee", "mug", "handle")
    assert title_nouns("Stainless Steel Coffee Mug") == ("stainless", "steel", "coffee", "mug")
    assert title_nouns("Wireless Bluetooth Headphones") == ("wireless", "bluetooth", "headphones")


def test_perfect_purchase_scores_one():
    parts = get_reward(product(), goal(), price=15.0, options={"color": "blue", "size": "12 oz"})
    assert parts.score == 1.0
    assert (parts.r_type, parts.r_att, parts.r_option, parts.r_price) == (1.0, 1.0, 1.0, True)


def test_partial_purchase_hand_worked():
    # attributes: "dishwasher safe" fuzzy-matches; "microwave safe" is in the features -> 2 of 2
    # options: colour "red" vs the goal pair "color navy blue": 0; size "16 oz" vs "size 12 oz": 57 -> 0
    # price 25 > 20 -> 0.   total = (2 + 0 + 0) / (2 + 2 + 1) = 0.4; r_type 1 (query match)
    parts = get_reward(product(), goal(), price=25.0, options={"color": "red", "size": "16 oz"})
    assert parts.score == pytest.approx(0.4)
    assert (parts.r_att, parts.r_option, parts.r_price) == (1.0, 0.0, False)


def test_legacy_score_capped_at_one_when_more_options_are_chosen_than_the_goal_has():
    # goal without options; the buyer picks two options that appear in the description: uncapped 5/3
    no_options = goal(goal_options={})
    parts = get_reward_legacy(product(), no_options, price=15.0, options={"size": "12 oz", "style": "large"})
    assert parts.score == 1.0 and parts.r_option is None
    assert get_reward(product(), no_options, price=15.0, options={"size": "12 oz", "style": "large"}).score == 1.0


def test_legacy_option_found_in_product_text_counts():
    # "12 oz" is not the goal size "16 oz", but it appears in the description, so it still counts
    assert legacy_option_matches(product(), ["16 oz"], {"size": "12 oz"}) == 1
    assert legacy_option_matches(product(), ["16 oz"], {"size": "20 oz"}) == 0


def test_legacy_fuzzy_option_match_above_85():
    assert legacy_option_matches(product(), ["matte black finish"], {"color": "black matte finish"}) == 1
    assert legacy_option_matches(product(), ["pink"], {"color": "bright pink"}) == 1  # both normalise to "pink"


def test_type_reward_branches():
    other = "Stainless Steel Coffee Mug"  # shares coffee, mug: 2/3 of the goal's nouns
    assert type_reward(product(name=other, query="x", product_category="A › B"), goal()) == (1.0, False, False, 2 / 3)
    # no query, no category, title overlap exactly 0: r_type 0
    unrelated = product(name="Wireless Bluetooth Headphones", query="x", product_category="A › B")
    assert type_reward(unrelated, goal())[0] == 0.0
    # category overlap of 2 levels but no shared noun: title_score 0 still zeroes r_type
    same_category = product(name="Wireless Bluetooth Headphones", query="x")
    assert type_reward(same_category, goal())[:3] == (0.0, False, True)


def test_type_reward_half_and_tenth():
    grinder = product(name="Coffee Grinder", query="x", product_category="A")  # nouns: coffee, grinder
    # goal nouns coffee, mug, handle: 1/3 shared > 0.2 -> a title match, r_type 1
    assert type_reward(grinder, goal()) == (1.0, False, False, 1 / 3)
    # 6 goal nouns, 1 shared: 1/6 is neither > 0.2 nor < 0.1, and nothing else matches -> 0.5
    six = goal(name="Kitchen Sink Faucet Handle Valve Hose")
    assert title_nouns(six["name"]) == ("kitchen", "sink", "faucet", "handle", "valve", "hose")
    assert type_reward(product(name="Door Handle", query="x", product_category="A"), six) == (0.5, False, False, 1 / 6)
    # ... unless the query matches: 1
    assert type_reward(product(name="Door Handle", product_category="A"), six)[0] == 1.0
    # 11 goal nouns, 1 shared: 1/11 < 0.1 -> 0.1 even though the query matches
    eleven = goal(name="Coffee Table Lamp Shade Cover Frame Base Bulb Cord Switch Plug")
    assert len(title_nouns(eleven["name"])) == 11
    assert type_reward(product(name="Coffee Grinder"), eleven) == (0.1, True, True, 1 / 11)


def test_normalize_color_takes_the_first_listed_colour():
    assert normalize_color("light blue") == "blue"  # 'blue' precedes 'light' in WebShop's list
    assert normalize_color("x-large") == "x-large"
