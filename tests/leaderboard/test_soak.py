"""Soak: hostile and honest submissions arrive together at a real ``anchorgym leaderboard serve``.

Four clients, each with its own token, send 16 submissions apiece (64 in all) to one server process on
127.0.0.1, and load its pages between them: honest runs, duplicates of them, and the hostile kinds of
issue #17 (oversized bodies and results, huge declared seed counts, non-finite and overflowing numbers,
long strings and lines, zero-step and foreign-seed episodes, forged outcomes, bad tokens, broken JSON).
Every hostile submission must get its own 4xx with its reason, or end ``failed`` by replay. Every honest run
ends verified and ranks once: the client that sends it first owns it, the others' copies get 409 (issue #25);
the honest random run is the warm-up's, so every client's copy of it gets 409. The server's resident memory,
read from /proc while the soak runs, must stay within a fixed bound of where it started. Nothing depends on
timing: each wait has a generous deadline.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from anchorgym.leaderboard.storage import create_token, open_database

from .conftest import BENCHMARK, Server, load_submission, reseal, serve_process

pytestmark = pytest.mark.slow
CLIENTS = 4
RSS_GROWTH_BOUND_MIB = 300  # generous: +34 to +53 MiB measured on a busy 2-core machine
MAX_RESULT_BYTES = 1024 * 1024  # Limits() defaults, as served
MAX_LINE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    """One submission and the answer it must get: a status and the error (exact, or its start with ``...``)."""

    name: str
    result: bytes
    episodes: bytes
    status: int | tuple[int, ...]  # a tuple: any of these (which client sends a run first is a race)
    error: str | None = None
    token: str | None = None  # None: the client's own


def _episodes(text_: str) -> list[dict]:
    return [json.loads(line) for line in text_.splitlines()]


def _sealed(result: dict, episodes: list[dict]) -> tuple[bytes, bytes]:
    result, text_ = reseal(result, episodes)
    return json.dumps(result).encode(), text_.encode()


def _forged_wins(result: dict, text_: str) -> tuple[bytes, bytes]:
    """Every episode of a random run relabelled won with score 1, the file and metrics resealed."""
    episodes = _episodes(text_)
    for episode in episodes:
        episode["won"], episode["score"] = True, 1.0
    return _sealed(result, episodes)


def _zero_steps(result: dict, text_: str) -> tuple[bytes, bytes]:
    episodes = _episodes(text_)
    for episode in episodes:
        episode.update(steps=[], length=0, invalid_actions=0, parse_failures=0, won=False, score=0.0)
        episode["return"] = 0.0
    return _sealed(result, episodes)


def _long_instruction(result: dict, text_: str) -> tuple[bytes, bytes]:
    episodes = _episodes(text_)
    episodes[0]["instruction"] = "x" * 1_000_000
    return _sealed(result, episodes)


def _with_seeds(result: dict, seeds: list[int]) -> bytes:
    return json.dumps({**result, "seeds": seeds}).encode()


def _with_number(result: dict, number: bytes) -> bytes:
    return json.dumps(result).replace('"mean": 1.0', '"mean": NUMBER', 1).encode().replace(b"NUMBER", number)


def _hostile(expert: tuple[dict, str], random_run: tuple[dict, str]) -> list[Case]:
    """The hostile submissions every client sends (the 413 of an oversized body is sent by hand)."""
    result, text_ = expert
    episodes = text_.encode()
    first_task = _episodes(text_)[0]["task_id"]
    return [
        Case("forged wins", *_forged_wins(*random_run), (201, 409)),  # self-consistent: replay must fail it
        Case("oversized body", b"", b"", 413),
        Case("1,000,000 seeds", _with_seeds(result, list(range(1_000_000))), episodes, 422,
             f"result.json is {MAX_RESULT_BYTES + 1} bytes; the limit is {MAX_RESULT_BYTES}."),
        Case("100,000 seeds", _with_seeds(result, list(range(100_000))), episodes, 422,
             "result.json declares 100000 seeds; the limit is 100."),
        Case("a foreign seed", _with_seeds(result, [4]), episodes, 422,
             "result.json declares seeds [4]; benchmark sokoban-6x6-1box/smoke@v1 is evaluated on seeds [0]: "
             "run 'anchorgym eval' without --seeds."),
        Case("NaN", _with_number(result, b"NaN"), episodes, 422,
             "result.json: NaN is not a JSON number: numbers must be finite."),
        Case("1e308", _with_number(result, b"1e308"), episodes, 422,
             "result.json: The number 1e308 is out of range: numbers must be finite and within \u00b11e+12."),
        Case("10**400", _with_number(result, b"1" + b"0" * 400), episodes, 422,
             "result.json: The integer 1000000000000000000000000000000000000000... is out of range: "
             "integers must be within \u00b12**53."),
        Case("a 1 MB string", *_long_instruction(result, text_), 422,
             "episodes.jsonl line 1: A string of 1000000 characters ('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'"
             "...) exceeds the limit of 100000: submit the files 'anchorgym eval' wrote."),
        Case("a 9 MB line", json.dumps(result).encode(), b"y" * (MAX_LINE_BYTES + 1024) + b"\n", 422,
             f"episodes.jsonl line 1 exceeds {MAX_LINE_BYTES} bytes."),
        Case("zero-step episodes", *_zero_steps(result, text_), 422,
             f"Episode (seed 0, task {first_task!r}, episode 0) has 0 steps; the benchmark allows 1 to 15 "
             "(its max_steps)."),
        Case("broken JSON", b'{"seeds": [0, 1', episodes, 400, "result.json is not valid JSON: ..."),
        Case("a guessed token", json.dumps(result).encode(), episodes, 401,
             "Missing, unknown or revoked bearer token. Ask the admin for one: anchorgym leaderboard token.",
             token="0" * 43),
    ]  # fmt: skip


def _oversized_body(url: str, token: str) -> tuple[int, None]:
    """Declare a 200 MB body and send none of it: waitress must answer 413 from the headers alone."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=60) as connection:
        connection.sendall(
            b"POST /api/submissions HTTP/1.1\r\nHost: leaderboard\r\nAuthorization: Bearer " + token.encode()
            + b"\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 200000000\r\n\r\n"
        )  # fmt: skip
        answer = b""
        while b"\r\n" not in answer and (chunk := connection.recv(4096)):
            answer += chunk
    return int(answer.split(b" ")[1]), None


def _send(server: Server, case: Case, token: str) -> tuple[int, dict | None]:
    if case.status == 413:
        return _oversized_body(server.url, token)
    response = server.submit(case.result, case.episodes, token=case.token or token)
    return response.status_code, response.json()


COPY = "These episodes were already submitted as entry "


def _check_answer(case: Case, status: int, body: dict | None) -> None:
    allowed = case.status if isinstance(case.status, tuple) else (case.status,)
    assert status in allowed, (case.name, status, body)
    if status == 409:  # another client (or the warm-up) sent this run first
        assert body["error"].startswith(COPY) and body["error"].endswith(
            "a copy of another submitter's run cannot be ranked."
        )
        return
    if case.error is None:
        return
    if case.error.endswith("..."):
        assert body["error"].startswith(case.error[:-3]), (case.name, body)
    else:
        assert body["error"] == case.error, (case.name, body)


class RssSampler(threading.Thread):
    """Reads a process's resident memory (VmRSS, MiB) from /proc until stopped; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stopped = pid, 0.0, threading.Event()

    def rss(self) -> float:
        """The process's resident memory now, in MiB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(kib) / 1024

    def run(self) -> None:
        """Sample until :meth:`stop`."""
        while not self.stopped.wait(0.05):
            self.peak = max(self.peak, self.rss())

    def stop(self) -> float:
        """Stop sampling; return the peak."""
        self.stopped.set()
        self.join(10)
        return max(self.peak, self.rss())


def _client(server: Server, token: str, cases: list[Case], number: int) -> dict[str, list[int]]:
    """Send this client's cases (honest first, its duplicate last), loading pages between; return entry ids."""
    honest, duplicate, *others = cases
    others = others.copy()
    random.Random(number).shuffle(others)
    ids: dict[str, list[int]] = {"honest": [], "forged": []}
    for case in [honest, *others, duplicate]:
        status, body = _send(server, case, token)
        _check_answer(case, status, body)
        if case.name.startswith("honest") and status == 201:
            ids["honest"].append(body["id"])
        elif case.name == "forged wins" and status == 201:
            ids["forged"].append(body["id"])
        elif case.name == "duplicate":  # this client's own run again, or another's copy
            assert (status == 200) == bool(ids["honest"]), (status, body, ids)
            assert status == 409 or (body["duplicate"] is True and body["id"] == ids["honest"][0]), body
        for page in (f"/benchmarks/{BENCHMARK}", "/", f"/api/benchmarks/{BENCHMARK}/entries"):
            assert httpx.get(server.url + page, timeout=60).status_code == 200
    return ids


def _wait_all(server: Server, entry_ids: list[int], timeout_s: float = 300.0) -> dict[int, dict]:
    deadline = time.monotonic() + timeout_s
    return {n: server.wait_for_replay(n, timeout_s=max(1.0, deadline - time.monotonic())) for n in entry_ids}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str | None:
    """The server's database: a SQLite file (None), or PostgreSQL from $ANCHORGYM_TEST_POSTGRES_URL."""
    return request.getfixturevalue("postgres_url") if request.param == "postgresql" else None


def test_hostile_and_honest_submissions_together_keep_memory_bounded(tmp_path, results, database):
    expert, random_run = load_submission(results["expert"]), load_submission(results["random"])
    hostile = _hostile(expert, random_run)
    honest = [
        Case("honest expert", json.dumps(expert[0]).encode(), expert[1].encode(), (201, 409)),
        Case("duplicate", json.dumps(expert[0]).encode(), expert[1].encode(), (200, 409)),
        Case("honest random", json.dumps(random_run[0]).encode(), random_run[1].encode(), 409),  # the warm-up's
    ]
    cases = honest + hostile
    assert len(cases) * CLIENTS == 64
    with serve_process(tmp_path, db_url=database) as server:
        sessions = open_database(server.db_url)
        tokens = [create_token(sessions, f"client-{n}") for n in range(CLIENTS)]
        warmup = server.submit(*load_submission(results["random"]))  # loads the env and replay code once
        server.wait_for_replay(warmup.json()["id"])
        sampler = RssSampler(server.app.pid)
        baseline = sampler.rss()
        sampler.start()
        try:
            with ThreadPoolExecutor(CLIENTS) as pool:
                futures = [pool.submit(_client, server, tokens[n], cases, n) for n in range(CLIENTS)]
                ids = [future.result() for future in futures]
            entries = _wait_all(server, [n for client in ids for n in client["honest"] + client["forged"]])
        finally:
            peak = sampler.stop()
        honest_ids = sorted(n for client in ids for n in client["honest"])
        forged_ids = sorted(n for client in ids for n in client["forged"])
        assert [entries[n]["status"] for n in honest_ids] == ["verified"]  # the expert run, owned by one client
        assert [entries[n]["status"] for n in forged_ids] == ["failed"]  # one forgery; the others its copies
        board = server.board()
        assert sorted(e["id"] for e in board["ranked"]) == sorted([warmup.json()["id"], *honest_ids])
        assert sorted(e["id"] for e in board["unverified"]) == forged_ids  # no entry from any refused case
        growth = peak - baseline
        print(f"server RSS {baseline:.0f} MiB after warm-up, peak {peak:.0f} MiB during the soak (+{growth:.0f})")
        assert growth < RSS_GROWTH_BOUND_MIB, f"RSS grew {growth:.0f} MiB (from {baseline:.0f} to {peak:.0f})"
