"""WebShop's Lucene search, reproduced in Python (``search="lucene-compat"``, the default of WebShop-v2).

WebShop searches with pyserini's ``LuceneSearcher`` (pyserini 0.17.0: Anserini
0.14.3 on Lucene 8). This module gives the same ranking without Java:

* **Analyzer** (Anserini's ``DefaultEnglishAnalyzer``): Lucene's
  ``StandardTokenizer`` (Unicode word boundaries, UAX #29: ``8.5``, ``e.g``,
  ``don't`` and ``a_b`` stay one token, ``x-large`` is two; emoji and some
  symbols are tokens), ``EnglishPossessiveFilter`` (a trailing ``'s``/``’s``
  goes), lower case, Lucene's 33 English stop words, and Lucene's Porter
  stemmer (:mod:`.porter`).
* **Query**: one ``TermQuery`` per distinct analysed term, boosted by how often
  it occurs (Anserini's ``BagOfWordsQueryGenerator``), summed.
* **BM25** (Lucene's ``BM25Similarity``, k1=0.9, b=0.4), in float32 as Lucene
  computes it: ``idf = log(1 + (N - df + 0.5) / (df + 0.5))``, a document's
  length is its token count stored in one byte (``SmallFloat.intToByte4``, so
  lengths above 24 are rounded down to one of a few steps), the term score is
  ``w - w / (1 + tf * 1 / (k1 * (1 - b + b * len / avgdl)))`` with ``w = boost * idf``.
* **Order**: score, then the asin (Anserini sorts ties by document id).

Checked against pyserini 0.17.0 and 1.6.0 (``benchmarks/bench_webshop_search.py``,
``tests/webshop/test_search_parity.py``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from anchorgym.envs.webshop.porter import stem
from anchorgym.envs.webshop.search import RESULTS_CUTOFF, product_document
from anchorgym.errors import missing_extra

K1, B = np.float32(0.9), np.float32(0.4)  # pyserini's BM25 defaults, Java floats

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, which Anserini's DefaultEnglishAnalyzer uses.
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with".split()
)
APOSTROPHES = ("'", "\u2019", "\uff07")  # EnglishPossessiveFilter's

# Code points outside letters, numbers and marks that Lucene 8's StandardTokenizer emits as tokens (its emoji
# and CJK-radical classes): measured by tokenizing every code point up to U+2FFFF alone with Anserini 0.14.3's
# Lucene. Hex, inclusive ranges.
LUCENE_SYMBOL_TOKENS = """
a9 ae 5f3 66b 109e-109f 19de-19df 1aa0-1aa6 1aa8-1aad 203c 2049 2122 2194-2199 21a9-21aa 231a-231b
2328 2388 23cf 23e9-23f3 23f8-23fa 24b6-24e9 25aa-25ab 25b6 25c0 25fb-25fe 2600-2605 2607-2612
2614-2685 2690-2705 2708-2712 2714 2716 271d 2721 2728 2733-2734 2744 2747 274c 274e 2753-2755 2757
2763-2767 2795-2797 27a1 27b0 27bf 2934-2935 2b05-2b07 2b1b-2b1c 2b50 2b55 2e80-2e99 2e9b-2ef3
2f00-2fd5 3030 303d 309b-309c 30a0 3297 3299 32d0-32fe 3300-3357 aa77-aa79 aade-aadf 1173f
1f000-1f0ff 1f10d-1f10f 1f12f-1f149 1f150-1f169 1f16c-1f189 1f18e 1f191-1f19a 1f1ad-1f1e5
1f200-1f20f 1f21a 1f22f 1f232-1f23a 1f23c-1f23f 1f249-1f53d 1f546-1f64f 1f680-1f6ff 1f774-1f77f
1f7d5-1f7ff 1f80c-1f80f 1f848-1f84f 1f85a-1f85f 1f888-1f88f 1f8ae-1f8ff 1f90c-1f93a 1f93c-1f945
1f947-1fbef 1fbfa-1fffd
"""


def _symbol_class() -> str:
    parts = []
    for item in LUCENE_SYMBOL_TOKENS.split():
        low, _, high = item.partition("-")
        parts.append(f"\\U{int(low, 16):08X}" + (f"-\\U{int(high, 16):08X}" if high else ""))
    return "".join(parts)


@lru_cache(maxsize=1)
def _patterns() -> tuple[Any, Any, Any, Any]:
    try:
        import regex
    except ImportError as error:
        raise missing_extra("regex", "webshop") from error
    # The `regex` module's WORD flag makes \b the Unicode default word boundary (UAX #29), as StandardTokenizer.
    boundary = regex.compile(r"\b", flags=regex.WORD | regex.V1)
    # A segment is a token when it holds a letter/number of a word-forming class or a symbol Lucene emits.
    token_char = regex.compile(
        r"[\p{WB=ALetter}\p{WB=Hebrew_Letter}\p{WB=Numeric}\p{WB=Katakana}\p{Ideographic}\p{Script=Hiragana}"
        r"[\p{Line_Break=Complex_Context}&&\p{L}]" + _symbol_class() + "]",
        flags=regex.V1,
    )
    # Lucene keeps a run of South-East Asian letters (Thai, Lao, Khmer, Myanmar) as one token and a flag (two
    # regional indicators) as one; the regex module splits both.
    south_east_asian = regex.compile(
        r"[\p{Line_Break=Complex_Context}&&\p{L}][\p{Line_Break=Complex_Context}\p{M}]*", flags=regex.V1
    )
    flag = regex.compile(r"\p{Regional_Indicator}{2}")
    return boundary, token_char, south_east_asian, flag


def tokenize(text: str) -> list[str]:
    """Return Lucene ``StandardTokenizer``'s tokens of ``text`` (before any filter).

    >>> tokenize("Women's x-large, 8.5 oz e.g. don't_stop ★!")
    ["Women's", 'x', 'large', '8.5', 'oz', 'e.g', "don't_stop", '★']
    """
    boundary, token_char, south_east_asian, flag = _patterns()
    tokens: list[str] = []
    joinable = False  # the last token is South-East Asian and directly precedes this segment
    for segment in boundary.split(text):
        if south_east_asian.fullmatch(segment):
            if joinable:
                tokens[-1] += segment
            else:
                tokens.append(segment)
            joinable = True
            continue
        joinable = False
        if token_char.search(segment) or flag.fullmatch(segment):
            tokens.append(segment)
    return tokens


def _java_lower(token: str) -> str:
    """Lower-case per code point as Java's ``Character.toLowerCase`` (no final sigma, ``İ`` to ``i``)."""
    return "".join(ch.lower()[:1] for ch in token)


def analyze(text: str) -> list[str]:
    """Return the terms Anserini's ``DefaultEnglishAnalyzer`` makes of ``text``.

    >>> analyze("The women's running shoes, size 8.5, technology")
    ['women', 'run', 'shoe', 'size', '8.5', 'technolog']
    """
    terms = []
    for token in tokenize(text):
        if len(token) >= 2 and token[-2] in APOSTROPHES and token[-1] in "sS":
            token = token[:-2]
        token = _java_lower(token)
        if token and token not in STOP_WORDS:
            terms.append(stem(token))
    return terms


# ------------------------------------------------------------------------------------ Lucene's norm encoding
def _long_to_int4(value: int) -> int:
    bits = value.bit_length()
    if bits < 4:
        return value
    shift = bits - 4
    return ((value >> shift) & 0x07) | ((shift + 1) << 3)


def _int4_to_long(value: int) -> int:
    bits, shift = value & 0x07, (value >> 3) - 1
    return bits if shift == -1 else (bits | 0x08) << shift


NUM_FREE_VALUES = 255 - _long_to_int4(2**31 - 1)  # 24: lengths below this are stored exactly


def length_to_byte(length: int) -> int:
    """Lucene's ``SmallFloat.intToByte4``: a field length in one byte (0-255).

    >>> [length_to_byte(n) for n in (0, 23, 24, 25, 40, 100, 1000)]
    [0, 23, 24, 25, 40, 57, 87]
    """
    if length < NUM_FREE_VALUES:
        return length
    return NUM_FREE_VALUES + _long_to_int4(length - NUM_FREE_VALUES)


def byte_to_length(encoded: int) -> int:
    """Lucene's ``SmallFloat.byte4ToInt``: the length a stored byte stands for.

    >>> [byte_to_length(length_to_byte(n)) for n in (23, 24, 25, 40, 100, 1000)]
    [23, 24, 25, 40, 96, 984]
    """
    if encoded < NUM_FREE_VALUES:
        return encoded
    return min(NUM_FREE_VALUES + _int4_to_long(encoded - NUM_FREE_VALUES), 2**31 - 1)


LENGTH_TABLE = np.array([byte_to_length(i) for i in range(256)], dtype=np.float32)


class LuceneCompatSearch:
    """WebShop's Lucene BM25 ranking, computed in Python (see the module docstring).

    Args:
        products: processed products; their asins are the document ids.
    """

    name = "lucene-compat"

    def __init__(self, products: Sequence[dict[str, Any]]) -> None:
        self.asins = [p["asin"] for p in products]
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        lengths = np.zeros(len(products), dtype=np.int64)
        docs_by_term: dict[str, list[int]] = {}
        freqs_by_term: dict[str, list[int]] = {}
        for index, product in enumerate(products):
            terms = analyze(product_document(product))
            lengths[index] = len(terms)
            for term, count in Counter(terms).items():
                docs_by_term.setdefault(term, []).append(index)
                freqs_by_term.setdefault(term, []).append(count)
        for term, docs in docs_by_term.items():
            self._postings[term] = (np.array(docs, dtype=np.int64), np.array(freqs_by_term[term], dtype=np.float32))
        self.num_docs = len(products)  # Lucene's docCount: every product has text
        avgdl = np.float32(float(lengths.sum()) / self.num_docs) if self.num_docs else np.float32(1)
        # BM25Similarity's cache: 1 / (k1 * ((1 - b) + b * length / avgdl)), per stored length byte, in float32.
        cache = np.float32(1) / (K1 * ((np.float32(1) - B) + B * LENGTH_TABLE / avgdl))
        self._norm_inverse = cache[[length_to_byte(int(n)) for n in lengths]].astype(np.float32)
        self._asin_rank = np.empty(len(self.asins), dtype=np.int64)  # position of each asin in sorted order
        self._asin_rank[sorted(range(len(self.asins)), key=self.asins.__getitem__)] = np.arange(len(self.asins))

    def idf(self, doc_freq: int) -> np.float32:
        """Lucene's BM25 idf (computed in double, stored as a float)."""
        return np.float32(math.log(1 + (self.num_docs - doc_freq + 0.5) / (doc_freq + 0.5)))

    def scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(document indices, float32 scores)`` of the documents that match ``query``."""
        total = np.zeros(self.num_docs, dtype=np.float64)  # Lucene sums clause scores in double
        matched = np.zeros(self.num_docs, dtype=bool)
        for term, count in Counter(analyze(query)).items():
            if term not in self._postings:
                continue
            docs, freqs = self._postings[term]
            weight = np.float32(count) * self.idf(len(docs))
            total[docs] += weight - weight / (np.float32(1) + freqs * self._norm_inverse[docs])
            matched[docs] = True
        indices = np.flatnonzero(matched)
        return indices, total[indices].astype(np.float32)

    def search(self, query: str, k: int = RESULTS_CUTOFF) -> list[str]:
        """Return the asins of the ``k`` best products, best first (ties: smaller asin first)."""
        indices, scores = self.scores(query)
        order = np.lexsort((self._asin_rank[indices], -scores))[:k]  # score descending, then asin ascending
        return [self.asins[doc] for doc in indices[order].tolist()]
