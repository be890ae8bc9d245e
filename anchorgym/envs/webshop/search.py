"""Product search: BM25 over WebShop's product documents.

A product's document is WebShop's: title, description, first bullet point and
option text, lower-cased. Three back ends rank them:

* ``lucene-compat`` (WebShop-v2's default, embedded): WebShop's own Lucene
  ranking reproduced in Python, equal to pyserini's on every query checked, see
  :mod:`anchorgym.envs.webshop.lucene_compat`.
* ``lucene``: the real Lucene index through pyserini (``anchorgym[webshop-lucene]``),
  see :mod:`anchorgym.envs.webshop.lucene`.
* ``bm25s`` (WebShop-v0/v1's default): ``bm25s`` with Lucene's BM25 variant
  (k1=0.9, b=0.4), English stop words and Snowball's Porter stemmer; an
  approximation (the first page equals Lucene's for 154 of the 500 test
  instructions), kept so WebShop-v0/v1 results replay.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from anchorgym.errors import missing_extra, unknown

RESULTS_CUTOFF = 50  # WebShop shows the top 50 results
K1, B = 0.9, 0.4  # pyserini's BM25 defaults
# Approximates Lucene's StandardTokenizer + EnglishPossessiveFilter: one-character tokens kept, decimals and
# inner apostrophes stay inside a token, a trailing 's is dropped. Measured on the 500 test goals' instructions,
# the top result then agrees with Lucene's for 485 (97%); with bm25s's default tokens, 453.
TOKEN_PATTERN = r"(?u)\w+(?:[.'’]\w+)*"
POSSESSIVE = re.compile(r"['’]s\b")


class SearchEngine(Protocol):
    """Ranks products for a query."""

    name: str

    def search(self, query: str, k: int = RESULTS_CUTOFF) -> list[str]:
        """Return the asins of the ``k`` best products, best first."""
        ...


def product_document(product: dict[str, Any]) -> str:
    """Return WebShop's searchable text for a product.

    >>> product_document({"Title": "Red Mug", "Description": "Big.", "BulletPoints": ["Dishwasher safe"],
    ...                   "options": {"size": ["s", "l"]}})
    'red mug big. dishwasher safe size: s, l'
    """
    options = ", and ".join(f"{name}: {', '.join(values)}" for name, values in product["options"].items())
    bullets = product["BulletPoints"][0] if product["BulletPoints"] else ""
    return " ".join([product["Title"], product["Description"], bullets, options]).lower()


class BM25sSearch:
    """BM25 with the embedded ``bm25s`` library.

    Args:
        products: processed products; their order is the index order.
    """

    name = "bm25s"

    def __init__(self, products: Sequence[dict[str, Any]]) -> None:
        try:
            import bm25s
            import Stemmer
        except ImportError as error:
            raise missing_extra(error.name or "bm25s", "webshop") from error
        self._bm25s = bm25s
        self._stemmer = Stemmer.Stemmer("porter")
        self.asins = [p["asin"] for p in products]
        tokens = self._tokenize([product_document(p) for p in products])
        self._retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
        self._retriever.index(tokens, show_progress=False)

    def _tokenize(self, texts: list[str]) -> Any:
        return self._bm25s.tokenize(
            [POSSESSIVE.sub("", text) for text in texts],
            stopwords="en",
            stemmer=self._stemmer,
            token_pattern=TOKEN_PATTERN,
            show_progress=False,
        )

    def search(self, query: str, k: int = RESULTS_CUTOFF) -> list[str]:
        """Return the asins of the ``k`` best products with a positive score, best first."""
        tokens = self._tokenize([query.lower()])
        if not tokens.ids[0]:
            return []
        k = min(k, len(self.asins))
        indices, scores = self._retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [self.asins[int(i)] for i, s in zip(indices[0], scores[0], strict=False) if s > 0]


SEARCH_BACKENDS = ("lucene-compat", "lucene", "bm25s")


def make_search(name: str, products: Sequence[dict[str, Any]]) -> SearchEngine:
    """Build the search back end ``name`` over ``products``."""
    if name == "bm25s":
        return BM25sSearch(products)
    if name == "lucene-compat":
        from anchorgym.envs.webshop.lucene_compat import LuceneCompatSearch

        return LuceneCompatSearch(products)
    if name == "lucene":
        from anchorgym.envs.webshop.lucene import LuceneSearch

        return LuceneSearch(products)
    raise unknown("WebShop search back end", name, SEARCH_BACKENDS)
