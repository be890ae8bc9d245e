"""Each attack of issue #17, reproduced against a real server on 127.0.0.1: refused or labelled."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import event, select

from anchorgym.envs.registry import make
from anchorgym.harness.specs import load_benchmark
from anchorgym.leaderboard import replay as replay_module
from anchorgym.leaderboard.rerun import rerun_entry
from anchorgym.leaderboard.storage import Audit, Entry, episodes_path

from .conftest import BENCHMARK, load_submission, reseal, serve


def _episodes(text_: str) -> list[dict]:
    return [json.loads(line) for line in text_.splitlines()]


def _step(env, observation, info, action):
    """Play ``action`` on ``env``; return its step record as the harness writes it, and the new state."""
    anchor = info["anchor"]
    observation_after, reward, terminated, truncated, info = env.step(action)
    record = {
        "step": 0, "observation": observation, "anchor": anchor, "text": action, "action": action, "parsed": True,
        "action_valid": info["action_valid"], "reward": reward, "terminated": terminated, "truncated": truncated,
        "tokens_in": None, "tokens_out": None,
    }  # fmt: skip
    return record, observation_after, info


def _play_on_with_the_expert(record: dict) -> dict:
    """The forger's trick: replay a lost episode, then keep playing past max_steps with the expert until it wins."""
    spec = load_benchmark(BENCHMARK)
    env = make(spec.env_id, split=spec.split, max_steps=1000, **spec.env_kwargs)
    observation, info = env.reset(seed=record["env_seed"], options={"task_id": record["task_id"]})
    steps = []
    for step in record["steps"]:
        made, observation, info = _step(env, observation, info, step["action"])
        steps.append(made)
    while not info["won"] and len(steps) < 60:  # a box pushed into a corner cannot be saved
        made, observation, info = _step(env, observation, info, env.expert_action())
        steps.append(made)
    env.close()
    if not info["won"]:
        return record
    for number, step in enumerate(steps):
        step["step"] = number
    steps[-1]["terminated"] = True
    summary = {"won": True, "score": 1.0, "length": len(steps), "return": sum(s["reward"] for s in steps)}
    summary["invalid_actions"] = sum(not s["action_valid"] for s in steps)
    return {
        **record,
        **summary,
        "steps": steps,
        "terminated": True,
        "truncated": False,
        "final_observation": observation,
    }


def test_a_run_played_past_max_steps_is_refused(server, results):
    result, text_ = load_submission(results["random"])
    episodes = _episodes(text_)
    lost = [n for n, e in enumerate(episodes) if not e["won"]]
    assert lost, "the random run should lose some puzzles"
    for number in lost:
        episodes[number] = _play_on_with_the_expert(episodes[number])
    won = [e for e in episodes if e["won"] and e["length"] > 15]
    assert won, "the expert should finish some lost puzzles"
    forged = reseal(result, episodes)
    assert forged[0]["metrics"]["success_rate"]["mean"] > result["metrics"]["success_rate"]["mean"]  # the claim
    response = server.submit(*forged)
    first = next(e for e in episodes if e["length"] > 15)
    assert response.status_code == 422
    assert response.json()["error"] == (
        f"Episode (seed 0, task {first['task_id']!r}, episode 0) has {first['length']} steps; "
        "the benchmark allows 1 to 15 (its max_steps)."
    )


def test_steps_after_the_episode_ended_are_refused(server, results):
    result, text_ = load_submission(results["expert"])
    episodes = _episodes(text_)
    extra = dict(episodes[0]["steps"][-1], step=len(episodes[0]["steps"]))
    episodes[0]["steps"].append(extra)
    episodes[0]["length"] += 1
    episodes[0]["return"] += extra["reward"]
    response = server.submit(*reseal(result, episodes))
    assert response.status_code == 422
    assert response.json()["error"] == (
        f"Episode (seed 0, task {episodes[0]['task_id']!r}, episode 0) continues after step "
        f"{len(episodes[0]['steps']) - 1} ended it (terminated or truncated)."
    )


def test_zero_step_episodes_are_refused(server, results):
    result, text_ = load_submission(results["expert"])
    episodes = _episodes(text_)
    for episode in episodes:
        episode.update(steps=[], length=0, invalid_actions=0, parse_failures=0, won=False, score=0.0)
        episode["return"] = 0.0
    response = server.submit(*reseal(result, episodes))
    assert response.status_code == 422
    assert response.json()["error"] == (
        f"Episode (seed 0, task {episodes[0]['task_id']!r}, episode 0) has 0 steps; "
        "the benchmark allows 1 to 15 (its max_steps)."
    )


def test_a_failed_replay_does_not_rank_and_is_listed_with_its_step(server, results):
    result, text_ = load_submission(results["random"])
    episodes = _episodes(text_)
    for episode in episodes:
        episode["won"], episode["score"] = True, 1.0
    entry_id = server.submit(*reseal(result, episodes)).json()["id"]
    honest = server.submit(*load_submission(results["random"])).json()["id"]
    assert server.wait_for_replay(entry_id)["status"] == "failed"
    server.wait_for_replay(honest)
    board = server.board()
    assert [e["id"] for e in board["ranked"]] == [honest]
    [failed] = board["unverified"]
    assert (failed["id"], failed["status"], failed["success"]) == (entry_id, "failed", 1.0)
    assert failed["replay_detail"].endswith("the replay ends with won=False, score=0.0, not the recorded outcome")
    html = httpx.get(f"{server.url}/benchmarks/{BENCHMARK}").text
    assert 'id="unverified"' in html and "replay failed" in html
    assert "the replay ends with won=False, score=0.0, not the recorded outcome" in html


def test_pending_and_self_reported_entries_do_not_rank(tmp_path, results, monkeypatch):
    result, text_ = load_submission(results["expert"])
    pending_board = serve(tmp_path / "pending", replay=False)
    server = next(pending_board)
    server.submit(result, text_)
    board = server.board()
    assert board["ranked"] == [] and [e["status"] for e in board["unverified"]] == ["pending"]
    pending_board.close()
    # a benchmark the server cannot replay: invented winning one-step episodes are self-reported, not ranked
    monkeypatch.setattr(replay_module, "REPLAYABLE_ENVS", replay_module.REPLAYABLE_ENVS - {"anchorgym/Sokoban-v0"})
    episodes = _episodes(text_)
    for episode in episodes:
        episode["steps"] = [dict(episode["steps"][0], terminated=True, reward=10.9)]
        episode.update(length=1, won=True, score=1.0, terminated=True)
        episode["return"] = 10.9
    unreplayable = serve(tmp_path / "self", replay=True)
    server = next(unreplayable)
    entry = server.wait_for_replay(server.submit(*reseal(result, episodes)).json()["id"])
    assert entry["status"] == "self-reported"
    assert (
        entry["replay_detail"]
        == "anchorgym/Sokoban-v0 is not deterministic enough to replay: the scores are self-reported"
    )
    assert server.board()["ranked"] == []
    assert "self-reported (not replayable)" in httpx.get(f"{server.url}/benchmarks/{BENCHMARK}").text
    unreplayable.close()


def _relabel_valid(episodes):
    step = episodes[0]["steps"][0]  # an invented move, claimed valid (its reward is the no-op's: -0.1 either way)
    step["text"] = step["action"] = "jump over the box"
    return f"seed 0, task {episodes[0]['task_id']!r}, step 1: action_valid 'False' but 'True' was recorded"


def _invent_text(episodes):
    episodes[0]["steps"][0]["text"] = "I push the box to the goal"
    return f"seed 0, task {episodes[0]['task_id']!r}, step 1: the action is not the policy's text"


def _relabel_task_type(episodes):
    episodes[0]["task_type"] = "sokoban-easy"
    where = f"seed 0, task {episodes[0]['task_id']!r}, at reset"
    return f"{where}: task type 'sokoban-6x6-1box' but 'sokoban-easy' was recorded"


@pytest.mark.parametrize("tamper", [_relabel_valid, _invent_text, _relabel_task_type])
def test_relabelled_step_fields_fail_replay(server, results, tamper):
    result, text_ = load_submission(results["random"])
    episodes = _episodes(text_)
    reason = tamper(episodes)
    entry = server.wait_for_replay(server.submit(*reseal(result, episodes)).json()["id"])
    assert (entry["status"], entry["replay_detail"]) == ("failed", reason)


def test_token_counts_are_labelled_self_reported(server, results):
    result, text_ = load_submission(results["expert"])
    episodes = _episodes(text_)
    for episode in episodes:
        for step in episode["steps"]:
            step["tokens_in"], step["tokens_out"] = 5, 1
        episode["tokens_in"], episode["tokens_out"] = 5 * episode["length"], episode["length"]
    entry = server.wait_for_replay(server.submit(*reseal(result, episodes)).json()["id"])
    assert (entry["status"], entry["tokens"]) == ("verified", "self-reported")
    assert "tokens self-reported" in httpx.get(f"{server.url}/benchmarks/{BENCHMARK}").text


def test_declared_seeds_must_be_the_specs(server, results):
    result, text_ = load_submission(results["expert"])
    episodes = [dict(e, seed=4) for e in _episodes(text_)]
    result, text_ = reseal(result, episodes)
    result["seeds"] = [4]
    response = server.submit(result, text_)
    assert response.status_code == 422
    assert response.json()["error"] == (
        f"result.json declares seeds [4]; benchmark {BENCHMARK} is evaluated on seeds [0]: "
        "run 'anchorgym eval' without --seeds."
    )


def test_env_seed_must_be_the_derived_one(server, results):
    result, text_ = load_submission(results["expert"])
    episodes = _episodes(text_)
    episodes[0]["env_seed"] = 7
    response = server.submit(*reseal(result, episodes))
    assert response.status_code == 422
    key = (0, episodes[0]["task_index"], 0)
    assert response.json()["error"].startswith(f"Episode {key} was played with env seed 7; the harness derives ")


def _relabel(result: dict, spec: str, policy_class: str) -> dict:
    result = json.loads(json.dumps(result))
    result["policy"].update(spec=spec, **{"class": policy_class})
    return result


def test_rerun_catches_a_relabelled_policy_and_verifies_an_honest_one(server, results):
    sessions, storage = server.app.extensions["anchorgym"]["sessions"], server.app.extensions["anchorgym"]["storage"]
    result, text_ = load_submission(results["expert"])
    relabelled = server.submit(_relabel(result, "random", "RandomPolicy"), text_).json()["id"]
    assert server.wait_for_replay(relabelled)["status"] == "verified"  # replay cannot tell who chose the moves
    status, detail = rerun_entry(sessions, storage, relabelled, sample=3, seed=0)
    assert status == "flagged" and detail.endswith("the policy named does not reproduce them")
    entry = httpx.get(f"{server.url}/api/entries/{relabelled}").json()
    assert (entry["status"], entry["rerun_status"]) == ("rerun-flagged", "flagged")
    honest = server.submit(*load_submission(results["random"])).json()["id"]
    server.wait_for_replay(honest)
    assert rerun_entry(sessions, storage, honest, sample=3, seed=0) == (
        "verified",
        "3 sampled episodes re-run with identical actions and outcomes",  # seeded per episode: any batch repeats
    )
    board = server.board()
    assert [e["id"] for e in board["ranked"]] == [honest] and [e["id"] for e in board["unverified"]] == [relabelled]
    assert "re-run verified" in httpx.get(f"{server.url}/benchmarks/{BENCHMARK}").text
    variant = _episodes(text_)
    variant[0]["instruction"] += " (another run)"
    gpt = server.submit(*reseal(_relabel(result, "openai:gpt-4o-mini", "OpenAIPolicy"), variant)).json()["id"]
    with pytest.raises(Exception, match="pass --allow-policy openai:gpt-4o-mini to re-run it"):
        rerun_entry(sessions, storage, gpt, sample=3)


def test_rerun_catches_a_winning_episode_copied_into_the_other_seeds(server, tmp_path):
    from anchorgym.harness import evaluate

    sessions, storage = server.app.extensions["anchorgym"]["sessions"], server.app.extensions["anchorgym"]["storage"]
    evaluate("sokoban-6x6-1box/test@v1", "random", out=tmp_path / "random", progress=False)  # 100 puzzles x 3 seeds
    result, text_ = load_submission(tmp_path / "random")
    episodes = _episodes(text_)
    winners = {e["task_id"]: e for e in episodes if e["won"]}
    for number, slot in enumerate(episodes):  # each won puzzle's episode, in its other seeds' slots
        if slot["task_id"] in winners and not slot["won"]:
            keys = ("seed", "task_index", "episode", "env_seed")
            episodes[number] = {**winners[slot["task_id"]], **{k: slot[k] for k in keys}}
    honest = result["metrics"]["success_rate"]["mean"]
    result, text_ = reseal(result, episodes)
    claimed = result["metrics"]["success_rate"]["mean"]
    assert claimed > honest + 0.05  # e.g. 0.177 honestly, 0.3 claimed
    entry = server.wait_for_replay(server.submit(result, text_).json()["id"])
    assert entry["status"] == "verified"  # the env's seed does not change a puzzle: replay cannot see the copies
    status, detail = rerun_entry(sessions, storage, entry["id"], sample=20, seed=0)
    assert status == "flagged" and detail.endswith("the policy named does not reproduce them")
    board = server.board("sokoban-6x6-1box/test@v1")
    assert board["ranked"] == [] and [e["status"] for e in board["unverified"]] == ["rerun-flagged"]


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (b"1e308", "The number 1e308 is out of range: numbers must be finite and within \u00b11e+12."),
        (b"1" + b"0" * 400, "integers must be within \u00b12**53."),
        (b"Infinity", "Infinity is not a JSON number: numbers must be finite."),
    ],
)
def test_non_finite_and_overflowing_numbers_are_422(server, results, number, reason):
    result, text_ = load_submission(results["expert"])
    body = json.dumps(result).replace('"mean": 1.0', '"mean": NUMBER', 1).encode().replace(b"NUMBER", number)
    response = server.submit(body, text_)
    assert response.status_code == 422
    assert response.json()["error"].startswith("result.json: ") and reason in response.json()["error"]


def test_declared_counts_are_bounded_before_any_work(server, results):
    result, text_ = load_submission(results["expert"])
    result["seeds"] = list(range(100_000))  # about 600 kB: under the result size limit
    response = server.submit(result, text_)
    assert (response.status_code, response.json()["error"]) == (
        422,
        "result.json declares 100000 seeds; the limit is 100.",
    )
    result["seeds"] = list(range(1_000_000))  # 7 MB: refused by size before parsing
    response = server.submit(result, text_)
    assert response.status_code == 422 and response.json()["error"].startswith("result.json is ")
    assert response.json()["error"].endswith("bytes; the limit is 1048576.")


def test_long_strings_are_refused_and_long_text_is_clipped_in_the_viewer(server, results):
    result, text_ = load_submission(results["expert"])
    episodes = _episodes(text_)
    episodes[0]["instruction"] = "x" * 1_000_000
    response = server.submit(*reseal(result, episodes))
    assert response.status_code == 422
    assert response.json()["error"].startswith("episodes.jsonl line 1: A string of 1000000 characters")
    episodes[0]["instruction"] = "y" * 90_000  # within the limit: stored, shown cut with a link to the raw record
    entry_id = server.submit(*reseal(result, episodes)).json()["id"]
    html = httpx.get(f"{server.url}/entries/{entry_id}").text
    assert "y" * 2000 + '… <a class="clipped" href="/api/entries/1/episodes/1">(88000 more characters' in html
    assert "y" * 2001 not in html
    raw = httpx.get(f"{server.url}/api/entries/{entry_id}/episodes/1").json()
    assert raw["instruction"] == "y" * 90_000
    assert httpx.get(f"{server.url}/api/entries/{entry_id}/episodes/99").status_code == 404


def test_entry_lists_never_load_the_result_blobs(server, results):
    # wait for the replay first: the replay worker reads the whole entry, and only page loads are watched here
    server.wait_for_replay(server.submit(*load_submission(results["expert"])).json()["id"])
    engine = server.app.extensions["anchorgym"]["sessions"].kw["bind"]
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert httpx.get(f"{server.url}/benchmarks/{BENCHMARK}").status_code == 200
    assert httpx.get(f"{server.url}/api/benchmarks/{BENCHMARK}/entries").status_code == 200
    assert httpx.get(f"{server.url}/").status_code == 200
    assert statements and not [s for s in statements if "result_json" in s]


def test_queue_quota_per_token(tmp_path, results):
    board = serve(tmp_path, replay=False, queue_quota=2)
    server = next(board)
    result, text_ = load_submission(results["expert"])
    variant = _episodes(text_)
    variant[0]["instruction"] += " (variant)"
    submissions = [(result, text_), load_submission(results["random"]), reseal(result, variant)]
    codes = [server.submit(*s).status_code for s in submissions]
    assert codes == [201, 201, 429]
    assert server.submit(*submissions[2]).json()["error"] == (
        "This token has 2 entries waiting for replay; submit again once they finish."
    )
    board.close()


def test_replay_time_budget_and_resume_after_restart(tmp_path, results):
    first = serve(tmp_path, replay=False)
    stopped = next(first)
    entry_id = stopped.submit(*load_submission(results["expert"])).json()["id"]
    sessions, storage = stopped.app.extensions["anchorgym"]["sessions"], stopped.app.extensions["anchorgym"]["storage"]
    first.close()
    with sessions.begin() as session:  # as if a replay had checked 3 episodes before the server stopped
        session.get(Entry, entry_id).replay_progress = 3
    path = episodes_path(storage, entry_id)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("{}\n" * 3 + "".join(lines[3:]))  # those 3 are never read again
    second = serve(tmp_path, token_name="after-restart")
    restarted = next(second)
    entry = restarted.wait_for_replay(entry_id)
    assert (entry["status"], entry["replay_detail"]) == (
        "verified",
        "8 episodes replayed with identical anchors, observations, rewards, validity and outcomes",
    )
    second.close()
    budget = serve(tmp_path / "budget", replay_budget_s=0.0)
    server = next(budget)
    entry = server.wait_for_replay(server.submit(*load_submission(results["expert"])).json()["id"])
    assert (entry["status"], entry["replay_detail"]) == ("timeout", "the replay's time budget ran out after 0 episodes")
    assert server.board()["ranked"] == []
    with server.app.extensions["anchorgym"]["sessions"]() as session:
        actions = session.scalars(select(Audit.action).order_by(Audit.id)).all()
    assert actions == ["token-create", "submit", "replay-timeout"]
    budget.close()


def test_serving_headers_and_no_host_reflection(server):
    response = httpx.get(f"{server.url}//entries//1", headers={"Host": "evil.example"})
    location = response.headers.get("Location", "")
    assert "evil.example" not in location
    page = httpx.get(f"{server.url}/")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert server.app.json.dumps({"success": float("nan")}) == '{"success": null}'
