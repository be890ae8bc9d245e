"""benchmarks/appworld_stats.py reads AppWorld's own task statistics from its data folder."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "appworld_stats.py"


@pytest.fixture
def load_script(monkeypatch):
    """The script as a module (its sibling ``claims`` module importable, as when it runs)."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    return _load


def _load():
    spec = importlib.util.spec_from_file_location("appworld_stats", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_appworld_task(root: Path, task_id: str, **metadata: int) -> None:
    """One task as AppWorld's data stores its ground-truth metadata (the fields AppWorld writes)."""
    truth = root / "data" / "tasks" / task_id / "ground_truth"
    truth.mkdir(parents=True)
    (truth / "metadata.json").write_text(json.dumps({"mode": "full", "seconds_to_solve": 0.2, **metadata}))


def test_appworld_own_statistics_by_difficulty_and_split(tmp_path, load_script):
    datasets = tmp_path / "data" / "datasets"
    datasets.mkdir(parents=True)
    (datasets / "train.txt").write_text("a_1\na_2\n")
    (datasets / "test_normal.txt").write_text("b_1\n")
    write_appworld_task(
        tmp_path, "a_1", difficulty=1, num_apps=1, num_apis=5, num_api_calls=5, num_solution_code_lines=24
    )
    write_appworld_task(
        tmp_path, "a_2", difficulty=3, num_apps=3, num_apis=11, num_api_calls=28, num_solution_code_lines=72
    )
    write_appworld_task(
        tmp_path, "b_1", difficulty=3, num_apps=4, num_apis=18, num_api_calls=26, num_solution_code_lines=81
    )

    stats = load_script().appworld_own_stats(tmp_path)

    assert stats["all"]["tasks"] == 3
    assert stats["all"]["api_calls"] == {"mean": 19.7, "std": 10.4, "min": 5, "max": 28}
    assert stats["difficulties"][1]["apps"] == {"mean": 1, "std": 0.0, "min": 1, "max": 1}
    assert stats["difficulties"][3]["tasks"] == 2
    assert stats["difficulties"][3]["unique_apis"] == {"mean": 14.5, "std": 3.5, "min": 11, "max": 18}
    assert stats["difficulties"][3]["solution_lines"] == {"mean": 76.5, "std": 4.5, "min": 72, "max": 81}
    assert stats["splits"]["train"]["api_calls"]["mean"] == 16.5
    assert stats["splits"]["test_normal"]["tasks"] == 1


def test_appworld_own_statistics_need_appworld_data(tmp_path, load_script):
    with pytest.raises(SystemExit, match="no AppWorld tasks under"):
        load_script().appworld_own_stats(tmp_path)
