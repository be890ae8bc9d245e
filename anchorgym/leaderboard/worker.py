"""Replay verification off the request path: worker processes, round-robin across tokens, a time budget.

Each accepted entry is queued under its submitter's token. A coordinator thread hands entries to a pool of
worker processes (``spawn``ed, so each has its own env and its own copy of any module-global state, such as
TextWorld's grammar parser, which is not thread-safe), at most ``workers`` at once, taking tokens in turn
(round robin): one token's sixteen entries never hold back another's first. A worker replays the entry (see
:mod:`.replay`), writing its progress (episodes checked, seconds spent) to the database every few episodes;
the coordinator writes the verdict with the replay version that gave it.

A replay that raises, or whose worker process dies, failed because of the server, not the submission (the
submission was checked before it was stored): it is retried, up to ``max_attempts`` times, and then left as
``error`` (unranked, never final): the next start queues it again. At start the server also queues every
entry still pending, and every verdict given under earlier replay rules (:data:`.replay.REPLAY_VERSION`).
Every verdict is written to the audit table.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import queue
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from anchorgym.leaderboard.replay import REPLAY_VERSION, Outcome, replay_entry, replayable
from anchorgym.leaderboard.storage import Entry, audit, episodes_path, open_database

log = logging.getLogger(__name__)
DEFAULT_WORKERS = 2
DEFAULT_BUDGET_S = 900.0
DEFAULT_ATTEMPTS = 3
_WORKER_SESSIONS: dict[str, sessionmaker[Session]] = {}  # one database connection pool per worker process


class RoundRobin:
    """Entries waiting for replay, one FIFO per token; the next comes from the token served least recently.

    A token never served comes first (ties: the order tokens first queued), so a token that has just had an
    entry started waits behind every other token with entries waiting, whatever order they arrived in.
    """

    def __init__(self) -> None:
        self.queues: dict[int, deque[int]] = {}
        self.served: dict[int, int] = {}  # token -> when it was last served (a counter)
        self.clock = 0

    def push(self, token_id: int, entry_id: int) -> None:
        """Queue ``entry_id`` behind the earlier entries of ``token_id``."""
        self.queues.setdefault(token_id, deque()).append(entry_id)

    def pop(self) -> int | None:
        """The oldest entry of the token served least recently; None when nothing waits."""
        if not self.queues:
            return None
        token_id = min(self.queues, key=lambda token: self.served.get(token, -1))  # min keeps the first of ties
        entries = self.queues[token_id]
        entry_id = entries.popleft()
        if not entries:
            del self.queues[token_id]
        self.served[token_id], self.clock = self.clock, self.clock + 1
        return entry_id

    def __len__(self) -> int:
        return sum(len(entries) for entries in self.queues.values())


def replay_job(db_url: str, storage: str, entry_id: int, budget_s: float) -> tuple[str, str]:
    """Replay entry ``entry_id`` in this worker process; return its verdict ``(status, detail)``.

    Runs in a worker process: it opens its own database connections and makes its own env.
    """
    sessions = _WORKER_SESSIONS.get(db_url)
    if sessions is None:
        sessions = _WORKER_SESSIONS[db_url] = open_database(db_url)
    with sessions() as session:
        entry = session.get(Entry, entry_id)
        result, start, spent = json.loads(entry.result_json), entry.replay_progress, entry.replay_seconds
    if spent >= budget_s:
        return "timeout", f"the replay's time budget ran out after {start} episodes"

    def progress(count: int, seconds: float) -> None:
        with sessions.begin() as session:
            row = session.get(Entry, entry_id)
            row.replay_progress, row.replay_seconds = count, spent + seconds

    outcome = replay_entry(result, episodes_path(Path(storage), entry_id), start, budget_s - spent, progress)
    return outcome.status, outcome.detail


class ReplayQueue:
    """Replay entries in ``workers`` processes, fairly across tokens, each replay within ``budget_s`` seconds.

    Args:
        db_url: the database's URL (each worker process connects on its own).
        sessions: the database.
        storage: the episodes files' folder.
        workers: replays run at once (the global bound).
        budget_s: seconds one entry's replay may take, summed over restarts.
        max_attempts: tries of a replay that fails because of the server before it is left as ``error``.
    """

    def __init__(
        self,
        db_url: str,
        sessions: sessionmaker[Session],
        storage: Path,
        workers: int = DEFAULT_WORKERS,
        budget_s: float = DEFAULT_BUDGET_S,
        max_attempts: int = DEFAULT_ATTEMPTS,
    ) -> None:
        self.db_url, self.sessions, self.storage = db_url, sessions, storage
        self.workers, self.budget_s, self.max_attempts = max(1, workers), budget_s, max(1, max_attempts)
        self.pool = self._new_pool()
        self.waiting = RoundRobin()
        self.known: set[int] = set()  # queued or running: an entry is never replayed twice at once
        self.running = 0
        self.lock = threading.Lock()
        self.events: queue.Queue[tuple[int, Future] | None] = queue.Queue()
        self.coordinator = threading.Thread(target=self._coordinate, name="replay-coordinator", daemon=True)
        self.coordinator.start()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def resume(self) -> None:
        """Queue every entry pending or left in ``error``, and re-queue verdicts of earlier replay rules."""
        with self.sessions.begin() as session:
            stale = session.scalars(
                select(Entry).where(Entry.replay_status != "pending", Entry.replay_version < REPLAY_VERSION)
            )
            for entry in stale:
                detail = (
                    f"re-queued: its verdict ({entry.replay_status}) was given by replay version "
                    f"{entry.replay_version}; the rules are now version {REPLAY_VERSION}"
                )
                entry.replay_status, entry.replay_detail = "pending", detail
                entry.replay_progress, entry.replay_seconds, entry.replay_attempts = 0, 0.0, 0
                audit(session, "server", "replay-requeue", entry.id, detail)
            for entry in session.scalars(select(Entry).where(Entry.replay_status == "error")):
                entry.replay_status, entry.replay_attempts = "pending", 0
                audit(session, "server", "replay-requeue", entry.id, "a server error stopped its last replay")
        with self.sessions() as session:
            rows = session.execute(
                select(Entry.id, Entry.token_id).where(Entry.replay_status == "pending").order_by(Entry.id)
            ).all()
        for entry_id, token_id in rows:
            self.submit(entry_id, token_id)

    def submit(self, entry_id: int, token_id: int) -> None:
        """Queue ``entry_id`` (submitted with token ``token_id``) for replay.

        An entry of a benchmark that is never replayed is labelled ``not-replayable`` at once, without a worker.
        """
        reason = self._unreplayable(entry_id)
        if reason is not None:
            self._record(entry_id, Outcome("not-replayable", reason))
            return
        with self.lock:
            if entry_id in self.known:
                return
            self.known.add(entry_id)
            self.waiting.push(token_id, entry_id)
            self._dispatch()

    def _unreplayable(self, entry_id: int) -> str | None:
        from anchorgym.harness.specs import load_benchmark

        with self.sessions() as session:
            benchmark = session.get(Entry, entry_id).benchmark
        spec = load_benchmark(benchmark)  # a built-in id: checked on submission
        return replayable(spec.env_id, spec.env_kwargs)

    def shutdown(self) -> None:
        """Stop taking replays; wait for the running ones."""
        self.events.put(None)
        self.coordinator.join(30)
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _dispatch(self) -> None:
        """Start waiting replays while fewer than ``workers`` run (the caller holds the lock)."""
        while self.running < self.workers:
            entry_id = self.waiting.pop()
            if entry_id is None:
                return
            self.running += 1
            try:
                future = self.pool.submit(replay_job, self.db_url, str(self.storage), entry_id, self.budget_s)
            except (BrokenProcessPool, RuntimeError) as error:  # a dead worker broke the pool: retry on a new one
                future = Future()
                future.set_exception(error)
            future.add_done_callback(lambda done, entry_id=entry_id: self.events.put((entry_id, done)))

    def _coordinate(self) -> None:
        """Write each finished replay's verdict (or retry it) and start the next ones."""
        while (event := self.events.get()) is not None:
            entry_id, future = event
            try:
                self._finish(entry_id, future)
            except Exception:  # the database is down: the entry stays pending, the next start queues it
                log.exception("recording the replay of entry %s failed", entry_id)
                with self.lock:
                    self.known.discard(entry_id)
            with self.lock:
                self.running -= 1
                self._dispatch()

    def _finish(self, entry_id: int, future: Future) -> None:
        try:
            status, detail = future.result()
        except Exception as error:  # the server's failure, never the submitter's: retry
            log.exception("replay of entry %s failed on the server", entry_id)
            if isinstance(error, BrokenProcessPool | RuntimeError):
                with self.lock:
                    if self.pool._broken:  # noqa: SLF001 - no public way to ask
                        self.pool = self._new_pool()
            self._retry(entry_id, f"{type(error).__name__}: {str(error)[:300]}")
            return
        self._record(entry_id, Outcome(status, detail))

    def _retry(self, entry_id: int, reason: str) -> None:
        with self.sessions.begin() as session:
            entry = session.get(Entry, entry_id)
            entry.replay_attempts += 1
            attempts, token_id = entry.replay_attempts, entry.token_id
            audit(session, "server", "replay-retry", entry_id, f"attempt {attempts}: {reason}")
        if attempts < self.max_attempts:
            with self.lock:
                self.waiting.push(token_id, entry_id)
            return
        detail = (
            f"a server error stopped the replay {attempts} times ({reason}); it is not the submission's fault "
            "and the replay is queued again when the server restarts"
        )
        self._record(entry_id, Outcome("error", detail))

    def _record(self, entry_id: int, outcome: Outcome) -> None:
        with self.sessions.begin() as session:
            entry = session.get(Entry, entry_id)
            entry.replay_status, entry.replay_detail = outcome.status, outcome.detail
            entry.replay_version = REPLAY_VERSION
            audit(session, "server", f"replay-{outcome.status}", entry_id, outcome.detail)
        with self.lock:
            self.known.discard(entry_id)
