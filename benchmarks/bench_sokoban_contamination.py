"""Sokoban train/test contamination: canonical boards the test split shares with the train seeds.

For every train seed ``0 .. N-1`` and every seed of the 10,000-seed test split it
records two canonical boards (:mod:`anchorgym.envs.sokoban.canonical`: the room
under its 8 rotations and reflections):

* **unfiltered**: the published generator's room for the seed itself, which
  is what a seed-range split (and verl-agent's setup) plays;
* **clean**: the room ``anchorgym/Sokoban-v1`` plays, i.e.
  :func:`~anchorgym.envs.sokoban.generator.puzzle_for_seed` with the bucket
  the seed's split requires.

It prints the share of test seeds whose unfiltered board also comes out of some
train seed (at several train-seed counts), the number of distinct canonical
boards per split, and the claim: the clean test split shares **zero** canonical
boards with the clean train seeds.

Run: ``.venv/bin/python benchmarks/bench_sokoban_contamination.py [--seeds 1000000] [--workers 2] [--tiny]``.
``--tiny``: 1,000 train and 100 test seeds in one process, for the test that keeps this script running
(written to ``results/sokoban_contamination.tiny.json``).
``--seeds`` sets the train seeds checked (the claim of issue #15 needs at least 1,000,000);
``--test-seeds`` limits the test seeds (default: all 10,000). Writes ``results/sokoban_contamination.json``.

Cost: about 1-2 ms a seed on one core (the room, plus its canonical board); 1,000,000 train seeds take
about 10-25 minutes with two processes on a busy 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from multiprocessing import Pool
from pathlib import Path

from claims import Claims

from anchorgym.envs.sokoban import canonical, data, gym_generator
from anchorgym.envs.sokoban.generator import puzzle_for_seed

RESULTS = Path(__file__).resolve().parent / "results" / "sokoban_contamination.json"
ROOM = ((6, 6), 1, 30)  # dim_room, num_boxes, search_depth: the sokoban-6x6-1box@v2 setting
CHUNK = 5_000
CHECKPOINTS = (10_000, 100_000, 300_000, 1_000_000)


def keys_of(seed: int) -> tuple[str | None, str]:
    """Return the seed's unfiltered canonical board (None where the generator fails it) and its clean one."""
    raw = gym_generator.generate_room(seed, *ROOM)
    clean = puzzle_for_seed(seed, "gym-sokoban", *ROOM, None, data.seed_bucket(seed))
    return (None if raw is None else canonical.canonical_key(raw)), canonical.canonical_key(clean)


def train_chunk(bounds: tuple[int, int]) -> tuple[dict[str, int], dict[str, int]]:
    """First train seed of each unfiltered and each clean board among seeds ``start .. stop-1``."""
    raw_first: dict[str, int] = {}
    clean_first: dict[str, int] = {}
    for seed in range(*bounds):
        raw, clean = keys_of(seed)
        if raw is not None:
            raw_first.setdefault(raw, seed)
        clean_first.setdefault(clean, seed)
    return raw_first, clean_first


def test_chunk(bounds: tuple[int, int]) -> list[tuple[str | None, str]]:
    """The two boards of every test seed in ``start .. stop-1``."""
    return [keys_of(seed) for seed in range(*bounds)]


def chunks(start: int, stop: int) -> list[tuple[int, int]]:
    """Split ``start .. stop-1`` into work units."""
    return [(lo, min(lo + CHUNK, stop)) for lo in range(start, stop, CHUNK)]


def collect(num_train: int, num_test: int, workers: int) -> dict:
    """Generate every board and merge the per-chunk results."""
    test_range = data.split_seeds("test").range
    started = time.perf_counter()
    with Pool(workers) as pool:
        test_keys = [
            pair
            for part in pool.map(test_chunk, chunks(test_range.start, test_range.start + num_test))
            for pair in part
        ]
        raw_first: dict[str, int] = {}
        clean_first: dict[str, int] = {}
        for raw, clean in pool.imap_unordered(train_chunk, chunks(0, num_train)):
            for key, seed in raw.items():
                raw_first[key] = min(seed, raw_first.get(key, seed))
            for key, seed in clean.items():
                clean_first[key] = min(seed, clean_first.get(key, seed))
    elapsed = time.perf_counter() - started
    return summarise(num_train, test_keys, raw_first, clean_first, elapsed)


def summarise(
    num_train: int, test_keys: list, raw_first: dict[str, int], clean_first: dict[str, int], elapsed: float
) -> dict:
    """Overlap shares, distinct counts and the clean-split check."""
    raw_test = [raw for raw, _ in test_keys if raw is not None]
    clean_test = {clean for _, clean in test_keys}
    overlap = {
        str(c): sum(raw_first.get(key, num_train) < c for key in raw_test) / len(raw_test)
        for c in sorted({*[c for c in CHECKPOINTS if c < num_train], num_train})
    }
    return {
        "train_seeds": num_train,
        "test_seeds": len(test_keys),
        "seconds": elapsed,
        "seeds_per_second": (num_train + len(test_keys)) / elapsed,
        "unfiltered": {
            "distinct_train_boards": len(raw_first),
            "distinct_test_boards": len(set(raw_test)),
            "test_seeds_failed": len(test_keys) - len(raw_test),
            "test_share_in_train_by_train_seeds": overlap,
        },
        "clean": {
            "distinct_train_boards": len(clean_first),
            "distinct_test_boards": len(clean_test),
            "shared_boards": len(clean_test & clean_first.keys()),
        },
    }


def report(result: dict, claims: Claims) -> None:
    """Print the findings and the claim lines."""
    raw, clean = result["unfiltered"], result["clean"]
    print(
        f"{result['train_seeds']:,} train seeds, {result['test_seeds']:,} test seeds in {result['seconds']:.0f} s "
        f"({result['seeds_per_second']:.0f} seeds/s)"
    )
    print(
        f"unfiltered: {raw['distinct_train_boards']:,} distinct canonical train boards, "
        f"{raw['distinct_test_boards']:,} distinct test boards ({raw['test_seeds_failed']} test seeds failed)"
    )
    for count, share in raw["test_share_in_train_by_train_seeds"].items():
        print(
            f"unfiltered: {share:.1%} of test seeds play a board that one of the first {int(count):,} train seeds plays"
        )
    print(
        f"clean (anchorgym/Sokoban-v1): {clean['distinct_train_boards']:,} distinct canonical train boards, "
        f"{clean['distinct_test_boards']:,} distinct test boards"
    )
    seeds = f"{result['train_seeds']:,} train seeds x {result['test_seeds']:,} test seeds"
    claims.check("CHECK", "clean_split_shared_canonical_boards", clean["shared_boards"], f"== 0, {seeds}",
                 clean["shared_boards"] == 0)  # fmt: skip


def main() -> None:
    """Parse arguments, run, print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1_000_000, help="train seeds to check (0 .. N-1)")
    parser.add_argument("--test-seeds", type=int, default=len(data.split_seeds("test")), help="test seeds to check")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes (at most 2 here)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON results")
    parser.add_argument("--tiny", action="store_true", help="1,000 train and 100 test seeds, one process")
    args = parser.parse_args()
    if args.tiny:
        args.seeds, args.test_seeds, args.workers = 1_000, 100, 1
    args.out = args.out or (RESULTS.with_suffix(".tiny.json") if args.tiny else RESULTS)
    result = collect(args.seeds, args.test_seeds, args.workers)
    result.update(schema_version=1, machine=platform.platform(), workers=args.workers)
    claims = Claims()  # the clean split shares no board at any size, so a tiny run checks it too
    report(result, claims)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, args.out)
    claims.exit()


if __name__ == "__main__":
    main()
