"""Retrievers: a batched ``search(queries, topk)`` over a corpus, in-process or over HTTP.

* :class:`BM25Retriever` (default): ``bm25s`` over a fixed tokeniser.
* :class:`~anchorgym.envs.toolqa.dense.DenseRetriever`: all-MiniLM-L6-v2 embeddings, exact inner product.
* :class:`~anchorgym.envs.toolqa.client.HttpRetriever`: any server speaking Search-R1's ``/retrieve`` API.

Ties are broken by corpus order, so results are identical in every process.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from anchorgym.envs.toolqa.corpus import Passage
from anchorgym.errors import ConfigError, missing_extra, unknown

DEFAULT_TOPK = 3  # Search-R1's default
MAX_TOPK = 100  # servers reject larger requests: the agent never reads that many passages
_TOKEN = re.compile(r"\w+", re.UNICODE)
# A short English stop list: enough to keep "the"/"of" from dominating BM25 on question-style queries.
STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were what when "
    "where which who whom whose why how with did does do".split()
)


@dataclass(frozen=True)
class Hit:
    """One retrieved passage and its score."""

    passage: Passage
    score: float

    def to_json(self) -> dict:
        """Return ``{"document": {"id", "contents"}, "score"}`` as Search-R1 does."""
        return {"document": self.passage.to_json(), "score": self.score}


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens without stop words.

    >>> tokenize("Who founded the Velmora Guild?")
    ['founded', 'velmora', 'guild']
    """
    return [token for token in _TOKEN.findall(text.lower()) if token not in STOPWORDS]


def top_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first, ties broken by lower index.

    Linear time in the corpus size: only the scores tied with or above the k-th best are sorted.

    >>> top_indices(np.array([0.5, 2.0, 0.5, 1.0]), 3).tolist()
    [1, 3, 0]
    """
    n = len(scores)
    k = min(k, n)
    candidates = np.arange(n) if k == n else np.flatnonzero(scores >= np.partition(scores, n - k)[n - k])
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order[:k]]


def check_topk(topk: object) -> int:
    """Validate ``topk`` (an int in 1..MAX_TOPK) and return it."""
    if isinstance(topk, bool) or not isinstance(topk, int) or not 1 <= topk <= MAX_TOPK:
        raise ConfigError(f"topk must be an integer from 1 to {MAX_TOPK}, got {topk!r}.")
    return topk


class Retriever(abc.ABC):
    """A batched passage retriever."""

    name: str = "retriever"

    @abc.abstractmethod
    def search(self, queries: Sequence[str], topk: int) -> list[list[Hit]]:
        """Return the ``topk`` best hits for each query, best first."""

    def close(self) -> None:  # noqa: B027 - optional hook for retrievers holding connections
        """Release resources (HTTP connections); the default does nothing."""


class IndexRetriever(Retriever):
    """A retriever that scores every passage of an in-memory corpus."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        if not passages:
            raise ConfigError("The corpus is empty: a retriever needs at least one passage.")
        self.passages = list(passages)

    @abc.abstractmethod
    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """Return a ``(len(queries), len(corpus))`` score matrix."""

    def search(self, queries: Sequence[str], topk: int) -> list[list[Hit]]:
        """Return the ``topk`` best hits for each query, best first."""
        check_topk(topk)
        matrix = self.scores(list(queries))
        return [[Hit(self.passages[i], float(row[i])) for i in top_indices(row, topk)] for row in matrix]


class BM25Retriever(IndexRetriever):
    """Okapi BM25 (``bm25s``, default k1=1.5, b=0.75) over title and text."""

    name = "bm25"

    def __init__(self, passages: Sequence[Passage]) -> None:
        super().__init__(passages)
        try:
            import bm25s
        except ImportError as error:
            raise missing_extra("bm25s", "toolqa") from error
        self._index = bm25s.BM25()
        self._index.index([tokenize(p.contents) for p in self.passages], show_progress=False)

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """BM25 score of every passage for each query (unknown words, stop words and blank queries score 0)."""
        matrix = np.zeros((len(queries), len(self.passages)), dtype=np.float64)
        for row, query in zip(matrix, queries, strict=True):
            tokens = tokenize(query)
            if tokens:  # bm25s fails on an empty token list
                row[:] = self._index.get_scores(tokens)
        return matrix


INDEX_KINDS = ("bm25", "dense")


def build_index(kind: str, passages: Sequence[Passage]) -> IndexRetriever:
    """Build an in-process retriever of ``kind`` (``"bm25"`` or ``"dense"``) over ``passages``."""
    if kind == "bm25":
        return BM25Retriever(passages)
    if kind == "dense":
        from anchorgym.envs.toolqa.dense import DenseRetriever

        return DenseRetriever(passages)
    raise unknown("index kind", kind, INDEX_KINDS, "Or pass a retrieval server URL (http://host:port/retrieve).")
