"""The world worker: hosts one ``AppWorld`` at a time and answers JSON lines on stdin/stdout.

Run inside the AppWorld venv: ``python server.py``. Each request is one JSON
object per line with an ``op`` (``open``, ``execute``, ``evaluate``, ``close``,
``ping``); each reply is one JSON line ``{"ok": true, ...}`` or ``{"ok": false,
"error": "..."}``. The real stdout is kept for replies only: anything AppWorld
or user code prints goes to stderr, so it can never corrupt the protocol.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import traceback
from typing import Any, TextIO

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Return this process's resident memory in bytes (Linux), else 0."""
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[1]) * PAGE_SIZE
    except OSError:
        return 0


def _cached_db(world: Any, app: str) -> tuple[Any, Any]:
    """Return (engine, change tracker) of ``app``'s live database in ``world``.

    Looked up in AppWorld's DB cache by path: the model classes' own ``db``
    binding is global and moves whenever another collection is loaded (e.g. by
    the evaluator).
    """
    from appworld.apps.model_lib import CachedDBHandler, db_home_to_app_path

    return CachedDBHandler.get(db_home_to_app_path(world.models_to_db_home_path, app))


def app_digest(world: Any, app: str) -> str:
    """Digest every record of ``app`` in the world's live database.

    Uses AppWorld's per-record ``record_hash`` column, sorted per table, so the
    digest depends on the set of records only (not on the order of changes).
    """
    from sqlalchemy import text

    digest = hashlib.blake2b(digest_size=16)
    tables = sorted(model.__tablename__ for name, model in world.models[app].items() if name != "SQLModel")
    with _cached_db(world, app)[0].connect() as connection:
        for table in tables:
            rows = connection.execute(text(f"SELECT record_hash FROM {table}")).scalars()
            hashes = sorted(str(value) for value in rows)
            digest.update(f"{table}:{len(hashes)}:".encode())
            digest.update("\n".join(hashes).encode())
    return digest.hexdigest()


def change_count(world: Any, app: str) -> int:
    """Return how many write statements AppWorld's tracker has recorded on ``app``'s database."""
    return len(_cached_db(world, app)[1].changes)


class WorldHost:
    """Owns the current ``AppWorld`` and implements the protocol's operations."""

    def __init__(self) -> None:
        self.world: Any = None
        self.anchor_apps: list[str] = []
        self.initial_digests: dict[tuple[str, str], dict[str, str]] = {}  # (root, task) -> app -> digest
        self.digests: dict[str, str] = {}
        self.baseline: dict[str, int] = {}

    def op_ping(self) -> dict[str, Any]:
        """Liveness check; reports memory."""
        return {"rss": rss_bytes(), "pid": os.getpid()}

    def op_open(
        self, root: str, task_id: str, experiment: str, timeout: int, anchor_apps: list[str] | None = None
    ) -> dict[str, Any]:
        """Start task ``task_id`` of the AppWorld data under ``root``."""
        os.environ["APPWORLD_ROOT"] = root
        from appworld import AppWorld

        self.op_close()
        self.world = AppWorld(task_id=task_id, experiment_name=experiment, timeout_seconds=timeout)
        task = self.world.task
        self.anchor_apps = sorted(anchor_apps or task.allowed_apps)
        key = (root, task_id)
        if key not in self.initial_digests:  # every episode of a task starts from the same state
            self.initial_digests[key] = {app: app_digest(self.world, app) for app in self.anchor_apps}
        self.digests = dict(self.initial_digests[key])
        self.baseline = {app: change_count(self.world, app) for app in self.anchor_apps}
        supervisor = {key: str(task.supervisor[key]) for key in ("first_name", "last_name", "email", "phone_number")}
        return {
            "instruction": task.instruction,
            "supervisor": supervisor,
            "datetime": task.datetime.isoformat(),
            "apps": list(task.allowed_apps),
            **self._state(),
        }

    def op_execute(self, code: str) -> dict[str, Any]:
        """Run ``code`` in the world's shell; return its output and whether the task is completed."""
        output = self._world().execute(code)
        return {"output": output, "completed": bool(self.world.task_completed()), **self._state()}

    def op_evaluate(self) -> dict[str, Any]:
        """Run AppWorld's own evaluation of the current world."""
        tracker = self._world().evaluate(suppress_errors=True)
        return {
            "success": bool(tracker.success),
            "passes": tracker.pass_count,
            "num_tests": tracker.num_tests,
            "failures": [failure["requirement"] for failure in tracker.failures],
        }

    def op_close(self) -> dict[str, Any]:
        """Close the current world, if any."""
        if self.world is not None:
            world, self.world = self.world, None
            world.close()
        return {"rss": rss_bytes()}

    def _world(self) -> Any:
        if self.world is None:
            raise RuntimeError("no world is open: send an 'open' request first")
        return self.world

    def _state(self) -> dict[str, Any]:
        """The anchor: per-app record digests, recomputed only for apps with new writes."""
        for app in self.anchor_apps:
            count = change_count(self.world, app)
            if count != self.baseline[app]:
                self.digests[app] = app_digest(self.world, app)
                self.baseline[app] = count
        text = json.dumps(self.digests, sort_keys=True).encode()
        return {"anchor": hashlib.blake2b(text, digest_size=16).hexdigest(), "rss": rss_bytes()}


def serve(requests: TextIO, replies: TextIO) -> None:
    """Answer every request line from ``requests`` on ``replies`` until EOF."""
    host = WorldHost()
    replies.write(json.dumps({"ok": True, **host.op_ping()}) + "\n")
    replies.flush()
    for line in requests:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            handler = getattr(host, "op_" + request.pop("op"))
            reply = {"ok": True, **handler(**request)}
        except Exception as error:  # the error goes back to the env, which ends only this episode
            traceback.print_exc(file=sys.stderr)
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    host.op_close()


def cap_memory(limit_bytes: int) -> None:
    """Limit this process's address space to ``limit_bytes`` (0: no limit), before appworld loads."""
    if limit_bytes > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def main() -> None:
    """Cap memory, keep the real stdout for replies and send every other print to stderr."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-cap-bytes", type=int, default=0)
    cap_memory(parser.parse_args().memory_cap_bytes)
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    serve(sys.stdin, replies)


if __name__ == "__main__":
    main()
