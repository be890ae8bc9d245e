"""``anchorgym submit`` and ``anchorgym leaderboard token`` through the real CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

from anchorgym.leaderboard.storage import find_token, open_database, safe_url


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anchorgym.cli", *args], capture_output=True, text=True, env=env)


def test_token_command_issues_a_stored_hashed_token(tmp_path):
    db = f"sqlite:///{tmp_path / 'board.db'}"
    done = run_cli("leaderboard", "token", "alice", "--db", db)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    sessions = open_database(db)
    assert find_token(sessions, token).name == "alice"
    assert token not in (tmp_path / "board.db").read_bytes().decode("latin-1")
    again = run_cli("leaderboard", "token", "alice", "--db", db)
    assert again.returncode == 2 and again.stderr.strip() == "error: A token named 'alice' already exists."


def test_submit_prints_the_entry_url(server, results):
    env = {**os.environ, "ANCHORGYM_LEADERBOARD_TOKEN": server.token}
    done = run_cli("submit", str(results["expert"]), "--server", server.url, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"{server.url}/entries/1")
    env.pop("ANCHORGYM_LEADERBOARD_TOKEN")
    missing = run_cli("submit", str(results["expert"]), "--server", server.url, env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "error: No leaderboard token: set ANCHORGYM_LEADERBOARD_TOKEN (the admin issues tokens)."
    )
    nowhere = run_cli(
        "submit",
        str(results["expert"]),
        "--server",
        "http://127.0.0.1:9",
        env={**env, "ANCHORGYM_LEADERBOARD_TOKEN": "x"},
    )
    assert nowhere.returncode == 2 and nowhere.stderr.startswith("error: Could not reach the leaderboard")
    assert "Traceback" not in nowhere.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_command_serves_pages_and_accepts_a_submission(tmp_path, results):
    db = f"sqlite:///{tmp_path / 'board.db'}"
    token = run_cli("leaderboard", "token", "alice", "--db", db).stdout.strip()
    port = _free_port()
    command = [sys.executable, "-m", "anchorgym.cli", "leaderboard", "serve", "--db", db, "--port", str(port)]
    command += ["--storage", str(tmp_path / "files")]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout.readline().strip() == f"leaderboard on http://127.0.0.1:{port}/ (database {db})"
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):  # the line is printed just before the socket opens
            try:
                assert "No entries yet" in httpx.get(url + "/").text
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        env = {**os.environ, "ANCHORGYM_LEADERBOARD_TOKEN": token}
        done = run_cli("submit", str(results["expert"]), "--server", url, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().endswith(f"{url}/entries/1")
        assert "Entry 1: expert" in httpx.get(url + "/entries/1").text
        assert sorted(p.name for p in (tmp_path / "files").iterdir()) == ["entry-1.episodes.jsonl"]
    finally:
        server.terminate()
        server.wait(10)


def test_database_errors_are_clear_and_hide_the_password():
    done = run_cli("leaderboard", "token", "alice", "--db", "postgresql://lb:s3cret-pw@127.0.0.1:9/board")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "s3cret-pw" not in done.stderr and "postgresql://lb:***@127.0.0.1:9/board" in done.stderr
    # without the driver: "No driver for ..."; with it, the refused connection
    assert done.stderr.startswith(("error: No driver for", "error: Cannot open the leaderboard database"))
    assert safe_url("postgresql://lb:s3cret-pw@db.example/board") == "postgresql://lb:***@db.example/board"
    bad = run_cli("leaderboard", "token", "alice", "--db", "not a url")
    assert (
        bad.stderr.strip()
        == "error: (malformed database URL) is not a database URL: use sqlite:///FILE or postgresql://..."
    )
