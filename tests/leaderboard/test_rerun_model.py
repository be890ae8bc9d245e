"""Re-run verification of a model policy (``hf:``): the operator plays the sample again with the model.

The model is the tiny random-init Qwen2 of :mod:`anchorgym.policies.tiny`, run greedily (temperature 0), so
a re-run must reproduce every sampled episode's actions. Replay cannot tell which policy chose the actions:
an expert run whose moves are wrapped in the template's action tags and relabelled as the model's is
replay-verified; the re-run flags it.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from anchorgym.harness import evaluate
from anchorgym.leaderboard.rerun import rerun_entry
from anchorgym.policies.base import GenerationConfig

from .conftest import load_submission, reseal

pytest.importorskip("transformers", reason="needs the hf extra")
pytestmark = pytest.mark.slow
BENCHMARK = "sokoban-6x6-1box/lm-smoke@v1"
GREEDY = GenerationConfig(temperature=0, max_new_tokens=16)
SAMPLING = GenerationConfig(temperature=1.0, max_new_tokens=16, seed=0)


@pytest.fixture(scope="module")
def model_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny model's greedy run and the expert's run of the benchmark, and the model's folder."""
    from anchorgym.policies.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("model-runs")
    model = build_tiny_model(root / "model")
    evaluate(BENCHMARK, f"hf:{model}", out=root / "hf", progress=False, generation=GREEDY)
    evaluate(BENCHMARK, f"hf:{model}", out=root / "sampling", progress=False, generation=SAMPLING)
    evaluate(BENCHMARK, "expert", out=root / "expert", progress=False)
    return {"model": model, "hf": root / "hf", "sampling": root / "sampling", "expert": root / "expert"}


def _expert_relabelled_as_the_model(runs: dict[str, Path], model_run: str = "hf", keep: int = 0) -> tuple[dict, str]:
    """The forger's submission: the expert's moves, as texts the template parses, under the model's policy record.

    The model's own first ``keep`` episodes stay (they are lost: the tiny model wins nothing).
    """
    result, text_ = load_submission(runs["expert"])
    episodes = [json.loads(line) for line in text_.splitlines()]
    for episode in episodes:
        for step in episode["steps"]:
            step["text"], step["parsed"] = f"<action>{step['action']}</action>", True
    model_result, model_text = load_submission(runs[model_run])
    own = sorted((json.loads(line) for line in model_text.splitlines()), key=lambda e: e["task_index"])[:keep]
    episodes = [next((o for o in own if o["task_index"] == e["task_index"]), e) for e in episodes]
    result["policy"] = model_result["policy"]
    return reseal(result, episodes)


def test_rerun_verifies_an_honest_greedy_model_run_and_flags_a_relabelled_one(server, model_runs):
    sessions, storage = server.app.extensions["anchorgym"]["sessions"], server.app.extensions["anchorgym"]["storage"]
    allowed = [f"hf:{model_runs['model']}"]
    honest = server.submit(*load_submission(model_runs["hf"]))
    assert honest.status_code == 201, honest.text
    assert server.wait_for_replay(honest.json()["id"])["status"] == "verified"
    assert rerun_entry(sessions, storage, honest.json()["id"], sample=4, allowed=allowed, seed=0) == (
        "verified",
        "4 sampled episodes re-run with identical actions and outcomes",
    )

    forged = server.submit(*_expert_relabelled_as_the_model(model_runs))
    assert forged.status_code == 201, forged.text
    entry = server.wait_for_replay(forged.json()["id"])
    assert entry["status"] == "verified", entry["replay_detail"]  # replay cannot tell who chose the moves
    status, detail = rerun_entry(sessions, storage, forged.json()["id"], sample=4, allowed=allowed, seed=0)
    assert (status, detail.split(", e.g.")[0]) == ("flagged", "4 of 4 re-run episodes differ from the submitted ones")
    assert detail.endswith("the policy named does not reproduce them")

    board = server.board(BENCHMARK)
    assert [e["id"] for e in board["ranked"]] == [honest.json()["id"]]
    assert [(e["id"], e["status"]) for e in board["unverified"]] == [(forged.json()["id"], "rerun-flagged")]
    assert "re-run verified" in httpx.get(f"{server.url}/benchmarks/{BENCHMARK}").text


def test_rerun_flags_expert_episodes_declared_as_a_sampling_model(server, model_runs):
    """Issue #25, 7: 3 of 4 expert wins declared as a sampling model that wins none passed the z-test (z = 2.19)."""
    sessions, storage = server.app.extensions["anchorgym"]["sessions"], server.app.extensions["anchorgym"]["storage"]
    assert load_submission(model_runs["sampling"])[0]["metrics"]["success_rate"]["mean"] == 0.0
    forged = server.submit(*_expert_relabelled_as_the_model(model_runs, "sampling", keep=1))
    assert forged.status_code == 201, forged.text
    entry = server.wait_for_replay(forged.json()["id"])
    assert (entry["status"], entry["success"]) == ("verified", 0.75), entry["replay_detail"]
    status, detail = rerun_entry(sessions, storage, entry["id"], allowed=[f"hf:{model_runs['model']}"], seed=0)
    assert status == "flagged", detail
    assert detail.startswith("0 wins in 4 re-run episodes against a claimed success of 0.750 (exact binomial test on 4")
    assert detail.endswith(
        "flagged at 0 wins or fewer; false reject 0.0039, false accept 0.9590): the policy "
        "named does not reach the claimed success"
    )
    entry = httpx.get(f"{server.url}/api/entries/{entry['id']}").json()
    assert (entry["status"], entry["tier"]) == ("rerun-flagged", "unranked")
