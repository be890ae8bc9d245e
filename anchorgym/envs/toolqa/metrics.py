"""Answer scoring: exact match, sub-string exact match and token F1 after SQuAD/HotpotQA normalisation.

The normalisation lower-cases, removes punctuation, removes the articles
``a``/``an``/``the`` and squeezes whitespace, as in the SQuAD and HotpotQA
evaluation scripts that Search-R1 reuses (``verl/utils/reward_score/qa_em.py``).

Gold answers are a sequence of strings or one bare string, which is one answer
(Search-R1's ``em_check``/``subem_check`` wrap a string in a list), never a
sequence of characters.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

Golds = str | Sequence[str]
"""Gold answers: a sequence of answers, or one answer as a bare string."""
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, strip punctuation and articles, squeeze whitespace.

    >>> normalize_answer("  The Eiffel-Tower!  ")
    'eiffeltower'
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def gold_list(golds: Golds) -> list[str]:
    """Return the gold answers as a list; a bare string is one answer.

    >>> gold_list("Paris"), gold_list(("Paris", "City of Light"))
    (['Paris'], ['Paris', 'City of Light'])
    """
    return [golds] if isinstance(golds, str) else [str(gold) for gold in golds]


def exact_match(prediction: str, golds: Golds) -> bool:
    """Return True when the normalised prediction equals any normalised gold answer (Search-R1's ``em_check``).

    >>> exact_match("the Beatles", ["Beatles", "The Fab Four"]), exact_match("Paris", "Paris")
    (True, True)
    """
    predicted = normalize_answer(prediction)
    return any(predicted == normalize_answer(gold) for gold in gold_list(golds))


def substring_exact_match(prediction: str, golds: Golds) -> bool:
    """Return True when any normalised gold answer is a sub-string of the normalised prediction.

    Search-R1's ``subem_check``: a character sub-string test, so ``"Paris"`` is found in
    ``"Paris, France"`` and also in ``"Parisian"``.

    >>> substring_exact_match("Paris, France", "Paris"), substring_exact_match("France", ["Paris"])
    (True, False)
    """
    predicted = normalize_answer(prediction)
    return any(normalize_answer(gold) in predicted for gold in gold_list(golds))


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


def best_f1(prediction: str, golds: Golds) -> float:
    """Return the highest token F1 of ``prediction`` against any gold answer (0.0 when none).

    >>> best_f1("Paris", "Paris")
    1.0
    """
    return max((token_f1(prediction, gold) for gold in gold_list(golds)), default=0.0)


def answer_metrics(prediction: str | None, golds: Golds) -> dict[str, float]:
    """Return ``em``, ``subem`` and ``f1`` of a submitted answer (all 0.0 before any answer).

    >>> answer_metrics("Paris, France", ["Paris"])
    {'em': 0.0, 'subem': 1.0, 'f1': 0.6666666666666666}
    """
    if prediction is None:
        return {"em": 0.0, "subem": 0.0, "f1": 0.0}
    return {
        "em": float(exact_match(prediction, golds)),
        "subem": float(substring_exact_match(prediction, golds)),
        "f1": best_f1(prediction, golds),
    }
