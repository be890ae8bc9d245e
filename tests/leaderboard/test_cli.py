"""``anchorgym submit`` and ``anchorgym leaderboard token`` through the real CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
from sqlalchemy import select, text

from anchorgym.leaderboard.storage import MIGRATIONS, Audit, find_token, open_database, safe_url


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
    assert again.returncode == 2 and again.stderr.strip() == (
        "error: A token named 'alice' already exists: rotate it with 'anchorgym leaderboard token rotate alice'."
    )


def test_token_list_revoke_and_rotate(tmp_path):
    db = f"sqlite:///{tmp_path / 'board.db'}"
    alice = run_cli("leaderboard", "token", "create", "alice", "--db", db).stdout.strip()
    bob = run_cli("leaderboard", "token", "bob", "--db", db).stdout.strip()
    sessions = open_database(db)
    assert run_cli("leaderboard", "token", "revoke", "bob", "--db", db).stdout == "revoked the token of bob\n"
    assert find_token(sessions, bob) is None and find_token(sessions, alice).name == "alice"
    rotated = run_cli("leaderboard", "token", "rotate", "alice", "--db", db).stdout.strip()
    assert find_token(sessions, alice) is None and find_token(sessions, rotated).name == "alice"
    listing = run_cli("leaderboard", "token", "list", "--db", db).stdout.splitlines()
    assert [line.split("\t")[0] for line in listing] == ["alice", "bob"]
    assert listing[0].split("\t")[2:] == ["active", "0 entries"] and listing[1].split("\t")[2].startswith("revoked ")
    unknown = run_cli("leaderboard", "token", "revoke", "carol", "--db", db)
    assert unknown.returncode == 2 and unknown.stderr.strip() == "error: No token named 'carol'. Known: alice, bob."
    with sessions() as session:
        actions = session.scalars(select(Audit.action).order_by(Audit.id)).all()
    assert actions == ["token-create", "token-create", "token-revoke", "token-rotate"]


def test_concurrent_token_calls_on_a_fresh_postgresql_database(postgres_url):
    env = {**os.environ}
    calls = [
        subprocess.Popen(
            [sys.executable, "-m", "anchorgym.cli", "leaderboard", "token", f"user{n}", "--db", postgres_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(8)
    ]
    outputs = [call.communicate(timeout=120) for call in calls]
    assert [call.returncode for call in calls] == [0] * 8, [err for _, err in outputs]
    sessions = open_database(postgres_url)
    assert [find_token(sessions, out.strip()).name for out, _ in outputs] == [f"user{n}" for n in range(8)]
    with sessions() as session:
        versions = session.execute(text("SELECT version FROM schema_version ORDER BY version")).scalars().all()
    assert versions == list(range(1, len(MIGRATIONS) + 1))  # migrated once, under the lock


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
