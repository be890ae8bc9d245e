"""Each failure of issue #25 ("leaderboard trust, round two"), reproduced against a real server on 127.0.0.1.

Numbered as in the issue: 1 concurrent ALFWorld replays, 3 relabelled policies and trust tiers, 4 copies,
padding and storage, 5 the queue quota under concurrency, 6 verdicts of earlier replay rules, 7 the re-run's
power, 8 submitted configs a re-run cannot play; then the partial findings (fairness, revocation, prompt
template, the trajectory viewer) and issue #28's leaderboard items. Slowloris (2) is in test_serving.py; the
re-run of a sampling model (7, end to end) in test_rerun_model.py.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select, update

from anchorgym.harness import evaluate
from anchorgym.leaderboard.replay import REPLAY_VERSION
from anchorgym.leaderboard.rerun import plan_for, power_plan, rerun_entry
from anchorgym.leaderboard.storage import Audit, Entry, create_token, revoke_token
from anchorgym.leaderboard.worker import RoundRobin

from .conftest import BENCHMARK, load_submission, reseal, serve


def _episodes(text_: str) -> list[dict]:
    return [json.loads(line) for line in text_.splitlines()]


def _variant(result: dict, text_: str, number: int) -> tuple[dict, str]:
    """The run with episode 0's instruction marked ``number``: a distinct, self-consistent submission."""
    episodes = _episodes(text_)
    episodes[0]["instruction"] += f" (variant {number})"
    return reseal(result, episodes)


def _state(server):  # noqa: ANN001, ANN202
    state = server.app.extensions["anchorgym"]
    return state["sessions"], state["storage"]


# 1. Two ALFWorld replays at once ----------------------------------------------------------------------------


@pytest.mark.slow
def test_two_honest_alfworld_entries_submitted_together_both_verify(tmp_path, monkeypatch, request):
    pytest.importorskip("alfworld", reason="needs the alfworld extra")
    monkeypatch.setenv("ALFWORLD_DATA", str(request.getfixturevalue("alfworld_dir")))
    folders = {policy: tmp_path / policy for policy in ("expert", "random")}
    for policy, folder in folders.items():
        evaluate("alfworld/smoke@v1", policy, out=folder, progress=False)
    board = serve(tmp_path / "board", replay_workers=2)
    server = next(board)
    try:
        with ThreadPoolExecutor(2) as pool:  # both replays run at once, each in its own worker process
            responses = list(pool.map(lambda folder: server.submit(*load_submission(folder)), folders.values()))
        assert [r.status_code for r in responses] == [201, 201], [r.text for r in responses]
        entries = [server.wait_for_replay(r.json()["id"], timeout_s=600) for r in responses]
        assert [(e["replay_status"], e["replay_version"]) for e in entries] == [("verified", REPLAY_VERSION)] * 2, [
            e["replay_detail"] for e in entries
        ]
    finally:
        board.close()


# 3. A relabelled policy: trust tiers -------------------------------------------------------------------------


def test_a_relabelled_policy_ranks_only_as_the_submitters_word_and_never_in_the_rerun_tier(tmp_path, results):
    board = serve(tmp_path, rerun_tier=True)
    server = next(board)
    sessions, storage = _state(server)
    try:
        result, text_ = load_submission(results["expert"])
        result["policy"].update(spec="openai:https://api.openai.com/v1?model=gpt-4o-mini", **{"class": "OpenAIPolicy"})
        relabelled = server.submit(result, text_).json()["id"]
        honest = server.submit(*load_submission(results["random"])).json()["id"]
        for entry_id in (relabelled, honest):
            assert server.wait_for_replay(entry_id)["status"] == "verified"
        with pytest.raises(Exception, match="which this server does not run"):
            rerun_entry(sessions, storage, relabelled, sample=3)
        assert rerun_entry(sessions, storage, honest, sample=3, seed=0)[0] == "verified"
        boards = server.board()
        assert boards["ranked_tier"] == "rerun-verified"
        assert [(e["id"], e["tier"], e["rank"]) for e in boards["ranked"]] == [(honest, "rerun-verified", 1)]
        assert [(e["id"], e["rank"], e["policy_checked"]) for e in boards["tiers"]["replay-verified"]] == [
            (relabelled, 1, False)
        ]
        page = httpx.get(f"{server.url}/benchmarks/{BENCHMARK}").text
        ranked_part, replay_part = page.split('id="tier-replay-verified"')
        assert "Ranked: Re-run verified" in ranked_part and "gpt-4o-mini" not in ranked_part
        assert 'gpt-4o-mini</a> <small class="declared">(declared by the submitter)</small>' in replay_part
        entry_page = httpx.get(f"{server.url}/entries/{relabelled}").text
        assert 'data-tier="replay-verified"' in entry_page and 'id="policy-declared"' in entry_page
        index = httpx.get(server.url + "/").text
        assert "Ranked by the re-run verified tier" in index
    finally:
        board.close()


# 4. Copies, padding and storage ------------------------------------------------------------------------------


def test_padding_keys_are_refused(server, results):
    result, text_ = load_submission(results["expert"])
    episodes = _episodes(text_)
    episodes[0]["padding"] = "x" * 1000
    response = server.submit(*reseal(result, episodes))
    assert (response.status_code, response.json()["error"]) == (
        422,
        "episodes.jsonl line 1 holds the unknown field 'padding': submit the file 'anchorgym eval' wrote, unchanged.",
    )
    episodes = _episodes(text_)
    episodes[1]["steps"][0]["note"] = "padding"
    response = server.submit(*reseal(result, episodes))
    assert response.status_code == 422
    assert response.json()["error"].startswith("episodes.jsonl line 2, step 0 holds the unknown field 'note'")


def test_a_reordered_copy_is_the_same_run_and_another_submitters_copy_is_refused(server, results):
    sessions, _ = _state(server)
    result, text_ = load_submission(results["expert"])
    first = server.submit(result, text_).json()
    reordered = _episodes(text_)[::-1]
    reformatted = "".join(json.dumps(e, indent=None, separators=(", ", ": "), sort_keys=True) + "\n" for e in reordered)
    again = server.submit(*reseal(result, [json.loads(line) for line in reformatted.splitlines()]))
    assert (again.status_code, again.json()["id"], again.json()["duplicate"]) == (200, first["id"], True)
    other = create_token(sessions, "copier")
    for body in (text_, reformatted):  # byte-identical, and reordered
        sealed = (result, text_) if body == text_ else reseal(result, _episodes(body))
        copy = server.submit(*sealed, token=other)
        assert (copy.status_code, copy.json()["error"]) == (
            409,
            f"These episodes were already submitted as entry {first['id']} by tester (/entries/{first['id']}): "
            "a copy of another submitter's run cannot be ranked.",
        )
    counted = _episodes(text_)
    for episode in counted:  # the same run with invented token counts (self-reported: never recomputed)
        for step in episode["steps"]:
            step["tokens_in"], step["tokens_out"] = 100, 7
        episode["tokens_in"], episode["tokens_out"] = 100 * episode["length"], 7 * episode["length"]
    copy = server.submit(*reseal(result, counted), token=other)
    assert copy.status_code == 409 and copy.json()["error"].startswith(
        f"These episodes were already submitted as entry {first['id']} "
    )
    assert [e["id"] for e in server.board()["unverified"] + server.board()["ranked"]] == [first["id"]]


def test_each_token_has_a_storage_quota(tmp_path, results):
    result, text_ = load_submission(results["expert"])
    size = len(text_.encode())
    board = serve(tmp_path, replay=False, storage_quota=size * 3 // 2)
    server = next(board)
    try:
        assert server.submit(result, text_).status_code == 201
        refused = server.submit(*_variant(result, text_, 1))
        assert refused.status_code == 413
        assert refused.json()["error"].startswith("This token's entries would take ")
        assert refused.json()["error"].endswith(
            f"over its storage quota of {size * 3 // 2} bytes: ask the operator "
            "to remove old entries or raise the quota."
        )
        other = create_token(_state(server)[0], "other")
        assert server.submit(*_variant(result, text_, 1), token=other).status_code == 201  # another token's share
    finally:
        board.close()


# 5. The per-token queue quota under concurrency --------------------------------------------------------------


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_queue_quota_holds_against_concurrent_submissions(request, tmp_path, results, database):
    url = request.getfixturevalue("postgres_url") if database == "postgresql" else None
    result, text_ = load_submission(results["expert"])
    variants = [_variant(result, text_, n) for n in range(10)]
    board = serve(tmp_path, db_url=url, replay=False, queue_quota=4)  # nothing leaves the queue
    server = next(board)
    try:
        with ThreadPoolExecutor(10) as pool:
            responses = list(pool.map(lambda v: server.submit(*v), variants))
        assert sorted(r.status_code for r in responses) == [201] * 4 + [429] * 6
        assert {r.json()["error"] for r in responses if r.status_code == 429} == {
            "This token has 4 entries waiting for replay; submit again once they finish."
        }
        assert len(server.board()["unverified"]) == 4
    finally:
        board.close()


# 6. Verdicts of earlier replay rules -------------------------------------------------------------------------


def test_verdicts_of_earlier_replay_rules_are_requeued_and_leave_the_board(tmp_path, results):
    result, text_ = load_submission(results["random"])
    episodes = _episodes(text_)
    for episode in episodes:  # a forgery the earlier release is taken to have verified
        episode["won"], episode["score"] = True, 1.0
    first = serve(tmp_path, replay=False)
    server = next(first)
    forged = server.submit(*reseal(result, episodes)).json()["id"]
    with _state(server)[0].begin() as session:
        session.execute(
            update(Entry).where(Entry.id == forged).values(replay_status="verified", replay_version=1, replay_detail="")
        )
    assert [e["id"] for e in server.board()["ranked"]] == [forged]
    first.close()
    second = serve(tmp_path, token_name="after-upgrade", replay=False)  # no replay: the rules do not move
    assert [e["id"] for e in next(second).board()["ranked"]] == [forged]
    second.close()
    third = serve(tmp_path, token_name="current-release")  # replays on: earlier verdicts go back to the queue
    server = next(third)
    try:
        entry = httpx.get(f"{server.url}/api/entries/{forged}").json()
        assert entry["status"] in ("pending", "failed") and server.board()["ranked"] == []
        entry = server.wait_for_replay(forged)
        assert (entry["status"], entry["replay_version"]) == ("failed", REPLAY_VERSION)
        with _state(server)[0]() as session:
            actions = session.scalars(select(Audit.action).where(Audit.entry_id == forged).order_by(Audit.id)).all()
        assert actions == ["submit", "replay-requeue", "replay-failed"]
    finally:
        third.close()


# 7. The re-run's power ---------------------------------------------------------------------------------------


def test_the_rerun_test_is_sized_for_power():
    plan = power_plan(0.5, effect=0.2, alpha=0.01, beta=0.05)
    assert (plan.n, plan.k) == (96, 36)
    assert plan.false_reject == pytest.approx(0.009216676, abs=1e-8)
    assert plan.false_accept == pytest.approx(0.045438684, abs=1e-8)
    for claimed in (0.1, 0.3, 0.5, 0.75, 0.9, 1.0):
        plan = power_plan(claimed)
        assert plan.false_reject <= 0.01 and plan.false_accept <= 0.05, (claimed, plan)
        assert plan_for(plan.n - 1, claimed, 0.2, 0.01).false_accept > 0.05  # no smaller sample is enough
    # the case: 3 of 4 expert wins declared as a model that wins none; the z-test passed it (z = 2.19)
    small = plan_for(4, 0.75, 0.2, 0.01)
    assert (small.k, small.false_reject) == (0, 0.25**4)  # 0 wins of 4 is flagged


# 8. Configs a re-run cannot play -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (
            lambda r: r["policy"].update(
                generation={"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 16, "seed": 0, "beam_width": 4}
            ),
            "result.json: policy.generation holds the unknown key 'beam_width' (known: max_new_tokens, seed, "
            "temperature, top_p): submit the file 'anchorgym eval' wrote.",
        ),
        (
            lambda r: r["run"].update(batch_size=2**53),
            f"result.json: run.batch_size = {2**53} is outside [1, 8] (at most the benchmark's 8 episodes and 1024).",
        ),
        (
            lambda r: r["policy"].update(
                generation={"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 2**40, "seed": 0}
            ),
            f"result.json: policy.generation.max_new_tokens = {2**40} is outside [1, 32768].",
        ),
    ],
)
def test_unplayable_configs_are_refused_on_submit(server, results, edit, error):
    result, text_ = load_submission(results["expert"])
    edit(result)
    response = server.submit(result, text_)
    assert (response.status_code, response.json()["error"]) == (422, error)


def test_a_rerun_that_cannot_play_the_config_is_a_failed_verdict(server, results):
    sessions, storage = _state(server)
    entry_id = server.submit(*load_submission(results["random"])).json()["id"]
    server.wait_for_replay(entry_id)
    with sessions.begin() as session:  # an entry stored before configs were checked on submit
        row = session.get(Entry, entry_id)
        result = json.loads(row.result_json)
        result["run"]["batch_size"] = 2**53
        row.result_json = json.dumps(result)
    status, detail = rerun_entry(sessions, storage, entry_id, sample=3, seed=0)
    assert status == "failed"
    assert detail.startswith(
        f"the re-run could not play the submitted config: ResultError: result.json: "
        f"run.batch_size = {2**53} is outside [1, 8]"
    )
    entry = httpx.get(f"{server.url}/api/entries/{entry_id}").json()
    assert (entry["status"], entry["tier"]) == ("rerun-failed", "unranked")
    assert server.board()["ranked"] == [] and "re-run failed" in httpx.get(f"{server.url}/benchmarks/{BENCHMARK}").text


# 9. Cherry-picking by batch size ----------------------------------------------------------------------------


def test_a_random_run_re_runs_identically_at_another_batch_size(server, tmp_path):
    sessions, storage = _state(server)
    evaluate(BENCHMARK, "random", out=tmp_path / "b4", progress=False, batch_size=4)  # seeded per episode
    result, text_ = load_submission(tmp_path / "b4")
    assert (result["run"]["batch_size"], result["run"]["seed_scheme"]) == (4, "episode-v1")
    entry_id = server.submit(result, text_).json()["id"]
    server.wait_for_replay(entry_id)
    # the sampled tasks are played in one batch of 3: the run's batch size cannot have changed its luck
    assert rerun_entry(sessions, storage, entry_id, sample=3, seed=0) == (
        "verified",
        "3 sampled episodes re-run with identical actions and outcomes",
    )


def test_a_per_batch_seeded_run_never_reaches_the_rerun_tier(server, tmp_path):
    sessions, storage = _state(server)
    lucky = {}
    for size in (1, 2, 3, 5):  # the cherry-picker's search over batch sizes (the earlier releases' seeding)
        folder = tmp_path / f"b{size}"
        evaluate(BENCHMARK, "random", out=folder, progress=False, batch_size=size, seed_scheme="batch")
        lucky[load_submission(folder)[0]["metrics"]["success_rate"]["mean"]] = folder
    best = load_submission(lucky[max(lucky)])
    entry_id = server.submit(*best).json()["id"]
    server.wait_for_replay(entry_id)
    status, detail = rerun_entry(sessions, storage, entry_id, sample=3, seed=0)
    assert status == "inconclusive"
    assert detail == (
        "8 sampled episodes re-run with identical actions and outcomes at the submitted batch size; the run seeded "
        "its policy per batch, so its batch size may have been picked among several: evaluate again with this "
        "release (per-episode seeds) for the re-run verified tier"
    )
    entry = httpx.get(f"{server.url}/api/entries/{entry_id}").json()
    assert (entry["status"], entry["tier"]) == ("verified", "replay-verified")


# Partial findings --------------------------------------------------------------------------------------------


def test_replays_take_tokens_in_turn():
    queue = RoundRobin()
    for entry_id in range(1, 17):  # one token's sixteen entries...
        queue.push(1, entry_id)
    queue.push(2, 17)  # ...then another token's two
    queue.push(2, 18)
    order = [queue.pop() for _ in range(18)]
    assert order[:5] == [1, 17, 2, 18, 3] and order[5:] == list(range(4, 17)) and queue.pop() is None


def test_a_restarted_server_replays_tokens_in_turn(tmp_path, results):
    result, text_ = load_submission(results["expert"])
    first = serve(tmp_path, replay=False, queue_quota=10)
    server = next(first)
    other = create_token(_state(server)[0], "latecomer")
    ids = [server.submit(*_variant(result, text_, n)).json()["id"] for n in range(3)]
    ids.append(server.submit(*_variant(result, text_, 3), token=other).json()["id"])
    first.close()
    second = serve(tmp_path, token_name="restart", replay_workers=1)  # one replay at a time
    server = next(second)
    try:
        for entry_id in ids:
            server.wait_for_replay(entry_id)
        with _state(server)[0]() as session:
            verdicts = Audit.action.in_(("replay-verified", "replay-failed"))  # variants fail: another instruction
            order = session.scalars(select(Audit.entry_id).where(verdicts).order_by(Audit.id))
            assert list(order) == [ids[0], ids[3], ids[1], ids[2]]
    finally:
        second.close()


def test_a_token_revoked_while_its_body_uploads_stores_nothing(server, results):
    sessions, _ = _state(server)
    result, text_ = load_submission(results["expert"])
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="result"; filename="result.json"\r\n\r\n'
        f"{json.dumps(result)}\r\n--{boundary}\r\n"
        f'Content-Disposition: form-data; name="episodes"; filename="episodes.jsonl"\r\n\r\n{text_}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(
            f"POST /api/submissions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[: len(body) // 2]
        )
        time.sleep(0.5)  # the server has read the headers (the outcome is the same if it has not)
        revoke_token(sessions, "tester")
        connection.sendall(body[len(body) // 2 :])
        answer = b""
        while b"\r\n" not in answer and (chunk := connection.recv(4096)):
            answer += chunk
    assert answer.split(b" ")[1] == b"401"
    with sessions() as session:
        assert session.scalars(select(Entry.id)).all() == []


def test_a_declared_prompt_template_other_than_the_pinned_one_is_refused(server, results):
    result, text_ = load_submission(results["expert"])
    pinned = dict(result["prompt_template"])
    result["prompt_template"]["hash"] = "sha256:" + "0" * 64
    response = server.submit(result, text_)
    assert response.status_code == 422
    assert response.json()["error"] == (
        f"result.json declares prompt template {json.dumps({**pinned, 'hash': 'sha256:' + '0' * 64})}; benchmark "
        f"{BENCHMARK} pins {json.dumps(pinned)}: evaluate with this release's template."
    )


def test_the_trajectory_viewer_streams_its_page(server, results):
    entry_id = server.submit(*load_submission(results["expert"])).json()["id"]
    with httpx.stream("GET", f"{server.url}/entries/{entry_id}") as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers  # rendered episode by episode, never all at once
        html = "".join(response.iter_text())
    assert html.count('<details class="trajectory">') == 8 and html.rstrip().endswith("</html>")


# Issue #28's leaderboard items -------------------------------------------------------------------------------


def test_the_board_shows_percentages_and_the_seed_count(server, results):
    entry_id = server.submit(*load_submission(results["expert"])).json()["id"]
    server.wait_for_replay(entry_id)
    page = httpx.get(f"{server.url}/benchmarks/{BENCHMARK}").text
    row = page.split(f'data-entry-id="{entry_id}">')[1].split("</tr>")[0]
    assert "100.0% <small" in row and '<td title="seeds 0">1 seed</td>' in row and "Seeds 0" not in page


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anchorgym.cli", *args], capture_output=True, text=True, timeout=120)


def test_the_leaderboard_port_and_the_submit_help():
    serve_help = _cli("leaderboard", "serve", "--help").stdout
    assert "port (default 8080;" in " ".join(serve_help.split())
    assert "ANCHORGYM_LEADERBOARD_TOKEN" in _cli("submit", "--help").stdout


def test_a_custom_benchmark_is_refused_with_how_to_fix(server, results):
    result, text_ = load_submission(results["expert"])
    result["benchmark"]["id"] = "my-webshop/test@v1"
    response = server.submit(result, text_)
    assert (response.status_code, response.json()["error"]) == (
        422,
        "Unknown benchmark: 'my-webshop/test@v1' is not a built-in benchmark of this server. Custom benchmarks "
        "(spec files) cannot be submitted: evaluate a built-in id ('anchorgym benchmarks' lists them), or run "
        "your own leaderboard with a release that ships your benchmark.",
    )
    assert "Did you mean" not in response.json()["error"]
