"""Server-rendered pages of the leaderboard.

``/`` (benchmarks), ``/benchmarks/<id>`` (the ranked, verified entries, then the
unverified ones with their status and reason) and ``/entries/<n>`` (config, per-task-type breakdown, and a
trajectory viewer that shows long texts cut, with a link to the raw record; its pages are streamed, one
episode parsed and rendered at a time). Templates autoescape every
value; pages load nothing from outside the server, and entry lists never load the stored result blobs.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, render_template, request, stream_template
from markupsafe import Markup, escape

from anchorgym.leaderboard.server import _get_entry, benchmark_counts, board, entry_json
from anchorgym.leaderboard.storage import episodes_path

EPISODES_PER_PAGE = 50  # trajectories per entry page
TEXT_SHOWN = 2000  # characters of one text shown in the trajectory viewer
CONFIG_KEYS = ("policy", "prompt_template", "seeds", "versions", "machine")  # shown on an entry's page
STATUS_LABELS = {
    "verified": "replay-verified",
    "pending": "pending replay",
    "self-reported": "self-reported (not replayable)",
    "failed": "replay failed",
    "timeout": "replay timed out",
    "error": "replay error",
    "rerun-flagged": "re-run flagged",
    "rerun-failed": "re-run failed",
}
TIER_TITLES = {
    "rerun-verified": "Re-run verified",
    "replay-verified": "Replay verified",
}
TIER_NOTES = {
    "rerun-verified": "The server re-played a sample of each entry with the declared policy, and it agreed.",
    "replay-verified": "The environment confirmed every step of each entry; the policy label is the "
    "submitter's word (no re-run checked it).",
}


def register_pages(app: Flask) -> None:
    """Add the page routes to ``app``."""
    state = app.extensions["anchorgym"]
    sessions, storage = state["sessions"], state["storage"]
    app.jinja_env.globals["status_label"] = lambda status: STATUS_LABELS.get(status, status)

    app.jinja_env.globals["tier_title"] = TIER_TITLES.get
    app.jinja_env.globals["tier_note"] = TIER_NOTES.get

    @app.get("/")
    def index() -> str:
        landing = "rerun-verified" if state["rerun_tier"] else "replay-verified"
        counts = benchmark_counts(sessions, state["rerun_tier"])
        return render_template("index.html", benchmarks=counts, landing=landing)

    @app.get("/benchmarks/<path:benchmark>")
    def benchmark_page(benchmark: str) -> str:
        boards = board(sessions, benchmark, state["rerun_tier"])
        if not any(boards["tiers"].values()) and not boards["unverified"]:
            abort(404)
        shown = [boards["ranked_tier"]] + [name for name in boards["tiers"] if name != boards["ranked_tier"]]
        tiers = [(name, boards["tiers"][name]) for name in shown if name == shown[0] or boards["tiers"][name]]
        return render_template("benchmark.html", benchmark=benchmark, tiers=tiers, unverified=boards["unverified"])

    @app.get("/entries/<int:entry_id>")
    def entry_page(entry_id: int) -> Response:
        entry = entry_json(_get_entry(sessions, entry_id), full=True)
        entry["per_type"] = per_type(entry["result"])
        config = {key: entry["result"].get(key) for key in CONFIG_KEYS}
        entry["config_text"] = json.dumps(config, indent=2, sort_keys=True)
        pages = page_bounds(entry["result"]["metrics"]["episodes"], request.args.get("page", 1, type=int))
        episodes = read_episodes(episodes_path(storage, entry_id), pages["first"] - 1, EPISODES_PER_PAGE)
        shown = (
            {**episode, "raw_url": f"/api/entries/{entry_id}/episodes/{number}"}
            for number, episode in enumerate(episodes, start=pages["first"])
        )
        # streamed: one episode is parsed and rendered at a time, so a page of large episodes never sits in memory
        return Response(stream_template("entry.html", entry=entry, episodes=shown, pages=pages), mimetype="text/html")

    @app.template_filter("clip")
    def clip(text: Any, raw_url: str) -> Markup:
        """Escape ``text``, cut to TEXT_SHOWN characters with a link to the raw record when longer."""
        text = str(text)
        if len(text) <= TEXT_SHOWN:
            return escape(text)
        more = len(text) - TEXT_SHOWN
        link = Markup('… <a class="clipped" href="{}">({} more characters: raw record)</a>').format(raw_url, more)
        return escape(text[:TEXT_SHOWN]) + link


def per_type(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The per-task-type rows of an entry's page."""
    types = result.get("metrics", {}).get("per_task_type", {})
    return [
        (name, {"success": m["success_rate"]["mean"], "score": m["score"]["mean"], "episodes": m["episodes"]})
        for name, m in sorted(types.items())
    ]


def page_bounds(total: int, page: int) -> dict[str, int | None]:
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


def read_episodes(path: Path, offset: int, limit: int) -> Iterator[dict[str, Any]]:
    """Yield ``limit`` episode records after skipping ``offset`` (the file is read line by line, lazily)."""
    with path.open(encoding="utf-8") as handle:
        for line in itertools.islice(handle, offset, offset + limit):
            yield json.loads(line)
