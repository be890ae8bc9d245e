"""Leaderboard API: accepting, ranking, replaying, and every reason to reject."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text

from anchorgym.leaderboard import pages as pages_module
from anchorgym.leaderboard.storage import MIGRATIONS, create_token, migrate
from anchorgym.leaderboard.verify import parse_episodes

from .conftest import BENCHMARK, load_submission, reseal, serve


def _episodes(text_: str) -> list[dict]:
    return [json.loads(line) for line in text_.splitlines()]


@pytest.fixture(params=["sqlite", "postgresql"])
def board(request, tmp_path):
    """A leaderboard on SQLite, and on PostgreSQL where ``$ANCHORGYM_TEST_POSTGRES_URL`` names one."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    yield from serve(tmp_path, db_url=url)


def test_accepts_ranks_and_replay_verifies(board, results):
    server = board
    for policy in ("random", "expert"):
        response = server.submit(*load_submission(results[policy]))
        assert response.status_code == 201, response.text
        entry = server.wait_for_replay(response.json()["id"])
        assert entry["replay_status"] == "verified", entry["replay_detail"]
    board = server.board()
    ranked = board["ranked"]
    assert [(e["policy"], e["rank"], e["status"], e["tier"], e["submitter"]) for e in ranked] == [
        ("expert", 1, "verified", "replay-verified", "tester"),
        ("random", 2, "verified", "replay-verified", "tester"),
    ]
    assert board["ranked_tier"] == "replay-verified" and board["tiers"]["rerun-verified"] == []
    assert board["unverified"] == []
    assert ranked[0]["success"] == 1.0
    assert (ranked[0]["seeds"], ranked[0]["seed_count"], ranked[0]["policy_checked"]) == ("0", 1, False)
    assert httpx.get(f"{server.url}/api/benchmarks").json() == [
        {"id": BENCHMARK, "entries": 2, "verified": 2, "replay_verified": 2, "rerun_verified": 0}
    ]
    download = httpx.get(f"{server.url}/api/entries/{ranked[0]['id']}/episodes")
    assert download.text == (results["expert"] / "episodes.jsonl").read_text()


def test_replay_detects_a_forged_action(server, results):
    result, text_ = load_submission(results["expert"])
    episodes = _episodes(text_)
    forged = next(e for e in episodes if e["length"] >= 2)
    first = forged["steps"][0]
    first["action"] = first["text"] = {"up": "down", "down": "up", "left": "right", "right": "left"}[first["action"]]
    response = server.submit(*reseal(result, episodes))
    assert response.status_code == 201, response.text  # the numbers are self-consistent...
    entry = server.wait_for_replay(response.json()["id"])
    assert entry["replay_status"] == "failed"  # ...but the actions do not produce them
    where = f"seed {forged['seed']}, task {forged['task_id']!r}, step 2"
    assert entry["replay_detail"] == f"{where}: the state acted from differs from the recorded one"


def _drop_first(result, episodes):
    return reseal(result, episodes[1:])


def _duplicate_first(result, episodes):
    return reseal(result, [episodes[0], episodes[0], *episodes[2:]])


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
    episodes[0]["instruction"] += " (edited after sealing)"
    return result, "".join(json.dumps(e) + "\n" for e in episodes)


def _seeds_repeated(result, episodes):
    result, text_ = reseal(result, episodes)
    result["seeds"] = [0, 0]
    return result, text_


def _spec_file(result, episodes):
    result, text_ = reseal(result, episodes)
    result["benchmark"]["id"] = "/etc/anchorgym/specs.json#sokoban-6x6-1box/smoke@v1"
    return result, text_


def _schema(result, episodes):
    result, text_ = reseal(result, episodes)
    del result["seeds"]
    return result, text_


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_drop_first, "episodes are missing"),
        (_duplicate_first, "Duplicate episode"),
        (_extra_seed, "holds more than the benchmark's 8 episodes"),
        (_wrong_task, "plays task '42'"),
        (_bad_summary, "declares length="),
        (_bad_metric, "Declared metric 'success_rate'"),
        (_unknown_benchmark, "Unknown benchmark"),
        (_spec_hash, "does not match benchmark"),
        (_episodes_swapped, "SHA-256 differs"),
        (_seeds_repeated, "declares seeds [0, 0] with repeats"),
        (_spec_file, "is a spec file; the leaderboard ranks built-in ids"),
        (_schema, "'seeds' must be a list of integers"),
    ],
)
def test_rejects_with_precise_reason(server, results, tamper, reason):
    result, text_ = load_submission(results["expert"])
    response = server.submit(*tamper(result, _episodes(text_)))
    assert response.status_code == 422
    assert reason in response.json()["error"]
    assert httpx.get(f"{server.url}/api/benchmarks").json() == []
    assert list(server.app.extensions["anchorgym"]["storage"].iterdir()) == []  # no upload left behind


def _set_step(field, value):
    def tamper(episode):
        episode["steps"][0][field] = value

    return tamper


def _set(field, value):
    def tamper(episode):
        episode[field] = value

    return tamper


def _delete_step_field(episode):
    del episode["steps"][0]["reward"]


def _step_not_object(episode):
    episode["steps"][0] = "up"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_delete_step_field, "episodes.jsonl line 1, step 0 lacks the field 'reward'"),
        (_set_step("reward", "1.0"), "episodes.jsonl line 1, step 0: 'reward' is \"1.0\"; expected number."),
        (_set_step("reward", float("nan")), "episodes.jsonl line 1: NaN is not a JSON number: numbers must be finite."),
        (_set_step("anchor", {"x": 1}), "episodes.jsonl line 1, step 0: 'anchor' is {\"x\": 1}; expected string."),
        (_set_step("parsed", 1), "episodes.jsonl line 1, step 0: 'parsed' is 1; expected boolean."),
        (_set("seed", True), "episodes.jsonl line 1: 'seed' is true; expected integer."),
        (_set("won", "yes"), "episodes.jsonl line 1: 'won' is \"yes\"; expected boolean."),
        (_set("steps", None), "episodes.jsonl line 1: 'steps' is null; expected array."),
        (_set("tokens_in", 1.5), "episodes.jsonl line 1: 'tokens_in' is 1.5; expected integer or null."),
        (_step_not_object, "episodes.jsonl line 1, step 0 is not a JSON object."),
    ],
)
def test_rejects_malformed_episode_records(server, results, tamper, reason):
    result, text_ = load_submission(results["expert"])
    episodes = _episodes(text_)
    tamper(episodes[0])
    text_ = "".join(json.dumps(e) + "\n" for e in episodes)  # json.dumps writes NaN as the JSON extension NaN
    result["files"]["episodes_sha256"] = "sha256:" + hashlib.sha256(text_.encode()).hexdigest()
    response = server.submit(result, text_)
    assert response.status_code == 422
    assert response.json()["error"].startswith(reason)


def test_rejects_blank_lines_and_keeps_line_separators_inside_strings(server, results):
    result, text_ = load_submission(results["expert"])
    padded = text_.replace("\n", "\n\n", 1)
    result["files"]["episodes_sha256"] = "sha256:" + hashlib.sha256(padded.encode()).hexdigest()
    response = server.submit(result, padded)
    assert response.status_code == 422
    assert response.json()["error"] == "episodes.jsonl line 2 is empty: submit the file 'anchorgym eval' wrote."
    record = _episodes(text_)[0]
    record["instruction"] = "line\u2028separator"  # written raw by the harness (ensure_ascii=False)
    assert parse_episodes(json.dumps(record, ensure_ascii=False) + "\n") == [record]


def test_rejects_bad_token_and_malformed_json(server, results):
    result, text_ = load_submission(results["expert"])
    assert server.submit(result, text_, token="not-a-token").status_code == 401
    response = server.submit(b"{not json", text_)
    assert response.status_code == 400 and "result.json is not valid JSON" in response.json()["error"]
    missing = httpx.post(f"{server.url}/api/submissions", headers={"Authorization": f"Bearer {server.token}"})
    assert missing.status_code == 400
    deep = server.submit(b"[" * 100_000 + b"]" * 100_000, text_)  # would overflow the JSON parser's stack
    assert deep.status_code == 400 and deep.json()["error"].startswith("result.json is not valid JSON")
    binary = server.submit(b"\xff\xfe{}", text_)
    assert binary.status_code == 400 and binary.json()["error"].startswith("Uploads must be UTF-8 text")
    assert httpx.get(f"{server.url}/api/benchmarks").json() == []


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
    assert codes == [201, 200, 429]  # the second is the same run again: the first entry comes back
    limited.close()


HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)>"


def test_hostile_text_is_escaped_and_storage_is_path_safe(server, results, caplog):
    result, text_ = load_submission(results["expert"])
    episodes = _episodes(text_)
    for episode in episodes:  # every submitter-chosen text the pages show
        episode["task_type"] = HOSTILE
        episode["instruction"] = episode["final_observation"] = HOSTILE
        episode["steps"][0]["observation"] = episode["steps"][0]["action"] = HOSTILE
        episode["steps"][0]["anchor"] = '"><script>alert(2)</script>'
    result, text_ = reseal(result, episodes)
    result["policy"]["spec"] = HOSTILE
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
    server.wait_for_replay(entry_id)
    storage = server.app.extensions["anchorgym"]["storage"]
    assert sorted(p.name for p in Path(storage).iterdir()) == [f"entry-{entry_id}.episodes.jsonl"]
    for page in ("/", "/benchmarks/" + BENCHMARK, f"/entries/{entry_id}", f"/entries/{entry_id}?page=-7"):
        html = httpx.get(server.url + page).text
        assert "<script" not in html and "<img" not in html, page
        assert (
            page == "/" or "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
        )
    assert httpx.get(f"{server.url}/benchmarks/{HOSTILE}").status_code == 404
    assert 'POST /api/submissions HTTP/1.1" 201' in caplog.text  # the request log is captured here...
    assert server.token not in caplog.text  # ...and never holds the bearer token


def test_concurrent_submissions_lose_nothing_and_deduplicate(board, results):
    sessions = board.app.extensions["anchorgym"]["sessions"]
    tokens = [board.token, create_token(sessions, "second")]
    submissions = [load_submission(results[policy]) for policy in ("random", "expert")]
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda n: board.submit(*submissions[n % 2], token=tokens[n // 8]), range(16)))
    created = {n % 2: r.json() for n, r in enumerate(responses) if r.status_code == 201}
    assert sorted(created) == [0, 1] and sum(r.status_code == 201 for r in responses) == 2  # one entry per run
    for number, response in enumerate(responses):
        first = created[number % 2]
        if response.status_code == 201:
            continue
        if ["tester", "second"][number // 8] == first["submitter"]:  # sent again by its submitter: the entry
            body = response.json()
            assert (response.status_code, body["id"], body["duplicate"]) == (200, first["id"], True)
        else:  # another submitter's copy is refused, linked to the original
            assert response.status_code == 409, response.text
            assert response.json()["error"] == (
                f"These episodes were already submitted as entry {first['id']} by {first['submitter']} "
                f"(/entries/{first['id']}): a copy of another submitter's run cannot be ranked."
            )
    for number, entry in created.items():
        assert httpx.get(f"{board.url}/api/entries/{entry['id']}/episodes").text == submissions[number][1]
        assert board.wait_for_replay(entry["id"])["replay_status"] == "verified"
    ranked = board.board()["ranked"]
    assert sorted(e["id"] for e in ranked) == sorted(e["id"] for e in created.values())
    assert [e["policy"] for e in ranked] == ["expert", "random"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_migrations_are_idempotent(request, tmp_path, database):
    url = request.getfixturevalue("postgres_url") if database == "postgresql" else f"sqlite:///{tmp_path / 'm.db'}"
    engine = create_engine(url)
    assert migrate(engine) == len(MIGRATIONS)
    assert migrate(engine) == len(MIGRATIONS)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version FROM schema_version ORDER BY version")).scalars().all()
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    assert {"tokens", "entries", "schema_version"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_migration_2_widens_version_1_columns_on_postgresql(postgres_url, tmp_path, results):
    engine = create_engine(postgres_url)
    with engine.begin() as connection:  # a version-1 database, as the first release created it
        connection.execute(text("CREATE TABLE schema_version (version INTEGER NOT NULL)"))
        connection.execute(text("INSERT INTO schema_version (version) VALUES (1)"))
        connection.execute(
            text(
                "CREATE TABLE tokens (id SERIAL PRIMARY KEY, name VARCHAR(200) UNIQUE, "
                "token_hash VARCHAR(64) UNIQUE, created VARCHAR(40))"
            )
        )
        connection.execute(
            text(
                "CREATE TABLE entries (id SERIAL PRIMARY KEY, token_id INTEGER REFERENCES tokens(id), "
                "benchmark VARCHAR(200), spec_hash VARCHAR(64), policy VARCHAR(500), success FLOAT, "
                "success_low FLOAT, success_high FLOAT, score FLOAT, seeds VARCHAR(500), created VARCHAR(40), "
                "result_json TEXT, replay_status VARCHAR(20), replay_detail TEXT)"
            )
        )
    engine.dispose()
    board = serve(tmp_path, db_url=postgres_url, replay=False)  # opening the database migrates it
    server = next(board)
    response = server.submit(*load_submission(results["expert"]))
    assert response.status_code == 201, response.text
    assert response.json()["spec_hash"].startswith("sha256:") and len(response.json()["spec_hash"]) == 71
    board.close()


def test_pending_replays_resume_when_the_server_restarts(tmp_path, results):
    first = serve(tmp_path, replay=False)
    stopped = next(first)
    entry_id = stopped.submit(*load_submission(results["expert"])).json()["id"]
    assert httpx.get(f"{stopped.url}/api/entries/{entry_id}").json()["replay_status"] == "pending"
    first.close()
    second = serve(tmp_path, token_name="after-restart")
    restarted = next(second)
    assert restarted.wait_for_replay(entry_id)["replay_status"] == "verified"
    second.close()


def test_single_seed_has_no_interval_and_viewer_pages(server, results, monkeypatch):
    result, text_ = load_submission(results["expert"])
    seed_zero = [e for e in _episodes(text_) if e["seed"] == 0]
    result, text_ = reseal(result, seed_zero)
    result["seeds"] = [0]
    entry_id = server.submit(result, text_).json()["id"]
    assert server.wait_for_replay(entry_id)["success_ci95"] is None
    assert "100.0% <small" in httpx.get(f"{server.url}/benchmarks/{BENCHMARK}").text
    monkeypatch.setattr(pages_module, "EPISODES_PER_PAGE", 3)  # 8 episodes: pages 1-3, 4-6, 7-8
    shown = {}
    for page in ("1", "3", "99", "-1", "x"):
        html = httpx.get(f"{server.url}/entries/{entry_id}?page={page}").text
        shown[page] = (
            html.count('<details class="trajectory">'),
            re.search(r"Episodes (\d+)–(\d+) of (\d+)", html).groups(),
        )
    assert shown == {
        "1": (3, ("1", "3", "8")),
        "3": (2, ("7", "8", "8")),
        "99": (2, ("7", "8", "8")),
        "-1": (3, ("1", "3", "8")),
        "x": (3, ("1", "3", "8")),
    }
