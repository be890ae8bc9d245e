"""An OpenAI-compatible chat-completions server over a local Hugging Face model (Flask).

Routes: ``GET /v1/models`` and ``POST /v1/chat/completions`` (``n=1``; with
``logprobs: true`` the choice carries ``logprobs.content``; with
``return_token_ids: true`` the response carries ``prompt_token_ids`` and the
choice ``token_ids``, as vLLM does). Errors use OpenAI's ``{"error": {...}}`` shape.
Concurrent requests are generated in batches by one worker thread (:mod:`.batcher`).
A request whose client went away (closed the connection, e.g. after its own timeout) is
cancelled: it is not generated if it still waits, and a batch whose clients all left stops
at the next token, so abandoned requests do not hold up later ones.
"""

from __future__ import annotations

import concurrent.futures
import secrets
import select
import socket
import time
import uuid
from typing import Any

from anchorgym.errors import ConfigError, missing_extra
from anchorgym.policies.base import GenerationConfig
from anchorgym.policies.batcher import Batcher, Request
from anchorgym.policies.chat import Completion

CLIENT_CHECK_S = 0.25
"""How often a request waiting for its generation checks that its client is still connected."""


class BadRequest(Exception):
    """A request the server rejects, with its HTTP status and OpenAI error type."""

    def __init__(self, message: str, status: int = 400, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


def create_app(engine: Any, model_name: str, max_batch: int = 8) -> Any:
    """Build the Flask app serving ``engine`` (an :class:`~anchorgym.policies.hf_engine.HFEngine`) as ``model_name``.

    Concurrent requests with the same sampling settings are generated together, up to
    ``max_batch`` at a time (see :mod:`anchorgym.policies.batcher`).
    """
    try:
        from flask import Flask, jsonify, request
    except ImportError as error:
        raise missing_extra("flask", "hf") from error

    app = Flask("anchorgym.serve")
    batcher = app.extensions["anchorgym_batcher"] = Batcher(engine, max_batch=max_batch)

    @app.errorhandler(BadRequest)
    def bad_request(error: BadRequest) -> Any:
        body = {"error": {"message": str(error), "type": error.kind, "code": error.status}}
        return jsonify(body), error.status

    @app.get("/v1/models")
    def models() -> Any:
        return jsonify({"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "anchorgym"}]})

    @app.post("/v1/chat/completions")
    def chat_completions() -> Any:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        if body.get("model") != model_name:
            raise BadRequest(f"Model {body.get('model')!r} not found; this server serves {model_name!r}.", 404)
        generation, seed = sampling_settings(body)
        prompt = engine.encode_chat(check_messages(body.get("messages")))
        completion = wait_for(batcher, Request(prompt, generation, seed), request.environ.get("werkzeug.socket"))
        if completion is None:  # the client went away: nobody reads this
            return "", 499
        return jsonify(response_body(body, model_name, completion, engine.tokenizer))

    return app


def wait_for(batcher: Batcher, generation_request: Request, client: socket.socket | None) -> Completion | None:
    """Queue a request and wait for its completion; cancel it and return None if the client disconnects."""
    future = batcher.submit_request(generation_request)
    while True:
        try:
            return future.result(timeout=CLIENT_CHECK_S)
        except concurrent.futures.TimeoutError:
            if client is not None and client_gone(client):
                generation_request.cancelled.set()
                batcher.abandoned += 1
                return None


def client_gone(client: socket.socket) -> bool:
    """Return whether the peer closed ``client`` (readable with nothing to read), without consuming data."""
    try:
        readable, _, _ = select.select([client], [], [], 0)
        return bool(readable) and client.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # reset, or already closed on our side
        return True


def check_messages(messages: Any) -> list[dict[str, str]]:
    """Validate the ``messages`` list of a request."""
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list of {role, content} objects.")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str) or "role" not in message:
            raise BadRequest(f"Each message needs a 'role' and a string 'content'; got {message!r}.")
    return [{"role": str(m["role"]), "content": m["content"]} for m in messages]


def sampling_settings(body: dict[str, Any]) -> tuple[GenerationConfig, int]:
    """Read the sampling fields of a request into a :class:`GenerationConfig` and a seed."""
    if body.get("n", 1) != 1:
        raise BadRequest("Only n=1 is supported.")
    try:
        generation = GenerationConfig(
            temperature=float(body.get("temperature", 1.0)),
            top_p=float(body.get("top_p", 1.0)),
            max_new_tokens=int(body.get("max_completion_tokens") or body.get("max_tokens") or 256),
        )
    except (ConfigError, TypeError, ValueError) as error:
        raise BadRequest(f"Bad sampling settings: {error}") from error
    seed = body.get("seed")
    return generation, int(seed) if seed is not None else secrets.randbelow(2**31)


def response_body(request: dict[str, Any], model_name: str, completion: Completion, tokenizer: Any) -> dict[str, Any]:
    """Build the chat-completions response for one completion."""
    response_ids = completion.response_token_ids or []
    prompt_ids = completion.prompt_token_ids or []
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": completion.text},
        "finish_reason": completion.finish_reason,
        "logprobs": None,
    }
    if request.get("logprobs"):
        tokens = [tokenizer.decode([t]) for t in response_ids]
        content = [
            {"token": tok, "logprob": lp, "bytes": list(tok.encode()), "top_logprobs": []}
            for tok, lp in zip(tokens, completion.logprobs or [], strict=True)
        ]
        choice["logprobs"] = {"content": content}
    body: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [choice],
        "usage": {
            "prompt_tokens": len(prompt_ids),
            "completion_tokens": len(response_ids),
            "total_tokens": len(prompt_ids) + len(response_ids),
        },
    }
    if request.get("return_token_ids"):
        body["prompt_token_ids"], choice["token_ids"] = prompt_ids, response_ids
    return body
