"""``anchorgym serve`` drops the requests whose client went away (issue #28: a later 8-token request waited 5 min)."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

pytest.importorskip("torch")
pytest.importorskip("flask")

from anchorgym.policies.base import GenerationConfig  # noqa: E402


def _wait_until(condition, timeout: float = 120.0) -> None:
    """Poll ``condition`` (no assumption on how fast the machine is; fails only after a generous timeout)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def _post(port: int, max_tokens: int) -> socket.socket:
    body = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens,
                       "temperature": 0}).encode()  # fmt: skip
    client = socket.create_connection(("127.0.0.1", port), timeout=120)
    head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}"
    client.sendall(head.encode() + b"\r\n\r\n" + body)
    return client


def _reply(client: socket.socket) -> str:
    """The whole response (the server closes the connection after it)."""
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    client.close()
    return b"".join(chunks).decode()


@pytest.fixture
def gated_server(tiny_model_dir):
    """A real server over the tiny model whose first generation waits for the test to open a gate."""
    from werkzeug.serving import make_server

    from anchorgym.policies.hf_engine import HFEngine
    from anchorgym.policies.server import create_app

    engine = HFEngine(tiny_model_dir, device="cpu")
    gate, calls, generate = threading.Event(), [], engine.generate

    def gated(prompts, generation, seed, stop=None):  # the real generation, held until the gate opens
        calls.append(len(prompts))
        gate.wait(timeout=120)
        return generate(prompts, generation, seed, stop=stop)

    engine.generate = gated
    app = create_app(engine, "tiny", max_batch=1)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, app.extensions["anchorgym_batcher"], gate, calls
    gate.set()
    server.shutdown()


def test_a_request_whose_client_left_is_never_generated(gated_server):
    port, batcher, gate, calls = gated_server
    first = _post(port, 4)
    _wait_until(lambda: calls == [1])  # the first request is generating (held at the gate)
    second = _post(port, 512)
    _wait_until(lambda: batcher._batcher.waiting() == 1)  # the second one waits for the worker
    second.close()  # its client gives up
    _wait_until(lambda: batcher.abandoned == 1)
    gate.set()
    reply = _reply(first)
    assert reply.startswith("HTTP/1.1 200") and '"object":"chat.completion"' in reply.replace(" ", "")
    _wait_until(lambda: batcher.cancelled == 1)
    assert calls == [1]  # the abandoned request was skipped: no generation ran for it
    third = _post(port, 4)  # and the next request is served at once
    assert _reply(third).startswith("HTTP/1.1 200") and calls == [1, 1]


def test_generation_stops_when_told(tiny_model_dir):
    from anchorgym.policies.hf_engine import HFEngine

    engine = HFEngine(tiny_model_dir, device="cpu")
    prompt = engine.encode_chat([{"role": "user", "content": "hi"}])
    generation = GenerationConfig(temperature=0.0, max_new_tokens=64)
    [stopped] = engine.generate([prompt], generation, [0], stop=lambda: True)
    [full] = engine.generate([prompt], generation, [0])
    assert len(stopped.response_token_ids) == 1  # the stop is checked after each token
    assert stopped.response_token_ids == full.response_token_ids[:1]
