"""An HTTP retrieval server with Search-R1's API (Flask, on 127.0.0.1 by default).

Endpoints:

* ``POST /retrieve`` with ``{"queries": [...], "topk": k, "return_scores": bool}`` answers
  ``{"result": [[{"document": {"id", "contents"}, "score"}, ...], ...]}`` (one list per query,
  best first); with ``return_scores`` false each list holds the documents alone, as in Search-R1.
* ``GET /health`` answers ``{"status": "ok", "index": "bm25", "passages": N, "requests": R, "searches": S}``:
  R requests were answered by S retriever searches so far (R/S is the mean number merged).

Bad requests (malformed JSON, an empty ``queries`` list or non-string queries, topk out of
1..100, more than ``MAX_QUERIES`` queries) get status 400, bodies over ``MAX_BODY_BYTES`` 413,
wrong routes 404/405, each with ``{"error": "<what to fix>"}``. As in Search-R1, a missing or null
``topk`` means the server's default, and a blank query string is answered (every score 0), so a
model that writes ``<search></search>`` during training does not crash the run.

Concurrent requests are searched together: request threads queue their queries, and one worker
thread (:class:`anchorgym.batching.Batcher`) takes every request waiting, up to ``max_batch``
queries in all, makes one ``retriever.search`` call with the largest ``topk`` among them and hands
each request its own rows, cut to its ``topk``. A lone request runs at once (no waiting window); the
requests that arrive while a search runs form the next batch. Cutting is exact because hits are
ordered by (score, corpus index), a total order, so the top k are the first k of any larger top list.
BM25 answers are therefore identical to a lone request's; dense scores can differ in the last float32
bits (the encoder's arithmetic depends on the batch shape, as for a many-query request). A request
larger than ``max_batch`` runs alone; when a merged batch fails, each of its requests is retried
alone, so only a failing request gets the 500.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from anchorgym.batching import Batcher
from anchorgym.envs.toolqa.retrieval import DEFAULT_TOPK, MAX_TOPK, Hit, IndexRetriever
from anchorgym.errors import missing_extra
from anchorgym.ports import check_port_free

MAX_QUERIES = 1024  # one batch; larger batches should be split by the client
MAX_BODY_BYTES = 16 * 1024 * 1024  # far above MAX_QUERIES questions; refuses memory-exhausting bodies


@dataclass(frozen=True)
class Search:
    """The queries of one ``/retrieve`` request and the number of hits it wants per query."""

    queries: list[str]
    topk: int


def search_merged(retriever: IndexRetriever, requests: list[Search]) -> list[list[list[Hit]]]:
    """Search every request's queries in one ``retriever.search`` call; one hit list per query per request.

    >>> from anchorgym.envs.toolqa.corpus import Passage
    >>> from anchorgym.envs.toolqa.retrieval import BM25Retriever
    >>> retriever = BM25Retriever([Passage("a", "apple"), Passage("b", "banana"), Passage("c", "apple pie")])
    >>> answers = search_merged(retriever, [Search(["apple"], 1), Search(["banana", "pie"], 2)])
    >>> [[[hit.passage.id for hit in hits] for hits in answer] for answer in answers]
    [[['a']], [['b', 'a'], ['c', 'a']]]
    """
    rows = retriever.search([query for request in requests for query in request.queries], max(r.topk for r in requests))
    answers, start = [], 0
    for request in requests:
        answers.append([hits[: request.topk] for hits in rows[start : start + len(request.queries)]])
        start += len(request.queries)
    return answers


class BadRequest(ValueError):
    """A request the server rejects with status 400."""


def parse_request(raw: str, default_topk: int = DEFAULT_TOPK) -> tuple[list[str], int, bool]:
    """Validate a ``/retrieve`` body and return ``(queries, topk, return_scores)``.

    >>> parse_request('{"queries": ["q"], "topk": 2}')
    (['q'], 2, False)
    >>> parse_request('{"queries": ["q"], "topk": null, "return_scores": true}')
    (['q'], 3, True)
    """
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as error:
        raise BadRequest(f"The body is not valid JSON ({error}).") from error
    if not isinstance(body, dict):
        raise BadRequest('The body must be a JSON object like {"queries": ["..."], "topk": 3, "return_scores": true}.')
    queries = body.get("queries")
    if not isinstance(queries, list) or not queries:
        raise BadRequest("'queries' must be a non-empty list of strings.")
    if len(queries) > MAX_QUERIES:
        raise BadRequest(f"'queries' holds {len(queries)} queries; send at most {MAX_QUERIES} per request.")
    if not all(isinstance(query, str) for query in queries):
        raise BadRequest("Every entry of 'queries' must be a string.")
    topk = body.get("topk")
    topk = default_topk if topk is None else topk
    if isinstance(topk, bool) or not isinstance(topk, int) or not 1 <= topk <= MAX_TOPK:
        raise BadRequest(f"'topk' must be an integer from 1 to {MAX_TOPK}, got {topk!r}.")
    return_scores = body.get("return_scores", False)
    if not isinstance(return_scores, bool):
        raise BadRequest(f"'return_scores' must be true or false, got {return_scores!r}.")
    return queries, topk, return_scores


def create_app(retriever: IndexRetriever, default_topk: int = DEFAULT_TOPK, max_batch: int = MAX_QUERIES) -> Any:
    """Build the Flask app serving ``retriever``; concurrent requests are merged into one search.

    Only the batcher's worker thread calls ``retriever.search`` (index scoring is not re-entrant).
    The batcher is ``app.extensions["anchorgym_batcher"]``.

    Args:
        retriever: the index to serve.
        default_topk: passages per query when a request gives no ``topk``.
        max_batch: most queries searched in one call (1: each request alone, as without batching).
    """
    try:
        from flask import Flask, jsonify, request
    except ImportError as error:
        raise missing_extra("flask", "toolqa") from error
    app = Flask("anchorgym.retrieval")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    batcher: Batcher[Search, list[list[Hit]]] = Batcher(
        lambda requests: search_merged(retriever, requests),
        size=lambda search: len(search.queries),
        max_batch=max_batch,
        retry_alone=True,
        name="anchorgym-retrieval",
    )
    app.extensions["anchorgym_batcher"] = batcher

    @app.get("/health")
    def health() -> Any:
        return jsonify(
            status="ok",
            index=retriever.name,
            passages=len(retriever.passages),
            requests=batcher.items,
            searches=batcher.batches,
        )

    @app.post("/retrieve")
    def retrieve() -> Any:
        try:
            queries, topk, return_scores = parse_request(request.get_data(as_text=True), default_topk)
        except BadRequest as error:
            return jsonify(error=str(error)), 400
        results = batcher.submit(Search(queries, topk))
        if return_scores:
            return jsonify(result=[[hit.to_json() for hit in hits] for hits in results])
        return jsonify(result=[[hit.passage.to_json() for hit in hits] for hits in results])

    @app.errorhandler(404)
    @app.errorhandler(405)
    def wrong_route(error: Any) -> Any:
        return jsonify(error=f"{error.name}: use POST /retrieve or GET /health."), error.code

    @app.errorhandler(413)
    def too_large(error: Any) -> Any:
        return jsonify(error=f"The body exceeds {MAX_BODY_BYTES} bytes: split the queries over requests."), 413

    @app.errorhandler(500)
    def failed(error: Any) -> Any:
        cause = getattr(error, "original_exception", None) or error
        return jsonify(error=f"The retriever failed on this request ({cause!r})."), 500

    return app


class RetrievalServer:
    """A threaded server for ``retriever`` on ``host:port`` (port 0 picks a free port).

    Use :meth:`serve_forever` in the foreground or :meth:`start` for a background thread.
    ``max_batch`` is the most queries of concurrent requests searched in one call (see :func:`create_app`).
    """

    def __init__(
        self,
        retriever: IndexRetriever,
        host: str = "127.0.0.1",
        port: int = 0,
        default_topk: int = DEFAULT_TOPK,
        max_batch: int = MAX_QUERIES,
    ) -> None:
        from werkzeug.serving import make_server

        check_port_free(host, port)  # werkzeug would print and sys.exit instead of raising
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no log line per request
        app = create_app(retriever, default_topk, max_batch)
        self.batcher: Batcher[Search, list[list[Hit]]] = app.extensions["anchorgym_batcher"]
        self._server = make_server(host, port, app, threaded=True)
        self.host, self.port = host, int(self._server.server_port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The ``/retrieve`` URL to give the env."""
        return f"http://{self.host}:{self.port}/retrieve"

    def serve_forever(self) -> None:
        """Serve until interrupted."""
        self._server.serve_forever()

    def start(self) -> RetrievalServer:
        """Serve in a daemon thread and return self."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self.batcher.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
