"""``anchorgym submit`` and ``anchorgym leaderboard token`` through the real CLI."""

from __future__ import annotations

import subprocess
import sys

from anchorgym.leaderboard.storage import find_token, open_database


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


def test_submit_prints_the_entry_url(server, results, monkeypatch):
    import os

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
