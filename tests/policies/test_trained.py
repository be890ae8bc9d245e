"""``anchorgym eval --policy hf:RUN/iter_N`` plays a trainer checkpoint in the format it was trained in (#28)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from anchorgym.cli import main  # noqa: E402
from anchorgym.policies.trained import trained_checkpoint  # noqa: E402
from anchorgym.training.config import TrainConfig  # noqa: E402
from anchorgym.training.trainer import train  # noqa: E402

SMOKE = "sokoban-6x6-1box/lm-smoke@v2"  # Sokoban-v1, 4 puzzles of at most 3 steps


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One iteration of the bundled CPU config (tiny Qwen2, choice format) with a checkpoint."""
    out = tmp_path_factory.mktemp("trained") / "run"
    config = TrainConfig.from_yaml("configs/sokoban-tiny-cpu.yaml")
    config = TrainConfig.from_dict({**config.to_dict(), "iterations": 1, "save_every": 1, "output_dir": str(out),
                                    "progress": False, "group_size": 4})  # fmt: skip
    assert config.action_format == "choice"
    train(config)
    return out


@pytest.mark.slow
def test_the_short_and_the_full_checkpoint_names_resolve(run_dir):
    full = run_dir / "checkpoints" / "iter_000001"
    assert trained_checkpoint(str(run_dir / "iter_1")) == full == trained_checkpoint(str(full))
    assert trained_checkpoint(str(run_dir / "iter_2")) is None  # no such checkpoint: an ordinary path


@pytest.mark.slow
def test_eval_plays_the_checkpoint_in_its_choice_format(run_dir, tmp_path):
    out = tmp_path / "eval"
    args = ["eval", SMOKE, "--policy", f"hf:{run_dir}/iter_1", "--temperature", "0", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["policy"]["class"] == "TrainedPolicy"
    assert result["policy"]["trained_format"] == {"action_format": "choice", "history_length": 0, "choice_size": 4}
    metrics = result["metrics"]
    # every answer is one of the 4 digits, i.e. an admissible move: no parse failures, no invalid actions
    # (played as free text the same weights were 100% invalid)
    assert metrics["parse_failure_rate"]["mean"] == 0.0 and metrics["invalid_action_rate"]["mean"] == 0.0
    episode = json.loads((out / "episodes.jsonl").read_text().splitlines()[0])
    assert {s["action"] for s in episode["steps"]} <= {"up", "down", "left", "right"}
    assert all(s["text"] in "0123" for s in episode["steps"])
