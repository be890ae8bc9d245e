"""Replay verification off the request path: a pool of worker threads, a time budget per replay.

Each accepted entry is queued; a worker replays it (see :mod:`.replay`), writing its progress (episodes
checked, seconds spent) to the database every few episodes. A server restarted mid-replay queues the
unfinished entries again, and each resumes after its last checked episode with the time it has left.
Every final status is written to the audit table.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from anchorgym.leaderboard.replay import Outcome, replay_entry
from anchorgym.leaderboard.storage import Entry, audit, episodes_path

log = logging.getLogger(__name__)
DEFAULT_WORKERS = 2
DEFAULT_BUDGET_S = 900.0


class ReplayQueue:
    """Replay entries in ``workers`` threads, each replay within ``budget_s`` seconds in all.

    Args:
        sessions: the database.
        storage: the episodes files' folder.
        workers: replays run at once.
        budget_s: seconds one entry's replay may take, summed over restarts.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        storage: Path,
        workers: int = DEFAULT_WORKERS,
        budget_s: float = DEFAULT_BUDGET_S,
    ) -> None:
        self.sessions, self.storage, self.budget_s = sessions, storage, budget_s
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="replay")

    def resume(self) -> None:
        """Queue every entry still pending (a previous server stopped before its replay ended)."""
        with self.sessions() as session:
            pending = session.scalars(select(Entry.id).where(Entry.replay_status == "pending").order_by(Entry.id))
            for entry_id in list(pending):
                self.submit(entry_id)

    def submit(self, entry_id: int) -> None:
        """Queue ``entry_id``'s replay."""
        self.pool.submit(self._run, entry_id)

    def shutdown(self) -> None:
        """Stop taking replays; wait for the running ones."""
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, entry_id: int) -> None:
        with self.sessions() as session:
            entry = session.get(Entry, entry_id)
            result, start, spent = json.loads(entry.result_json), entry.replay_progress, entry.replay_seconds

        def progress(count: int, seconds: float) -> None:
            with self.sessions.begin() as session:
                row = session.get(Entry, entry_id)
                row.replay_progress, row.replay_seconds = count, spent + seconds

        try:
            if spent >= self.budget_s:
                outcome = Outcome("timeout", f"the replay's time budget ran out after {start} episodes")
            else:
                outcome = replay_entry(
                    result, episodes_path(self.storage, entry_id), start, self.budget_s - spent, progress
                )
        except Exception as error:  # a broken replay must not take the server down; record why
            log.exception("replay of entry %s failed", entry_id)
            outcome = Outcome("error", f"{type(error).__name__}: {str(error)[:500]}")
        with self.sessions.begin() as session:
            entry = session.get(Entry, entry_id)
            entry.replay_status, entry.replay_detail = outcome.status, outcome.detail
            audit(session, "server", f"replay-{outcome.status}", entry_id, outcome.detail)
