"""The leaderboard web app: a JSON API for submissions and server-rendered pages.

API (JSON; every entry carries its ``status`` and ``submitter``):

* ``POST /api/submissions`` (``Authorization: Bearer TOKEN``, multipart files
  ``result`` = result.json and ``episodes`` = episodes.jsonl): verify and store;
  201 with the entry (200 with ``"duplicate": true`` when this submitter sent the same run
  before; 409 when another submitter did), or 4xx with ``{"error": reason}``.
* ``GET /api/benchmarks``: benchmarks with entry counts.
* ``GET /api/benchmarks/<id>/entries``: ``{"ranked": [...], "ranked_tier": ..., "tiers": {...},
  "unverified": [...]}``: one ranked list per trust tier (re-run verified, replay verified; success, then
  score), the landing ranking (the strongest tier the operator enables) and the unranked entries.
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
from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from anchorgym.errors import ResultError, unknown
from anchorgym.leaderboard.limits import Limits
from anchorgym.leaderboard.replay import check_replay_data
from anchorgym.leaderboard.storage import Entry, Token, audit, episodes_path, find_token, now, open_database
from anchorgym.leaderboard.verify import Plan, verify_submission
from anchorgym.leaderboard.worker import DEFAULT_BUDGET_S, DEFAULT_WORKERS, ReplayQueue

log = logging.getLogger(__name__)
DEFAULT_RATE_LIMIT = (20, 60.0)  # submissions per token per window of seconds
DEFAULT_QUEUE_QUOTA = 4  # entries one token may have waiting for replay
DEFAULT_STORAGE_QUOTA = 512 * 1024 * 1024  # bytes of episodes files one token may have stored
UNAUTHORISED = "Missing, unknown or revoked bearer token. Ask the admin for one: anchorgym leaderboard token."
QUEUE_FULL = "This token has {quota} entries waiting for replay; submit again once they finish."
STORAGE_FULL = (
    "This token's entries would take {used} bytes, over its storage quota of {quota} bytes: ask the operator "
    "to remove old entries or raise the quota."
)
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
    storage_quota: int = DEFAULT_STORAGE_QUOTA,
    rerun_tier: bool = False,
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
        storage_quota: bytes of episodes files one token may have stored (413 beyond).
        rerun_tier: the operator re-runs entries (``anchorgym leaderboard rerun``): the landing ranking is then
            the re-run verified tier; else it is the replay verified tier.

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
    queue = ReplayQueue(db_url, sessions, storage, replay_workers, replay_budget_s) if replay else None
    check_plan = _require_replay_data if replay and missing_data == "refuse" else None
    app.extensions["anchorgym"] = {
        "sessions": sessions, "storage": storage, "replayer": queue, "limits": limits, "check_plan": check_plan,
        "rerun_tier": rerun_tier,
    }  # fmt: skip
    _register_api(app, RateLimiter(*rate_limit), queue_quota, storage_quota)
    register_pages(app)
    app.after_request(_harden)
    if queue is not None:
        queue.resume()
    return app


def upload_refusal(app: Flask) -> Any:
    """The server's early check of an upload's headers (see :mod:`.serving`).

    An upload whose bearer token is missing, unknown or revoked is refused (401) before its body is read.
    """
    sessions = app.extensions["anchorgym"]["sessions"]

    def check(method: str, path: str, headers: dict[str, str]) -> str | None:
        if method != "POST" or path.rstrip("/") != "/api/submissions":
            return None
        header = headers.get("AUTHORIZATION", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        return None if token and find_token(sessions, token) is not None else UNAUTHORISED

    return check


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


def _register_api(app: Flask, limiter: RateLimiter, queue_quota: int, storage_quota: int) -> None:
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
            return _error(401, UNAUTHORISED)
        if not limiter.allow(owner.id):
            return _error(429, "Too many submissions from this token; wait a minute and retry.")
        with sessions() as session:  # a cheap early answer; the atomic check is in _store, under the token's lock
            waiting, used = _usage(session, owner.id)
        if waiting >= queue_quota:
            return _error(429, QUEUE_FULL.format(quota=queue_quota))
        if used >= storage_quota:
            return _error(413, STORAGE_FULL.format(used=used, quota=storage_quota))
        files = request.files
        if "result" not in files or "episodes" not in files:
            return _error(400, "Send multipart files 'result' (result.json) and 'episodes' (episodes.jsonl).")
        return _accept(owner, files["result"].read(limits.max_result_bytes + 1), files["episodes"].stream, used)

    def _accept(owner: Token, result_bytes: bytes, episodes: Any, used: int) -> tuple[Any, int]:
        partial = storage / f"upload-{uuid.uuid4().hex}.partial"
        try:
            with partial.open("wb") as sink:
                size = [0]

                def write(line: bytes) -> None:
                    size[0] += len(line)
                    if used + size[0] > storage_quota:
                        raise QuotaExceeded(STORAGE_FULL.format(used=used + size[0], quota=storage_quota))
                    sink.write(line)

                lines = _lines(episodes, limits.max_line_bytes)
                result, columns = verify_submission(result_bytes, lines, limits, write, state["check_plan"])
            return _store(owner, result, {**columns, "stored_bytes": size[0]}, partial)
        except QuotaExceeded as error:
            return _error(413, str(error))
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
                # Lock the token's row first (PostgreSQL: a row lock; SQLite: the database's write lock), so the
                # revocation check and both quotas below hold atomically against concurrent submissions.
                locked = session.execute(
                    update(Token)
                    .where(Token.id == owner.id, Token.token_hash == owner.token_hash, Token.revoked.is_(None))
                    .values(name=Token.name)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if not locked:
                    return _error(401, UNAUTHORISED)
                copy = session.execute(
                    select(Entry.id, Entry.token_id).where(Entry.canonical == columns["canonical"])
                ).first()
                if copy is not None:
                    return _copy(owner, copy)
                waiting, used = _usage(session, owner.id)
                if waiting >= queue_quota:
                    return _error(429, QUEUE_FULL.format(quota=queue_quota))
                if used + columns["stored_bytes"] > storage_quota:
                    return _error(413, STORAGE_FULL.format(used=used + columns["stored_bytes"], quota=storage_quota))
                session.add(entry)
                session.flush()
                partial.replace(episodes_path(storage, entry.id))
                audit(session, owner.name, "submit", entry.id, f"{entry.benchmark} {entry.policy} {entry.digest}")
        except IntegrityError:  # a concurrent request stored the same run first
            with sessions() as session:
                copy = session.execute(
                    select(Entry.id, Entry.token_id).where(Entry.canonical == columns["canonical"])
                ).first()
            if copy is None:
                raise
            return _copy(owner, copy)
        if state["replayer"] is not None:
            state["replayer"].submit(entry.id, owner.id)
        return jsonify(entry_json(_get_entry(sessions, entry.id))), 201

    def _copy(owner: Token, first: Any) -> tuple[Any, int]:
        """Answer a run stored before: this submitter's own (200, the entry) or another's (409, a link to it)."""
        original = _get_entry(sessions, first.id)
        if first.token_id == owner.id:
            return jsonify({**entry_json(original), "duplicate": True}), 200
        return _error(
            409,
            f"These episodes were already submitted as entry {first.id} by {original['submitter']} "
            f"(/entries/{first.id}): a copy of another submitter's run cannot be ranked.",
        )

    @app.get("/api/benchmarks")
    def benchmarks() -> Any:
        return jsonify(benchmark_counts(sessions, state["rerun_tier"]))

    @app.get("/api/benchmarks/<path:benchmark>/entries")
    def board_api(benchmark: str) -> Any:
        return jsonify({"benchmark": benchmark, **board(sessions, benchmark, state["rerun_tier"])})

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


class QuotaExceeded(Exception):
    """The upload would take its token past its storage quota."""


def _usage(session: Session, token_id: int) -> tuple[int, int]:
    """A token's entries waiting for replay, and the bytes its stored episodes files take."""
    waiting = func.sum(case((Entry.replay_status == "pending", 1), else_=0))
    query = select(waiting, func.coalesce(func.sum(Entry.stored_bytes), 0)).where(Entry.token_id == token_id)
    count, used = session.execute(query).one()
    return int(count or 0), int(used or 0)


def trust(row: dict[str, Any]) -> str:
    """An entry's status: ``verified`` (replay verified), or why not (pending, self-reported, failed, ...)."""
    if row["rerun_status"] == "flagged":
        return "rerun-flagged"
    if row["rerun_status"] == "failed":
        return "rerun-failed"
    if row["replay_status"] == "not-replayable":
        return "self-reported"
    return row["replay_status"]


def tier(row: dict[str, Any]) -> str:
    """An entry's trust tier: what was checked.

    ``rerun-verified``: replay verified, and the server re-ran a sample with the declared policy and it agreed;
    ``replay-verified``: the env confirmed every step, the policy label is the submitter's word; else ``unranked``.
    """
    if trust(row) != "verified":
        return "unranked"
    return "rerun-verified" if row["rerun_status"] == "verified" else "replay-verified"


def entry_json(row: dict[str, Any], full: bool = False) -> dict[str, Any]:
    """The API form of an entry row (a dict of its columns and ``submitter``)."""
    seeds = [seed for seed in row["seeds"].split(",") if seed]
    data = {
        "id": row["id"],
        "benchmark": row["benchmark"],
        "spec_hash": row["spec_hash"],
        "policy": row["policy"],
        # replay cannot tell which policy chose the actions: only a re-run checks the label
        "policy_checked": row["rerun_status"] == "verified",
        "submitter": row["submitter"],
        "status": trust(row),
        "tier": tier(row),
        "success": row["success"],
        # one seed has no interval (the harness reports ci95 = None); the columns then hold the mean
        "success_ci95": [row["success_low"], row["success_high"]] if len(seeds) > 1 else None,
        "score": row["score"],
        "seeds": row["seeds"],
        "seed_count": len(seeds),
        "episodes": row["episodes"],
        "tokens": row["tokens"],
        "created": row["created"],
        "replay_status": row["replay_status"],
        "replay_detail": row["replay_detail"],
        "replay_version": row["replay_version"],
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


TIERS = ("rerun-verified", "replay-verified")  # strongest first


def board(sessions, benchmark: str, rerun_tier: bool = False) -> dict[str, Any]:  # noqa: ANN001
    """A benchmark's boards: one ranked list per trust tier, the landing ranking, and the unranked entries.

    Returns:
        ``{"tiers": {tier: [entries with "rank"]}, "ranked_tier": tier, "ranked": [...], "unverified": [...]}``:
        ``ranked`` is the strongest tier the operator enables (``rerun-verified`` when ``rerun_tier``, else
        ``replay-verified``, which then also lists the re-run verified entries); ``unverified`` is newest first.
    """
    order = (Entry.success.desc(), Entry.score.desc(), Entry.created, Entry.id)
    with sessions() as session:
        rows = [
            dict(r)
            for r in session.execute(_entry_query().where(Entry.benchmark == benchmark).order_by(*order)).mappings()
        ]
    entries = [entry_json(row) for row in rows]
    tiers: dict[str, list[dict[str, Any]]] = {
        "rerun-verified": [e for e in entries if e["tier"] == "rerun-verified"],
        "replay-verified": [e for e in entries if e["tier"] in TIERS and (not rerun_tier or e["tier"] != TIERS[0])],
    }
    for name, ranked in tiers.items():
        for rank, entry in enumerate(ranked, start=1):
            entry.setdefault("ranks", {})[name] = rank
    landing = "rerun-verified" if rerun_tier else "replay-verified"
    ranked = [{**entry, "rank": entry["ranks"][landing]} for entry in tiers[landing]]
    for name in tiers:
        tiers[name] = [{**entry, "rank": entry["ranks"][name]} for entry in tiers[name]]
    unverified = sorted((e for e in entries if e["tier"] == "unranked"), key=lambda e: -e["id"])
    return {"tiers": tiers, "ranked_tier": landing, "ranked": ranked, "unverified": unverified}


def benchmark_counts(sessions, rerun_tier: bool = False) -> list[dict[str, Any]]:  # noqa: ANN001
    """Every benchmark with its number of entries, of replay verified and of re-run verified entries."""
    replayed = (Entry.replay_status == "verified") & Entry.rerun_status.not_in(("flagged", "failed"))
    rerun = replayed & (Entry.rerun_status == "verified")
    query = (
        select(
            Entry.benchmark,
            func.count(Entry.id),
            func.sum(case((replayed, 1), else_=0)),
            func.sum(case((rerun, 1), else_=0)),
        )
        .group_by(Entry.benchmark)
        .order_by(Entry.benchmark)
    )
    with sessions() as session:
        return [
            {
                "id": name,
                "entries": count,
                "replay_verified": int(replay or 0),
                "rerun_verified": int(rerun_ok or 0),
                "verified": int((rerun_ok if rerun_tier else replay) or 0),  # entries in the landing ranking
            }
            for name, count, replay, rerun_ok in session.execute(query)
        ]
