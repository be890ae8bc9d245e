"""Sokoban puzzle distribution: the published generator against the figures issue #15 quotes for it.

GiGPO and RAGEN generate 6x6 one-box rooms with gym-sokoban's ``generate_room``.
Over a few thousand seeds their puzzles need 4.08 moves on average (optimal
plan), 32% are solvable in two moves or fewer and in 58% the player starts next
to the box. anchorgym's own generator (``anchorgym/Sokoban-v0``, the ``@v1``
benchmarks) gives 4.90, 15% and 10%. This script measures, over ``--seeds``
seeds each:

* ``gym-sokoban``: the published generator (train seeds ``0 .. N-1``);
* ``gym-sokoban-clean-test``: the rooms ``anchorgym/Sokoban-v1`` plays on its
  test split (test-bucket boards only), to show the clean split keeps the
  distribution;
* ``anchorgym``: the ``@v1`` generator.

For each: mean optimal plan length, share solvable in <= 2 moves, share with
the player orthogonally next to a box, mean floor cells (walls excluded) and
generation speed. The claim lines compare ``gym-sokoban`` with the published
figures: ``z`` is the difference over its standard error, taking the published
figure as an estimate from 3,000 seeds too (``|z| < 3``: within sampling error).

Run: ``.venv/bin/python benchmarks/bench_sokoban_distribution.py [--seeds 5000] [--tiny]``.
Writes ``results/sokoban_distribution.json``. Takes a few minutes on a busy 2-core machine (the clean test
split redraws about 12 rooms per puzzle). ``--tiny``: 200 seeds, every line in seconds, for the test that keeps
this script running; its numbers are too noisy to mean much (written to ``results/sokoban_distribution.tiny.json``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from claims import Claims

from anchorgym.envs.sokoban import data
from anchorgym.envs.sokoban.board import Puzzle
from anchorgym.envs.sokoban.generator import puzzle_for_seed
from anchorgym.envs.sokoban.solver import solve

RESULTS = Path(__file__).resolve().parent / "results" / "sokoban_distribution.json"
ROOM = ((6, 6), 1, 30)
PUBLISHED = {"mean_optimal_moves": 4.08, "share_solved_within_2": 0.32, "share_player_adjacent": 0.58}
PUBLISHED_SAMPLE = 3_000  # "a few thousand seeds"
Z_LIMIT = 3.0


def features(puzzle: Puzzle) -> tuple[int, bool, int]:
    """Optimal plan length, whether the player starts next to a box, and the floor cell count."""
    plan = solve(puzzle.floor, frozenset(puzzle.targets), puzzle.player, frozenset(puzzle.boxes))
    adjacent = any(abs(puzzle.player[0] - r) + abs(puzzle.player[1] - c) == 1 for r, c in puzzle.boxes)
    return len(plan), adjacent, len(puzzle.floor)


def measure(make: Callable[[int], Puzzle], seeds: range) -> dict:
    """Generate one puzzle per seed and summarise its features."""
    started = time.perf_counter()
    puzzles = [make(seed) for seed in seeds]
    elapsed = time.perf_counter() - started
    rows = [features(p) for p in puzzles]
    lengths = [length for length, _, _ in rows]
    mean = sum(lengths) / len(rows)
    return {
        "puzzles": len(rows),
        "mean_optimal_moves": mean,
        "sd_optimal_moves": math.sqrt(sum((x - mean) ** 2 for x in lengths) / (len(rows) - 1)),
        "share_solved_within_2": sum(x <= 2 for x in lengths) / len(rows),
        "share_player_adjacent": sum(adjacent for _, adjacent, _ in rows) / len(rows),
        "mean_floor_cells": sum(floor for _, _, floor in rows) / len(rows),
        "longest_optimal_plan": max(lengths),
        "puzzles_per_second": len(rows) / elapsed,
    }


def standard_error(stats: dict, name: str) -> float:
    """Standard error of one statistic over ``stats['puzzles']`` puzzles."""
    if name == "mean_optimal_moves":
        return stats["sd_optimal_moves"] / math.sqrt(stats["puzzles"])
    share = stats[name]
    return math.sqrt(share * (1 - share) / stats["puzzles"])


def report_claims(stats: dict, claims: Claims) -> None:
    """One RATIO line per published figure: ours over the published value, and z (the claim: ``|z| < 3``).

    The seeds are fixed, so the statistics are deterministic: a miss fails the run.
    """
    for name, published in PUBLISHED.items():
        ours = stats[name]
        se = standard_error(stats, name) * math.sqrt(1 + stats["puzzles"] / PUBLISHED_SAMPLE)
        z = (ours - published) / se
        target = f"within sampling error, |z| < {Z_LIMIT:.0f}; {ours:.3f} vs {published:.2f}, z {z:+.2f}"
        claims.check("RATIO", f"gym_sokoban_{name}_vs_published", f"{ours / published:.3f}x", target, abs(z) < Z_LIMIT)


def main() -> None:
    """Measure the three generators, print a table and the claims, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5_000, help="puzzles per generator")
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON results")
    parser.add_argument("--tiny", action="store_true", help="200 seeds: a quick run whose numbers mean little")
    args = parser.parse_args()
    if args.tiny:
        args.seeds = 200
    args.out = args.out or (RESULTS.with_suffix(".tiny.json") if args.tiny else RESULTS)
    test_start = data.split_seeds("test").range.start
    runs = {
        "gym-sokoban": measure(lambda s: puzzle_for_seed(s, "gym-sokoban", *ROOM), range(args.seeds)),
        "gym-sokoban-clean-test": measure(
            lambda s: puzzle_for_seed(s, "gym-sokoban", *ROOM, None, "test"), range(test_start, test_start + args.seeds)
        ),
        "anchorgym": measure(lambda s: puzzle_for_seed(s, "anchorgym", *ROOM, 15), range(args.seeds)),
    }
    print("| generator | puzzles | mean optimal moves | <= 2 moves | player next to box | floor | longest | rooms/s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, s in runs.items():
        print(
            f"| {name} | {s['puzzles']} | {s['mean_optimal_moves']:.2f} | {s['share_solved_within_2']:.1%} | "
            f"{s['share_player_adjacent']:.1%} | {s['mean_floor_cells']:.2f} | {s['longest_optimal_plan']} | "
            f"{s['puzzles_per_second']:.0f} |"
        )
    claims = Claims(args.tiny)
    report_claims(runs["gym-sokoban"], claims)
    result = {"schema_version": 1, "machine": platform.platform(), "published": PUBLISHED, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, args.out)
    claims.exit()


if __name__ == "__main__":
    main()
