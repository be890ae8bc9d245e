"""The runner in-process: result files, schema validation, resume after an interruption, refusals."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest

from anchorgym.errors import ResultError
from anchorgym.harness import records
from anchorgym.harness.results import load_result, validate_result
from anchorgym.harness.runner import evaluate

SMOKE = "sokoban-6x6-1box/smoke@v1"
STEP_KEYS = {"step", "observation", "anchor", "text", "action", "parsed", "action_valid", "reward", "terminated",
             "truncated", "tokens_in", "tokens_out"}  # fmt: skip


def _run(out, policy="random", **kwargs):
    return evaluate(SMOKE, policy, out=out, seeds=[0, 1, 2], batch_size=3, progress=False, **kwargs)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return out, _run(out)


def test_expert_result_files(tmp_path):
    result = evaluate(SMOKE, "expert", out=tmp_path, progress=False)
    validate_result(result)
    assert load_result(tmp_path) == result
    assert result["metrics"]["success_rate"] == {"mean": 1.0, "se": None, "ci95": None, "n_seeds": 1,
                                                 "per_seed": [1.0]}  # fmt: skip
    assert result["benchmark"]["spec_hash"].startswith("sha256:") and result["seeds"] == [0]
    assert result["prompt_template"]["name"] == "sokoban" and result["policy"]["spec"] == "expert"
    assert result["benchmark"]["env_spec"]["id"] == "anchorgym/Sokoban-v0"
    assert {"anchorgym", "python", "numpy", "gymnasium"} <= set(result["versions"])
    lines = (tmp_path / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 8
    episode = min((json.loads(line) for line in lines), key=lambda r: r["task_index"])  # written as they finish
    assert episode["won"] and episode["length"] == len(episode["steps"]) and set(episode["steps"][0]) == STEP_KEYS
    assert episode["task_id"] == "1000000000" and episode["seed"] == 0
    assert stat.S_IMODE(os.stat(tmp_path / "result.json").st_mode) & 0o044  # readable by others, like any file


def test_schema_rejects_a_broken_result(full_run):
    _, result = full_run
    broken = json.loads(json.dumps(result))
    broken["metrics"]["success_rate"]["se"] = -1
    with pytest.raises(ResultError, match="metrics/success_rate/se"):
        validate_result(broken)
    del broken["benchmark"]["spec_hash"]
    with pytest.raises(ResultError, match="'spec_hash' is a required property"):
        validate_result(broken)


def test_every_episode_line_matches_the_episode_schema(full_run):
    from anchorgym.harness.results import validate_episode

    full_dir, _ = full_run
    lines = records.read_episodes(full_dir / "episodes.jsonl")
    assert len(lines) == 24
    for line in lines:
        validate_episode(line)
    broken = json.loads(json.dumps(lines[0]))
    broken["steps"][0]["reward"] = "1"
    with pytest.raises(
        ResultError, match=r"^x does not match the episode schema at steps/0/reward: '1' is not of type"
    ):
        validate_episode(broken, "x")
    del broken["won"]
    with pytest.raises(ResultError, match="'won' is a required property"):
        validate_episode(broken)


def test_a_bad_episode_line_stops_the_result(full_run, tmp_path):
    full_dir, _ = full_run
    lines = (full_dir / "episodes.jsonl").read_text().splitlines(keepends=True)
    shutil.copy(full_dir / "run.json", tmp_path / "run.json")
    edited = json.loads(lines[-1])
    edited["score"] = 7.0  # scores lie in [0, 1]
    (tmp_path / "episodes.jsonl").write_text("".join(lines[:-1]) + json.dumps(edited) + "\n")
    with pytest.raises(ResultError, match=r"episodes.jsonl line 24 does not match the episode schema at score"):
        _run(tmp_path, resume=True)
    assert not (tmp_path / "result.json").exists()


def test_resume_after_interruption_gives_identical_metrics(full_run, tmp_path):
    full_dir, full = full_run
    walks = {tuple(s["action"] for s in r["steps"]) for r in records.read_episodes(full_dir / "episodes.jsonl")}
    assert len(walks) > 20  # a sampling policy: resume must replay each episode's draws exactly
    lines = (full_dir / "episodes.jsonl").read_text().splitlines(keepends=True)
    shutil.copy(full_dir / "run.json", tmp_path / "run.json")
    # 10 complete episodes (batch 4 half done) and a line cut off mid-write
    (tmp_path / "episodes.jsonl").write_text("".join(lines[:10]) + lines[10][:25])
    resumed = _run(tmp_path, resume=True)
    assert resumed["metrics"] == full["metrics"]
    assert resumed["run"]["episodes_resumed"] == 10 and resumed["run"]["seed_scheme"] == "episode-v1"
    mine = sorted(records.read_episodes(tmp_path / "episodes.jsonl"), key=lambda r: (r["seed"], r["task_index"]))
    theirs = sorted(records.read_episodes(full_dir / "episodes.jsonl"), key=lambda r: (r["seed"], r["task_index"]))
    assert mine == theirs


def test_refuses_to_overwrite_or_resume_a_different_run(full_run, tmp_path):
    full_dir, _ = full_run
    with pytest.raises(ResultError, match="already holds an evaluation. Pass --resume"):
        _run(full_dir)
    with pytest.raises(ResultError, match="it was run with different seeds"):
        evaluate(SMOKE, "random", out=full_dir, seeds=[5], batch_size=3, progress=False, resume=True)


def test_corrupt_middle_line_is_reported(tmp_path):
    path = tmp_path / "episodes.jsonl"
    path.write_text('{"a": 1}\n{broken\n{"a": 2}\n')
    with pytest.raises(ResultError, match="line 2 is corrupt"):
        records.read_episodes(path)
    path.write_text('{"a": 1}\n{"a": 2')
    assert records.read_episodes(path, repair=True) == [{"a": 1}]
    assert path.read_text() == '{"a": 1}\n'


@pytest.mark.slow
@pytest.mark.parametrize("backend_options", [None, {"max_worker_rss_mb": 1}], ids=["plain", "recycling"])
def test_process_backend_gives_the_same_result(full_run, tmp_path, backend_options):
    _, full = full_run  # a 1 MiB limit restarts every worker at every batch's reset
    result = _run(tmp_path, backend="process", num_workers=2, backend_options=backend_options)
    assert result["run"]["backend"] == "ProcessBackend"
    assert result["metrics"] == full["metrics"]


def test_resume_replays_a_sampling_model_exactly(tmp_path):
    """A sampling LM (tiny random Qwen2, temperature 1) draws per episode and step: a resume repeats every output."""
    pytest.importorskip("transformers")
    from anchorgym.policies.base import GenerationConfig

    def run(out, resume=False):
        generation = GenerationConfig(temperature=1.0, max_new_tokens=8, seed=7)
        return evaluate("sokoban-6x6-1box/lm-smoke@v1", "hf:tiny", out=out, seeds=[0, 1], batch_size=2, resume=resume,
                        generation=generation, policy_options={"device": "cpu"}, progress=False)  # fmt: skip

    full_dir, part_dir = tmp_path / "full", tmp_path / "part"
    full = run(full_dir)
    assert full["policy"]["generation"]["seed"] == 7 and full["run"]["seed_scheme"] == "episode-v1"
    lines = (full_dir / "episodes.jsonl").read_text().splitlines(keepends=True)
    part_dir.mkdir()
    shutil.copy(full_dir / "run.json", part_dir / "run.json")
    (part_dir / "episodes.jsonl").write_text("".join(lines[:3]))  # batch 0 and half of batch 1 finished
    resumed = run(part_dir, resume=True)
    key = lambda r: (r["seed"], r["task_index"])  # noqa: E731
    mine = sorted(records.read_episodes(part_dir / "episodes.jsonl"), key=key)
    theirs = sorted(records.read_episodes(full_dir / "episodes.jsonl"), key=key)
    texts = [[s["text"] for s in r["steps"]] for r in theirs]
    assert len({t for episode in texts for t in episode}) > 4  # sampled: outputs differ between steps and batches
    assert [[s["text"] for s in r["steps"]] for r in mine] == texts
    assert mine == theirs and resumed["metrics"] == full["metrics"] and resumed["policy"] == full["policy"]
