"""Write the AppWorld suite (multi-app scenario families) into an ``APPWORLD_ROOT``-shaped folder.

Run inside the AppWorld venv: ``python suite_generate.py OUT_DIR --seed S --variants V [--suite-version N] [--verify]``.
It draws the world from the seed (:mod:`suite_world`), saves it as AppWorld's
``data/base_dbs`` with AppWorld's API docs, and writes every task of every family
(:mod:`suite_tasks`) exactly as AppWorld stores its own (``specs.json``, ``dbs/``
in the "changes" format, ``ground_truth/`` with ``evaluation.py``, ``test_data.json``
labels, ``metadata.json``), the split files ``data/datasets/{train,test}.txt``
(test families never in train) and ``anchorgym_tasks.json`` for anchorgym. Same
seed and variants, same bytes. With ``--verify`` every task is played by its
expert (must pass; its API calls are counted into ``anchorgym_api_calls.json``)
and by a policy that only completes the task (must fail), through AppWorld's own
``AppWorld`` and evaluator.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

INDEX_FILE = "anchorgym_tasks.json"
CALLS_FILE = "anchorgym_api_calls.json"
INDEX_VERSION = 1
VERIFY_EXPERIMENT = "anchorgym-suite-verify"
COMPLETE_ONLY = "apis.supervisor.complete_task()"
TASKS_OF_VERSION = {1: 1, 2: 2, 3: 2}
"""The world and task families each suite version draws: version 3 is version 2's, with the API docs app filled."""
API_DOCS_FROM_VERSION = 3
"""From this version on the world's ``api_docs`` app holds AppWorld's docs, so agents can look APIs up as in AppWorld
(``apis.api_docs.show_app_descriptions()``...); before, its table was left empty and those calls found no app."""


def build_base(root: Path, plan: dict[str, Any], api_docs: bool = False) -> None:
    """Build the world of ``plan`` in ``root/data/base_dbs`` and write the API docs (``api_docs``: into it too)."""
    from appworld.apps import get_all_apps
    from appworld.collections.api_docs import ApiDocCollection
    from appworld.collections.models import ModelCollection
    from generate import _write_api_docs
    from suite_world import build_world

    docs = ApiDocCollection.build(load_apps=tuple(get_all_apps(skip_admin=True)))
    home = root / "data" / "base_dbs"
    home.mkdir(parents=True, exist_ok=True)
    models = ModelCollection.load(to_db_home_path=str(home), load_apps=get_all_apps(), create_db=True)
    build_world(models, plan)
    if api_docs:
        fill_api_docs(models, docs)
    models.close()
    _write_api_docs(root, docs)


def fill_api_docs(models: Any, docs: Any) -> None:
    """Save every public API's doc (AppWorld's "standard" docs, in its collection's order) as an ``ApiDoc`` row."""
    for api_name_to_doc in docs.values():
        for doc in api_name_to_doc.values():
            fields = {key: doc[key] for key in ("api_name", "path", "method", "description", "parameters")}
            record = models.api_docs.ApiDoc.create(
                app_name_=doc["app_name"], response_schemas=doc["response_schemas"], **fields
            )
            record.save()


def write_task(root: Path, task: Any, when: str) -> None:
    """Write one task as AppWorld's ``Task.load``/``GroundTruth.load`` expect it."""
    from generate import _write_json, write_task_start
    from suite_world import SUPERVISOR

    task_dir = write_task_start(root, task.id, task.instruction, SUPERVISOR, when, "suite")
    truth = task_dir / "ground_truth"
    truth.mkdir(parents=True, exist_ok=True)
    metadata = {
        "difficulty": task.level,
        "mode": "full",
        "num_apps": len(task.apps),
        "num_apis": len(set(__import__("re").findall(r"apis\.(\w+\.\w+)", task.solution))),
        "num_solution_code_lines": len(task.solution.strip().splitlines()),
        "scenario": task.family,
    }
    _write_json(truth / "metadata.json", metadata)
    _write_json(truth / "public_data.json", {})
    _write_json(truth / "private_data.json", task.private_data)
    _write_json(truth / "test_data.json", [{"requirement": r, "label": label} for r, label in task.requirements])
    (truth / "answer.json").write_text(json.dumps(task.answer))
    (truth / "evaluation.py").write_text(task.evaluation_code)
    (truth / "solution.py").write_text(task.solution)


def splits(tasks: list[Any], version: int = 1) -> dict[str, list[str]]:
    """``train`` and ``test`` task ids: a family is either held out (test) or not, never both."""
    from suite_tasks import test_families

    held_out = test_families(version)
    return {
        "train": [t.id for t in tasks if t.family not in held_out],
        "test": [t.id for t in tasks if t.family in held_out],
    }


def index_of(tasks: list[Any], seed: int, variants: int, version: int) -> dict[str, Any]:
    """The content of ``anchorgym_tasks.json`` (version 1's has no ``suite_version`` key: kept byte for byte)."""
    index = {
        "version": INDEX_VERSION,
        "seed": seed,
        "variants": variants,
        "splits": splits(tasks, TASKS_OF_VERSION[version]),
        "tasks": {t.id: {**asdict(t), "app": t.app, "kind": t.kind} for t in tasks},
    }
    return index if version == 1 else {**index, "suite_version": version}


def generate(out: Path, seed: int, variants: int, families: list[str] | None = None, version: int = 1) -> list[Any]:
    """Build the suite (``version`` 1, 2 or 3) at ``out`` (atomically); return its tasks."""
    from datetime import datetime

    from appworld.apps.api_lib import set_local_date_and_time
    from generate import _write_json, progress
    from suite_tasks import all_tasks
    from suite_world import WORLD_DATETIME, plan_world

    staging = out.with_name(f"{out.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    os.environ["APPWORLD_ROOT"] = str(staging)
    freezer = set_local_date_and_time(datetime.fromisoformat(WORLD_DATETIME))
    plan = plan_world(seed, TASKS_OF_VERSION[version])
    build_base(staging, plan, api_docs=version >= API_DOCS_FROM_VERSION)
    tasks = all_tasks(plan, seed, variants, families)
    for done, task in enumerate(tasks, start=1):
        write_task(staging, task, WORLD_DATETIME)
        progress("generate", done, len(tasks))
    freezer.stop()
    index = index_of(tasks, seed, variants, version)
    for name, ids in index["splits"].items():
        path = staging / "data" / "datasets" / f"{name}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{i}\n" for i in ids))
    _write_json(staging / INDEX_FILE, index)
    if (out / INDEX_FILE).exists():  # another process finished first: keep its copy
        shutil.rmtree(staging)
    else:
        shutil.rmtree(out, ignore_errors=True)
        os.replace(staging, out)
    os.environ["APPWORLD_ROOT"] = str(out)
    return tasks


def play(task_id: str, code: str) -> dict[str, Any]:
    """Run ``code`` in a fresh AppWorld on ``task_id``; return AppWorld's evaluation and the API calls made."""
    from appworld import AppWorld

    with AppWorld(task_id=task_id, experiment_name=VERIFY_EXPERIMENT, timeout_seconds=60) as world:
        output = world.execute(code)
        calls = len(world.requester.request_tracker.requests)
        tracker = world.evaluate(suppress_errors=True)
        result = tracker.to_dict(stats_only=True)
        failures = [f["requirement"] for f in tracker.failures]
    return {"output": output, "api_calls": calls, "failures": failures, **result}


def verify(root: Path, tasks: list[Any]) -> list[str]:
    """Play every task's expert (must pass) and complete-only (must fail); write the experts' API call counts."""
    from generate import _write_json, progress

    problems, calls = [], {}
    for done, task in enumerate(tasks, start=1):
        good = play(task.id, task.solution)
        bad = play(task.id, COMPLETE_ONLY)
        calls[task.id] = good["api_calls"]
        progress("verify", done, len(tasks))
        if not good["success"]:
            problems.append(f"{task.id}: expert failed: {good['failures']} {good['output'][-400:]}")
        if bad["success"]:
            problems.append(f"{task.id}: completing without acting passed")
    _write_json(root / CALLS_FILE, calls)
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: generate, optionally verify, print one JSON summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", type=int, default=7)
    parser.add_argument("--families", default="", help="comma-separated family names (default: all)")
    versions = "1: the @v1 suite; 2: more apps; 3: version 2's with the API docs app filled"
    parser.add_argument("--suite-version", type=int, default=1, help=versions)
    parser.add_argument("--verify", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules
    out = args.out.resolve()
    families = [f for f in args.families.split(",") if f] or None
    if (out / INDEX_FILE).exists():
        from suite_tasks import SuiteTask

        index = json.loads((out / INDEX_FILE).read_text())
        fields = SuiteTask.__dataclass_fields__
        tasks = [SuiteTask(**{k: v for k, v in t.items() if k in fields}) for t in index["tasks"].values()]
        os.environ["APPWORLD_ROOT"] = str(out)
    else:
        tasks = generate(out, args.seed, args.variants, families, args.suite_version)
    problems = verify(out, tasks) if args.verify else []
    shutil.rmtree(out / "experiments" / "outputs" / VERIFY_EXPERIMENT, ignore_errors=True)
    print(json.dumps({"tasks": len(tasks), "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
