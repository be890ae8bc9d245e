"""AppWorld suite statistics: its size, the expert's API calls by level, and three policies' scores.

1. Counts tasks and scenario families per split and level of the suite (``source="suite"``).
2. The expert's API calls per task by level (mean, spread), as counted by AppWorld's own request tracker
   when ``anchorgym data appworld`` verified every task, beside AppWorld's published task statistics.
3. Plays the expert and two trivial baselines (complete at once; call random APIs, then complete) on one
   split through ``anchorgym eval`` (the vector env, AppWorld's engine and grader): success and score.

4. With AppWorld's own data (``--appworld-root``, default ``$APPWORLD_ROOT``, after ``appworld download data``):
   the same figures over AppWorld's tasks, read from their ``ground_truth/metadata.json`` (AppWorld's counts of
   apps, unique APIs, API calls and solution lines per task) by AppWorld's difficulty label and split.

Usage: python benchmarks/appworld_stats.py [--suite-version 2] [--split test] [--per-family 2] [--skip-play]
       [--appworld-root DIR]

Writes ``results/appworld_suite_v{N}.json``. Generating and verifying suite v2 (228 tasks) took about 3.5 minutes
on a 2-core machine (v1's 224 tasks took about 20 minutes under load); each played episode opens a world
(seconds), hence the default of 2 variants per family. For version 2 it also checks that every level-3 expert
makes at least 15 API calls.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from claims import Claims  # noqa: E402

from anchorgym.envs.appworld.data import (  # noqa: E402
    INDEX_FILE,
    SUITE_CALLS_FILE,
    SUITE_VARIANTS_BY_VERSION,
    SUITE_VERSION,
    ensure_suite,
)

RESULTS = Path(__file__).parent / "results"
LEVEL3_MIN_CALLS = 15  # the level 3: 15 or more API calls (suite version 2 on)
# AppWorld (Trivedi et al., ACL 2024), its own 750 tasks: means over the tasks' ground-truth solutions, as
# quoted from the paper (not re-checked here: AppWorld's data needs a download; --appworld-root computes them).
PUBLISHED = {"apps_per_task": 1.8, "unique_apis_per_task": 9.5, "api_calls_per_task": 42.5, "lines_per_task": 50}
# AppWorld's own per-task counts in ground_truth/metadata.json, and the name this script reports each under.
APPWORLD_METADATA_FIELDS = {
    "num_apps": "apps",
    "num_apis": "unique_apis",
    "num_api_calls": "api_calls",
    "num_solution_code_lines": "solution_lines",
}
APPWORLD_SPLITS = ("train", "dev", "test_normal", "test_challenge")
POLICIES = {
    "expert": "expert",
    "complete_only": "anchorgym.envs.appworld.baselines:complete_only",
    "random_api": "anchorgym.envs.appworld.baselines:random_api",
}


def describe(values: list[float]) -> dict[str, float]:
    """Mean, population standard deviation, min and max."""
    return {
        "mean": round(statistics.fmean(values), 1),
        "std": round(statistics.pstdev(values), 1),
        "min": min(values),
        "max": max(values),
    }


def suite_stats(root: Path) -> dict:
    """Counts per split and level, and the expert's API calls, lines and apps per task by level."""
    index = json.loads((root / INDEX_FILE).read_text())
    tasks = index["tasks"]
    calls = json.loads((root / SUITE_CALLS_FILE).read_text())
    by_level = defaultdict(list)
    for task_id, task in tasks.items():
        by_level[task["level"]].append(task_id)
    stats = {"tasks": len(tasks), "families": len({t["family"] for t in tasks.values()}), "splits": {}, "levels": {}}
    for split, ids in index["splits"].items():
        levels = Counter(tasks[i]["level"] for i in ids)
        families = {tasks[i]["family"] for i in ids}
        stats["splits"][split] = {
            "tasks": len(ids),
            "families": len(families),
            "by_level": dict(sorted(levels.items())),
        }
    for level, ids in sorted(by_level.items()):
        stats["levels"][level] = {
            "tasks": len(ids),
            "families": len({tasks[i]["family"] for i in ids}),
            "api_calls": describe([calls[i] for i in ids]),
            "apps": describe([len(tasks[i]["apps"]) for i in ids]),
            "solution_lines": describe([len(tasks[i]["solution"].strip().splitlines()) for i in ids]),
        }
    stats["all_levels_api_calls"] = describe(list(calls.values()))
    return stats


def appworld_own_stats(root: Path) -> dict:
    """AppWorld's own task statistics, from its data folder (the one holding ``data/tasks``).

    Reads every task of AppWorld's splits (``data/datasets/<split>.txt``) and its
    ``ground_truth/metadata.json``; describes apps, unique APIs, API calls and solution lines per task over
    all of them, by AppWorld's ``difficulty`` label (1-3, set by its authors) and by split.
    """
    datasets = root / "data" / "datasets"
    metadata: dict[str, dict] = {}
    splits: dict[str, list[str]] = {}
    for split in APPWORLD_SPLITS:
        path = datasets / f"{split}.txt"
        if not path.is_file():
            continue
        splits[split] = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        for task_id in splits[split]:
            path = root / "data" / "tasks" / task_id / "ground_truth" / "metadata.json"
            metadata[task_id] = json.loads(path.read_text())
    if not metadata:
        raise SystemExit(f"no AppWorld tasks under {root}: expected data/datasets/<split>.txt and data/tasks/")

    def summary(task_ids: list[str]) -> dict:
        row: dict = {"tasks": len(task_ids)}
        for field, name in APPWORLD_METADATA_FIELDS.items():
            row[name] = describe([metadata[t][field] for t in task_ids])
        return row

    by_difficulty = defaultdict(list)
    for task_id, meta in metadata.items():
        by_difficulty[meta["difficulty"]].append(task_id)
    return {
        "all": summary(list(metadata)),
        "difficulties": {level: summary(ids) for level, ids in sorted(by_difficulty.items())},
        "splits": {split: summary(ids) for split, ids in splits.items()},
    }


def play(split: str, variants: int, per_family: int, version: int) -> dict:
    """Success and score of every policy on the first ``per_family`` variants of each family of ``split``."""
    from anchorgym.harness.runner import evaluate
    from anchorgym.harness.specs import load_benchmark

    spec = load_benchmark(f"appworld-suite/test@v{version}")
    raw = {**spec.raw, "split": split, "seeds": [0]}
    kwargs = {"source": "suite", "suite_variants": variants, "suite_version": version}
    raw["env"] = {**raw["env"], "kwargs": kwargs}
    raw["id"] = f"appworld-suite-stats/{split}@v{version}"
    ids = _split_ids(split, variants, version)
    raw["tasks"] = [t for t in ids if int(t.rsplit("_", 1)[1]) <= per_family]
    spec_file = Path(tempfile.mkdtemp()) / "suite.json"
    spec_file.write_text(json.dumps({"format": "anchorgym-benchmarks/1", "benchmarks": [raw]}))
    scores = {}
    for name, policy in POLICIES.items():
        out = spec_file.parent / name
        result = evaluate(str(spec_file), policy, out=out, progress=False)
        metrics = result["metrics"]
        scores[name] = {
            "success": round(metrics["success_rate"]["mean"], 3),
            "score": round(metrics["score"]["mean"], 3),
            "episodes": result["benchmark"]["num_tasks"],
            "per_family": per_family,
        }
        print(f"played {name}: {scores[name]}", flush=True)
    return scores


def _split_ids(split: str, variants: int, version: int) -> list[str]:
    root = ensure_suite(variants=variants, version=version)
    return [line for line in (root / "data" / "datasets" / f"{split}.txt").read_text().split() if line]


def _api_calls(row: dict) -> str:
    """A level's API calls per task as one figure: mean +- standard deviation, range and task count."""
    calls = row["api_calls"]
    return f"{calls['mean']} +- {calls['std']} (min {calls['min']}, max {calls['max']}; {row['tasks']} tasks)"


def main() -> None:
    """Measure, print the claims, write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite-version", type=int, default=SUITE_VERSION)
    parser.add_argument("--split", default="test")
    parser.add_argument("--variants", type=int, default=None, help="variants per family (default: the version's)")
    parser.add_argument("--per-family", type=int, default=2, help="variants of each family to play (7: all)")
    parser.add_argument("--skip-play", action="store_true", help="only the statistics (no episodes)")
    parser.add_argument(
        "--appworld-root",
        type=Path,
        default=os.environ.get("APPWORLD_ROOT"),
        help="AppWorld's data folder (holding data/tasks), for its own task statistics (default: $APPWORLD_ROOT)",
    )
    args = parser.parse_args()
    version = args.suite_version
    variants = args.variants or SUITE_VARIANTS_BY_VERSION[version]
    root = ensure_suite(verify=True, variants=variants, version=version)
    stats = suite_stats(root)
    claims = Claims()
    claims.check("CHECK", "suite_tasks", stats["tasks"], ">= 200", stats["tasks"] >= 200)
    claims.check("CHECK", "suite_families", stats["families"], ">= 30", stats["families"] >= 30)
    for level, row in stats["levels"].items():
        published = f"AppWorld's published mean over all levels: {PUBLISHED['api_calls_per_task']}"
        claims.info("STAT", f"level{level}_expert_api_calls", _api_calls(row), published)
    if version >= 2:
        fewest = stats["levels"][3]["api_calls"]["min"]
        claims.check("CHECK", "level3_min_api_calls", fewest, f">= {LEVEL3_MIN_CALLS}", fewest >= LEVEL3_MIN_CALLS)
    result = {"suite_version": version, "variants": variants, "stats": stats, "published_appworld": PUBLISHED}
    if args.appworld_root:
        own = appworld_own_stats(Path(args.appworld_root))
        result["appworld_own"] = own
        for level, row in own["difficulties"].items():
            source = "AppWorld's own ground-truth metadata"
            claims.info("STAT", f"appworld_difficulty{level}_api_calls", _api_calls(row), source)
    else:
        print("AppWorld's own data not given (--appworld-root or APPWORLD_ROOT): quoting its paper's means instead")
    if not args.skip_play:
        scores = play(args.split, variants, args.per_family, version)
        result["policies"] = {args.split: scores}
        expert, trivial = (
            scores["expert"]["success"],
            max(scores["complete_only"]["success"], scores["random_api"]["success"]),
        )
        claims.check("CHECK", f"expert_success_{args.split}", expert, "1.0", expert == 1.0)
        claims.check("CHECK", f"trivial_policies_success_{args.split}", trivial, "0.0", trivial == 0.0)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"appworld_suite_v{version}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    claims.exit()


if __name__ == "__main__":
    main()
