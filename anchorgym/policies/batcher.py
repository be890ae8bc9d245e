"""Gather concurrent generation requests into batches for one model (used by ``anchorgym serve``).

Requests that arrive within ``window_s`` of each other and share the same
sampling settings run as one left-padded ``generate`` call. A batch's sampler
is seeded with its first request's seed, so a sampled answer is reproducible
from its seed only when it ran alone (``max_batch=1``, or one request at a time).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from anchorgym.policies.base import GenerationConfig
from anchorgym.policies.chat import Completion


@dataclass(eq=False)
class Request:
    """One prompt waiting for generation."""

    prompt: Sequence[int]
    generation: GenerationConfig
    seed: int
    result: Future = field(default_factory=Future)

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
        self.engine, self.max_batch, self.window_s = engine, max(1, max_batch), window_s
        self.queue: queue.Queue[Request] = queue.Queue()
        self.held: list[Request] = []  # taken from the queue but incompatible with the batch being built
        self.batch_sizes: list[int] = []
        threading.Thread(target=self._run, name="anchorgym-batcher", daemon=True).start()

    def submit(self, prompt: Sequence[int], generation: GenerationConfig, seed: int) -> Completion:
        """Queue one prompt and wait for its completion."""
        request = Request(prompt, generation, seed)
        self.queue.put(request)
        return request.result.result()

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            self.batch_sizes.append(len(batch))
            try:
                outputs = self.engine.generate([r.prompt for r in batch], batch[0].generation, batch[0].seed)
            except Exception as error:  # noqa: BLE001 - handed to every waiting request
                for request in batch:
                    request.result.set_exception(error)
                continue
            for request, output in zip(batch, outputs, strict=True):
                request.result.set_result(output)

    def _next_batch(self) -> list[Request]:
        first = self.held.pop(0) if self.held else self.queue.get()
        batch, rest = [first], []
        for request in self.held:
            (batch if request.key() == first.key() and len(batch) < self.max_batch else rest).append(request)
        self.held = rest
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.max_batch and (left := deadline - time.monotonic()) > 0:
            try:
                request = self.queue.get(timeout=left)
            except queue.Empty:
                break
            (batch if request.key() == batch[0].key() else self.held).append(request)
        return batch
