"""WebShop-v2 parses actions and routes ``< Prev`` as WebShop's text env does; WebShop-v1 keeps its own rules.

The expected outcomes follow WebShop's ``engine.parse_action`` (``re.match(r"(.+)\\[(.+)\\]", action)``, then the
text env's ``step``) and ``SimServer.receive``/``get_page_name`` (``< Prev`` routed by the first of
``search_results``, ``item_page``, ``item_sub_page`` found in the URL, which holds the query), worked out by
running that logic on each case.
"""

from __future__ import annotations

import pytest

from anchorgym.envs.webshop.actions import check_webshop
from anchorgym.envs.webshop.html_text import PageText
from anchorgym.envs.webshop.state import ITEM, RESULTS, SUB_PAGE, PageState

PAGE = PageText("", ("back to search", "< prev", "b01"), has_search_bar=False)

# action -> WebShop's (name, lower-cased argument) and what its step does with it.
PARSED = {
    "search[abc]xyz": "search[abc]",  # text after the last "]" is ignored
    "search[Red Mug]": "search[red mug]",
    "search[ ]": "search[ ]",  # searched as is: an empty results page
    "search[abc]]": "search[abc]]",  # the argument runs to the last "]"
    "click[< Prev]": "click[< prev]",
    "search[size [large]]": None,  # name 'search[size ': nothing happens
    "search[a]b[c]": None,  # name 'search[a]b'
    "Search[abc]": None,  # the name is case-sensitive
    " search[abc]": None,
    "search [abc]": None,
    "search[]": None,  # "(.+)" needs a character
    "search[a\nb]": None,  # "." stops at a newline
    "think first\nsearch[a]": None,
    "click[a] then search[b]": None,
    "click[nothing here]": None,  # not a clickable
    "click[search]": None,
}


@pytest.mark.parametrize("action", PARSED)
def test_parse_as_webshop(action):
    assert check_webshop(action, PAGE).canonical == PARSED[action]


@pytest.fixture
def v2(webshop_dir):
    from anchorgym.envs.registry import make

    env = make("anchorgym/WebShop-v2", split="test", data_dir=str(webshop_dir))
    env.reset(options={"task_id": "0"})
    yield env
    env.close()


def play(env, *actions):
    info = {}
    for action in actions:
        *_, info = env.step(action)
    return info


def first_product(env):
    return next(c for c in env.page.clickables if c not in ("back to search", "< prev", "next >"))


def test_trailing_text_searches_the_bracketed_query(v2):
    info = play(v2, "search[red mug]xyz")
    assert info["action_valid"] and v2.front.state == PageState(RESULTS, "red mug", 1)


def test_nested_brackets_do_nothing(v2):
    play(v2, "search[red mug]")
    before = v2.front.state
    info = play(v2, "search[size [large]]")
    assert not info["action_valid"] and v2.front.state == before


def test_whitespace_query_gives_an_empty_results_page(v2):
    play(v2, "search[ ]")
    assert v2.front.state == PageState(RESULTS, " ", 1)
    assert v2.page.observation.split(" [SEP] ")[-3:] == ["Back to Search", "Page 1 (Total results: 0)", "Next >"]


def test_prev_on_a_sub_page_returns_to_the_item(v2):
    play(v2, "search[shoes]", "click[next >]")
    asin = first_product(v2)
    play(v2, f"click[{asin}]", "click[features]", "click[< prev]")
    assert v2.front.state == PageState(ITEM, "shoes", 2, asin.upper())


def test_query_item_page_sends_prev_on_a_sub_page_to_the_results(v2):
    play(v2, "search[item_page shoes]", "click[next >]")
    asin = first_product(v2)
    play(v2, f"click[{asin}]", "click[features]")
    assert v2.front.state == PageState(SUB_PAGE, "item_page shoes", 2, asin.upper(), (), "Features")
    play(v2, "click[< prev]")  # WebShop's URL .../item_sub_page/.../item_page+shoes/... reads as an item page
    assert v2.front.state == PageState(RESULTS, "item_page shoes", 2)


def test_query_search_results_sends_prev_to_the_previous_results_page(v2):
    play(v2, "search[search_results shoes]")
    asin = first_product(v2)
    play(v2, f"click[{asin}]", "click[description]", "click[< prev]")
    # The URL reads as a results page, so WebShop goes to the session's page - 1: page 0, empty, no "< Prev".
    assert v2.front.state == PageState(RESULTS, "search_results shoes", 0)
    assert v2.page.clickables == ("back to search", "next >")
    assert v2.page.observation.split(" [SEP] ")[-3:] == ["Back to Search", "Page 0 (Total results: 39)", "Next >"]
    play(v2, "click[next >]")
    assert v2.front.state == PageState(RESULTS, "search_results shoes", 1)
    play(v2, f"click[{asin}]", "click[< prev]")  # from the item page too
    assert v2.front.state == PageState(RESULTS, "search_results shoes", 0)


def test_webshop_v1_keeps_its_parser_and_routing(env):
    env.reset(options={"task_id": "0"})
    play(env, "search[item_page shoes]")
    asin = first_product(env)
    play(env, f"click[{asin}]", "click[features]", "click[< prev]")
    assert env.front.state == PageState(ITEM, "item_page shoes", 1, asin.upper())
    info = play(env, " Search[red mug] ")
    assert info["action_valid"] and env.front.state == PageState(RESULTS, "red mug", 1)


def test_keyword_commands_list_a_category_or_a_scrape_query(v2, engine):
    products = engine.data.products
    play(v2, "search[<c> grocery]")
    grocery = [p["asin"] for p in products if p["category"] == "grocery"]
    assert len(grocery) == 117 and "Page 1 (Total results: 117)" in v2.page.observation
    assert [c for c in v2.page.clickables if c not in ("back to search", "next >")] == [a.lower() for a in grocery[:10]]
    play(v2, "search[<q> console tables]")
    assert v2.engine.results("<q> console tables") == [p["asin"] for p in products if p["query"] == "console tables"]
    assert "Page 1 (Total results: 7)" in v2.page.observation


def test_webshop_v1_searches_keyword_commands_as_text(env):
    env.reset(options={"task_id": "0"})
    play(env, "search[<c> grocery]")
    assert env.engine.results("<c> grocery") == env.engine.search_engine.search("<c> grocery")
