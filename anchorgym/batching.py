"""Merge concurrent requests into batches run by one worker thread.

Used by ``anchorgym serve`` (generation, :mod:`anchorgym.policies.batcher`) and
``anchorgym retrieval serve`` (search, :mod:`anchorgym.envs.toolqa.server`). Request
threads :meth:`Batcher.submit` an item and block; the worker takes the oldest waiting
item, adds every waiting item with the same key while the batch's total size stays
within ``max_batch``, runs the batch with one call and hands each item its own result.
Items with another key wait for a later batch, oldest first.

With ``window_s=0`` a lone request runs at once; requests that arrive while a batch
runs form the next one (so batches grow with the load, without a fixed wait). With
``window_s > 0`` the first item of a batch also waits up to that long for company.

>>> batcher = Batcher(lambda items: [item * 2 for item in items])
>>> batcher.submit(21)
42
>>> batcher.close()
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _one(_: object) -> int:
    return 1


def _same(_: object) -> None:
    return None


@dataclass(eq=False)
class _Pending(Generic[T, R]):
    item: T
    result: Future[R] = field(default_factory=Future)


HISTORY = 1024  # batch sizes kept for inspection: a server runs for days, so the record must not grow
_CLOSE = object()  # queued by close(): the worker stops when it takes it


class Batcher(Generic[T, R]):
    """A worker thread that runs submitted items through ``run`` in batches.

    Args:
        run: ``run(items) -> results``, one result per item, in order. An exception
            it raises is raised in every request of that batch (see ``retry_alone``).
        key: items with equal keys can share a batch (default: all can).
        size: an item's share of ``max_batch`` (default 1; e.g. its number of queries).
        max_batch: most total size per batch; a larger item runs alone.
        window_s: how long the first item of a batch waits for company (0: not at all).
        retry_alone: when a batch of several items fails, run each item alone so that
            only the items that fail by themselves get the error.
        name: the worker thread's name.
    """

    def __init__(
        self,
        run: Callable[[list[T]], Sequence[R]],
        *,
        key: Callable[[T], Hashable] = _same,
        size: Callable[[T], int] = _one,
        max_batch: int = 8,
        window_s: float = 0.0,
        retry_alone: bool = False,
        name: str = "anchorgym-batcher",
    ) -> None:
        self._run, self._key, self._size = run, key, size
        self.max_batch, self.window_s, self.retry_alone = max(1, max_batch), window_s, retry_alone
        self._queue: queue.Queue = queue.Queue()
        self._held: list[_Pending[T, R]] = []  # taken from the queue but not fitting the batch being built
        self._closed, self._closing = False, threading.Lock()  # nothing is queued after _CLOSE
        self.batch_sizes: deque[int] = deque(maxlen=HISTORY)  # items per batch, the latest HISTORY batches
        self.batches = self.items = 0  # batches run and items answered in all (a failed batch counts once)
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> R:
        """Queue ``item``, wait for its batch and return its result (or raise its batch's error)."""
        return self.submit_future(item).result()

    def submit_future(self, item: T) -> Future[R]:
        """Queue ``item`` and return the future of its result, without waiting (a caller can give up on it)."""
        pending: _Pending[T, R] = _Pending(item)
        with self._closing:
            if self._closed:
                raise RuntimeError("This batcher is closed: make a new one.")
            self._queue.put(pending)
        return pending.result

    def waiting(self) -> int:
        """How many submitted items are not yet in a batch."""
        return self._queue.qsize() + len(self._held)

    def close(self) -> None:
        """Stop the worker once the items queued before this call have run."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_CLOSE)
        self._thread.join(timeout=10)

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            self.batch_sizes.append(len(batch))
            self.batches, self.items = self.batches + 1, self.items + len(batch)
            self._answer(batch)

    def _answer(self, batch: list[_Pending[T, R]]) -> None:
        try:
            results = self._run([pending.item for pending in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"The batch function returned {len(results)} results for {len(batch)} items.")
        except Exception as error:  # noqa: BLE001 - handed to the waiting requests
            if self.retry_alone and len(batch) > 1:
                for pending in batch:
                    self._answer([pending])
                return
            for pending in batch:
                pending.result.set_exception(error)
            return
        for pending, result in zip(batch, results, strict=True):
            pending.result.set_result(result)

    def _next_batch(self) -> list[_Pending[T, R]] | None:
        first = self._held.pop(0) if self._held else self._queue.get()
        if first is _CLOSE:
            return None
        batch, self._load, held = [first], self._size(first.item), self._held
        self._held = []
        for pending in held:
            self._place(pending, batch)
        deadline = time.monotonic() + self.window_s
        while self._load < self.max_batch:
            left = deadline - time.monotonic()
            try:
                pending = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if pending is _CLOSE:
                self._queue.put(_CLOSE)  # stop after this batch and the held items
                break
            self._place(pending, batch)
        return batch

    def _place(self, pending: _Pending[T, R], batch: list[_Pending[T, R]]) -> None:
        """Add ``pending`` to ``batch`` when its key matches and it fits, else hold it for later."""
        size = self._size(pending.item)
        if self._key(pending.item) == self._key(batch[0].item) and self._load + size <= self.max_batch:
            batch.append(pending)
            self._load += size
        else:
            self._held.append(pending)
