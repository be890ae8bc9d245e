"""A submission for a benchmark whose replay data the server lacks: 422 with the reason, or self-reported.

The server runs as ``anchorgym leaderboard serve`` in its own process (so no env or engine cached by an
earlier test hides the missing data), with its WebShop lookup pointed at empty folders: no
``$WEBSHOP_DATA``, an empty user cache and an empty shared data folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from anchorgym.envs.webshop import data as webshop_data
from anchorgym.errors import DataNotFoundError, UnknownNameError
from anchorgym.harness import evaluate
from anchorgym.leaderboard.server import create_app

from .conftest import load_submission, serve_process

pytest.importorskip("bm25s", reason="needs the webshop extra")
BENCHMARK = "webshop-1k/smoke@v1"  # an explicit task list: listing its tasks needs no data, replaying does


@dataclass(frozen=True)
class Run:
    """A result folder and the data folder it was played on."""

    folder: Path
    source: Path


@pytest.fixture(scope="module")
def webshop_run(tmp_path_factory: pytest.TempPathFactory, shared_file) -> Run:
    """A real expert run of the WebShop smoke benchmark (played here, where the shared data is)."""
    source = shared_file("webshop", "products_1k.json").parent
    folder = tmp_path_factory.mktemp("webshop") / "expert"
    evaluate(BENCHMARK, "expert", out=folder, progress=False)
    return Run(folder, source)


def _without_webshop_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], str]:
    """The server's environment with every WebShop data folder empty, and what WebShop's lookup says there."""
    empty = tmp_path / "empty"
    env = {name: value for name, value in os.environ.items() if name != "WEBSHOP_DATA"}
    env.update(ANCHORGYM_CACHE_DIR=str(empty / "cache"), ANCHORGYM_SHARED_DATA=str(empty / "shared"))
    monkeypatch.delenv("WEBSHOP_DATA", raising=False)
    monkeypatch.setenv("ANCHORGYM_CACHE_DIR", env["ANCHORGYM_CACHE_DIR"])
    monkeypatch.setenv("ANCHORGYM_SHARED_DATA", env["ANCHORGYM_SHARED_DATA"])
    with pytest.raises(DataNotFoundError) as missing:
        webshop_data.locate()
    return env, str(missing.value)


@pytest.mark.slow
def test_a_benchmark_without_replay_data_is_refused_with_the_reason(webshop_run, tmp_path, monkeypatch):
    env, reason = _without_webshop_data(tmp_path, monkeypatch)
    assert reason.startswith("WebShop data not found (looked in ")
    with serve_process(tmp_path, env=env) as server:
        refused = server.submit(*load_submission(webshop_run.folder))
        assert refused.status_code == 422
        assert refused.json() == {"error": f"The server lacks the data to replay {BENCHMARK}: {reason}"}
        assert server.board(BENCHMARK) == {
            "benchmark": BENCHMARK,
            "ranked": [],
            "ranked_tier": "replay-verified",
            "tiers": {"rerun-verified": [], "replay-verified": []},
            "unverified": [],
        }

        # the operator installs the data: the same server now accepts and verifies it (a refusal is not cached)
        webshop_data.install(webshop_run.source, Path(env["ANCHORGYM_CACHE_DIR"]) / "webshop")
        accepted = server.submit(*load_submission(webshop_run.folder))
        assert accepted.status_code == 201, accepted.text
        entry = server.wait_for_replay(accepted.json()["id"], timeout_s=300)
        assert (entry["status"], entry["replay_status"]) == ("verified", "verified"), entry["replay_detail"]


@pytest.mark.slow
def test_an_operator_may_accept_such_benchmarks_as_self_reported(webshop_run, tmp_path, monkeypatch):
    env, reason = _without_webshop_data(tmp_path, monkeypatch)
    with serve_process(tmp_path, "--missing-data", "self-report", env=env) as server:
        accepted = server.submit(*load_submission(webshop_run.folder))
        assert accepted.status_code == 201, accepted.text
        entry = server.wait_for_replay(accepted.json()["id"], timeout_s=300)
        assert (entry["status"], entry["replay_status"]) == ("self-reported", "not-replayable")
        assert entry["replay_detail"] == f"the server lacks the data to replay {BENCHMARK}: {reason}"
        board = server.board(BENCHMARK)
        assert board["ranked"] == [] and [e["id"] for e in board["unverified"]] == [entry["id"]]


def test_an_unknown_missing_data_mode_is_refused(tmp_path):
    with pytest.raises(UnknownNameError) as error:
        create_app(f"sqlite:///{tmp_path / 'board.db'}", tmp_path / "files", replay=False, missing_data="ignore")
    assert str(error.value) == ("Unknown missing-data mode 'ignore'. Known: refuse, self-report.")
