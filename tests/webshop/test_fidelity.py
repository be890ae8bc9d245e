"""WebShop-v1 against WebShop's master branch: the score's option rule and the text env's pages.

Expected values are worked by hand from ``web_agent_site/engine/goal.py`` and
``web_agent_site/envs/web_agent_text_env.py`` (simple mode, BeautifulSoup's html.parser).
"""

from __future__ import annotations

import pytest

from anchorgym.envs.webshop.html_text import read_page
from anchorgym.envs.webshop.reward import get_reward, normalize_color, option_matches, token_set_ratio
from anchorgym.envs.webshop.reward_legacy import get_reward_legacy, legacy_ratio
from anchorgym.envs.webshop.state import DONE, ITEM, RESULTS, SUB_PAGE, PageState

MUG = "Ceramic Coffee Mug with Handle"


def product(**overrides):
    base = {
        "asin": "B1", "name": MUG, "Title": MUG, "query": "coffee mugs",
        "product_category": "Home & Kitchen › Kitchen & Dining › Mugs", "Attributes": ["dishwasher safe", "ceramic"],
        "BulletPoints": ["Microwave safe"], "Description": "A large 12 oz mug.", "options": {},
    }  # fmt: skip
    return base | overrides


def goal(**overrides):
    base = {
        "asin": "B1", "name": MUG, "query": "coffee mugs",
        "product_category": "Home & Kitchen › Kitchen & Dining › Mugs",
        "attributes": ["dishwasher safe", "microwave safe"], "goal_options": {"color": "navy blue", "size": "12 oz"},
        "price_upper": 20.0,
    }  # fmt: skip
    return base | overrides


# ------------------------------------------------------------------ reward
def test_black2070_bought_is_no_colour_match_because_goal_options_are_pairs():
    # colour: chosen 'black2070' normalises to 'black'; the goal pair ('color', 'black2070') holds no element equal
    # to a colour, so it stays a pair, read as "color black2070": token sets {black} / {color, black2070} -> 50.
    # size: 'large' against "size large" -> 100. Options 1 of 2; attributes 2 of 2; price 15 <= 20.
    # score = (2 + 1 + 1) / (2 + 2 + 1) = 0.8
    wanted = goal(goal_options={"color": "black2070", "size": "large"})
    parts = get_reward(product(), wanted, price=15.0, options={"color": "black2070", "size": "large"})
    assert (parts.score, parts.r_option, parts.r_att, parts.r_price) == (0.8, 0.5, 1.0, True)
    assert token_set_ratio("black", ("color", "black2070")) == 50
    # the v2-branch rule of WebShop-v0 compared values: both options matched, score 1
    assert get_reward_legacy(product(), wanted, 15.0, {"color": "black2070", "size": "large"}).score == 1.0


def test_pair_normalises_when_an_element_is_a_colour():
    assert normalize_color(("color", "black")) == "black"
    assert normalize_color(("color", "navy blue")) == ("color", "navy blue")  # no element equals a colour
    assert normalize_color("navy blue") == "blue"  # a string: substring, first in WebShop's list
    # 'blue' against "color navy blue": {blue} is inside the goal's tokens -> 100
    assert option_matches(["blue"], [("color", "navy blue")]) == 1
    assert option_matches(["black"], [("color", "black")]) == 1


def test_perfect_purchase_scores_one():
    parts = get_reward(product(), goal(), price=15.0, options={"color": "blue", "size": "12 oz"})
    assert (parts.score, parts.r_type, parts.r_att, parts.r_option, parts.r_price) == (1.0, 1.0, 1.0, 1.0, True)


def test_no_exact_size_rule_and_no_product_text_fallback_for_options():
    # goal size "16 oz" vs chosen "12 oz": tokens {oz, 12} / {size, 16, oz}; best ratio "oz" vs "oz 12" = 4/7 -> 57.
    # "12 oz" is in the description, which WebShop-v0 counted; master does not. Colour: 'red' vs "color navy blue" 0.
    wanted = goal(goal_options={"color": "navy blue", "size": "16 oz"})
    chosen = {"color": "red", "size": "12 oz"}
    assert token_set_ratio("12 oz", ("size", "16 oz")) == 57
    parts = get_reward(product(), wanted, price=15.0, options=chosen)
    assert (parts.score, parts.r_option) == (0.6, 0.0)  # (2 + 0 + 1) / 5
    assert get_reward_legacy(product(), wanted, 15.0, chosen).score == 0.8  # (2 + 1 + 1) / 5


def test_each_goal_option_counts_once_so_no_cap_is_needed():
    # one goal option, two chosen values that both match it: master counts 1, WebShop-v0 counted 2.
    wanted = goal(goal_options={"color": "blue"})
    chosen = {"color": "blue", "pattern": "blue"}
    assert get_reward(product(), wanted, price=25.0, options=chosen).score == 0.75  # (2 + 1 + 0) / 4
    assert get_reward_legacy(product(), wanted, 25.0, chosen).score == 1.0  # (2 + 2 + 0) / 4


def test_no_goal_options():
    parts = get_reward(product(), goal(goal_options={}), price=25.0, options={"size": "12 oz"})
    assert (parts.score, parts.r_option) == (2 / 3, None)  # (2 + 0 + 0) / 3


def test_thefuzz_string_processing():
    assert token_set_ratio("naïve", "nave") == 100  # thefuzz drops characters 128-255 first
    assert legacy_ratio("naïve", "nave") == pytest.approx(800 / 9)  # rapidfuzz keeps them: 2*4/9
    assert token_set_ratio(("size", "large"), "large") == 100  # str() of a pair, then tokens
    assert isinstance(token_set_ratio("a b", "a c"), int)  # rounded before the > 85 test


def test_attribute_rule_unchanged():
    # "dishwasher safe" fuzzy-matches an attribute; "microwave safe" is in the features; "bpa free" is nowhere
    parts = get_reward(product(), goal(attributes=["dishwasher safe", "microwave safe", "bpa free"]), 15.0, {})
    assert (parts.r_att, parts.score) == (2 / 3, 0.5)  # (2 + 0 + 1) / (3 + 2 + 1)


# ------------------------------------------------------------- page reading
def test_reader_keeps_whitespace_as_beautifulsoup_gives_it():
    html = (
        "<html><head><title>t</title></head><body>\n<p>  two  spaces </p><p> </p><p>\n  </p>"
        "<pre>\n</pre><p>\xa0</p><div>a<span>b</span><script>x</script></div></body></html>"
    )
    # ' ' alone becomes an empty item; '\n  ' is dropped; a pre keeps '\n' (dropped as '\n'); '\xa0' is not ASCII
    assert read_page(html).observation == "two  spaces [SEP]  [SEP]  [SEP] a [SEP] b"


def test_reader_clickables_are_webshops_dict_keys():
    html = (
        '<button class="btn">Buy  Now</button><a class="product-link">B01X</a><button class="btn">Buy  Now</button>'
        '<input type="radio" name="color" value="a1-wine\xa0red"><input type="radio" name="size" value="Large">'
        '<input id="search_input"><button class="btn"><i></i>Search</button>'
    )
    page = read_page(html)
    assert page.clickables == ("buy  now", "search", "b01x", "a1-wine\xa0red", "Large")
    assert page.has_search_bar


# ------------------------------------------------------------------ pages
def render(engine, state, score=None):
    return read_page(engine.render(state, "buy a shirt", "s", score))


def test_logo_on_the_search_page_only(engine):
    assert render(engine, PageState()).observation == "WebShop [SEP] Instruction: [SEP] buy a shirt [SEP] Search"
    results = render(engine, PageState(RESULTS, "shirt", 1)).observation
    assert results.startswith("Instruction: [SEP] buy a shirt [SEP] Back to Search [SEP] Page 1 (Total results: 50)")


def test_next_on_every_results_page(engine):
    last = render(engine, PageState(RESULTS, "shirt", 5))
    assert "Page 5 (Total results: 50) [SEP] < Prev [SEP] Next > [SEP] " in last.observation
    assert last.clickables[:3] == ("back to search", "< prev", "next >") and len(last.clickables) == 13
    past = render(engine, PageState(RESULTS, "shirt", 6))
    assert past.observation.endswith("Back to Search [SEP] Page 6 (Total results: 50) [SEP] < Prev [SEP] Next >")
    assert past.clickables == ("back to search", "< prev", "next >")
    assert engine.click(PageState(RESULTS, "shirt", 6), "next >") == PageState(RESULTS, "shirt", 7)


def test_done_page_text_is_webshops(engine):
    state = PageState(DONE, "q", 1, "B09NPML43M", (("color", "a1-wine\xa0red"), ("size", "small")))
    page = render(engine, state, score=0.5)
    assert page.observation == (
        "Thank you for shopping with us! [SEP] Your code: [SEP] None [SEP] (Paste it in your MTurk interface.) "
        '[SEP] Purchased [SEP] asin [SEP] B09NPML43M [SEP] options [SEP] {"color": "a1-wine\\u00a0red", '
        '"size": "small"} [SEP] attrs [SEP] None [SEP] category [SEP] None [SEP] query [SEP] None [SEP] '
        "product category [SEP] None [SEP] Target [SEP] asin [SEP] options [SEP] attrs [SEP] price upper [SEP] "
        "instuction text [SEP] category [SEP] product category [SEP] query [SEP] Goal [SEP] None [SEP] Reward "
        "[SEP] Your score (min 0.0, max 1.0) [SEP] 0.5 [SEP] Reward Details [SEP] None"
    )
    assert page.clickables == () and not page.has_search_bar


def test_option_names_keep_their_whitespace(engine):
    page = render(engine, PageState(ITEM, "q", 1, "B09NPML43M"))
    assert "a1-wine\xa0red" in page.clickables and "a1-wine red" not in page.clickables
    assert " [SEP] a1-wine\xa0red [SEP] " in page.observation
    state = engine.click(PageState(ITEM, "q", 1, "B09NPML43M"), "a1-wine\xa0red")
    assert state.options == (("color", "a1-wine\xa0red"),)
    sizes = render(engine, PageState(ITEM, "q", 1, "B004VMVLLU"))
    assert "8.4 ounce  |  250 ml" in sizes.clickables and " [SEP] 8.4 ounce  |  250 ml [SEP] " in sizes.observation


def test_blank_feature_is_an_empty_item(engine):
    # WebShop writes "<p> {{bulletpoint}}</p>": an empty bullet leaves a lone space, kept as an empty item
    page = render(engine, PageState(SUB_PAGE, "q", 1, "B074F9FBV3", (), "Features"))
    assert page.observation == "Instruction: [SEP] buy a shirt [SEP] Back to Search [SEP] < Prev [SEP] "


# ------------------------------------------------------------------ the env
def test_clicks_must_match_exactly_and_search_works_anywhere(env):
    env.reset(options={"task_id": "236"})  # goal: B09NPML43M, colour b17-army\xa0green, size small
    assert env.goal["goal_options"] == {"color": "b17-army\xa0green", "size": "small"}
    env.step("search[short sleeve tops for women]")
    env.step("click[b09npml43m]")
    *_, info = env.step("click[b17-army green]")
    assert not info["action_valid"]
    assert info["invalid_reason"].startswith("'b17-army green' is not clickable on this page. Did you mean")
    *_, info = env.step("click[B17-Army\xa0Green]")  # lower-cased, as WebShop does
    assert info["action_valid"] and env.front.state.options == (("color", "b17-army\xa0green"),)
    obs, *_, info = env.step("search[tank top]")  # no search bar on an item page; WebShop searches anyway
    assert info["action_valid"] and env.front.state == PageState(RESULTS, "tank top", 1)
    *_, info = env.step("click[search]")
    assert not info["action_valid"]


def test_expert_on_the_pair_quirk_goal_scores_eight_ninths(env):
    # 6 attributes match, colour does not (pair quirk), size does, price ok: (6 + 1 + 1) / (6 + 2 + 1)
    env.reset(options={"task_id": "236"})
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(env.expert_action())
        done = terminated or truncated
    assert terminated and reward == 8 / 9 and not info["won"]
    assert (info["reward_parts"]["r_option"], info["reward_parts"]["r_att"]) == (0.5, 1.0)


def test_legacy_id_keeps_webshop_v0(webshop_dir):
    from anchorgym.envs.registry import make

    env = make("anchorgym/WebShop-v0", split="test", data_dir=str(webshop_dir))
    try:
        obs, info = env.reset(options={"task_id": "236"})
        assert info["available_actions"]["clickables"] == []
        env.step("search[short sleeve tops for women]")
        obs, *_ = env.step("click[b09npml43m]")
        assert obs.startswith("WebShop [SEP] Instruction:") and "b17-army green" in env.page.clickables
        *_, info = env.step("search[tank top]")
        assert info["invalid_reason"] == "This page has no search bar; click[back to search] first."
        for action in ("click[b17-army green]", "click[small]", "click[buy now]"):
            *_, reward, terminated, truncated, info = env.step(action)
        assert terminated and reward == 1.0  # the v2-branch rule matched the colour by value
    finally:
        env.close()
