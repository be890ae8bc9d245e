"""WebShop benchmark: text-mode steps per second and search latency, bm25s vs Lucene, in one run.

Text mode (``anchorgym/WebShop-v1``): the scripted expert plays the 500 test goals (every page rendered to
HTML and read back as text, every purchase scored), once with cold page caches
and once warm, as a GRPO group revisits the same pages. Search: the 500 test
instructions, each searched once per back end, uncached, top 50, after 50
untimed warm-up queries from train goals (Lucene runs in a JIT-compiling JVM).

Run: .venv/bin/python benchmarks/bench_webshop.py [--goals N] [--tiny]
Writes benchmarks/results/webshop.json. ``--tiny``: 5 goals and 5 warm-up queries, every RATIO line, for
the test that keeps this script running; its numbers mean nothing (written to ``results/webshop.tiny.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from claims import Claims

from anchorgym.envs.registry import make
from anchorgym.envs.webshop import goals
from anchorgym.envs.webshop.html_text import read_page

RESULTS = Path(__file__).with_name("results") / "webshop.json"
WARMUP_QUERIES = 50  # untimed, from train goals so the timed (test) queries stay unseen
TARGET_STEPS_PER_S = 50.0  # a 15-step episode under 0.3 s, far below an LLM's generation time


def play(env, task_ids):
    steps, start = 0, time.perf_counter()
    for task_id in task_ids:
        env.reset(options={"task_id": task_id})
        done = False
        while not done:
            *_, terminated, truncated, _ = env.step(env.expert_action())
            steps += 1
            done = terminated or truncated
    return steps, time.perf_counter() - start


def search_latency(search, queries, warmup):
    for query in warmup:  # the JVM compiles Lucene's hot paths on first use
        search.search(query, 50)
    times = []
    for query in queries:
        start = time.perf_counter()
        search.search(query, 50)
        times.append(time.perf_counter() - start)
    return {"mean_ms": 1e3 * statistics.mean(times), "p50_ms": 1e3 * statistics.median(times),
            "p95_ms": 1e3 * sorted(times)[int(0.95 * len(times)) - 1]}  # fmt: skip


def lucene_latency(engine, queries, warmup):
    try:
        from anchorgym.envs.webshop.lucene import LuceneSearch

        return search_latency(LuceneSearch(engine.data.products), queries, warmup)
    except ImportError as error:
        print(f"lucene: skipped ({error})")
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goals", type=int, default=500, help="test goals the expert plays")
    parser.add_argument("--tiny", action="store_true", help="5 goals, seconds-long (numbers mean nothing)")
    args = parser.parse_args()
    if args.tiny:
        args.goals = 5
    env = make("anchorgym/WebShop-v1", split="test")
    tasks = list(env.task_ids())[: args.goals]
    env.reset(options={"task_id": tasks[0]})  # load spaCy etc. outside the timing
    read_page.cache_clear()
    env.engine._results.clear()
    cold_steps, cold_s = play(env, tasks)
    warm_steps, warm_s = play(env, tasks)
    queries = [env.engine.goals[int(t)]["instruction_text"].lower() for t in tasks]
    train = env.engine.goals[goals.TEST_GOALS : goals.TEST_GOALS + WARMUP_QUERIES]
    warmup = [goal["instruction_text"].lower() for goal in train][: 5 if args.tiny else None]
    results = {
        "schema_version": 1,
        "text_mode": {
            "episodes": len(tasks),
            "steps": cold_steps,
            "cold_steps_per_s": cold_steps / cold_s,
            "warm_steps_per_s": warm_steps / warm_s,
        },  # fmt: skip
        "search": {
            "queries": len(queries),
            "warmup_queries": len(warmup),
            "bm25s": search_latency(env.engine.search_engine, queries, warmup),
            "lucene": lucene_latency(env.engine, queries, warmup),
        },  # fmt: skip
    }
    report(results, args.tiny)
    path = RESULTS.with_suffix(".tiny.json") if args.tiny else RESULTS
    path.parent.mkdir(exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(results, handle, indent=2)
    os.replace(tmp, path)


def report(results, tiny):
    text, search = results["text_mode"], results["search"]
    print(f"text mode: {text['steps']} expert steps over {text['episodes']} goals")
    print(f"  cold caches {text['cold_steps_per_s']:.0f} steps/s, warm {text['warm_steps_per_s']:.0f} steps/s")
    for name in ("bm25s", "lucene"):
        if search[name]:
            print(f"search {name}: mean {search[name]['mean_ms']:.2f} ms, p50 {search[name]['p50_ms']:.2f} ms, "
                  f"p95 {search[name]['p95_ms']:.2f} ms")  # fmt: skip
    claims = Claims(tiny)
    rate = text["cold_steps_per_s"]
    # a rate, not a ratio: shown as rate / target so the verdict reads like the timing ratios
    note = f"{rate:.0f} steps/s, target {TARGET_STEPS_PER_S:.0f}"
    claims.timing("RATE", "text_mode_steps_per_s_cold_vs_target", [rate / TARGET_STEPS_PER_S], 1, note)
    claims.info("RATIO", "text_mode_warm_vs_cold", f"{text['warm_steps_per_s'] / text['cold_steps_per_s']:.1f}x")
    if search["lucene"]:
        ratio = search["lucene"]["mean_ms"] / search["bm25s"]["mean_ms"]
        claims.info("RATIO", "search_latency_lucene_vs_bm25s", f"{ratio:.1f}x", "no target; > 1 means bm25s is faster")
    claims.exit()


if __name__ == "__main__":
    main()
