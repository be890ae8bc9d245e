import os
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest

from anchorgym.envs.toolqa.client import HttpRetriever
from anchorgym.envs.toolqa.corpus import write_corpus
from anchorgym.envs.toolqa.retrieval import MAX_TOPK, build_index, top_indices
from anchorgym.envs.toolqa.server import MAX_BODY_BYTES, RetrievalServer
from anchorgym.errors import ConfigError, EndpointError


def post(server, body=None, content=None):
    return httpx.post(server.url, json=body, content=content, timeout=10)


def test_health(server, synthetic_test):
    reply = httpx.get(server.url.replace("/retrieve", "/health"), timeout=10)
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "index": "bm25", "passages": len(synthetic_test.passages)}


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
