"""Leaderboard API: accepting, ranking, replaying, and every reason to reject."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from anchorgym.leaderboard.storage import MIGRATIONS, migrate

from .conftest import BENCHMARK, load_submission, reseal, serve


def _episodes(text_: str) -> list[dict]:
    return [json.loads(line) for line in text_.splitlines()]


def test_accepts_ranks_and_replay_verifies(server, results):
    for policy in ("random", "expert"):
        response = server.submit(*load_submission(results[policy]))
        assert response.status_code == 201, response.text
        entry = server.wait_for_replay(response.json()["id"])
        assert entry["replay_status"] == "verified", entry["replay_detail"]
    ranked = httpx.get(f"{server.url}/api/benchmarks/{BENCHMARK}/entries").json()
    assert [e["policy"] for e in ranked] == ["expert", "random"]
    assert ranked[0]["success"] == 1.0
    assert ranked[0]["seeds"] == "0,1"
    assert httpx.get(f"{server.url}/api/benchmarks").json() == [{"id": BENCHMARK, "entries": 2}]
    download = httpx.get(f"{server.url}/api/entries/{ranked[0]['id']}/episodes")
    assert download.text == (results["expert"] / "episodes.jsonl").read_text()


def test_replay_detects_a_forged_action(server, results):
    result, text_ = load_submission(results["expert"])
    episodes = _episodes(text_)
    forged = next(e for e in episodes if e["length"] >= 2)
    first = forged["steps"][0]
    first["action"] = {"up": "down", "down": "up", "left": "right", "right": "left"}[first["action"]]
    response = server.submit(*reseal(result, episodes))
    assert response.status_code == 201, response.text  # the numbers are self-consistent...
    entry = server.wait_for_replay(response.json()["id"])
    assert entry["replay_status"] == "failed"  # ...but the actions do not produce them
    where = f"seed {forged['seed']}, task {forged['task_id']!r}, step 2"
    assert entry["replay_detail"] == f"{where}: the state acted from differs from the recorded one"


def _drop_first(result, episodes):
    return reseal(result, episodes[1:])


def _duplicate_first(result, episodes):
    return reseal(result, [episodes[0], *episodes])


def _extra_seed(result, episodes):
    extra = dict(episodes[0], seed=99)
    return reseal(result, [*episodes, extra])


def _wrong_task(result, episodes):
    episodes[0]["task_id"] = "42"
    return reseal(result, episodes)


def _bad_summary(result, episodes):
    episodes[0]["length"] += 1
    return reseal(result, episodes)


def _bad_metric(result, episodes):
    result, text_ = reseal(result, episodes)
    result["metrics"]["success_rate"]["mean"] = 0.99
    return result, text_


def _unknown_benchmark(result, episodes):
    result, text_ = reseal(result, episodes)
    result["benchmark"]["id"] = "sokoban-9x9/test@v7"
    return result, text_


def _spec_hash(result, episodes):
    result, text_ = reseal(result, episodes)
    result["benchmark"]["spec_hash"] = "sha256:" + "0" * 64
    return result, text_


def _episodes_swapped(result, episodes):
    result, _ = reseal(result, episodes)
    return result, "".join(json.dumps(e) + "\n" for e in episodes[:-1])


def _schema(result, episodes):
    result, text_ = reseal(result, episodes)
    del result["seeds"]
    return result, text_


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_drop_first, "episodes are missing"),
        (_duplicate_first, "Duplicate episode"),
        (_extra_seed, "not part of the benchmark"),
        (_wrong_task, "plays task '42'"),
        (_bad_summary, "declares length="),
        (_bad_metric, "Declared metric 'success_rate'"),
        (_unknown_benchmark, "Unknown benchmark"),
        (_spec_hash, "does not match benchmark"),
        (_episodes_swapped, "SHA-256 differs"),
        (_schema, "does not match the result schema"),
    ],
)
def test_rejects_with_precise_reason(server, results, tamper, reason):
    result, text_ = load_submission(results["expert"])
    response = server.submit(*tamper(result, _episodes(text_)))
    assert response.status_code == 422
    assert reason in response.json()["error"]
    assert httpx.get(f"{server.url}/api/benchmarks").json() == []


def test_rejects_bad_token_and_malformed_json(server, results):
    result, text_ = load_submission(results["expert"])
    assert server.submit(result, text_, token="not-a-token").status_code == 401
    response = server.submit(b"{not json", text_)
    assert response.status_code == 400 and "result.json is not valid JSON" in response.json()["error"]
    missing = httpx.post(f"{server.url}/api/submissions", headers={"Authorization": f"Bearer {server.token}"})
    assert missing.status_code == 400


def test_upload_size_limit_and_rate_limit(tmp_path, results):
    result, text_ = load_submission(results["expert"])
    small = serve(tmp_path / "small", max_upload_bytes=10_000, replay=False)
    board = next(small)
    response = board.submit(result, text_)
    assert response.status_code == 413 and "limit is 10000 bytes" in response.json()["error"]
    small.close()
    limited = serve(tmp_path / "limited", rate_limit=(2, 60.0), replay=False)
    board = next(limited)
    codes = [board.submit(result, text_).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    limited.close()


def test_hostile_text_is_escaped_and_storage_is_path_safe(server, results, caplog):
    result, text_ = load_submission(results["expert"])
    result = json.loads(json.dumps(result))
    result["policy"]["spec"] = "<script>alert('x')</script>"
    caplog.set_level(logging.DEBUG)
    response = httpx.post(
        f"{server.url}/api/submissions",
        headers={"Authorization": f"Bearer {server.token}"},
        files={
            "result": ("../../../etc/passwd", json.dumps(result).encode()),
            "episodes": ("../../evil.jsonl", text_),
        },
    )
    assert response.status_code == 201, response.text
    entry_id = response.json()["id"]
    storage = server.app.extensions["anchorgym"]["storage"]
    assert sorted(p.name for p in Path(storage).iterdir()) == [f"entry-{entry_id}.episodes.jsonl"]
    for page in ("/benchmarks/" + BENCHMARK, f"/entries/{entry_id}"):
        html = httpx.get(server.url + page).text
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(" in html
    assert server.token not in caplog.text


def test_concurrent_submissions_lose_nothing(server, results):
    submission = load_submission(results["random"])
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda _: server.submit(*submission).status_code, range(8)))
    assert codes == [201] * 8
    entries = httpx.get(f"{server.url}/api/benchmarks/{BENCHMARK}/entries").json()
    assert len(entries) == 8 and len({e["id"] for e in entries}) == 8


def test_migrations_are_idempotent(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    assert migrate(engine) == len(MIGRATIONS)
    assert migrate(engine) == len(MIGRATIONS)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version FROM schema_version ORDER BY version")).scalars().all()
        tables = set(connection.execute(text("SELECT name FROM sqlite_master WHERE type='table'")).scalars())
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    assert {"tokens", "entries", "schema_version"} <= tables
