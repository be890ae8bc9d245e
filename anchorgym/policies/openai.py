"""The ``openai:http://host:port/v1?model=NAME`` policy: any OpenAI-compatible chat-completions server.

Requests run concurrently (asyncio + httpx) under a configurable limit. 429,
5xx, timeouts, dropped connections and malformed JSON are retried with
exponential backoff (honouring ``Retry-After``); 401/403 and 404 fail at once
with a message saying how to fix them. The API key comes from an environment
variable (``OPENAI_API_KEY`` unless ``api_key_env`` names another).

At start the policy asks ``GET /models`` once (``check=True``): nothing listening, a refused key or a
model the server does not list is an error before any episode runs.

Servers that can report token ids (``anchorgym serve``, vLLM) are asked for
them with ``token_ids=True``; log-probs come from the standard ``logprobs`` field.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx

from anchorgym.errors import ConfigError, EndpointError
from anchorgym.policies.base import GenerationConfig
from anchorgym.policies.chat import SEED_STRIDE, ChatPolicy, Completion, Messages
from anchorgym.policies.prompting import DEFAULT_HISTORY_LENGTH

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0


def parse_endpoint(target: str) -> tuple[str, str]:
    """Split ``http://host:port/v1?model=NAME`` into ``(base_url, model)``.

    >>> parse_endpoint("http://127.0.0.1:8000/v1?model=smollm2")
    ('http://127.0.0.1:8000/v1', 'smollm2')
    """
    parts = urlsplit(target)
    model = parse_qs(parts.query).get("model", [""])[0]
    if parts.scheme not in ("http", "https") or not parts.netloc or not model:
        raise ConfigError(
            f"Bad openai endpoint {target!r}: expected openai:http://HOST:PORT/v1?model=NAME "
            "(an http(s) base URL ending before /chat/completions, and the model name)."
        )
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", "")), model


class OpenAIPolicy(ChatPolicy):
    """Chat completions from an OpenAI-compatible server.

    Args:
        target: ``http://host:port/v1?model=NAME``.
        generation: sampling settings (``max_new_tokens`` is sent as ``max_tokens``).
        api_key_env: environment variable holding the API key (optional for local servers).
        concurrency: most requests in flight at once.
        max_retries: retries per request for transient failures.
        timeout_s: per-request timeout.
        backoff_s: first retry delay; doubles each retry (capped at 30 s).
        logprobs: ask for per-token log-probs.
        token_ids: ask for prompt/response token ids (``anchorgym serve`` and vLLM support it).
        history_length: past steps in the prompt.
        repair: snap non-admissible answers to the closest admissible action.
        context_length: the model's context, for the prompt budget (None: unknown, no budget).
        check: ask ``GET /models`` once at start, so an unreachable server, a refused key or an unserved model
            fails at once with a clear message instead of after every retry.
    """

    def __init__(
        self,
        target: str,
        generation: GenerationConfig | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        max_retries: int = 5,
        timeout_s: float = 120.0,
        backoff_s: float = 1.0,
        logprobs: bool = True,
        token_ids: bool = False,
        history_length: int = DEFAULT_HISTORY_LENGTH,
        repair: bool = False,
        context_length: int | None = None,
        check: bool = True,
    ) -> None:
        super().__init__(generation, history_length, repair, context_length)
        if concurrency < 1 or max_retries < 0:
            raise ConfigError(f"concurrency must be >= 1 and max_retries >= 0, got {concurrency}, {max_retries}.")
        self.base_url, self.model = parse_endpoint(target)
        self.api_key_env, self.api_key = api_key_env, os.environ.get(api_key_env, "")
        self.concurrency, self.max_retries = concurrency, max_retries
        self.timeout_s, self.backoff_s = timeout_s, backoff_s
        self.logprobs, self.token_ids = logprobs, token_ids
        if check:
            self.check_endpoint()

    def headers(self) -> dict[str, str]:
        """Return the request headers (the bearer key, when one is set)."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def check_endpoint(self) -> None:
        """Fail fast on an unreachable server, a refused key or a model the server does not list (``GET /models``).

        A server without a models route, or one that is slow to answer, is no error here: the
        requests themselves are retried and checked.

        Raises:
            EndpointError: nothing listens at the URL, the key is refused, or the model is not served.
        """
        try:
            response = httpx.get(f"{self.base_url}/models", headers=self.headers(), timeout=min(self.timeout_s, 30.0))
        except httpx.ConnectError as error:
            raise EndpointError(
                f"Cannot reach {self.base_url} ({type(error).__name__}: {error}). Start the server (e.g. "
                "`anchorgym serve smollm2 --port 8000`) or fix the host and port in the policy spec."
            ) from error
        except httpx.HTTPError:
            return
        if response.status_code in (401, 403):
            self._raise_for_status(response)
        served = served_models(response)
        if served is not None and self.model not in served:
            listed = ", ".join(map(repr, served[:20])) + (" ..." if len(served) > 20 else "")
            raise EndpointError(
                f"Model {self.model!r} is not served at {self.base_url}; it serves {listed or 'no models'}. Fix "
                "?model= in the policy spec (or pass check=false if the server accepts names it does not list)."
            )

    def complete(self, prompts: Sequence[Messages]) -> list[Completion]:
        """Send every prompt concurrently, each with its own ``seed`` (:meth:`prompt_seeds`); return them in order."""
        seeds = self.prompt_seeds(len(prompts), stride=SEED_STRIDE)
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the usual case: no event loop in this thread
            return asyncio.run(self._complete_all(prompts, seeds))
        with ThreadPoolExecutor(max_workers=1) as pool:  # called from async code (e.g. a notebook)
            return pool.submit(asyncio.run, self._complete_all(prompts, seeds)).result()

    async def _complete_all(self, prompts: Sequence[Messages], seeds: Sequence[int]) -> list[Completion]:
        limit = asyncio.Semaphore(self.concurrency)
        async with httpx.AsyncClient(base_url=self.base_url, headers=self.headers(), timeout=self.timeout_s) as client:

            async def one(index: int, messages: Messages) -> Completion:
                async with limit:
                    return await self._request(client, self.payload(messages, seeds[index]))

            return list(await asyncio.gather(*(one(i, m) for i, m in enumerate(prompts))))

    def payload(self, messages: Messages, seed: int) -> dict[str, Any]:
        """Build the chat-completions request body for one prompt."""
        g = self.generation
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": g.temperature,
            "top_p": g.top_p,
            "max_tokens": g.max_new_tokens,
            "seed": seed,
        }
        if self.logprobs:
            body["logprobs"] = True
        if self.token_ids:
            body["return_token_ids"] = True
        return body

    async def _request(self, client: httpx.AsyncClient, body: dict[str, Any]) -> Completion:
        problem, retry_after = "", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(self._delay(attempt, retry_after))
            result = await self._attempt(client, body)
            if isinstance(result, Completion):
                return result
            problem, retry_after = result
        raise EndpointError(
            f"{self.base_url}/chat/completions failed {self.max_retries + 1} times; last problem: {problem}. "
            "Check that the server is up and not overloaded, or raise max_retries / timeout_s."
        )

    async def _attempt(self, client: httpx.AsyncClient, body: dict[str, Any]) -> Completion | tuple[str, str | None]:
        """Send once; return the completion, or ``(problem, retry_after)`` for a failure worth retrying."""
        try:
            response = await client.post("/chat/completions", json=body)
        except (httpx.TimeoutException, httpx.TransportError) as error:
            return f"{type(error).__name__}: {error or 'timed out'}", None
        if response.status_code in RETRY_STATUSES:
            return f"HTTP {response.status_code}: {error_message(response)}", response.headers.get("retry-after")
        self._raise_for_status(response)
        try:
            return completion_from_json(response.json())
        except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as error:
            return f"malformed response ({type(error).__name__}: {error}): {response.text[:200]!r}", None

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), MAX_BACKOFF_S)
            except ValueError:
                pass
        return min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = error_message(response)
        if status in (401, 403):
            raise EndpointError(
                f"{self.base_url} refused the request (HTTP {status}: {detail}). Set the API key in the "
                f"environment variable {self.api_key_env} (or name another with api_key_env=...)."
            )
        if status == 404:
            raise EndpointError(
                f"Model {self.model!r} or the chat-completions route was not found at {self.base_url} "
                f"(HTTP 404: {detail}). List the served models with: curl {self.base_url}/models"
            )
        raise EndpointError(f"{self.base_url}/chat/completions rejected the request (HTTP {status}: {detail}).")


def error_message(response: httpx.Response) -> str:
    """Return the OpenAI-style ``error.message`` of a response, else the start of its body."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase


def served_models(response: httpx.Response) -> list[str] | None:
    """Return the model ids of a ``GET /models`` answer, or None when it is not a usable list."""
    if response.status_code != 200:
        return None
    try:
        return [str(entry["id"]) for entry in response.json()["data"]]
    except (ValueError, KeyError, TypeError):
        return None


def completion_from_json(data: dict[str, Any]) -> Completion:
    """Read one chat-completions response (``choices[0]``) into a :class:`Completion`."""
    choice = data["choices"][0]
    text = choice["message"]["content"]
    if not isinstance(text, str):
        raise TypeError(f"message.content is {type(text).__name__}, not str")
    content = (choice.get("logprobs") or {}).get("content")
    logprobs = [float(item["logprob"]) for item in content] if content else None
    prompt_ids = data.get("prompt_token_ids") or choice.get("prompt_token_ids")
    return Completion(
        text=text,
        prompt_token_ids=list(prompt_ids) if prompt_ids else None,
        response_token_ids=list(choice["token_ids"]) if choice.get("token_ids") else None,
        logprobs=logprobs,
        finish_reason=str(choice.get("finish_reason") or "stop"),
        usage=reported_usage(data.get("usage")),
    )


def reported_usage(usage: Any) -> tuple[int, int] | None:
    """Return ``(prompt_tokens, completion_tokens)`` of an OpenAI ``usage`` object, or None when absent or odd.

    >>> reported_usage({"prompt_tokens": 40, "completion_tokens": 7, "total_tokens": 47})
    (40, 7)
    """
    if not isinstance(usage, dict):
        return None
    counts = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (counts[0], counts[1]) if all(isinstance(c, int) and c >= 0 for c in counts) else None
