"""WebShop search parity: our default search (``lucene-compat``) against WebShop's own Lucene search.

WebShop ranks products with pyserini's ``LuceneSearcher`` (BM25, k1=0.9, b=0.4). WebShop-v2's default search
reproduces that ranking in Python. This script searches the 500 test instructions (lower-cased, as the text env
passes them) with both and counts the instructions whose first results page (10 products, in order) and whose
whole top 50 are equal; the full run adds 2,000 train instructions as unseen queries. The old ``bm25s`` search
(WebShop-v0/v1) is measured beside it for reference. Lucene runs through ``anchorgym[webshop-lucene]``.

Run: .venv/bin/python benchmarks/bench_webshop_search.py [--tiny]
Writes benchmarks/results/webshop_search.json. Exits 1 when any first page or top 50 differs (the ranking is
deterministic, so one miss is a bug). ``--tiny``: 20 test instructions, for the test that keeps this script
running (``results/webshop_search.tiny.json``; checks nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from claims import Claims

from anchorgym.envs.webshop import data as webshop_data
from anchorgym.envs.webshop.goals import TEST_GOALS, build_goals
from anchorgym.envs.webshop.search import make_search

RESULTS = Path(__file__).with_name("results") / "webshop_search.json"
PAGE, CUTOFF = 10, 50  # WebShop: 10 results per page, the top 50
EXTRA_TRAIN_QUERIES = 2000


def rankings(search, queries):
    start = time.perf_counter()
    ranked = [search.search(query, CUTOFF) for query in queries]
    return ranked, 1e3 * (time.perf_counter() - start) / max(1, len(queries))


def agreement(ours, lucene):
    return {
        "first_page_equal": sum(a[:PAGE] == b[:PAGE] for a, b in zip(ours, lucene, strict=True)),
        "top50_equal": sum(a == b for a, b in zip(ours, lucene, strict=True)),
        "first_result_equal": sum(a[:1] == b[:1] for a, b in zip(ours, lucene, strict=True)),
        "queries": len(lucene),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="20 instructions, seconds-long")
    args = parser.parse_args()
    data = webshop_data.load()
    goals, _ = build_goals(data.products)
    test = [goal["instruction_text"].lower() for goal in goals[:TEST_GOALS]][: 20 if args.tiny else None]
    train = [goal["instruction_text"].lower() for goal in goals[TEST_GOALS:]][: 0 if args.tiny else EXTRA_TRAIN_QUERIES]
    ours = make_search("lucene-compat", data.products)
    try:
        lucene = make_search("lucene", data.products)
    except ImportError as error:
        print(f"lucene: skipped ({error}); install anchorgym[webshop-lucene] to measure parity")
        return 0
    bm25s = make_search("bm25s", data.products)
    lucene_test, lucene_ms = rankings(lucene, test)
    ours_test, ours_ms = rankings(ours, test)
    bm25s_test, bm25s_ms = rankings(bm25s, test)
    misses = [q for q, a, b in zip(test, ours_test, lucene_test, strict=True) if a[:PAGE] != b[:PAGE]]
    results = {
        "schema_version": 1,
        "test": {"lucene_compat": agreement(ours_test, lucene_test), "bm25s": agreement(bm25s_test, lucene_test)},
        "train_extra": agreement(rankings(ours, train)[0], rankings(lucene, train)[0]) if train else None,
        "mean_ms_per_query": {"lucene_compat": ours_ms, "lucene": lucene_ms, "bm25s": bm25s_ms},
        "first_page_misses": misses[:20],
    }
    path = RESULTS.with_suffix(".tiny.json") if args.tiny else RESULTS
    path.parent.mkdir(exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(results, handle, indent=2)
    os.replace(tmp, path)
    claims = Claims(tiny=args.tiny)
    report(results, claims)
    claims.exit()
    return 0


def report(results, claims):
    test, old = results["test"]["lucene_compat"], results["test"]["bm25s"]
    n = test["queries"]
    for name, ms in results["mean_ms_per_query"].items():
        print(f"search {name}: {ms:.2f} ms per query (top {CUTOFF})")
    print(f"bm25s (WebShop-v0/v1) vs Lucene: first result {old['first_result_equal']}/{n}, "
          f"first page {old['first_page_equal']}/{n}, top 50 {old['top50_equal']}/{n}")  # fmt: skip
    for query in results["first_page_misses"]:
        print(f"  first page differs: {query!r}")
    for name, key in (
        ("webshop_first_page_equal_to_lucene", "first_page_equal"),
        ("webshop_top50_equal_to_lucene", "top50_equal"),
    ):
        claims.check("RATIO", name, f"{test[key]}/{n}", f"{n}/{n}", test[key] == n)
    extra = results["train_extra"]
    if extra:
        m = extra["queries"]
        ok = extra["top50_equal"] == m
        claims.check(
            "RATIO", "webshop_train_queries_top50_equal_to_lucene", f"{extra['top50_equal']}/{m}", f"{m}/{m}", ok
        )
    speed = results["mean_ms_per_query"]["lucene"] / results["mean_ms_per_query"]["lucene_compat"]
    claims.info(
        "RATIO", "search_latency_lucene_vs_lucene_compat", f"{speed:.1f}x", "no target; > 1: lucene-compat is faster"
    )


if __name__ == "__main__":
    sys.exit(main())
