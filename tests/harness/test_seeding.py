"""Per-episode randomness: an episode's record depends on its (spec, task, seed), never on its batch.

Every run below plays the same faulty-Sokoban spec (4 tasks x 4 episodes, 2 seeds) with a sampling
policy; only the batch size, the worker count, the backend, failures of other episodes and retries
change. The sorted ``episodes.jsonl`` lines must be byte-identical to a one-episode-at-a-time run.
"""

from __future__ import annotations

import json
import shutil

import pytest
from harness_faultyenv import HERE_TASKS, write_spec

from anchorgym.errors import ConfigError
from anchorgym.harness import records
from anchorgym.harness.plan import derive_seed, episode_policy_seed, step_seed
from anchorgym.harness.rundir import record_key
from anchorgym.harness.runner import evaluate
from anchorgym.policies.base import GenerationConfig

FAILING = HERE_TASKS[1]
RANDOM_RUNS = {
    "batch3": {"batch_size": 3},
    "batch16": {"batch_size": 16},
    "process-1-worker": {"batch_size": 16, "backend": "process", "num_workers": 1},
    "process-2-workers": {"batch_size": 3, "backend": "process", "num_workers": 2},
}


def sorted_lines(out) -> list[str]:
    """The run's episode lines, in key order, exactly as written."""
    lines = (out / records.EPISODES_FILE).read_text().splitlines()
    return sorted(lines, key=lambda line: record_key(json.loads(line)))


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spec")
    return folder, write_spec(folder / "spec.json", [FAILING], 2, folder / "fail-now", episodes_per_task=4)


def run(spec_file, out, policy="random", **kwargs):
    _, spec = spec_file
    kwargs.setdefault("seeds", [0, 1])
    return evaluate(str(spec), policy, out=out, progress=False, **kwargs)


@pytest.fixture(scope="module")
def reference(spec_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    result = run(spec_file, out, batch_size=1)
    return sorted_lines(out), result


def test_the_scheme_is_recorded_and_draws_are_per_episode(reference):
    lines, result = reference
    assert result["run"]["seed_scheme"] == "episode-v1"
    assert len(lines) == 32 and "error" not in lines[0]
    actions = {tuple(s["action"] for s in json.loads(line)["steps"]) for line in lines}
    assert len(actions) > 20  # random walks: the episodes differ from one another
    assert episode_policy_seed(0, "1000000001", 2) == derive_seed(0, "1000000001", 2, "policy")
    assert step_seed(7, 3) == derive_seed(7, "step", 3)


@pytest.mark.parametrize("name", list(RANDOM_RUNS))
def test_random_policy_episodes_do_not_depend_on_the_batch(spec_file, reference, tmp_path, name):
    run(spec_file, tmp_path, **RANDOM_RUNS[name])
    assert sorted_lines(tmp_path) == reference[0]


@pytest.mark.slow
def test_random_policy_episodes_are_the_same_on_ray(spec_file, reference, tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a private local instance, never a cluster found
    import ray

    try:
        run(spec_file, tmp_path, batch_size=16, backend="ray", num_workers=2)
    finally:
        ray.shutdown()
    assert sorted_lines(tmp_path) == reference[0]


def test_a_failure_and_a_retry_leave_every_episode_as_an_uninterrupted_run(spec_file, reference, tmp_path):
    folder, _ = spec_file
    flag = folder / "fail-now"
    flag.write_text("")
    try:
        first = run(spec_file, tmp_path, batch_size=16)
    finally:
        flag.unlink()
    assert len(first["errors"]) == 8 and {e["task_id"] for e in first["errors"]} == {FAILING}
    interrupted = sorted_lines(tmp_path)
    unaffected = [line for line in interrupted if "error" not in json.loads(line)]
    assert unaffected == [line for line in reference[0] if json.loads(line)["task_id"] != FAILING]
    run(spec_file, tmp_path, batch_size=16, resume=True, retry_errored=True)
    assert sorted_lines(tmp_path) == reference[0]


@pytest.fixture(scope="module")
def lm_reference(spec_file, tmp_path_factory):
    pytest.importorskip("transformers")
    out = tmp_path_factory.mktemp("lm-reference")
    run(spec_file, out, policy="hf:tiny", **lm_options(batch_size=1))
    return sorted_lines(out)


def lm_options(**kwargs):
    generation = GenerationConfig(temperature=1.0, max_new_tokens=6, seed=3)
    return {"generation": generation, "policy_options": {"device": "cpu", "threads": 1}, "seeds": [0], **kwargs}


@pytest.mark.parametrize("batch_size", [3, 16])
def test_a_sampling_model_episode_does_not_depend_on_the_batch(spec_file, lm_reference, tmp_path, batch_size):
    run(spec_file, tmp_path, policy="hf:tiny", **lm_options(batch_size=batch_size))
    lines = sorted_lines(tmp_path)
    texts = {s["text"] for line in lines for s in json.loads(line)["steps"]}
    assert len(texts) > 10  # sampled: the answers differ between steps and episodes
    assert lines == lm_reference


def test_a_sampling_model_replays_after_a_failure_and_a_retry(spec_file, lm_reference, tmp_path):
    folder, _ = spec_file
    flag = folder / "fail-now"
    flag.write_text("")
    try:
        first = run(spec_file, tmp_path, policy="hf:tiny", **lm_options(batch_size=16))
    finally:
        flag.unlink()
    assert {e["task_id"] for e in first["errors"]} == {FAILING}
    run(spec_file, tmp_path, policy="hf:tiny", resume=True, retry_errored=True, **lm_options(batch_size=16))
    assert sorted_lines(tmp_path) == lm_reference


def test_runs_made_with_per_batch_seeds_resume_and_rerun_with_them(spec_file, tmp_path):
    """``seed_scheme="batch"`` is how results without ``run.seed_scheme`` were made; a resume keeps it."""
    full_dir, part_dir = tmp_path / "full", tmp_path / "part"
    full = run(spec_file, full_dir, batch_size=3, seed_scheme="batch")
    assert full["run"]["seed_scheme"] == "batch" and full["run"]["policy_reseeded_per_batch"]
    assert "seed_scheme" not in records.read_json(full_dir / records.RUN_FILE)  # as older run.json files
    run(spec_file, tmp_path / "other", batch_size=16, seed_scheme="batch")
    assert sorted_lines(tmp_path / "other") != sorted_lines(full_dir)  # the batch dependence episode-v1 removes
    part_dir.mkdir()
    shutil.copy(full_dir / records.RUN_FILE, part_dir / records.RUN_FILE)
    lines = (full_dir / records.EPISODES_FILE).read_text().splitlines(keepends=True)
    (part_dir / records.EPISODES_FILE).write_text("".join(lines[:7]))
    resumed = run(spec_file, part_dir, batch_size=3, resume=True)
    assert resumed["run"]["seed_scheme"] == "batch" and sorted_lines(part_dir) == sorted_lines(full_dir)


def test_an_unknown_seed_scheme_is_refused(spec_file, tmp_path):
    with pytest.raises(ConfigError, match=r"^Unknown seed scheme 'per-run'; expected one of episode-v1, batch\.$"):
        run(spec_file, tmp_path, seed_scheme="per-run")
