"""Gather concurrent generation requests into batches for one model (used by ``anchorgym serve``).

Requests that arrive within ``window_s`` of each other and share the same
sampling settings run as one left-padded ``generate`` call (the batching itself is
:class:`anchorgym.batching.Batcher`, shared with the retrieval server). Each request
is sampled from its own generator seeded with its own seed, so a sampled answer is
reproducible from its seed whatever else shared its batch (up to floating-point batch
effects on near-ties).

A request can be cancelled (its client went away): a cancelled request still waiting is
never generated, and a batch whose requests are all cancelled stops generating at the
next token (:attr:`Batcher.cancelled` counts both).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from anchorgym import batching
from anchorgym.policies.base import GenerationConfig
from anchorgym.policies.chat import Completion


@dataclass(frozen=True, eq=False)
class Request:
    """One prompt waiting for generation."""

    prompt: Sequence[int]
    generation: GenerationConfig
    seed: int
    cancelled: threading.Event = field(default_factory=threading.Event)

    def key(self) -> tuple:
        """Requests with equal keys can share a batch."""
        g = self.generation
        return (g.temperature, g.top_p, g.max_new_tokens)


class Batcher:
    """A worker thread that runs queued requests on ``engine`` in batches.

    Args:
        engine: has ``generate(prompts, generation, seed) -> list[Completion]``.
        max_batch: most requests per batch.
        window_s: how long the first request of a batch waits for company.
    """

    def __init__(self, engine: Any, max_batch: int = 8, window_s: float = 0.02) -> None:
        self.engine = engine
        self.cancelled = 0  # requests whose generation was skipped or stopped because they were cancelled
        self.abandoned = 0  # requests whose client went away (the server cancels them)
        self._stoppable = "stop" in inspect.signature(engine.generate).parameters
        self._batcher: batching.Batcher[Request, Completion] = batching.Batcher(
            self._generate, key=Request.key, max_batch=max_batch, window_s=window_s, name="anchorgym-generate"
        )

    @property
    def batch_sizes(self) -> list[int]:
        """Requests per batch, in the order the batches ran (the latest :data:`anchorgym.batching.HISTORY`)."""
        return list(self._batcher.batch_sizes)

    def submit(self, prompt: Sequence[int], generation: GenerationConfig, seed: int) -> Completion:
        """Queue one prompt and wait for its completion."""
        return self._batcher.submit(Request(prompt, generation, seed))

    def submit_request(self, request: Request) -> Future[Completion]:
        """Queue ``request`` and return its future; ``request.cancelled.set()`` gives up on it."""
        return self._batcher.submit_future(request)

    def _generate(self, batch: list[Request]) -> list[Completion]:
        live = [r for r in batch if not r.cancelled.is_set()]
        self.cancelled += len(batch) - len(live)
        results: dict[int, Completion] = {}
        if live:
            extra = {"stop": lambda: all(r.cancelled.is_set() for r in live)} if self._stoppable else {}
            completions = self.engine.generate([r.prompt for r in live], live[0].generation, [r.seed for r in live],
                                               **extra)  # fmt: skip
            results = {id(r): c for r, c in zip(live, completions, strict=True)}
            self.cancelled += sum(1 for r in live if r.cancelled.is_set())  # stopped (or finished) after leaving
        return [results.get(id(r), Completion("", finish_reason="cancelled")) for r in batch]
