from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from policies_toyenv import COUNTER_ID

from anchorgym.errors import ConfigError, EndpointError
from anchorgym.policies.base import AgentInput, GenerationConfig
from anchorgym.policies.registry import make_policy

INPUT = AgentInput(COUNTER_ID, "Make the counter show 7.", "The counter shows 0.", ["add 1", "add 3", "sub 1"])
GOOD = {"choices": [{"message": {"role": "assistant", "content": "<action>add 3</action>"}, "finish_reason": "stop"}]}


# ----------------------------------------------------------------- a real server over the tiny model
@pytest.fixture(scope="module")
def tiny_server(tiny_model_dir):
    from werkzeug.serving import make_server

    from anchorgym.policies.hf_engine import HFEngine
    from anchorgym.policies.server import create_app

    engine = HFEngine(tiny_model_dir, device="cpu")
    server = make_server("127.0.0.1", 0, create_app(engine, "tiny"), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1", engine
    server.shutdown()


@pytest.mark.parametrize("temperature, top_p", [(0.0, 1.0), (0.8, 0.9)])
def test_openai_policy_against_anchorgym_serve(tiny_server, temperature, top_p):
    from policies_scoring import rescore

    url, engine = tiny_server
    generation = GenerationConfig(temperature=temperature, top_p=top_p, max_new_tokens=6, seed=2)
    policy = make_policy(f"openai:{url}?model=tiny", generation, token_ids=True, concurrency=2)
    outputs = policy.act([INPUT, INPUT, INPUT])
    for out in outputs:
        assert out.prompt_token_ids == engine.encode_chat(policy.messages(INPUT))
        assert len(out.response_token_ids) == len(out.logprobs) == 6
        expected = rescore(engine.model, out.prompt_token_ids, out.response_token_ids, temperature, top_p)
        assert max(abs(a - b) for a, b in zip(out.logprobs, expected.tolist(), strict=True)) < 1e-4
        assert out.text == engine.tokenizer.decode(out.response_token_ids, skip_special_tokens=True)
        assert out.parsed is False  # random weights
    if temperature == 0:
        assert outputs[0].response_token_ids == outputs[1].response_token_ids == outputs[2].response_token_ids
    else:  # each request of a batch gets its own seed
        assert len({tuple(o.response_token_ids) for o in outputs}) > 1


def test_serve_routes_and_errors(tiny_server):
    url, _ = tiny_server
    assert httpx.get(f"{url}/models").json()["data"][0]["id"] == "tiny"
    messages = [{"role": "user", "content": "hi"}]
    reply = httpx.post(f"{url}/chat/completions", json={"model": "tiny", "messages": messages, "max_tokens": 3})
    body = reply.json()
    assert (
        reply.status_code == 200 and body["usage"]["completion_tokens"] == 3 and body["choices"][0]["logprobs"] is None
    )
    bad = httpx.post(f"{url}/chat/completions", json={"model": "tiny", "messages": "hi"})
    assert bad.status_code == 400 and "non-empty list" in bad.json()["error"]["message"]
    with pytest.raises(
        EndpointError, match=r"Model 'nope' is not served at http://127\.0\.0\.1:\d+/v1; it serves 'tiny'\."
    ):
        make_policy(f"openai:{url}?model=nope")
    with pytest.raises(EndpointError, match=r"Model 'nope' or the chat-completions route was not found .*HTTP 404"):
        make_policy(f"openai:{url}?model=nope", check=False).act([INPUT])  # the request itself is refused too


def test_token_counts_from_usage_reach_the_result_file(tiny_server, tmp_path):
    """Without token ids (hosted APIs) the server's usage counts still give tokens in/out, down to result.json."""
    from anchorgym.harness.runner import evaluate

    url, engine = tiny_server
    policy = make_policy(f"openai:{url}?model=tiny", GenerationConfig(max_new_tokens=4))
    out = policy.act([INPUT])[0]
    assert out.prompt_token_ids is None and out.response_token_ids is None
    assert (out.tokens_in, out.tokens_out) == (len(engine.encode_chat(policy.messages(INPUT))), 4)
    result = evaluate("sokoban-6x6-1box/lm-smoke@v1", policy, out=tmp_path, progress=False)
    tokens = result["metrics"]["tokens"]
    assert tokens["out_total"] == 4 * 3 * 4 and tokens["steps_counted"] == 12  # 4 puzzles x 3 steps x 4 tokens
    assert tokens["in_per_step"] > 100


def test_bad_endpoint_spec():
    with pytest.raises(ConfigError, match="expected openai:http://HOST:PORT/v1\\?model=NAME"):
        make_policy("openai:http://127.0.0.1:1/v1")


@pytest.mark.slow
def test_anchorgym_serve_command(tmp_path):
    env = {**os.environ, "ANCHORGYM_CACHE_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "anchorgym.cli", "serve", "tiny", "--port", "0", "--name", "t"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Serving 't' at http://127.0.0.1:"), line
        url = line.split()[-1]
        assert httpx.get(f"{url}/models").json()["data"] == [{"id": "t", "object": "model", "owned_by": "anchorgym"}]
        out = make_policy(f"openai:{url}?model=t", GenerationConfig(max_new_tokens=3), token_ids=True).act([INPUT])
        assert len(out[0].response_token_ids) == 3
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ----------------------------------------------------------------- a deliberately failing server
class Script:
    """What the failing server answers, request by request (the last entry repeats)."""

    def __init__(self, *steps, models=None):
        self.steps, self.requests, self.headers = list(steps), 0, []
        self.models = models  # what GET /models answers: (status, body), or None for no such route
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.steps[min(self.requests, len(self.steps)) - 1]

    def done(self):
        with self.lock:
            self.in_flight -= 1


@pytest.fixture
def failing_server():
    servers = []

    def start(script: Script) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                script.headers.append(dict(self.headers))
                step = script.next()
                try:
                    self._answer(step)
                finally:
                    script.done()

            def do_GET(self):
                status, body = script.models or (404, {"error": {"message": "no route"}})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _answer(self, step):
                kind, arg = step
                if kind == "sleep":
                    time.sleep(arg)
                    kind, arg = "ok", GOOD
                body = (
                    json.dumps(arg)
                    if kind == "ok"
                    else arg
                    if kind == "raw"
                    else json.dumps({"error": {"message": f"status {arg}"}})
                ).encode()
                self.send_response(200 if kind in ("ok", "raw") else arg)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"openai:http://127.0.0.1:{server.server_port}/v1?model=m"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


FAST = {"backoff_s": 0.01, "timeout_s": 0.5, "max_retries": 3}


@pytest.mark.parametrize(
    "steps",
    [
        [("status", 429), ("status", 500), ("status", 503), ("ok", GOOD)],
        [("sleep", 2.0), ("ok", GOOD)],
        [("raw", "{not json"), ("raw", '{"choices": []}'), ("ok", GOOD)],
    ],
    ids=["429-500-503", "timeout", "malformed-json"],
)
def test_transient_failures_are_retried(failing_server, steps):
    script = Script(*steps)
    out = make_policy(failing_server(script), **FAST).act([INPUT])[0]
    assert (out.action, out.parsed, out.logprobs, out.response_token_ids) == ("add 3", True, None, None)
    assert script.requests == len(steps)


@pytest.mark.parametrize(
    "step, message",
    [
        (("status", 500), r"failed 4 times; last problem: HTTP 500: status 500\. Check that the server is up"),
        (("raw", "<html>oops"), r"failed 4 times; last problem: malformed response \(JSONDecodeError"),
        (("sleep", 2.0), r"failed 4 times; last problem: ReadTimeout"),
    ],
)
def test_persistent_failures_error_clearly(failing_server, step, message):
    script = Script(step)
    with pytest.raises(EndpointError, match=message):
        make_policy(failing_server(script), **FAST).act([INPUT])
    assert script.requests == 4


@pytest.mark.parametrize(
    "status, message",
    [
        (401, r"refused the request \(HTTP 401: status 401\)\. Set the API key in the environment variable MY_KEY"),
        (403, r"HTTP 403: status 403\)\. Set the API key"),
        (404, r"Model 'm' or the chat-completions route was not found"),
        (400, r"rejected the request \(HTTP 400: status 400\)"),
    ],
)
def test_auth_and_not_found_fail_at_once(failing_server, status, message):
    script = Script(("status", status))
    with pytest.raises(EndpointError, match=message):
        make_policy(failing_server(script), api_key_env="MY_KEY", **FAST).act([INPUT])
    assert script.requests == 1


def test_api_key_and_concurrency_limit(failing_server, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test")
    script = Script(("sleep", 0.2))
    outputs = make_policy(failing_server(script), api_key_env="MY_KEY", concurrency=2).act([INPUT] * 6)
    assert [o.action for o in outputs] == ["add 3"] * 6
    assert script.max_in_flight == 2 and script.requests == 6
    assert {h["Authorization"] for h in script.headers} == {"Bearer sk-test"}


def test_act_works_inside_a_running_event_loop(failing_server):
    import asyncio

    spec = failing_server(Script(("ok", GOOD)))

    async def inside():
        return make_policy(spec).act([INPUT])[0].action

    assert asyncio.run(inside()) == "add 3"


def test_serve_unknown_model_is_a_one_line_error(capsys, tmp_path):
    from anchorgym.cli import main

    assert main(["serve", str(tmp_path / "missing"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Model ") and "does not exist" in err and err.count("\n") == 1
    assert main(["serve", "smollm", "--port", "0"]) == 2
    assert "Did you mean 'smollm2'?" in capsys.readouterr().err


def test_batcher_groups_concurrent_requests_by_sampling_settings(tiny_server):
    from concurrent.futures import ThreadPoolExecutor

    from policies_scoring import rescore

    from anchorgym.policies.batcher import Batcher

    _, engine = tiny_server
    prompt = engine.encode_chat([{"role": "user", "content": "hi"}])
    greedy, sampled = GenerationConfig(temperature=0, max_new_tokens=4), GenerationConfig(max_new_tokens=4)
    batcher = Batcher(engine, max_batch=3, window_s=5.0)  # a full batch runs at once, without waiting
    with ThreadPoolExecutor(3) as pool:
        outputs = list(pool.map(lambda k: batcher.submit(prompt[k:], greedy, seed=k), range(3)))
    assert batcher.batch_sizes == [3]
    for k, out in enumerate(outputs):
        expected = rescore(engine.model, prompt[k:], out.response_token_ids)
        assert out.prompt_token_ids == prompt[k:]
        assert max(abs(a - b) for a, b in zip(out.logprobs, expected.tolist(), strict=True)) < 1e-4
    batcher = Batcher(engine, max_batch=2, window_s=1.0)
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda g: batcher.submit(prompt, g, seed=0), [greedy, sampled, greedy]))
    assert sorted(batcher.batch_sizes) == [1, 2]  # the sampled request never joins the greedy ones


MODELS = {"object": "list", "data": [{"id": "m", "object": "model"}, {"id": "other", "object": "model"}]}


@pytest.mark.parametrize(
    "models, message",
    [
        ((401, {"error": {"message": "bad key"}}), r"refused the request \(HTTP 401: bad key\)\. Set the API key"),
        ((200, {**MODELS, "data": MODELS["data"][1:]}), r"Model 'm' is not served at .*; it serves 'other'\. Fix"),
    ],
    ids=["auth", "model-not-listed"],
)
def test_start_check_fails_before_any_request(failing_server, models, message):
    script = Script(("ok", GOOD), models=models)
    with pytest.raises(EndpointError, match=message):
        make_policy(failing_server(script), **FAST)
    assert script.requests == 0  # no chat request was sent


def test_start_check_passes_listed_models_and_servers_without_the_route(failing_server):
    for models in ((200, MODELS), None, (200, {"unexpected": True})):
        script = Script(("ok", GOOD), models=models)
        assert make_policy(failing_server(script), **FAST).act([INPUT])[0].action == "add 3"


def test_unreachable_server_fails_at_once_with_default_retries():
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(
        EndpointError, match=rf"Cannot reach http://127\.0\.0\.1:{port}/v1 \(ConnectError: .*anchorgym serve"
    ):
        make_policy(f"openai:http://127.0.0.1:{port}/v1?model=m")
    assert time.monotonic() - start < 5  # not 31 s of retries (1 + 2 + 4 + 8 + 16 s backoff)


def test_openai_policy_sends_each_inputs_step_seed(tiny_server):
    from dataclasses import replace

    url, _ = tiny_server
    generation = GenerationConfig(temperature=1.0, max_new_tokens=6, seed=2)
    policy = make_policy(f"openai:{url}?model=tiny", generation, token_ids=True, concurrency=3)
    seeded = [replace(INPUT, seed=s, env_index=i) for i, s in enumerate([31, 32, 33])]
    together = policy.act(seeded)
    alone = policy.act([seeded[1]])[0]  # a different call, alone on the server: the same answer
    assert alone.response_token_ids == together[1].response_token_ids
    assert len({tuple(o.response_token_ids) for o in together}) > 1
