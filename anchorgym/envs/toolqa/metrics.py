"""Answer scoring: exact match and token F1 after the standard SQuAD/HotpotQA normalisation.

The normalisation lower-cases, removes punctuation, removes the articles
``a``/``an``/``the`` and squeezes whitespace, as in the SQuAD and HotpotQA
evaluation scripts that Search-R1 reuses.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, strip punctuation and articles, squeeze whitespace.

    >>> normalize_answer("  The Eiffel-Tower!  ")
    'eiffeltower'
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: Sequence[str]) -> bool:
    """Return True when the normalised prediction equals any normalised gold answer.

    >>> exact_match("the Beatles", ["Beatles", "The Fab Four"])
    True
    """
    predicted = normalize_answer(prediction)
    return any(predicted == normalize_answer(gold) for gold in golds)


def token_f1(prediction: str, gold: str) -> float:
    """Return the token-level F1 between one prediction and one gold answer.

    As in the HotpotQA script, yes/no/noanswer score only on an exact match.

    >>> round(token_f1("Paris France", "Paris"), 4)
    0.6667
    """
    predicted, expected = normalize_answer(prediction), normalize_answer(gold)
    special = {"yes", "no", "noanswer"}
    if (predicted in special or expected in special) and predicted != expected:
        return 0.0
    common = Counter(predicted.split()) & Counter(expected.split())
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(predicted.split())
    recall = overlap / len(expected.split())
    return 2 * precision * recall / (precision + recall)


def best_f1(prediction: str, golds: Sequence[str]) -> float:
    """Return the highest token F1 of ``prediction`` against any gold answer (0.0 when none)."""
    return max((token_f1(prediction, gold) for gold in golds), default=0.0)
