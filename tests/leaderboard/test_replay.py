"""Background replay verification on every deterministic env family: ALFWorld, WebShop, tool-QA.

(Sokoban's is in test_api.py.) Each benchmark's smoke set is played by the expert, submitted to a
real server, and replayed in the real environment; a forged reward in an otherwise self-consistent
submission is caught at the exact step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchorgym.harness import evaluate

from .conftest import load_submission, reseal

pytest.importorskip("bm25s", reason="needs the toolqa/webshop extras")


def _forge_last_reward(folder: Path) -> tuple[dict, str, str]:
    """Add 1 to the last step's reward of the first episode, re-sealing result.json; return the expected mismatch."""
    result, text_ = load_submission(folder)
    episodes = [json.loads(line) for line in text_.splitlines()]
    forged = episodes[0]
    last = forged["steps"][-1]
    last["reward"] += 1.0
    forged["return"] += 1.0
    where = f"seed {forged['seed']}, task {forged['task_id']!r}, step {len(forged['steps'])}"
    reason = f"{where}: reward {last['reward'] - 1.0} but {last['reward']} was recorded"
    return (*reseal(result, episodes), reason)


@pytest.fixture
def data_env(request, monkeypatch):
    """Point ALFWorld at the test games (the other envs find theirs through ANCHORGYM_SHARED_DATA)."""
    if request.param == "alfworld/smoke@v1":
        pytest.importorskip("alfworld", reason="needs the alfworld extra")
        monkeypatch.setenv("ALFWORLD_DATA", str(request.getfixturevalue("alfworld_dir")))
    elif request.param == "webshop-1k/smoke@v1":
        request.getfixturevalue("shared_file")("webshop", "products_1k.json")
    return request.param


@pytest.mark.parametrize(
    "data_env", ["toolqa-synthetic/smoke@v1", "webshop-1k/smoke@v1", "alfworld/smoke@v1"], indirect=True
)
def test_replay_verifies_real_episodes_and_catches_a_forged_reward(server, data_env, tmp_path):
    folder = tmp_path / "expert"
    evaluate(data_env, "expert", out=folder, progress=False)
    genuine = server.submit(*load_submission(folder))
    assert genuine.status_code == 201, genuine.text
    entry = server.wait_for_replay(genuine.json()["id"], timeout_s=300)
    count = json.loads((folder / "result.json").read_text())["metrics"]["episodes"]
    assert entry["replay_status"] == "verified", entry["replay_detail"]
    assert (
        entry["replay_detail"]
        == f"{count} episodes replayed with identical anchors, observations, rewards, validity and outcomes"
    )

    result, text_, reason = _forge_last_reward(folder)
    forged = server.submit(result, text_)
    assert forged.status_code == 201, forged.text  # self-consistent numbers pass the checks on submit...
    entry = server.wait_for_replay(forged.json()["id"], timeout_s=300)
    assert (entry["replay_status"], entry["replay_detail"]) == ("failed", reason)  # ...the replay does not
