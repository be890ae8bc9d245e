"""The leaderboard web app: a JSON API for submissions and server-rendered pages.

API (JSON; every entry carries its ``status`` and ``submitter``):

* ``POST /api/submissions`` (``Authorization: Bearer TOKEN``, multipart files
  ``result`` = result.json and ``episodes`` = episodes.jsonl): verify and store;
  201 with the entry (200 with ``"duplicate": true`` when this submitter sent the same
  episodes before), or 4xx with ``{"error": reason}``.
* ``GET /api/benchmarks``: benchmarks with entry counts.
* ``GET /api/benchmarks/<id>/entries``: ``{"ranked": [...], "unverified": [...]}``; only
  replay-verified entries rank (success, then score).
* ``GET /api/entries/<n>``: one entry; ``/api/entries/<n>/episodes``: its episodes file;
  ``/api/entries/<n>/episodes/<k>``: its k-th episode record (1-based), raw.

Pages: see :mod:`.pages`. Every response carries security headers (CSP, nosniff, frame-deny) and
redirects never name a host.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, request, send_file
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError

from anchorgym.errors import ResultError, unknown
from anchorgym.leaderboard.limits import Limits
from anchorgym.leaderboard.replay import check_replay_data
from anchorgym.leaderboard.storage import Entry, Token, audit, episodes_path, find_token, now, open_database
from anchorgym.leaderboard.verify import Plan, verify_submission
from anchorgym.leaderboard.worker import DEFAULT_BUDGET_S, DEFAULT_WORKERS, ReplayQueue

log = logging.getLogger(__name__)
DEFAULT_RATE_LIMIT = (20, 60.0)  # submissions per token per window of seconds
DEFAULT_QUEUE_QUOTA = 4  # entries one token may have waiting for replay
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
MISSING_DATA_MODES = ("refuse", "self-report")
ENTRY_COLUMNS = [c for c in Entry.__table__.columns.keys() if c != "result_json"]  # lists never load the blob


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


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


class StrictJSON(DefaultJSONProvider):
    """Flask JSON that never writes ``NaN`` or ``Infinity`` (not JSON): they become ``null``."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialise ``obj`` with non-finite floats as null."""
        return super().dumps(_finite(obj), **{**kwargs, "allow_nan": False})


def create_app(
    db_url: str,
    storage_dir: str | Path,
    max_upload_bytes: int | None = None,
    rate_limit: tuple[int, float] = DEFAULT_RATE_LIMIT,
    replay: bool = True,
    limits: Limits | None = None,
    replay_workers: int = DEFAULT_WORKERS,
    replay_budget_s: float = DEFAULT_BUDGET_S,
    queue_quota: int = DEFAULT_QUEUE_QUOTA,
    missing_data: str = "refuse",
) -> Flask:
    """Build the leaderboard app.

    Args:
        db_url: SQLAlchemy URL, e.g. ``sqlite:///leaderboard.db``.
        storage_dir: folder for episodes files.
        max_upload_bytes: larger requests are refused with 413 (default ``limits.max_body_bytes``).
        rate_limit: ``(submissions, seconds)`` allowed per token.
        replay: replay-verify accepted entries in a worker pool; entries still pending from an earlier
            run are queued again at start and resume where they stopped.
        limits: bounds on a submission (default :class:`Limits`).
        replay_workers: replays run at once.
        replay_budget_s: seconds one entry's replay may take in all.
        queue_quota: entries one token may have waiting for replay (429 beyond).
        missing_data: what to do with a submission for a replayable benchmark whose data (or extra) this
            server lacks: ``refuse`` it (422 with the reason), or ``self-report``: accept it, unranked, as
            self-reported.

    Raises:
        ConfigError: an unknown ``missing_data``.
    """
    from anchorgym.leaderboard.pages import register_pages

    if missing_data not in MISSING_DATA_MODES:
        raise unknown("missing-data mode", missing_data, MISSING_DATA_MODES)
    limits = limits or Limits()
    if max_upload_bytes is not None:
        limits = Limits(**{**limits.__dict__, "max_body_bytes": max_upload_bytes})
    app = Flask(__name__)
    app.json = StrictJSON(app)
    app.config["MAX_CONTENT_LENGTH"] = limits.max_body_bytes
    storage = Path(storage_dir)
    storage.mkdir(parents=True, exist_ok=True)
    sessions = open_database(db_url)
    queue = ReplayQueue(sessions, storage, replay_workers, replay_budget_s) if replay else None
    check_plan = _require_replay_data if replay and missing_data == "refuse" else None
    app.extensions["anchorgym"] = {
        "sessions": sessions, "storage": storage, "replayer": queue, "limits": limits, "check_plan": check_plan
    }  # fmt: skip
    _register_api(app, RateLimiter(*rate_limit), queue_quota)
    register_pages(app)
    app.after_request(_harden)
    if queue is not None:
        queue.resume()
    return app


def _require_replay_data(plan: Plan) -> None:
    """Refuse (ResultError) a benchmark the server would replay but cannot: its data or extra is missing."""
    check_replay_data(plan.spec)


def _harden(response: Response) -> Response:
    """Add the security headers; make any redirect relative (the Host header is never echoed)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    location = response.headers.get("Location")
    if location and "://" in location.split("?")[0]:
        path = location.split("://", 1)[1].partition("/")[2]
        response.headers["Location"] = "/" + path
    return response


def _error(status: int, message: str) -> tuple[Any, int]:
    return jsonify({"error": message}), status


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else None


def _lines(stream: Any, limit: int) -> Iterator[bytes]:
    """Yield the lines of ``stream``, each cut at ``limit + 1`` bytes (so an overlong line shows as one)."""
    while line := stream.readline(limit + 1):
        yield line


def _register_api(app: Flask, limiter: RateLimiter, queue_quota: int) -> None:
    state = app.extensions["anchorgym"]
    sessions, storage, limits = state["sessions"], state["storage"], state["limits"]

    @app.errorhandler(413)
    def too_large(_error_obj: Exception) -> tuple[Any, int]:
        return _error(413, f"Upload too large: the limit is {app.config['MAX_CONTENT_LENGTH']} bytes.")

    @app.post("/api/submissions")
    def submit() -> tuple[Any, int]:
        token = _bearer_token()
        owner = find_token(sessions, token) if token else None
        if owner is None:
            return _error(
                401, "Missing, unknown or revoked bearer token. Ask the admin for one: anchorgym leaderboard token."
            )
        if not limiter.allow(owner.id):
            return _error(429, "Too many submissions from this token; wait a minute and retry.")
        if _waiting(sessions, owner.id) >= queue_quota:
            return _error(
                429, f"This token has {queue_quota} entries waiting for replay; submit again once they finish."
            )
        files = request.files
        if "result" not in files or "episodes" not in files:
            return _error(400, "Send multipart files 'result' (result.json) and 'episodes' (episodes.jsonl).")
        return _accept(owner, files["result"].read(limits.max_result_bytes + 1), files["episodes"].stream)

    def _accept(owner: Token, result_bytes: bytes, episodes: Any) -> tuple[Any, int]:
        partial = storage / f"upload-{uuid.uuid4().hex}.partial"
        try:
            with partial.open("wb") as sink:
                lines = _lines(episodes, limits.max_line_bytes)
                result, columns = verify_submission(result_bytes, lines, limits, sink.write, state["check_plan"])
            return _store(owner, result, columns, partial)
        except UnicodeDecodeError as error:
            return _error(400, f"Uploads must be UTF-8 text: {error}")
        except (ValueError, RecursionError) as error:
            return _error(400, f"result.json is not valid JSON: {str(error)[:200]}")
        except ResultError as error:
            return _error(422, str(error))
        finally:
            partial.unlink(missing_ok=True)

    def _store(owner: Token, result: dict[str, Any], columns: dict[str, Any], partial: Path) -> tuple[Any, int]:
        entry = Entry(token_id=owner.id, created=now(), result_json=json.dumps(result), **columns)
        try:
            with sessions.begin() as session:
                session.add(entry)
                session.flush()
                partial.replace(episodes_path(storage, entry.id))
                audit(session, owner.name, "submit", entry.id, f"{entry.benchmark} {entry.policy} {entry.digest}")
        except IntegrityError:  # the same episodes from the same submitter: keep the first entry
            with sessions() as session:
                first = session.scalar(
                    select(Entry.id).where(Entry.token_id == owner.id, Entry.digest == columns["digest"])
                )
            return jsonify({**entry_json(_get_entry(sessions, first)), "duplicate": True}), 200
        if state["replayer"] is not None:
            state["replayer"].submit(entry.id)
        return jsonify(entry_json(_get_entry(sessions, entry.id))), 201

    @app.get("/api/benchmarks")
    def benchmarks() -> Any:
        return jsonify(benchmark_counts(sessions))

    @app.get("/api/benchmarks/<path:benchmark>/entries")
    def board_api(benchmark: str) -> Any:
        ranked, unverified = board(sessions, benchmark)
        return jsonify({"benchmark": benchmark, "ranked": ranked, "unverified": unverified})

    @app.get("/api/entries/<int:entry_id>")
    def entry_detail(entry_id: int) -> Any:
        return jsonify(entry_json(_get_entry(sessions, entry_id), full=True))

    @app.get("/api/entries/<int:entry_id>/episodes")
    def entry_episodes(entry_id: int) -> Any:
        _get_entry(sessions, entry_id)
        return send_file(episodes_path(storage, entry_id), mimetype="application/x-ndjson", as_attachment=True)

    @app.get("/api/entries/<int:entry_id>/episodes/<int:number>")
    def entry_episode(entry_id: int, number: int) -> Any:
        line = read_line(episodes_path(storage, _get_entry(sessions, entry_id)["id"]), number)
        if line is None:
            abort(404)
        return Response(line, mimetype="application/json")


def read_line(path: Path, number: int) -> bytes | None:
    """Return line ``number`` (1-based) of ``path`` without its newline, or None when there is none."""
    if number < 1:
        return None
    with path.open("rb") as handle:
        for index, line in enumerate(handle, start=1):
            if index == number:
                return line.rstrip(b"\n")
    return None


def _waiting(sessions, token_id: int) -> int:  # noqa: ANN001
    query = select(func.count(Entry.id)).where(Entry.token_id == token_id, Entry.replay_status == "pending")
    with sessions() as session:
        return int(session.scalar(query) or 0)


def trust(row: dict[str, Any]) -> str:
    """An entry's status: ``verified`` (it ranks), or why not (pending, self-reported, failed, ...)."""
    if row["rerun_status"] == "flagged":
        return "rerun-flagged"
    if row["replay_status"] == "not-replayable":
        return "self-reported"
    return row["replay_status"]


def entry_json(row: dict[str, Any], full: bool = False) -> dict[str, Any]:
    """The API form of an entry row (a dict of its columns and ``submitter``)."""
    data = {
        "id": row["id"],
        "benchmark": row["benchmark"],
        "spec_hash": row["spec_hash"],
        "policy": row["policy"],
        "submitter": row["submitter"],
        "status": trust(row),
        "success": row["success"],
        # one seed has no interval (the harness reports ci95 = None); the columns then hold the mean
        "success_ci95": [row["success_low"], row["success_high"]] if "," in row["seeds"] else None,
        "score": row["score"],
        "seeds": row["seeds"],
        "episodes": row["episodes"],
        "tokens": row["tokens"],
        "created": row["created"],
        "replay_status": row["replay_status"],
        "replay_detail": row["replay_detail"],
        "rerun_status": row["rerun_status"],
        "rerun_detail": row["rerun_detail"],
    }
    if full:
        data["result"] = json.loads(row["result_json"])
    return data


def _entry_query(*extra: Any) -> Any:
    columns = [getattr(Entry, name) for name in ENTRY_COLUMNS] + [Token.name.label("submitter"), *extra]
    return select(*columns).join(Token, Token.id == Entry.token_id)


def _get_entry(sessions, entry_id: int) -> dict[str, Any]:  # noqa: ANN001
    with sessions() as session:
        row = session.execute(_entry_query(Entry.result_json).where(Entry.id == entry_id)).mappings().first()
    if row is None:
        abort(404)
    return dict(row)


def board(sessions, benchmark: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # noqa: ANN001
    """Return a benchmark's ranked (verified) entries, with their rank, and its unverified ones (newest first)."""
    order = (Entry.success.desc(), Entry.score.desc(), Entry.created, Entry.id)
    with sessions() as session:
        rows = [
            dict(r)
            for r in session.execute(_entry_query().where(Entry.benchmark == benchmark).order_by(*order)).mappings()
        ]
    entries = [entry_json(row) for row in rows]
    ranked = [entry for entry in entries if entry["status"] == "verified"]
    for rank, entry in enumerate(ranked, start=1):
        entry["rank"] = rank
    unverified = sorted((e for e in entries if e["status"] != "verified"), key=lambda e: -e["id"])
    return ranked, unverified


def benchmark_counts(sessions) -> list[dict[str, Any]]:  # noqa: ANN001
    """Every benchmark with its number of entries and of verified (ranked) entries."""
    verified = func.sum(case(((Entry.replay_status == "verified") & (Entry.rerun_status != "flagged"), 1), else_=0))
    query = select(Entry.benchmark, func.count(Entry.id), verified).group_by(Entry.benchmark).order_by(Entry.benchmark)
    with sessions() as session:
        return [{"id": name, "entries": count, "verified": int(ok or 0)} for name, count, ok in session.execute(query)]
