"""Fixtures for the leaderboard: real evaluation results and a real server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

from anchorgym.harness import evaluate
from anchorgym.harness.metrics import summarize
from anchorgym.leaderboard.server import create_app
from anchorgym.leaderboard.storage import create_token, open_database

BENCHMARK = "sokoban-6x6-1box/smoke@v1"


@pytest.fixture(scope="session")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real result folders of the smoke benchmark: the expert and the random policy."""
    root = tmp_path_factory.mktemp("results")
    folders = {}
    for policy in ("expert", "random"):
        folders[policy] = root / policy
        evaluate(BENCHMARK, policy, out=folders[policy], progress=False)  # the spec's seeds
    return folders


@dataclass
class Server:
    """A leaderboard served over real HTTP, with one issued token."""

    url: str
    token: str
    app: object
    db_url: str = ""

    def submit(self, result: dict | bytes, episodes: str | bytes, token: str | None = None) -> httpx.Response:
        """POST a submission; ``result`` may be a dict or raw bytes."""
        body = result if isinstance(result, bytes) else json.dumps(result).encode()
        return httpx.post(
            f"{self.url}/api/submissions",
            headers={"Authorization": f"Bearer {token or self.token}"},
            files={"result": ("result.json", body), "episodes": ("episodes.jsonl", episodes)},
            timeout=60,
        )

    def board(self, benchmark: str = BENCHMARK) -> dict:
        """The benchmark's ranked and unverified entries."""
        return httpx.get(f"{self.url}/api/benchmarks/{benchmark}/entries").json()

    def wait_for_replay(self, entry_id: int, timeout_s: float = 60.0) -> dict:
        """Poll an entry until its replay verification has finished."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            entry = httpx.get(f"{self.url}/api/entries/{entry_id}").json()
            if entry["replay_status"] != "pending":
                return entry
            time.sleep(0.2)
        raise AssertionError(f"entry {entry_id} still pending after {timeout_s}s")


def serve(tmp_path: Path, db_url: str | None = None, token_name: str = "tester", **options: object) -> Iterator[Server]:
    """Run a leaderboard on a free port of 127.0.0.1 until the generator is closed.

    The database is a SQLite file in ``tmp_path`` unless ``db_url`` names another.
    """
    db_url = db_url or f"sqlite:///{tmp_path / 'board.db'}"
    app = create_app(db_url, tmp_path / "files", **options)
    token = create_token(app.extensions["anchorgym"]["sessions"], token_name)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{http.server_port}", token, app, db_url)
    finally:
        if not sys.is_finalizing():  # an unclosed generator collected at exit: the serving thread is frozen
            http.shutdown()
            thread.join(5)
            replayer = app.extensions["anchorgym"]["replayer"]
            if replayer is not None:  # its worker processes end with the server
                replayer.shutdown()


@contextlib.contextmanager
def serve_process(
    tmp_path: Path, *options: str, env: dict[str, str] | None = None, db_url: str | None = None
) -> Iterator[Server]:
    """Run ``anchorgym leaderboard serve --port 0 OPTIONS`` in a subprocess (a fresh process: no caches).

    Args:
        tmp_path: holds the episodes files, and the SQLite database unless ``db_url`` names another.
        options: more ``serve`` options.
        env: the server's environment (default: this one's).
        db_url: the database (default: ``board.db`` in ``tmp_path``).

    Yields:
        The server (``app`` is its ``subprocess.Popen``, whose ``pid`` gives its memory in /proc; ``db_url`` its
        database).
    """
    db = db_url or f"sqlite:///{tmp_path / 'board.db'}"
    token = create_token(open_database(db), "tester")
    command = [sys.executable, "-m", "anchorgym.cli", "leaderboard", "serve", "--db", db, "--port", "0"]
    command += ["--storage", str(tmp_path / "files"), *options]
    log = tmp_path / "serve.log"  # a file, not a pipe: a pipe nobody reads would block a chatty server
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        yield Server(_served_url(process, log), token, process, db)
    finally:
        process.terminate()
        process.wait(30)


def _served_url(process: subprocess.Popen, log: Path, timeout_s: float = 120.0) -> str:
    """The URL ``serve`` prints once its socket listens (generous timeout: the machine may be busy)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        for line in log.read_text().splitlines():
            if line.startswith("leaderboard on http://127.0.0.1:"):
                return line.split()[2].rstrip("/")
        time.sleep(0.1)
    raise AssertionError(f"the server did not start (exit {process.poll()}):\n{log.read_text()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh leaderboard server per test."""
    yield from serve(tmp_path)


def load_submission(folder: Path) -> tuple[dict, str]:
    """Read a result folder as (result dict, episodes text)."""
    result = json.loads((folder / "result.json").read_text())
    return result, (folder / "episodes.jsonl").read_text()


def reseal(result: dict, episodes: list[dict]) -> tuple[dict, str]:
    """Re-serialise edited episodes and make result.json describe them (SHA-256 and metrics)."""
    text_ = "".join(json.dumps(e) + "\n" for e in episodes)
    result = json.loads(json.dumps(result))
    result["files"]["episodes_sha256"] = "sha256:" + hashlib.sha256(text_.encode()).hexdigest()
    result["metrics"] = json.loads(json.dumps(summarize(episodes)))
    return result, text_


POSTGRES_ENV_VAR = "ANCHORGYM_TEST_POSTGRES_URL"


@pytest.fixture
def postgres_url() -> str:
    """An empty PostgreSQL database from ``$ANCHORGYM_TEST_POSTGRES_URL`` (its leaderboard tables dropped)."""
    url = os.environ.get(POSTGRES_ENV_VAR)
    if not url:
        pytest.skip(f"needs a PostgreSQL database: set {POSTGRES_ENV_VAR}=postgresql://USER@HOST:PORT/DB")
    pytest.importorskip("psycopg", reason="needs the PostgreSQL driver: pip install 'psycopg[binary]'")
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as connection:  # fail, not hang, if a stray connection holds a lock
        connection.execute(text("SET LOCAL lock_timeout = '10s'"))
        connection.execute(text("DROP TABLE IF EXISTS audit, entries, tokens, schema_version CASCADE"))
    engine.dispose()
    return url
