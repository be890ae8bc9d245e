"""The leaderboard web app: a JSON API for submissions and server-rendered pages.

API (JSON):

* ``POST /api/submissions`` (``Authorization: Bearer TOKEN``, multipart files
  ``result`` = result.json and ``episodes`` = episodes.jsonl): verify and store;
  201 with the entry, or 4xx with ``{"error": reason}``.
* ``GET /api/benchmarks``: benchmarks with entry counts.
* ``GET /api/benchmarks/<id>/entries``: ranked entries (success, then score).
* ``GET /api/entries/<n>``: one entry; ``GET /api/entries/<n>/episodes``: its episodes file.

Pages: ``/`` (benchmarks), ``/benchmarks/<id>`` (ranked table), ``/entries/<n>``
(config, per-task-type breakdown, trajectory viewer). Templates autoescape
every value, pages load nothing from outside the server.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from flask import Flask, abort, jsonify, render_template, request, send_file
from sqlalchemy import func, select

from anchorgym.errors import ResultError
from anchorgym.leaderboard.replay import replay_entry
from anchorgym.leaderboard.storage import Entry, episodes_path, find_token, now, open_database
from anchorgym.leaderboard.verify import verify_submission

log = logging.getLogger(__name__)
DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024
DEFAULT_RATE_LIMIT = (20, 60.0)  # submissions per token per window of seconds
EPISODES_PER_PAGE = 50  # trajectories per entry page
CONFIG_KEYS = ("policy", "prompt_template", "seeds", "versions", "machine")  # shown on an entry's page


class RateLimiter:
    """Sliding-window limit of events per key (thread-safe, in memory)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self.events: dict[int, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def allow(self, key: int) -> bool:
        """Record an event for ``key``; return False when it exceeds the limit."""
        moment = time.monotonic()
        with self.lock:
            events = self.events[key]
            while events and moment - events[0] > self.window_s:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(moment)
            return True


def create_app(
    db_url: str,
    storage_dir: str | Path,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    rate_limit: tuple[int, float] = DEFAULT_RATE_LIMIT,
    replay: bool = True,
) -> Flask:
    """Build the leaderboard app.

    Args:
        db_url: SQLAlchemy URL, e.g. ``sqlite:///leaderboard.db``.
        storage_dir: folder for episodes files.
        max_upload_bytes: larger requests are refused with 413.
        rate_limit: ``(submissions, seconds)`` allowed per token.
        replay: replay-verify accepted entries in a background thread; entries still pending from
            an earlier run (the server stopped before their replay ended) are queued again at start.
    """
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_upload_bytes
    storage = Path(storage_dir)
    storage.mkdir(parents=True, exist_ok=True)
    sessions = open_database(db_url)
    limiter = RateLimiter(*rate_limit)
    replayer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay") if replay else None
    app.extensions["anchorgym"] = {"sessions": sessions, "storage": storage, "replayer": replayer}
    _register_api(app, sessions, storage, limiter, replayer)
    _register_pages(app, sessions, storage)
    if replayer is not None:
        for entry_id in _pending(sessions):
            replayer.submit(_replay_and_record, sessions, storage, entry_id)
    return app


def _pending(sessions) -> list[int]:  # noqa: ANN001
    with sessions() as session:
        return list(session.scalars(select(Entry.id).where(Entry.replay_status == "pending").order_by(Entry.id)))


def _error(status: int, message: str) -> tuple[Any, int]:
    return jsonify({"error": message}), status


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else None


def _register_api(app: Flask, sessions, storage: Path, limiter: RateLimiter, replayer) -> None:  # noqa: ANN001
    @app.errorhandler(413)
    def too_large(_error_obj: Exception) -> tuple[Any, int]:
        return _error(413, f"Upload too large: the limit is {app.config['MAX_CONTENT_LENGTH']} bytes.")

    @app.post("/api/submissions")
    def submit() -> tuple[Any, int]:
        token = _bearer_token()
        owner = find_token(sessions, token) if token else None
        if owner is None:
            return _error(401, "Missing or unknown bearer token. Ask the admin for one: anchorgym leaderboard token.")
        if not limiter.allow(owner.id):
            return _error(429, "Too many submissions from this token; wait a minute and retry.")
        files = request.files
        if "result" not in files or "episodes" not in files:
            return _error(400, "Send multipart files 'result' (result.json) and 'episodes' (episodes.jsonl).")
        try:
            result_text, episodes_text = (files[name].read().decode("utf-8") for name in ("result", "episodes"))
            result = json.loads(result_text)
        except UnicodeDecodeError as error:
            return _error(400, f"Uploads must be UTF-8 text: {error}")
        except (json.JSONDecodeError, RecursionError) as error:
            return _error(400, f"result.json is not valid JSON: {str(error)[:200]}")
        try:
            checked = verify_submission(result, episodes_text)
        except ResultError as error:
            return _error(422, str(error))
        entry = _store(sessions, storage, owner.id, result, episodes_text, checked)
        if replayer is not None:
            replayer.submit(_replay_and_record, sessions, storage, entry.id)
        return jsonify(_entry_json(entry)), 201

    @app.get("/api/benchmarks")
    def benchmarks() -> Any:
        return jsonify(_benchmark_counts(sessions))

    @app.get("/api/benchmarks/<path:benchmark>/entries")
    def ranked(benchmark: str) -> Any:
        return jsonify([_entry_json(e) for e in _ranked(sessions, benchmark)])

    @app.get("/api/entries/<int:entry_id>")
    def entry_detail(entry_id: int) -> Any:
        return jsonify(_entry_json(_get_entry(sessions, entry_id), full=True))

    @app.get("/api/entries/<int:entry_id>/episodes")
    def entry_episodes(entry_id: int) -> Any:
        _get_entry(sessions, entry_id)
        return send_file(episodes_path(storage, entry_id), mimetype="application/x-ndjson", as_attachment=True)


def _register_pages(app: Flask, sessions, storage: Path) -> None:  # noqa: ANN001
    @app.get("/")
    def index() -> str:
        return render_template("index.html", benchmarks=_benchmark_counts(sessions))

    @app.get("/benchmarks/<path:benchmark>")
    def benchmark_page(benchmark: str) -> str:
        entries = [_entry_json(e) for e in _ranked(sessions, benchmark)]
        if not entries:
            abort(404)
        return render_template("benchmark.html", benchmark=benchmark, entries=entries)

    @app.get("/entries/<int:entry_id>")
    def entry_page(entry_id: int) -> str:
        entry = _entry_json(_get_entry(sessions, entry_id), full=True)
        entry["per_type"] = _per_type(entry["result"])
        config = {key: entry["result"].get(key) for key in CONFIG_KEYS}
        entry["config_text"] = json.dumps(config, indent=2, sort_keys=True)
        pages = _pages(entry["result"]["metrics"]["episodes"], request.args.get("page", 1, type=int))
        episodes = _read_episodes(episodes_path(storage, entry_id), pages["first"] - 1, EPISODES_PER_PAGE)
        return render_template("entry.html", entry=entry, episodes=episodes, pages=pages)


def _store(sessions, storage: Path, token_id: int, result: dict, episodes_text: str, checked: dict) -> Entry:  # noqa: ANN001
    entry = Entry(token_id=token_id, created=now(), result_json=json.dumps(result), **checked)
    with sessions.begin() as session:
        session.add(entry)
        session.flush()
        target = episodes_path(storage, entry.id)
        partial = target.with_suffix(".partial")
        partial.write_text(episodes_text, encoding="utf-8")
        partial.replace(target)
    return entry


def _replay_and_record(sessions, storage: Path, entry_id: int) -> None:  # noqa: ANN001
    with sessions() as session:
        entry = session.get(Entry, entry_id)
        result = json.loads(entry.result_json)
    try:
        status, detail = replay_entry(result, episodes_path(storage, entry_id))
    except Exception as error:  # a broken replay must not take the server down; record why
        log.exception("replay of entry %s failed", entry_id)
        status, detail = "error", f"{type(error).__name__}: {error}"
    with sessions.begin() as session:
        entry = session.get(Entry, entry_id)
        entry.replay_status, entry.replay_detail = status, detail


def _get_entry(sessions, entry_id: int) -> Entry:  # noqa: ANN001
    with sessions() as session:
        entry = session.get(Entry, entry_id)
    if entry is None:
        abort(404)
    return entry


def _ranked(sessions, benchmark: str) -> list[Entry]:  # noqa: ANN001
    query = (
        select(Entry)
        .where(Entry.benchmark == benchmark)
        .order_by(Entry.success.desc(), Entry.score.desc(), Entry.created, Entry.id)
    )
    with sessions() as session:
        return list(session.scalars(query))


def _benchmark_counts(sessions) -> list[dict[str, Any]]:  # noqa: ANN001
    query = select(Entry.benchmark, func.count(Entry.id)).group_by(Entry.benchmark).order_by(Entry.benchmark)
    with sessions() as session:
        return [{"id": name, "entries": count} for name, count in session.execute(query)]


def _entry_json(entry: Entry, full: bool = False) -> dict[str, Any]:
    data = {
        "id": entry.id,
        "benchmark": entry.benchmark,
        "spec_hash": entry.spec_hash,
        "policy": entry.policy,
        "success": entry.success,
        # one seed has no interval (the harness reports ci95 = None); the columns then hold the mean
        "success_ci95": [entry.success_low, entry.success_high] if "," in entry.seeds else None,
        "score": entry.score,
        "seeds": entry.seeds,
        "created": entry.created,
        "replay_status": entry.replay_status,
        "replay_detail": entry.replay_detail,
    }
    if full:
        data["result"] = json.loads(entry.result_json)
    return data


def _per_type(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    per_type = result.get("metrics", {}).get("per_task_type", {})
    return [
        (name, {"success": m["success_rate"]["mean"], "score": m["score"]["mean"], "episodes": m["episodes"]})
        for name, m in sorted(per_type.items())
    ]


def _pages(total: int, page: int) -> dict[str, int | None]:
    """Where page ``page`` (1-based, clamped to the pages there are) of the trajectory viewer starts and ends."""
    count = max(1, -(-total // EPISODES_PER_PAGE))
    page = min(max(page, 1), count)
    first = (page - 1) * EPISODES_PER_PAGE + 1
    return {
        "first": min(first, total),
        "last": min(first + EPISODES_PER_PAGE - 1, total),
        "total": total,
        "previous": page - 1 if page > 1 else None,
        "next": page + 1 if page < count else None,
    }


def _read_episodes(path: Path, offset: int, limit: int) -> list[dict[str, Any]]:
    """Read ``limit`` episode records after skipping ``offset`` (the file is read line by line)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in itertools.islice(handle, offset, offset + limit)]
