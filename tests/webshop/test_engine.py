from __future__ import annotations

import pytest

from anchorgym.envs.webshop.html_text import read_page
from anchorgym.envs.webshop.search import BM25sSearch, product_document
from anchorgym.envs.webshop.state import DONE, ITEM, RESULTS, SEARCH, SUB_PAGE, PageState, state_url, url_state


def test_search_ranks_the_goal_product_for_its_instruction(engine):
    goals = engine.goals[:200]
    ranked = [engine.results(g["instruction_text"].lower()) for g in goals]
    assert sum(g["asin"] in r[:10] for g, r in zip(goals, ranked, strict=True)) >= 170  # measured: 179
    assert sum(g["asin"] in r for g, r in zip(goals, ranked, strict=True)) >= 195
    assert len(engine.results("shirt")) == 50
    assert engine.results("the of and") == [] and engine.search_engine.search("zzqqxx") == []


def test_bm25s_exact_title_query_ranks_product_first(engine):
    product = engine.data.products[7]
    assert engine.search_engine.search(product["Title"], 5)[0] == product["asin"]


def test_product_document_is_webshops():
    doc = product_document(
        {"Title": "A", "Description": "B", "BulletPoints": ["C", "D"], "options": {"size": ["s"], "color": ["r", "g"]}}
    )
    assert doc == "a b c size: s, and color: r, g"


@pytest.mark.parametrize(
    "state",
    [
        PageState(),
        PageState(RESULTS, "red mug & co", 3),
        PageState(ITEM, "mug", 2, "B01", (("color", 'navy "blue"'), ("size", "l"))),
        PageState(SUB_PAGE, "mug", 1, "B01", (), "Features"),
        PageState(DONE, "mug", 1, "B01", (("size", "l"),)),
    ],
)
def test_url_round_trip(state):
    assert url_state("http://127.0.0.1:1" + state_url("sess", state)) == state


def test_results_pages_and_navigation(engine):
    state = PageState(RESULTS, "shirt", 1)
    page = read_page(engine.render(state, "buy a shirt", "t"))
    assert page.observation.startswith("Instruction: [SEP] buy a shirt [SEP] Back to Search [SEP] ")
    assert "Page 1 (Total results: 50) [SEP] Next >" in page.observation
    asins = engine.results("shirt")
    assert page.clickables == ("back to search", "next >", *[a.lower() for a in asins[:10]])
    last = engine.click(engine.click(engine.click(engine.click(state, "next >"), "next >"), "next >"), "next >")
    assert last == PageState(RESULTS, "shirt", 5)
    last_page = read_page(engine.render(last, "x", "t"))
    assert last_page.clickables[:3] == ("back to search", "< prev", "next >")  # WebShop: Next > on the last page too
    assert engine.click(last, "< prev").page == 4
    assert engine.click(last, "back to search") == PageState(SEARCH)


def test_item_options_sub_pages_and_buy(engine):
    goal = engine.goals[0]
    item = engine.click(PageState(RESULTS, "pillow", 1), goal["asin"].lower())
    assert item == PageState(ITEM, "pillow", 1, goal["asin"])
    page = read_page(engine.render(item, "x", "t"))
    product = engine.product(goal["asin"])
    # WebShop's order: buttons, then product links, then option values (its text_to_clickable dict)
    assert page.clickables == (
        "back to search", "< prev", "description", "features", "reviews", "buy now", *product["options"]["size"],
    )  # fmt: skip
    assert (
        f"[SEP] {product['Title']} [SEP] Price: {product['Price']} [SEP] Rating: N.A. [SEP] Description"
        in page.observation
    )
    chosen = engine.click(item, '28" x 28"')
    assert chosen.options == (("size", '28" x 28"'),)
    features = engine.click(chosen, "features")
    text = read_page(engine.render(features, "x", "t")).observation
    assert text.endswith("< Prev [SEP] " + " [SEP] ".join(b.strip() for b in product["BulletPoints"]))
    assert engine.click(features, "< prev") == chosen
    assert engine.click(chosen, "< prev") == PageState(RESULTS, "pillow", 1)
    done = engine.click(chosen, "buy now")
    assert done.kind == DONE and engine.buy(done, goal).score == 1.0
    assert engine.buy(done, engine.goals[1]).score < 1.0


def test_attributes_button_only_when_asked(webshop_dir):
    from anchorgym.envs.webshop.engine import shared_engine

    shown = shared_engine(str(webshop_dir), show_attributes=True)
    item = PageState(ITEM, "q", 1, shown.goals[0]["asin"])
    assert "attributes" in read_page(shown.render(item, "x", "t")).clickables
    sub = shown.click(item, "attributes")
    text = read_page(shown.render(sub, "x", "t")).observation
    product = shown.product(item.asin)
    listed = [*product["Attributes"], product["category"], product["query"], product["product_category"]]
    assert text.endswith("< Prev [SEP] " + " [SEP] ".join(listed))


def test_bm25s_search_is_independent_of_engine_cache(engine):
    fresh = BM25sSearch(engine.data.products[:100])
    assert set(fresh.search("pillow cover", 50)) <= {p["asin"] for p in engine.data.products[:100]}
