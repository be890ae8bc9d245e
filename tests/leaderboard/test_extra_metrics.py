"""The spec's extra metrics (tool-QA's subem) are checked at submit and recomputed by replay."""

from __future__ import annotations

import hashlib
import json

import pytest

from anchorgym.harness import evaluate

from .conftest import load_submission, reseal

pytest.importorskip("bm25s")

BENCHMARK = "toolqa-synthetic/smoke@v2"


@pytest.fixture(scope="module")
def expert_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toolqa") / "expert"
    evaluate(BENCHMARK, "expert", out=folder, progress=False)
    return folder


def _episodes(folder):
    return [json.loads(line) for line in load_submission(folder)[1].splitlines()]


def test_an_honest_run_with_extra_metrics_is_verified(server, expert_run):
    result, text_ = load_submission(expert_run)
    entry = server.wait_for_replay(server.submit(result, text_).json()["id"])
    assert entry["status"] == "verified"


def test_a_forged_extra_metric_fails_replay(server, expert_run):
    result, _ = load_submission(expert_run)
    episodes = _episodes(expert_run)
    episodes[0]["metrics"]["subem"] = 0.0
    entry = server.wait_for_replay(server.submit(*reseal(result, episodes)).json()["id"])
    assert entry["status"] == "failed"
    assert entry["replay_detail"].endswith("the replay ends with subem=1.0, not the recorded 0.0")


def _submit_raw(server, result, episodes):
    """Submit edited episodes with only the file hash re-sealed (the declared metrics stay as they were)."""
    text_ = "".join(json.dumps(e) + "\n" for e in episodes)
    result = json.loads(json.dumps(result))
    result["files"]["episodes_sha256"] = "sha256:" + hashlib.sha256(text_.encode()).hexdigest()
    return server.submit(result, text_)


def test_missing_extra_metrics_are_422(server, expert_run):
    result, _ = load_submission(expert_run)
    episodes = _episodes(expert_run)
    del episodes[0]["metrics"]
    response = _submit_raw(server, result, episodes)
    assert response.status_code == 422
    assert "records metrics None; the spec reports ['subem']" in response.json()["error"]


def test_a_mistyped_extra_metric_is_422(server, expert_run):
    result, _ = load_submission(expert_run)
    episodes = _episodes(expert_run)
    episodes[0]["metrics"]["subem"] = "1"
    response = _submit_raw(server, result, episodes)
    assert response.status_code == 422
    assert "metric 'subem' is \"1\"; expected a finite number" in response.json()["error"]
