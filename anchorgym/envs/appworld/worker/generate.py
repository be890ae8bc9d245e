"""Write the offline AppWorld tasks into an ``APPWORLD_ROOT``-shaped folder.

Run inside the AppWorld venv: ``python generate.py OUT_DIR [--verify]``. It
builds one world with AppWorld's own models (:mod:`world`), saves it as
``data/base_dbs``, writes AppWorld's API docs, and for every task template
(:mod:`tasks`) writes ``data/tasks/<id>/{specs.json,dbs/,ground_truth/}`` the way
AppWorld stores its own tasks, plus ``data/datasets/offline.txt`` and
``anchorgym_tasks.json`` (instructions, expert and wrong solutions) for anchorgym.
With ``--verify`` every task is played with its expert (must pass) and its
wrong solution (must fail) through AppWorld's own ``AppWorld``/evaluator.
The folder is built beside OUT_DIR and moved into place atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

SPLIT = "offline"
INDEX_FILE = "anchorgym_tasks.json"
INDEX_VERSION = 1
VERIFY_EXPERIMENT = "anchorgym-verify"
PROGRESS_PREFIX = "anchorgym-progress"


def progress(phase: str, done: int, total: int) -> None:
    """Report progress on stderr as ``PROGRESS_PREFIX phase done total`` (anchorgym shows a bar)."""
    print(f"{PROGRESS_PREFIX} {phase} {done} {total}", file=sys.stderr, flush=True)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def build_base(root: Path) -> dict[str, Any]:
    """Create the world in ``root/data/base_dbs`` and the API docs; return the world's facts."""
    from appworld.apps import get_all_apps
    from appworld.collections.api_docs import ApiDocCollection
    from appworld.collections.models import ModelCollection
    from world import build_world

    home = root / "data" / "base_dbs"
    home.mkdir(parents=True, exist_ok=True)
    models = ModelCollection.load(to_db_home_path=str(home), load_apps=get_all_apps(), create_db=True)
    facts = build_world(models)
    models.close()
    _write_api_docs(root, ApiDocCollection.build(load_apps=tuple(get_all_apps(skip_admin=True))))
    return facts


def _write_api_docs(root: Path, docs: Any) -> None:
    """Write the "standard" API docs that ``ApiDocCollection.load`` reads.

    AppWorld's own ``save`` also writes OpenAPI docs, which need an extra package.
    """
    from appworld.common.constants import CANARY_STRING

    for app_name, api_name_to_docs in docs.items():
        data = {name: {**doc, "canary_string": CANARY_STRING} for name, doc in api_name_to_docs.items()}
        _write_json(root / "data" / "api_docs" / "standard" / f"{app_name}.json", data)


def write_task(root: Path, spec: Any, supervisor: dict[str, str], when: str) -> None:
    """Write one task as AppWorld's ``Task.load``/``GroundTruth.load`` expect it."""
    task_dir = write_task_start(root, spec.id, spec.instruction, supervisor, when, "generate")
    _write_ground_truth(task_dir / "ground_truth", spec)


def write_task_start(
    root: Path, task_id: str, instruction: str, supervisor: dict[str, str], when: str, label: str
) -> Path:
    """Write a task's starting state (its DB changes: the supervisor's task row) and ``specs.json``.

    Returns the task's folder; ``label`` names the in-memory database it is built in.
    """
    from appworld.apps import get_all_apps
    from appworld.collections.models import ModelCollection
    from appworld.common.constants import DB_VERSION

    task_dir = root / "data" / "tasks" / task_id
    models = ModelCollection.load(
        to_db_home_path=f":memory:{label}-{task_id}",
        from_db_home_path=str(root / "data" / "base_dbs"),
        load_apps=get_all_apps(),
    )
    models.supervisor.Task.create(supervisor_id=1, instruction=instruction).save()
    models.save(db_home_path=str(task_dir / "dbs"), format="changes", delete_if_exists=True)
    models.close()
    specs = {"instruction": instruction, "supervisor": supervisor, "datetime": when, "db_version": DB_VERSION}
    _write_json(task_dir / "specs.json", specs)
    return task_dir


def _write_ground_truth(directory: Path, spec: Any) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    labels = [
        {"requirement": r, "label": "no_op_pass" if r.startswith("no other") else "no_op_fail"}
        for r in spec.requirements
    ]
    metadata = {
        "difficulty": 1,
        "mode": "minimal",
        "num_apps": 1,
        "num_apis": len(set(re.findall(r"apis\.(\w+\.\w+)", spec.solution))),
        "num_solution_code_lines": len(spec.solution.strip().splitlines()),
    }
    _write_json(directory / "metadata.json", metadata)
    _write_json(directory / "public_data.json", {})
    _write_json(directory / "private_data.json", spec.private_data)
    _write_json(directory / "test_data.json", labels)
    (directory / "answer.json").write_text(json.dumps(spec.answer))
    (directory / "evaluation.py").write_text(spec.evaluation_code)


def generate(out: Path) -> list[Any]:
    """Build the whole offline root at ``out`` (atomically); return the task specs."""
    from appworld.apps.api_lib import set_local_date_and_time
    from tasks import all_tasks
    from world import SUPERVISOR, WORLD_DATETIME

    staging = out.with_name(f"{out.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    os.environ["APPWORLD_ROOT"] = str(staging)
    from datetime import datetime

    freezer = set_local_date_and_time(datetime.fromisoformat(WORLD_DATETIME))
    facts = build_base(staging)
    specs = all_tasks(facts)
    for done, spec in enumerate(specs, start=1):
        write_task(staging, spec, SUPERVISOR, WORLD_DATETIME)
        progress("generate", done, len(specs))
    freezer.stop()
    (staging / "data" / "datasets").mkdir(parents=True, exist_ok=True)
    (staging / "data" / "datasets" / f"{SPLIT}.txt").write_text("".join(f"{s.id}\n" for s in specs))
    index = {"version": INDEX_VERSION, "split": SPLIT, "tasks": {s.id: asdict(s) for s in specs}}
    _write_json(staging / INDEX_FILE, index)
    if (out / INDEX_FILE).exists():  # another process finished first: keep its copy
        shutil.rmtree(staging)
    else:
        shutil.rmtree(out, ignore_errors=True)
        os.replace(staging, out)
    os.environ["APPWORLD_ROOT"] = str(out)
    return specs


def play(task_id: str, code: str, experiment: str) -> dict[str, Any]:
    """Run ``code`` in a fresh AppWorld on ``task_id``; return AppWorld's evaluation."""
    from appworld import AppWorld

    with AppWorld(task_id=task_id, experiment_name=experiment, timeout_seconds=30) as world:
        output = world.execute(code)
        result = world.evaluate().to_dict(stats_only=True)
    return {"output": output, **result}


def verify(specs: list[Any]) -> list[str]:
    """Return a problem line for every task whose expert fails or whose wrong solution passes."""
    problems = []
    for done, spec in enumerate(specs, start=1):
        good = play(spec.id, spec.solution, VERIFY_EXPERIMENT)
        bad = play(spec.id, spec.wrong_solution, VERIFY_EXPERIMENT)
        progress("verify", done, len(specs))
        if not good["success"]:
            problems.append(f"{spec.id}: expert failed: {good}")
        if bad["success"]:
            problems.append(f"{spec.id}: wrong solution passed: {bad}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: generate, optionally verify, print one JSON summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--verify", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules world and tasks
    specs = generate(args.out.resolve())
    problems = verify(specs) if args.verify else []
    shutil.rmtree(args.out.resolve() / "experiments" / "outputs" / VERIFY_EXPERIMENT, ignore_errors=True)
    print(json.dumps({"tasks": len(specs), "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
