"""Policies: batched HF generation vs one prompt at a time, and concurrent vs serial OpenAI-style requests.

1. ``hf`` back-end, tiny random-init Qwen2 (CPU): 16 Sokoban prompts x 32 new tokens, one left-padded
   batch vs 16 single-prompt calls (same work, same tokens).
2. ``openai`` back-end against a real local HTTP server that answers each request after 500 ms
   (a stand-in for a remote model's latency): 32 requests with concurrency 8 vs concurrency 1.

``--tiny``: 4 prompts x 4 tokens and 8 requests of 50 ms, every RATIO line, for the test that keeps this
script running; its numbers mean nothing (written to ``results/policies.tiny.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from claims import Claims  # noqa: E402

from anchorgym.policies.base import AgentInput, GenerationConfig  # noqa: E402
from anchorgym.policies.registry import make_policy  # noqa: E402
from anchorgym.policies.tiny import build_tiny_model  # noqa: E402

ENV_ID = "anchorgym/Sokoban-v0"
RESULTS = Path(__file__).parent / "results" / "policies.json"
LATENCY_S = 0.5  # a typical remote chat-completion latency
REPLY = {"choices": [{"message": {"role": "assistant", "content": "<action>up</action>"}, "finish_reason": "stop"}]}


def inputs(count):
    board = "#####\n#P_O#\n#_X_#\n#___#\n#####"
    return [
        AgentInput(ENV_ID, "Push every box onto a target.", f"{board}\n({i})", ["up", "down", "left", "right"])
        for i in range(count)
    ]


def bench_hf_batching(prompts=16, new_tokens=32):
    config = GenerationConfig(max_new_tokens=new_tokens, seed=0)
    policy = make_policy(f"hf:{build_tiny_model()}", config, device="cpu")
    batch = inputs(prompts)
    policy.act(batch[:2])  # warm-up
    start = time.perf_counter()
    policy.act(batch)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    for item in batch:
        policy.act([item])
    single = time.perf_counter() - start
    return {"prompts": prompts, "new_tokens": new_tokens, "batched_s": batched, "one_at_a_time_s": single}


class SlowHandler(BaseHTTPRequestHandler):
    latency_s = LATENCY_S

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.latency_s)
        body = json.dumps(REPLY).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def bench_openai_concurrency(requests=32, latency_s=LATENCY_S):
    handler = type("Handler", (SlowHandler,), {"latency_s": latency_s})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spec = f"openai:http://127.0.0.1:{server.server_port}/v1?model=m"
    times = {}
    for concurrency in (1, 8):
        policy = make_policy(spec, concurrency=concurrency)
        start = time.perf_counter()
        outputs = policy.act(inputs(requests))
        times[concurrency] = time.perf_counter() - start
        assert all(o.action == "up" for o in outputs)
    server.shutdown()
    return {"requests": requests, "latency_s": latency_s, "concurrency_1_s": times[1], "concurrency_8_s": times[8]}


def write(results, path=RESULTS):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(results, handle, indent=2)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="seconds-long run (numbers mean nothing)")
    tiny = parser.parse_args().tiny
    remote = bench_openai_concurrency(*((8, 0.05) if tiny else ()))
    hf = bench_hf_batching(*((4, 4) if tiny else ()))
    path = RESULTS.with_suffix(".tiny.json") if tiny else RESULTS
    write({"schema_version": 1, "hf_batching": hf, "openai_concurrency": remote}, path)
    print(f"hf: {hf['prompts']} prompts batched {hf['batched_s']:.2f}s, one at a time {hf['one_at_a_time_s']:.2f}s")
    print(
        f"openai: {remote['requests']} requests concurrency 8 {remote['concurrency_8_s']:.2f}s, "
        f"1 {remote['concurrency_1_s']:.2f}s"
    )
    claims = Claims(tiny)
    claims.timing("RATIO", "hf_batched_vs_one_at_a_time", [hf["one_at_a_time_s"] / hf["batched_s"]], 3)
    claims.timing("RATIO", "openai_concurrency8_vs_serial", [remote["concurrency_1_s"] / remote["concurrency_8_s"]], 5)
    claims.exit()


if __name__ == "__main__":
    main()
